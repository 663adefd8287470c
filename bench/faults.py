"""Faults under load, on PostgreSQL: workers killed, the database restarted, the scheduler killed.

    .venv/bin/python bench/faults.py [--users 50] [--duration 180] [--planted 500]
                                     [--kill-every 3 7] [--pg-pause 5] [--keep-logs]

The same servers and simulated users as ``bench/load.py`` (gunicorn with 4 sync workers, the
scheduler in its own process, one account per user), on a throwaway PostgreSQL server, with a
real SMTP server on localhost (``aiosmtpd``) receiving the mail. Docentes whose submission gets
no answer (a connection cut, a 5xx) press "Enviar" again with the same form, so the same
idempotency key, as a browser retry would. While the users work:

1. ``kill -9`` of a random gunicorn worker every ``--kill-every`` seconds during the first
   minute (gunicorn starts a new one). Checked: every acknowledged report is in the database
   (0 lost) and no key is stored twice (0 duplicated).
2. The scheduler ``kill -9``-ed while its ``raise_alerts`` run is halfway through a batch and its
   ``send_mail`` run is handing emails to the SMTP server, then started again. For this the
   scheduler runs those two jobs every minute (a copy of ``catalogs/`` whose ``alerts.yaml``
   says so; the others once a day, so the national rescoring does not overwrite the planted
   scores), ``--planted`` new students of one school get a high score calling for two alerts
   each, and the SMTP server takes 1 s per message until the kill. Checked once the restarted
   scheduler has run: one open alert per rule and entity, every planted candidate has its
   alert; after the outbox is drained: every email key received at most once (counted per
   Message-ID), none lost, the ``incierto`` rows counted and explained.
3. PostgreSQL stopped (``pg_ctl stop -m fast``), ``--pg-pause`` seconds later started again.
   Measured: seconds until requests succeed again. Checked: every answer meanwhile is the app's
   Spanish error page (never a traceback, gunicorn's "Internal Server Error" or driver text).

Exits 1 when a check fails. Results also go to ``bench/results/faults-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import shutil
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadlib import (
    BIN,
    DEPARTMENT,
    ROOT,
    Gunicorn,
    Ledger,
    Recorder,
    Service,
    Site,
    count_in_logs,
    count_reports,
    create_accounts,
    error_breakdown,
    figures,
    free_port,
    join_users,
    machine,
    postgres_or_none,
    prepare_database,
    print_figures,
    salve_app,
    salve_env,
    save_results,
    start_users,
    wait_for,
    work_directory,
)

#: The student rules a planted score calls on (``catalogs/rules.yaml``), one alert each.
PLANTED_RULES = ("victima_reiterada", "agresion_reiterada")
#: The jobs the fault run's scheduler fires every minute; the others wait for a daily hour.
EVERY_MINUTE = ("raise_alerts", "send_mail")
#: Seconds the SMTP server takes per message until the scheduler is killed: a batch of 50 lasts
#: long enough for the kill to find it halfway.
SLOW_SMTP = 1.0


# --- The SMTP server -----------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd's handler: counts every message received, by Message-ID."""

    def __init__(self) -> None:
        self.received: Counter = Counter()
        self.delay = 0.0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        """Count the message (it is here: a cut after this still delivers it), then answer."""
        message_id = message_from_bytes(envelope.content)["Message-ID"] or "(none)"
        with self._lock:
            self.received[message_id.strip()] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def total(self) -> int:
        """Return how many messages arrived in all."""
        with self._lock:
            return sum(self.received.values())


