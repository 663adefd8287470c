"""Fifty people using SALVE at once for five minutes, on PostgreSQL and then on SQLite.

    .venv/bin/python bench/load.py [--backend postgresql sqlite] [--users 50] [--duration 300]
                                   [--ramp 30] [--think 1 5] [--workers 4] [--keep-logs]

For each backend: a throwaway database (a PostgreSQL server in a temporary directory, or a
SQLite file) prepared with ``salve init`` and ``salve demo``; one bench account per simulated
user (docentes in the department's largest schools, gestores with an enrolled second factor and
a share of the department's open alerts, supervisors and departamentales); gunicorn with
``--workers`` sync workers serving ``app:app``; the scheduler in its own process
(``flask --app app salve scheduler``, the real schedule). Then ``--users`` threads, signed in
one after another over ``--ramp`` seconds, each with its own cookie jar:

- docentes file reports through the real form (GET it, read the CSRF token and the form's
  idempotency key, POST; 15% of them a type that raises an alert at once) and look at them;
- gestores open their inbox, read an alert and acknowledge it;
- departamentales and supervisors browse the department's ranked list of schools and a
  school's analytics (supervisors also the alert list);

with a think time drawn between ``--think`` seconds before every page. Prints per kind of
request the count, errors, p50/p95/p99 and the throughput; checks that there was no error (any
answer but 2xx/3xx, any connection error), that every acknowledged submission (a redirect to
the saved report) is in the database once and nothing else was stored, and counts
"database is locked" in the servers' logs. Exits 1 when a check fails; latencies have no
budget (the machine is shared). Results also go to ``bench/results/load-*.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadlib import (
    BIN,
    CpuMeter,
    Gunicorn,
    Ledger,
    Recorder,
    Service,
    Site,
    count_in_logs,
    count_reports,
    create_accounts,
    describe_cpu,
    error_breakdown,
    figures,
    free_port,
    join_users,
    machine,
    postgres_or_none,
    postmaster_pid,
    prepare_database,
    print_figures,
    salve_env,
    save_results,
    start_users,
    work_directory,
)


def run_backend(backend: str, options: argparse.Namespace) -> dict | None:
    """Prepare, load and check one backend; return its figures (None: PostgreSQL missing)."""
    print(f"\n== {backend}: {options.users} usuarios, {options.duration:.0f} s")
    before = machine()
    print(f"  máquina: {before}")
    with work_directory(f"salve-load-{backend}-", options.keep_logs) as workdir:
        postgres, services = None, []
        try:
            if backend == "postgresql":
                postgres = postgres_or_none()
                if postgres is None:
                    print("  PostgreSQL no está instalado: se omite (apt-get install postgresql).")
                    return None
                url = postgres.create_database("salve_load")
            else:
                url = f"sqlite:///{workdir / 'salve.db'}"
            env = salve_env(url)
            started = time.monotonic()
            prepare_database(env, workdir, options.seed)
            plan = create_accounts(url, options.users)
            accounts = plan["accounts"]
            print(
                f"  preparado en {time.monotonic() - started:.0f} s: demo + {len(accounts)} "
                f"cuentas ({_roles(accounts)}); {plan['reassigned_alerts']} alertas repartidas"
            )
            scheduler = [str(BIN / "flask"), "--app", "app", "salve", "scheduler"]
            services.append(Service.start("scheduler", scheduler, env, workdir))
            server = Gunicorn.serve(free_port(), options.workers, env, workdir)
            services.append(server)
            pids = {"gunicorn": server.pid, "scheduler": services[0].pid}
            if postgres is not None:
                pids["postgresql"] = postmaster_pid(postgres)
            result = _load(server, accounts, options, CpuMeter(pids))
            result["machine"] = {"before": before, "after": machine()}
            print(f"  máquina al terminar: {result['machine']['after']}")
            for service in services:
                service.stop()
            logs = [service.log_path for service in services]
            result["database_is_locked"] = count_in_logs(logs, "database is locked")
            result["tracebacks_in_logs"] = count_in_logs(logs, "Traceback")
            teachers = [a.username for a in accounts if a.role == "docente"]
            result["reports"] = count_reports(url, result.pop("ledger"), teachers)
            result["backend"] = backend
            return result
        finally:
            for service in services:
                service.stop()
            if postgres is not None:
                postgres.stop()


def _roles(accounts) -> str:
    counts: dict[str, int] = {}
    for account in accounts:
        counts[account.role] = counts.get(account.role, 0) + 1
    return ", ".join(f"{n} {role}" for role, n in counts.items())


def _load(server: Gunicorn, accounts, options: argparse.Namespace, cpu: CpuMeter) -> dict:
    """Run the simulated users against ``server``; return the figures and the ledger."""
    recorder, ledger = Recorder(), Ledger()
    site = Site(server.port, recorder, ledger, options.duration, tuple(options.think))
    users = start_users(site, accounts, options.ramp, options.seed)
    while recorder.now() < options.duration:
        time.sleep(min(30.0, max(0.1, options.duration - recorder.now())))
        done = len(recorder.samples)
        failed = sum(1 for s in recorder.samples if not 200 <= s.status < 400)
        print(f"  [{recorder.now():5.0f} s] {done} peticiones, {failed} errores", flush=True)
    stuck = join_users(users, timeout=120)
    cpu_used = cpu.stop()
    samples = list(recorder.samples)
    span = max(s.started + s.seconds for s in samples) - min(s.started for s in samples)
    rows = figures(samples)
    print_figures(rows, span)
    print(f"  {describe_cpu(cpu_used)}")
    crashed = [u.name for u in users if u.crash]
    for user in users:
        if user.crash:
            print(f"  {user.name} se detuvo por un fallo del banco:\n{user.crash}")
    return {
        "users": len(accounts),
        "duration_s": options.duration,
        "span_s": span,
        "throughput_rps": rows[-1].requests / span,
        "cpu_seconds": cpu_used,
        "figures": [dataclasses.asdict(row) for row in rows],
        "errors": error_breakdown(samples),
        "bad_bodies": sum(1 for s in samples if s.bad_body),
        "bad_body_examples": recorder.bad_bodies[:3],
        "alerts_acknowledged": ledger.alerts_acknowledged,
        "immediate_reports": ledger.immediate,
        "second_factor_logins": ledger.second_factor_logins,
        "users_crashed": crashed,
        "users_stuck": stuck,
        "ledger": ledger,
    }


def check(result: dict) -> list[str]:
    """Return what went wrong in one backend's run (empty: every check passed)."""
    problems = []
    reports = result["reports"]
    total_errors = result["figures"][-1]["errors"]
    if total_errors:
        problems.append(f"{total_errors} errores: {result['errors']}")
    if result["bad_bodies"]:
        problems.append(f"{result['bad_bodies']} respuestas con un cuerpo que no debía verse")
    if reports["lost"] or reports["duplicated_keys"]:
        problems.append(f"reportes perdidos {reports['lost']}, duplicados "
                        f"{reports['duplicated_keys']}")  # fmt: skip
    expected = reports["acknowledged"] + reports["stored_unacknowledged"]
    if reports["incidents_by_bench_teachers"] != expected:
        problems.append(
            f"la base tiene {reports['incidents_by_bench_teachers']} reportes del banco, "
            f"se esperaban {expected}"
        )
    if result["database_is_locked"]:
        problems.append(f"{result['database_is_locked']} «database is locked» en los registros")
    if result["users_crashed"] or result["users_stuck"]:
        problems.append(f"usuarios detenidos {result['users_crashed']} {result['users_stuck']}")
    return problems