def start_smtp(port: int, mailbox: Mailbox):
    """Start aiosmtpd on 127.0.0.1:``port`` in a thread; return its controller."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        sys.exit("bench/faults.py needs aiosmtpd: .venv/bin/pip install '.[test]'")
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


# --- Preparing the scheduler's work ------------------------------------------------------------


def fast_catalogs(workdir: Path) -> Path:
    """Copy ``catalogs/`` with ``alerts.yaml`` firing ``EVERY_MINUTE`` each minute, the rest daily.

    The daily ones are set twelve hours from now, so none runs during the bench.
    """
    import yaml

    from salve.i18n import LOCAL_TZ

    target = workdir / "catalogs"
    shutil.copytree(ROOT / "catalogs", target)
    path = target / "alerts.yaml"
    policy = yaml.safe_load(path.read_text(encoding="utf-8"))
    far = (datetime.now(LOCAL_TZ).hour + 12) % 24
    policy["jobs"] = {
        name: {"minutes": 1} if name in EVERY_MINUTE else {"hour": far, "minute": 0}
        for name in policy["jobs"]
    }
    path.write_text(yaml.safe_dump(policy, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


def plant_candidates(database_url: str, students: int) -> dict:
    """Add ``students`` students to one school of the department, each with a high score that
    calls for two alerts (``PLANTED_RULES``) and none raised yet; return the school and ids."""
    import sqlalchemy as sa

    from salve.db import utcnow
    from salve.extensions import db
    from salve.geography.models import Department
    from salve.schools.models import School, Student
    from salve.scoring.models import CurrentRiskScore
    from salve.scoring.queries import rules_in_force

    with salve_app(database_url):
        version = rules_in_force().version
        school = db.session.scalar(
            sa.select(School)
            .join(Department, Department.id == School.department_id)
            .where(Department.code == DEPARTMENT)
            .order_by(School.code.desc())
        )
        db.session.execute(
            sa.insert(Student.__table__),
            [
                {"nie": f"9{n:08d}", "school_id": school.id, "given_names": f"Banco{n}",
                 "family_names": "Prueba", "sex": "F" if n % 2 else "M",
                 "birth_date": datetime(2012, 1, 1).date(), "grade": "7", "section": "A"}
                for n in range(students)
            ],
        )  # fmt: skip
        ids = db.session.scalars(
            sa.select(Student.id).where(Student.school_id == school.id, Student.nie.like("9%"))
        ).all()
        contributions = [{"rule": rule, "points": 30.0, "figures": {}} for rule in PLANTED_RULES]
        db.session.execute(
            sa.insert(CurrentRiskScore.__table__),
            [
                {"entity_type": "student", "entity_id": student_id, "score": 60.0,
                 "level": "alto", "rules_version": version, "computed_at": utcnow(),
                 "contributions": contributions}
                for student_id in ids
            ],
        )  # fmt: skip
        db.session.commit()
        return {"school": school.code, "student_ids": list(ids)}


# --- Watching the database ------------------------------------------------------------------


class Watcher:
    """Reads the bench's database from this process, without the app (a plain engine)."""

    def __init__(self, database_url: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)

    def scalar(self, query: str, **params):
        """Return the first column of the first row of ``query``; None when the database is down."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(self.sa.text(query), params).scalar()
        except self.sa.exc.OperationalError:
            return None

    def running(self, job: str) -> bool:
        """Tell whether a run of ``job`` is going on now."""
        found = self.scalar(
            "SELECT count(*) FROM job_runs WHERE job = :job AND status = 'running'", job=job
        )
        return bool(found)

    def runs(self, job: str) -> list[tuple[int, str]]:
        """Return the (id, status) of every run of ``job``."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    self.sa.text("SELECT id, status FROM job_runs WHERE job = :job ORDER BY id"),
                    {"job": job},
                )
            )

    def planted_alerts(self, student_ids: list[int]) -> int:
        """Return how many open alerts the planted students have."""
        low, high = min(student_ids), max(student_ids)
        return (
            self.scalar(
                "SELECT count(*) FROM alerts WHERE entity_type = 'student' AND entity_id "
                "BETWEEN :low AND :high AND status NOT IN ('descartada', 'resuelta')",
                low=low,
                high=high,
            )
            or 0
        )

    def doubled_alerts(self) -> int:
        """Return how many (rule, entity) have more than one open alert."""
        return self.scalar(
            "SELECT count(*) FROM (SELECT rule_id, entity_type, entity_id FROM alerts "
            "WHERE status NOT IN ('descartada', 'resuelta') "
            "GROUP BY rule_id, entity_type, entity_id HAVING count(*) > 1) AS doubled"
        )

    def dispose(self) -> None:
        """Close every connection."""
        self.engine.dispose()


# --- The faults ----------------------------------------------------------------------------------


def kill_workers(server: Gunicorn, recorder: Recorder, until: float, every, seed: int) -> list:
    """``kill -9`` a random worker every ``every`` seconds until ``until``; return the kills."""
    import os
    import signal

    chooser = random.Random(seed)  # noqa: S311 - which worker, not a secret
    kills = []
    time.sleep(chooser.uniform(*every))
    while recorder.now() < until:
        workers = server.workers()
        if workers:
            pid = chooser.choice(workers)
            os.kill(pid, signal.SIGKILL)
            kills.append(recorder.now())
            recorder.event(f"kill -9 del worker {pid} de gunicorn")
        time.sleep(chooser.uniform(*every))
    return kills


def kill_scheduler(
    scheduler: Service,
    watcher: Watcher,
    mailbox: Mailbox,
    planted: list[int],
    recorder: Recorder,
    timeout: float = 150,
) -> dict:
    """Wait until ``raise_alerts`` is halfway through the planted alerts while ``send_mail`` is
    handing mail over, then ``kill -9`` the scheduler; return what was going on."""
    wanted = len(planted) * len(PLANTED_RULES)
    before_mail = mailbox.total()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raised = watcher.planted_alerts(planted)
        raising = watcher.running("raise_alerts") and 0 < raised < wanted
        mailing = watcher.running("send_mail") and mailbox.total() > before_mail
        if raising and (mailing or raised >= wanted / 2):
            break  # halfway through both, or raise_alerts about to outrun the mail: say which
        time.sleep(0.1)
    state = {
        "raise_alerts_running": watcher.running("raise_alerts"),
        "send_mail_running": watcher.running("send_mail"),
        "planted_alerts_before_kill": watcher.planted_alerts(planted),
        "planted_alerts_wanted": wanted,
        "mail_received_before_kill": mailbox.total(),
    }
    scheduler.kill9()
    recorder.event(
        f"kill -9 del scheduler: raise_alerts en curso={state['raise_alerts_running']} "
        f"({state['planted_alerts_before_kill']}/{wanted} alertas sembradas), "
        f"send_mail en curso={state['send_mail_running']} "
        f"({state['mail_received_before_kill'] - before_mail} correos en esta corrida)"
    )
    return state


def restart_postgres(postgres, recorder: Recorder, pause: float) -> dict:
    """Stop PostgreSQL (fast), wait ``pause`` seconds, start it; return the moments."""
    began = recorder.now()
    recorder.event("PostgreSQL: pg_ctl stop -m fast")
    postgres.stop_fast()
    stopped = recorder.now()
    time.sleep(pause)
    recorder.event("PostgreSQL: pg_ctl start")
    postgres.start_again()
    ready = recorder.now()
    recorder.event("PostgreSQL acepta conexiones otra vez")
    return {"stop_began": began, "stopped": stopped, "ready": ready}


def outage_figures(samples, restart: dict) -> dict:
    """Measure the outage the users saw around the PostgreSQL restart, from their requests."""
    began, ready = restart["stop_began"], restart["ready"]
    window = [s for s in samples if s.started + s.seconds >= began and s.started <= ready + 120]
    failed = [s for s in window if not 200 <= s.status < 400]
    after = [s for s in window if s.started >= ready]
    first_ok = min((s.started + s.seconds for s in after if 200 <= s.status < 400), default=None)
    last_failure = max((s.started + s.seconds for s in failed), default=None)
    statuses = Counter(str(s.status or s.error) for s in failed)
    return {
        "postgres_down_s": ready - began,
        "failed_requests": len(failed),
        "failed_by_status": dict(statuses),
        "bad_bodies_in_window": sum(1 for s in window if s.bad_body),
        "first_failure_s": min((s.started for s in failed), default=None),
        "seconds_from_ready_to_first_success": None if first_ok is None else first_ok - ready,
        "seconds_from_ready_to_last_failure": None
        if last_failure is None
        else max(0.0, last_failure - ready),
        "seconds_from_stop_to_last_failure": None if last_failure is None else last_failure - began,
    }


# --- Mail accounting ---------------------------------------------------------------------------


def drain_and_count_mail(database_url: str, smtp_port: int, mailbox: Mailbox) -> dict:
    """Send everything left in the outbox, as the next runs would (stale claims given up), then
    compare each outbox key with what the SMTP server received under its Message-ID."""
    import sqlalchemy as sa

    from salve.db import utcnow
    from salve.extensions import db
    from salve.notifications.models import FAILED, PENDING, SENDING, SENT, UNCERTAIN, OutboxMessage
    from salve.notifications.sending import STALE_AFTER, message_id, send_pending

    mailbox.delay = 0.0
    config = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port}
    with salve_app(database_url, **config) as app:
        drained = Counter()
        # As a run would see it once a claim left by the killed scheduler is stale.
        later = utcnow() + STALE_AFTER + timedelta(minutes=1)
        for _ in range(100):
            counts = send_pending(now=later, batch=500)
            drained.update(counts)
            left = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.channel == "email",
                    OutboxMessage.status.in_([PENDING, SENDING]),
                )
            )
            if not left:
                break
        sender = str(app.config["MAIL_DEFAULT_SENDER"])
        rows = db.session.execute(
            sa.select(OutboxMessage.key, OutboxMessage.status).where(
                OutboxMessage.channel == "email"
            )
        ).all()
    expected_ids = {message_id(key, sender): status for key, status in rows}
    received = mailbox.received
    by_status = Counter(status for _key, status in rows)
    uncertain = [mid for mid, status in expected_ids.items() if status == UNCERTAIN]
    return {
        "outbox_email_rows": len(rows),
        "by_status": dict(by_status),
        "sent_but_not_received": sum(
            1 for mid, status in expected_ids.items() if status == SENT and received[mid] == 0
        ),
        "received_twice_or_more": sum(1 for n in received.values() if n > 1),
        "received_unknown": sum(1 for mid in received if mid not in expected_ids),
        "left_pending": by_status.get(PENDING, 0) + by_status.get(SENDING, 0),
        "failed": by_status.get(FAILED, 0),
        "uncertain": len(uncertain),
        "uncertain_received": sum(1 for mid in uncertain if received[mid] >= 1),
        "received_messages": sum(received.values()),
        "drain_counts": dict(drained),
    }