def main() -> None:
    """Load each backend in turn, print and save the figures, exit 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", choices=("postgresql", "sqlite"),
                        default=["postgresql", "sqlite"])  # fmt: skip
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--ramp", type=float, default=30.0, help="seconds to sign everyone in")
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 5.0), metavar=("MIN", "MAX"))
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory")
    options = parser.parse_args()

    results, failed = [], False
    for backend in options.backend:
        result = run_backend(backend, options)
        if result is None:
            continue
        results.append(result)
        reports = result["reports"]
        print(
            f"  reportes: {reports['acknowledged']} confirmados, "
            f"{reports['stored_of_acknowledged']} de ellos en la base, {reports['lost']} perdidos, "
            f"{reports['duplicated_keys']} claves duplicadas; en la base hay "
            f"{reports['incidents_by_bench_teachers']} reportes de las cuentas del banco "
            f"({result['immediate_reports']} con alerta inmediata); "
            f"{result['alerts_acknowledged']} alertas reconocidas; "
            f"{result['second_factor_logins']} ingresos con segundo factor"
        )
        print(
            f"  «database is locked» en los registros: {result['database_is_locked']}; "
            f"trazas (Traceback) en los registros: {result['tracebacks_in_logs']}"
        )
        problems = check(result)
        for problem in problems:
            print(f"  FALLA: {problem}")
        failed = failed or bool(problems)
    if results:
        print(f"resultados: {save_results('load', {'runs': results})}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