# --- The run -------------------------------------------------------------------------------------


def run(options: argparse.Namespace) -> dict | None:
    """Prepare, load, inject the faults and count; return the figures (None: no PostgreSQL)."""
    print(f"== fallos bajo carga en PostgreSQL: {options.users} usuarios, {options.duration:.0f} s")
    before = machine()
    print(f"  máquina: {before}")
    with work_directory("salve-faults-", options.keep_logs) as workdir:
        postgres = postgres_or_none()
        if postgres is None:
            print("  PostgreSQL no está instalado (apt-get install postgresql): nada que medir.")
            return None
        services: list[Service] = []
        mailbox, smtp = Mailbox(), None
        watcher = None
        try:
            url = postgres.create_database("salve_faults")
            smtp_port = free_port()
            smtp = start_smtp(smtp_port, mailbox)
            env = salve_env(url, SALVE_MAIL_SERVER="127.0.0.1", SALVE_MAIL_PORT=str(smtp_port))
            started = time.monotonic()
            prepare_database(env, workdir, options.seed)
            planted = plant_candidates(url, options.planted)
            plan = create_accounts(url, options.users, avoid_school=planted["school"])
            accounts = plan["accounts"]
            print(
                f"  preparado en {time.monotonic() - started:.0f} s: demo, {len(accounts)} cuentas,"
                f" {len(planted['student_ids'])} estudiantes sembrados con puntaje alto en la "
                f"escuela {planted['school']}"
            )
            scheduler_env = {
                **env,
                "SALVE_CATALOG_DIR": str(fast_catalogs(workdir)),
                "SALVE_SCHEDULER_LEASE_SECONDS": "15",
            }
            scheduler_command = [str(BIN / "flask"), "--app", "app", "salve", "scheduler"]
            server = Gunicorn.serve(free_port(), 4, env, workdir)
            services.append(server)
            watcher = Watcher(url)
            mailbox.delay = SLOW_SMTP
            recorder, ledger = Recorder(), Ledger()
            scheduler = Service.start("scheduler", scheduler_command, scheduler_env, workdir)
            services.append(scheduler)
            recorder.event("scheduler iniciado: raise_alerts y send_mail cada minuto")
            site = Site(server.port, recorder, ledger, options.duration, tuple(options.think),
                        retry=True)  # fmt: skip
            users = start_users(site, accounts, options.ramp, options.seed)
            result = _faults(options, postgres, server, scheduler, scheduler_env, scheduler_command,
                             watcher, mailbox, planted["student_ids"], recorder, workdir,
                             services)  # fmt: skip
            stuck = join_users(users, timeout=180)
            result["machine"] = {"before": before, "after": machine()}
            print(f"  máquina al terminar: {result['machine']['after']}")
            for service in services:
                service.stop()
            samples = list(recorder.samples)
            span = max(s.started + s.seconds for s in samples) - min(s.started for s in samples)
            rows = figures(samples)
            print_figures(rows, span)
            result["figures"] = [dataclasses.asdict(row) for row in rows]
            result["errors"] = error_breakdown(samples)
            result["bad_bodies"] = sum(1 for s in samples if s.bad_body)
            result["bad_body_examples"] = recorder.bad_bodies[:3]
            result["outage"] = outage_figures(samples, result["postgres_restart"])
            teachers = [a.username for a in accounts if a.role == "docente"]
            result["reports"] = count_reports(url, ledger, teachers)
            result["alerts"]["doubled_after_run"] = watcher.doubled_alerts()
            result["mail"] = drain_and_count_mail(url, smtp_port, mailbox)
            logs = [service.log_path for service in services]
            result["tracebacks_in_logs"] = count_in_logs(logs, "Traceback")
            result["users_crashed"] = [u.name for u in users if u.crash]
            result["users_stuck"] = stuck
            result["events"] = recorder.events
            for user in users:
                if user.crash:
                    print(f"  {user.name} se detuvo por un fallo del banco:\n{user.crash}")
            return result
        finally:
            for service in services:
                service.stop()
            if watcher is not None:
                watcher.dispose()
            if smtp is not None:
                smtp.stop()
            postgres.stop()


def _faults(options, postgres, server, scheduler, scheduler_env, scheduler_command, watcher,
            mailbox, planted, recorder, workdir, services) -> dict:  # fmt: skip
    """Inject the three faults while the users work; return what happened."""
    killer_result: list = []
    killer = threading.Thread(
        target=lambda: killer_result.extend(
            kill_workers(server, recorder, options.kill_phase, options.kill_every, options.seed)
        ),
        daemon=True,
    )
    killer.start()
    scheduler_kill = kill_scheduler(scheduler, watcher, mailbox, planted, recorder)
    mailbox.delay = 0.0  # the restarted scheduler's runs need not be slow
    restarted = Service.start("scheduler-2", scheduler_command, scheduler_env, workdir)
    services.append(restarted)
    restarted_at = recorder.now()
    runs_before = {job: len(watcher.runs(job)) for job in EVERY_MINUTE}
    recorder.event("scheduler iniciado otra vez")
    killer.join()
    # Before the restarted scheduler's first runs (a minute after it starts), not during them.
    pg_at = max(options.pg_at, restarted_at + 10)
    wait_for(lambda: recorder.now() >= pg_at, 300, 0.2)
    restart = restart_postgres(postgres, recorder, options.pg_pause)

    def finished(job: str) -> bool:
        runs = watcher.runs(job)
        return any(status == "ok" for _id, status in runs[runs_before[job] :])

    done = wait_for(lambda: all(finished(job) for job in EVERY_MINUTE), 240, 0.5)
    wanted = len(planted) * len(PLANTED_RULES)
    alerts = {
        "planted_wanted": wanted,
        "planted_open_after_restart": watcher.planted_alerts(planted),
        "doubled_after_restart": watcher.doubled_alerts(),
        "restarted_scheduler_finished_runs": done,
        "restarted_after_s": restarted_at,
        "runs": {job: watcher.runs(job) for job in EVERY_MINUTE},
    }
    recorder.event(
        f"scheduler reiniciado terminó sus corridas: {done}; alertas sembradas abiertas "
        f"{alerts['planted_open_after_restart']}/{wanted}"
    )
    # The users go on until the planned end, or stop now if the faults took longer.
    recorder_end = max(options.duration, recorder.now())
    wait_for(lambda: recorder.now() >= recorder_end, 600, 0.5)
    return {
        "worker_kills": len(killer_result),
        "scheduler_kill": scheduler_kill,
        "postgres_restart": restart,
        "alerts": alerts,
    }


def check(result: dict) -> list[str]:
    """Return what went wrong (empty: every check passed)."""
    problems = []
    reports, alerts, mail, outage = (
        result["reports"],
        result["alerts"],
        result["mail"],
        result["outage"],
    )
    if reports["lost"] or reports["duplicated_keys"]:
        problems.append(f"reportes perdidos {reports['lost']}, duplicados "
                        f"{reports['duplicated_keys']}")  # fmt: skip
    expected = reports["acknowledged"] + reports["stored_unacknowledged"]
    if reports["incidents_by_bench_teachers"] != expected:
        problems.append(f"{reports['incidents_by_bench_teachers']} reportes del banco en la base, "
                        f"se esperaban {expected}")  # fmt: skip
    if result["bad_bodies"]:
        problems.append(f"{result['bad_bodies']} respuestas con un cuerpo que no debía verse")
    wrong = {k: v for k, v in outage["failed_by_status"].items() if k not in ("503",)}
    if wrong:
        problems.append(f"durante el reinicio de PostgreSQL, respuestas que no son 503: {wrong}")
    if alerts["planted_open_after_restart"] != alerts["planted_wanted"]:
        problems.append(
            f"alertas sembradas {alerts['planted_open_after_restart']} de "
            f"{alerts['planted_wanted']}"
        )
    if alerts["doubled_after_restart"] or alerts["doubled_after_run"]:
        problems.append("alertas abiertas dobles por regla y entidad")
    if mail["received_twice_or_more"] or mail["sent_but_not_received"] or mail["left_pending"]:
        problems.append(
            f"correos: {mail['received_twice_or_more']} recibidos dos veces, "
            f"{mail['sent_but_not_received']} enviados y no recibidos, "
            f"{mail['left_pending']} sin enviar"
        )
    if mail["received_unknown"]:
        problems.append(f"{mail['received_unknown']} correos recibidos sin fila en el outbox")
    if result["users_crashed"] or result["users_stuck"]:
        problems.append(f"usuarios detenidos {result['users_crashed']} {result['users_stuck']}")
    return problems


def report(result: dict) -> None:
    """Print the figures in words."""
    reports, alerts, mail, outage = (
        result["reports"],
        result["alerts"],
        result["mail"],
        result["outage"],
    )
    print(f"  errores por tipo: {result['errors']}")
    print(
        f"  workers muertos con kill -9: {result['worker_kills']}; reportes confirmados "
        f"{reports['acknowledged']}, perdidos {reports['lost']}, claves duplicadas "
        f"{reports['duplicated_keys']}; {reports['retried']} envíos reintentados con la misma "
        f"clave, {reports['retry_found_stored']} de ellos ya estaban guardados; "
        f"{reports['abandoned']} abandonados sin confirmar ({reports['stored_unacknowledged']} "
        f"de ellos guardados)"
    )

    def seconds(value) -> str:
        return "—" if value is None else f"{value:.1f} s"

    print(
        f"  PostgreSQL detenido {outage['postgres_down_s']:.1f} s (stop -m fast, pausa, start): "
        f"{outage['failed_requests']} peticiones fallidas {outage['failed_by_status']}; primera "
        f"respuesta correcta {seconds(outage['seconds_from_ready_to_first_success'])} después de "
        f"que PostgreSQL volvió; la última falla "
        f"{seconds(outage['seconds_from_ready_to_last_failure'])} después; cuerpos indebidos "
        f"{outage['bad_bodies_in_window']}"
    )
    kill = result["scheduler_kill"]
    print(
        f"  scheduler con kill -9: raise_alerts en curso {kill['raise_alerts_running']} "
        f"({kill['planted_alerts_before_kill']}/{kill['planted_alerts_wanted']}), send_mail en "
        f"curso {kill['send_mail_running']}; tras reiniciarlo, alertas sembradas abiertas "
        f"{alerts['planted_open_after_restart']}/{alerts['planted_wanted']}, dobles "
        f"{alerts['doubled_after_restart']} (al final {alerts['doubled_after_run']})"
    )
    print(
        f"  correos: {mail['outbox_email_rows']} filas de correo en el outbox {mail['by_status']};"
        f" {mail['received_messages']} recibidos por el servidor SMTP; recibidos dos veces "
        f"{mail['received_twice_or_more']}; enviados y no recibidos "
        f"{mail['sent_but_not_received']}; sin enviar {mail['left_pending']}; inciertos "
        f"{mail['uncertain']} ({mail['uncertain_received']} de ellos sí llegaron: el scheduler "
        f"murió entre la entrega y su registro, y no se reenvían)"
    )
    print(f"  trazas (Traceback) en los registros: {result['tracebacks_in_logs']}")


def main() -> None:
    """Run the faults, print and save the figures, exit 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--ramp", type=float, default=20.0)
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 5.0), metavar=("MIN", "MAX"))
    parser.add_argument("--kill-every", type=float, nargs=2, default=(3.0, 7.0),
                        metavar=("MIN", "MAX"), help="seconds between worker kills")  # fmt: skip
    parser.add_argument("--kill-phase", type=float, default=60.0,
                        help="kill workers during the first N seconds")  # fmt: skip
    parser.add_argument("--pg-at", type=float, default=80.0,
                        help="restart PostgreSQL then (or 10 s after the scheduler)")  # fmt: skip
    parser.add_argument("--pg-pause", type=float, default=5.0, help="seconds PostgreSQL stays down")
    parser.add_argument("--planted", type=int, default=500, help="students calling for alerts")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-logs", action="store_true")
    options = parser.parse_args()
    result = run(options)
    if result is None:
        sys.exit(0)
    report(result)
    problems = check(result)
    for problem in problems:
        print(f"  FALLA: {problem}")
    print(f"resultados: {save_results('faults', result)}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
