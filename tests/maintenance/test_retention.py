"""Retention (SECURITY.md item 29): periods from catalogs/retention.yaml, legal holds, and
anonymisation that keeps the rows and the open-data figures, with a clock moved forward."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger

from salve.alerts import operations as alerts
from salve.alerts.models import OPEN, Alert
from salve.alerts.policy import load_policy
from salve.audit.models import AuditEvent
from salve.auth.models import AuthSession, LoginThrottle
from salve.cases.models import Case, CaseStep, FollowUp, Referral
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents import operations as incidents
from salve.incidents.models import Incident, IncidentDraft, IncidentParty
from salve.jobs.models import JobRun
from salve.jobs.runner import run_job
from salve.jobs.scheduler import plan
from salve.maintenance import retention
from salve.maintenance.models import LegalHold
from salve.maintenance.policy import RetentionError, load_retention, parse_retention
from salve.notifications.models import Delivery, InboxMessage, OutboxMessage
from salve.opendata.data import base_counts, period_ending
from salve.schools.models import Student
from tests.alerts.test_operations import _file_sexual_violence
from tests.factories import PASSWORD, report_payload
from tests.maintenance.conftest import close_case_of_an_immediate_report
from tests.scoring.test_persistence import _user

CATALOGS = Path(__file__).resolve().parents[2] / "catalogs"
NARRATIVE = "En el recreo Marta Ficticia le quitó la mochila y la insultó."
WITNESS = "docente de 7.º grado, Prof. Ejemplo"


def later(years: float):
    """Return the moment ``years`` from now (a few days more, so that no boundary is hit)."""
    return utcnow() + timedelta(days=round(365.25 * years) + 3)


def student(nie: str) -> Student:
    return db.session.scalar(sa.select(Student).where(Student.nie == nie))


def leave(*nies: str) -> list[int]:
    """Take students off the roll (they left the school system); return their ids."""
    ids = []
    for nie in nies:
        row = student(nie)
        row.is_active = False
        ids.append(row.id)
    db.session.flush()
    return ids


def file(world, victim: int = 0, aggressor: int = 1, **overrides) -> Incident:
    """File a report by docente_a: a student of school_a hurt by another, a teacher watching."""
    payload = report_payload(
        world,
        parties=[
            {"role": "victima", "kind": "estudiante", "nie": world.students_a[victim]},
            {"role": "agresor", "kind": "estudiante", "nie": world.students_a[aggressor]},
            {"role": "testigo", "kind": "personal", "description": WITNESS},
        ],
        narrative=NARRATIVE,
        measures_note="Se llamó a la madre, doña Ejemplo.",
        **overrides,
    )
    incident, _created = incidents.file_incident(_user("docente_a"), payload, current_catalog())
    return incident


def figures():
    """Return the open-data base table (counts by department, month, category, sex, level)."""
    tomorrow = (utcnow().astimezone(LOCAL_TZ) + timedelta(days=1)).date()
    frame = base_counts(current_catalog(), period_ending(tomorrow))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def anonymise(now, **options) -> dict[str, int]:
    """Run the job as the scheduler would, with a moved clock; return its counts."""
    counts = run_job("anonymise", now=now, **options).counts
    db.session.expire_all()
    return counts


def test_a_record_past_its_period_is_anonymised_and_the_figures_stay(world):
    incident = file(world)
    unfounded = file(world, victim=2, aggressor=3)
    incidents.close_unfounded(_user("director_a"), unfounded, "Lo inventó Pedro Ficticio.")
    before_rows = {nie: student(nie) for nie in world.students_a[:4]}
    before = {
        nie: (s.nie, s.sex, s.grade, s.section, s.school_id, s.birth_date)
        for nie, s in before_rows.items()
    }
    ids = leave(*world.students_a[:4])
    last_activity = db.session.get(Incident, incident.id).updated_at
    published = figures()
    assert published["count"].sum() >= 1  # the open figures count the report

    counts = anonymise(later(6))
    assert counts["incidents_anonymised"] == 2
    assert counts["students_anonymised"] == 4

    for report in (db.session.get(Incident, incident.id), db.session.get(Incident, unfounded.id)):
        assert report.narrative == "[anonimizado]"
        assert report.measures_note == "[anonimizado]"
        assert report.anonymised_at is not None
        assert {p.description for p in report.parties} == {"", "[anonimizado]"}
        assert report.type_codes == ["ACO_VERBAL"]  # what statistics count stays
    # Anonymising is no activity: the students' period still counts from the report's last one.
    assert db.session.get(Incident, incident.id).updated_at == last_activity
    assert db.session.get(Incident, unfounded.id).closed_reason == "[anonimizado]"
    assert db.session.get(Incident, unfounded.id).status == "infundado"
    for student_id, nie in zip(ids, world.students_a[:4], strict=True):
        row = db.session.get(Student, student_id)
        old_nie, sex, grade, section, school_id, born = before[nie]
        assert (row.given_names, row.family_names) == ("Anonimizado", "")
        assert re.fullmatch(r"ANON-[0-9A-F]{15}", row.nie) and old_nie not in row.nie
        assert row.birth_date == date(born.year, 1, 1)
        assert (row.sex, row.grade, row.section, row.school_id) == (sex, grade, section, school_id)
        assert row.anonymised_at is not None
    # The identities and text are nowhere in the tables retention owns.
    leftovers = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Student)
        .where(Student.id.in_(ids), Student.family_names.like("Prueba Ficticia%"))
    )
    assert leftovers == 0
    assert not db.session.scalar(
        sa.select(sa.func.count()).where(IncidentParty.description == WITNESS)
    )
    # The open-data figures do not move.
    assert figures().equals(published)


def test_a_record_inside_its_period_and_a_student_on_the_roll_are_untouched(world):
    incident = file(world, victim=0, aggressor=1)
    leave(world.students_a[1])  # the victim is still on the roll

    early = anonymise(later(4))
    assert early["incidents_anonymised"] == 0 and early["students_anonymised"] == 0
    assert db.session.get(Incident, incident.id).narrative == NARRATIVE
    assert student(world.students_a[1]).given_names.startswith("Estudiante")

    counts = anonymise(later(6))
    assert counts["incidents_anonymised"] == 1
    assert counts["students_anonymised"] == 1
    assert db.session.get(Incident, incident.id).narrative == "[anonimizado]"
    on_roll = student(world.students_a[0])
    assert on_roll.given_names.startswith("Estudiante") and on_roll.anonymised_at is None


def test_a_held_record_is_untouched_until_released(runner, world):
    incident = file(world)
    ids = leave(world.students_a[0], world.students_a[1])
    reason = "Expediente FGR 123-2026, causa contra Pedro Ficticio"
    placed = runner.invoke(
        args=["salve", "retention", "hold", "--incident", str(incident.id),
              "--reason", reason, "--by", "admin"]
    )  # fmt: skip
    assert placed.exit_code == 0, placed.output
    hold_id = int(re.search(r"Retención legal (\d+) sobre reporte", placed.output).group(1))

    held = anonymise(later(6))
    assert held["incidents_anonymised"] == 0 and held["students_anonymised"] == 0
    assert db.session.get(Incident, incident.id).narrative == NARRATIVE
    assert all(db.session.get(Student, i).anonymised_at is None for i in ids)  # tied: kept too

    listed = runner.invoke(args=["salve", "retention", "list"])
    assert f"reporte {incident.id}" in listed.output and reason in listed.output
    released = runner.invoke(
        args=["salve", "retention", "release", str(hold_id), "--by", "supervisor_06",
              "--reason", "Proceso concluido"]
    )  # fmt: skip
    assert released.exit_code == 0, released.output
    assert "levantada" in released.output
    assert (
        "No hay retenciones legales en vigor."
        in runner.invoke(args=["salve", "retention", "list"]).output
    )

    counts = anonymise(later(6))
    assert counts["incidents_anonymised"] == 1 and counts["students_anonymised"] == 2
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action.like("legal_hold.%")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("legal_hold.place", "incident", str(incident.id)),
        ("legal_hold.release", "incident", str(incident.id)),
    ]
    assert events[0].user_id == _user("admin").id
    assert events[1].user_id == _user("supervisor_06").id
    assert all("Ficticio" not in str(e.detail) for e in events)  # the reason is never audited


def test_a_hold_on_a_student_keeps_their_reports_and_the_people_in_them(world):
    shared = file(world, victim=0, aggressor=1)
    other = file(world, victim=2, aggressor=3)
    leave(*world.students_a[:4])
    hold = LegalHold(target_type="student", target_id=student(world.students_a[0]).id,
                     reason="Medida de protección", placed_by_id=_user("admin").id)  # fmt: skip
    db.session.add(hold)
    db.session.flush()

    counts = anonymise(later(6))
    assert counts["incidents_anonymised"] == 1 and counts["students_anonymised"] == 2
    assert db.session.get(Incident, shared.id).anonymised_at is None
    assert db.session.get(Incident, other.id).anonymised_at is not None
    assert student(world.students_a[0]).anonymised_at is None
    assert student(world.students_a[1]).anonymised_at is None  # named in the held student's report


def test_a_hold_on_a_school_keeps_everything_of_the_school(world):
    held = file(world)
    other, _created = incidents.file_incident(
        _user("docente_c"),
        report_payload(
            world,
            school=world.school_c,
            parties=[
                {"role": "victima", "kind": "estudiante", "nie": world.students_c[0]},
                {"role": "agresor", "kind": "estudiante", "nie": world.students_c[1]},
            ],
        ),
        current_catalog(),
    )
    leave(world.students_a[0], world.students_a[1], world.students_c[0], world.students_c[1])
    school_a = student(world.students_a[0]).school_id
    db.session.add(LegalHold(target_type="school", target_id=school_a, reason="Auditoría",
                             placed_by_id=_user("admin").id))  # fmt: skip
    db.session.flush()
    counts = anonymise(later(6))
    assert (counts["incidents_anonymised"], counts["students_anonymised"]) == (1, 2)
    assert db.session.get(Incident, held.id).anonymised_at is None
    assert db.session.get(Incident, other.id).anonymised_at is not None
    assert student(world.students_a[0]).anonymised_at is None


def test_an_open_alert_keeps_its_report_and_child_until_it_is_closed(world):
    incident = _file_sexual_violence(world)  # immediate: its alerts open as it is saved
    leave(world.students_a[0], world.students_a[1])
    kept = anonymise(later(6))
    assert (kept["incidents_anonymised"], kept["students_anonymised"]) == (0, 0)

    supervisor = _user("supervisor_06")
    for alert in db.session.scalars(sa.select(Alert).where(Alert.status.in_(OPEN))):
        alerts.transition(supervisor, alert, "reconocida")
        alerts.transition(supervisor, alert, "descartada", reason="falso_positivo")
    done = anonymise(later(6))
    assert (done["incidents_anonymised"], done["students_anonymised"]) == (1, 2)
    assert db.session.get(Incident, incident.id).narrative == "[anonimizado]"


def test_holds_refuse_unknown_records_and_accounts_without_authority(runner, world):
    cases = [
        (["--incident", "999999"], "admin", "No existe el reporte «999999»"),
        (["--student", "0000000"], "admin", "No existe el estudiante «0000000»"),
        (["--school", world.school_a], "docente_a", "no puede ordenar retenciones legales"),
        (["--school", world.school_a, "--case", "1"], "admin", "Indique un solo registro"),
    ]
    for target, by, message in cases:
        result = runner.invoke(
            args=["salve", "retention", "hold", *target, "--reason", "x", "--by", by]
        )
        assert result.exit_code == 1
        assert message in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LegalHold)) == 0
    again = runner.invoke(args=["salve", "retention", "release", "999", "--by", "admin"])
    assert "No existe la retención 999" in again.output


def test_a_closed_case_keeps_its_report_and_child_for_ten_years(world):
    case, incident_id = close_case_of_an_immediate_report(world)
    leave(world.students_a[0], world.students_a[1])
    follow_up_ids = [f.id for f in case.follow_ups]

    six = anonymise(later(6))
    assert six["cases_anonymised"] == 0
    assert six["incidents_anonymised"] == 0  # its period is over, but its case is kept
    assert six["students_anonymised"] == 0
    assert db.session.get(Case, case.id).closing_summary.startswith("Protección")

    eleven = anonymise(later(11))
    assert eleven["cases_anonymised"] == 1
    assert eleven["incidents_anonymised"] == 1 and eleven["students_anonymised"] == 2
    kept = db.session.get(Case, case.id)
    assert kept.closing_summary == "[anonimizado]" and kept.anonymised_at is not None
    assert kept.status == "cerrado" and kept.tier == "III"  # what statistics count stays
    assert {db.session.get(FollowUp, i).note for i in follow_up_ids} == {"[anonimizado]"}
    referral = db.session.scalar(sa.select(Referral).where(Referral.case_id == case.id))
    assert (referral.institution, referral.reference) == ("FGR", "[anonimizado]")
    notes = db.session.scalars(sa.select(CaseStep.note).where(CaseStep.case_id == case.id))
    assert set(notes) == {"[anonimizado]"}
    assert db.session.get(Incident, incident_id).narrative == "[anonimizado]"


def test_a_hold_on_a_case_keeps_its_reports_and_children(world):
    case, incident_id = close_case_of_an_immediate_report(world)
    leave(world.students_a[0], world.students_a[1])
    db.session.add(LegalHold(target_type="case", target_id=case.id, reason="Juicio en curso",
                             placed_by_id=_user("nacional").id))  # fmt: skip
    db.session.flush()
    counts = anonymise(later(11))
    assert (counts["cases_anonymised"], counts["incidents_anonymised"]) == (0, 0)
    assert counts["students_anonymised"] == 0
    assert db.session.get(Incident, incident_id).anonymised_at is None


def test_the_job_run_twice_changes_nothing_the_second_time(world):
    file(world)
    ids = leave(world.students_a[0], world.students_a[1])
    now = later(6)
    first = anonymise(now)
    assert first["incidents_anonymised"] == 1 and first["students_anonymised"] == 2
    snapshot = [(s.nie, s.anonymised_at) for s in map(lambda i: db.session.get(Student, i), ids)]
    audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    second = anonymise(now + timedelta(days=1))
    assert set(second.values()) == {0}
    assert [(s.nie, s.anonymised_at) for s in (db.session.get(Student, i) for i in ids)] == snapshot
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == audit


def test_a_dry_run_counts_what_a_run_does_and_writes_nothing(runner, world):
    incident = file(world)
    leave(world.students_a[0], world.students_a[1])
    moment = later(6).astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat(timespec="minutes")
    audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    dry = runner.invoke(args=["salve", "retention", "run", "--dry-run", "--now", moment])
    assert dry.exit_code == 0, dry.output
    assert "reportes por anonimizar 1" in dry.output
    assert "estudiantes por anonimizar 2" in dry.output
    assert "No se cambió nada." in dry.output
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).narrative == NARRATIVE
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == audit
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 0

    done = runner.invoke(args=["salve", "retention", "run", "--now", moment])
    assert done.exit_code == 0, done.output
    assert "reportes anonimizados 1" in done.output
    assert "estudiantes anonimizados 2" in done.output


class Killed(Exception):
    """Stands for the process dying between two batches."""


def test_a_run_killed_halfway_loses_at_most_one_batch(app, world):
    filed = [file(world, victim=n, aggressor=n + 1) for n in range(3)]
    policy = dataclasses.replace(retention.retention_in_force(), batch_size=1)
    first_moment, second_moment = later(6), later(6) + timedelta(days=1)
    commits = []

    def checkpoint():
        if commits:
            raise Killed  # dies before committing the second batch
        db.session.commit()
        commits.append(1)

    with pytest.raises(Killed):
        retention.run(first_moment, policy=policy, checkpoint=checkpoint)
    db.session.rollback()
    db.session.expire_all()
    done = [db.session.get(Incident, i.id).anonymised_at for i in filed]
    assert done[0] == first_moment and done[1:] == [None, None]

    counts = retention.run(second_moment, policy=policy, checkpoint=db.session.commit)
    assert counts["incidents_anonymised"] == 2
    db.session.expire_all()
    done = [db.session.get(Incident, i.id).anonymised_at for i in filed]
    assert done == [first_moment, second_moment, second_moment]  # the first batch not redone


def test_expired_sessions_notices_and_drafts_are_deleted_and_mail_logs_kept(client, world):
    docente = _user("docente_a")
    now = utcnow()
    client.post("/ingresar", data={"username": "docente_a", "password": PASSWORD})
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "login"))
    db.session.add_all([
        LoginThrottle(key="user:nadie", failure_count=2, first_failure_at=now),
        InboxMessage(key="prueba:aviso", user_id=docente.id, kind="digest", payload={}),
        IncidentDraft(user_id=docente.id, idempotency_key="borrador-retencion", data={"x": 1}),
        OutboxMessage(key="prueba:sin-intentos", channel="email", recipient_id=docente.id,
                      kind="digest", payload={}),
    ])  # fmt: skip
    logged = OutboxMessage(key="prueba:con-intentos", channel="email", recipient_id=docente.id,
                           kind="digest", payload={})  # fmt: skip
    db.session.add(logged)
    db.session.flush()
    db.session.add(Delivery(outbox_id=logged.id, ok=True, detail="250 OK"))
    db.session.flush()

    def rows(model, *where):
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    sessions = rows(AuthSession, AuthSession.user_id == docente.id)
    assert sessions >= 1
    soon = anonymise(now + timedelta(days=100))
    assert soon["sessions_deleted"] >= sessions and soon["throttles_deleted"] >= 1
    assert soon["drafts_deleted"] >= 1
    assert rows(AuthSession, AuthSession.user_id == docente.id) == 0
    assert rows(IncidentDraft, IncidentDraft.user_id == docente.id) == 0
    assert rows(InboxMessage, InboxMessage.key == "prueba:aviso") == 1  # a year, not 90 days

    year = anonymise(now + timedelta(days=400))
    assert year["inbox_deleted"] >= 1 and year["outbox_deleted"] >= 1
    assert rows(InboxMessage, InboxMessage.key == "prueba:aviso") == 0
    assert rows(OutboxMessage, OutboxMessage.key == "prueba:sin-intentos") == 0
    # The delivery log is append-only and refers to its message: both stay.
    assert rows(OutboxMessage, OutboxMessage.key == "prueba:con-intentos") == 1


def test_pseudonyms_are_stable_distinct_and_keyed(app):
    first, again, other = (retention.pseudonym(n) for n in ("1234567", "1234567", "1234568"))
    assert first == again != other
    assert len(first) == 20 and "1234567" not in first
    app.config["SECRET_KEY"] = "otra-clave-" * 4
    try:
        assert retention.pseudonym("1234567") != first  # no table of every NIE's hash helps
    finally:
        app.config["SECRET_KEY"] = "test-secret-key"


def test_the_shipped_periods_are_the_documented_ones():
    policy = load_retention(CATALOGS / "retention.yaml")
    assert {kind: period.describe() for kind, period in policy.periods.items()} == {
        "students": "5 años",
        "incidents": "5 años",
        "cases": "10 años",
        "notices": "365 días",
        "sessions": "90 días",
        "drafts": "90 días",
    }
    assert policy.batch_size == 500


def test_the_job_runs_daily_at_half_past_two_in_el_salvador():
    planned = {job.name: job for job in plan(load_policy(CATALOGS / "alerts.yaml"))}
    trigger = planned["anonymise"].trigger
    assert isinstance(trigger, CronTrigger)
    assert planned["anonymise"].description == "cada día a las 02:30 (hora de El Salvador)"


GOOD = {
    "version": "2026.1",
    "periods": {
        "students": {"years": 5}, "incidents": {"years": 5}, "cases": {"years": 10},
        "notices": {"days": 365}, "sessions": {"days": 90}, "drafts": {"days": 90},
    },
    "batch_size": 500,
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"periods": {**GOOD["periods"], "cases": {"years": "diez"}}},
         "retention.yaml: periods.cases.years: debe ser un número entero de años entre 1 y 100, "
         "no 'diez'"),
        ({"periods": {**GOOD["periods"], "incidents": {"years": 0}}},
         "periods.incidents.years: debe ser un número entero de años entre 1 y 100, no 0"),
        ({"periods": {**GOOD["periods"], "students": {"days": 30}}},
         "periods.students: debe ser {years: N} (años), no {'days': 30}"),
        ({"periods": {**GOOD["periods"], "sessions": {"days": -1}}},
         "periods.sessions.days: debe ser un número entero de días entre 1 y 3650, no -1"),
        ({"periods": {k: v for k, v in GOOD["periods"].items() if k != "drafts"}},
         "periods.drafts: falta: indique {days: N} (días)"),
        ({"periods": {**GOOD["periods"], "alumnos": {"years": 5}}},
         "periods.alumnos: tipo desconocido"),
        ({"periods": "5 años"}, "periods: debe dar el plazo de cada tipo de registro"),
        ({"batch_size": 0}, "batch_size: debe ser un número entero entre 1 y 10000, no 0"),
        ({"version": 2026}, 'version: debe ser una versión entre comillas'),
        ({"audit_years": 10}, "audit_years: ajuste desconocido"),
    ],
)  # fmt: skip
def test_the_periods_file_refuses_bad_values_naming_the_field(change, message):
    with pytest.raises(RetentionError) as refused:
        parse_retention({**GOOD, **change})
    assert any(message in error for error in refused.value.errors), refused.value.errors
    assert len(refused.value.errors) == 1


def test_a_broken_periods_file_stops_the_command_and_the_job(app, runner, tmp_path, world):
    (tmp_path / "retention.yaml").write_text("version: '1'\nperiods: [\n", encoding="utf-8")
    original = app.config["CATALOG_DIR"]
    app.config["CATALOG_DIR"] = str(tmp_path)
    try:
        checked = runner.invoke(args=["salve", "retention", "check"])
        assert checked.exit_code == 1
        assert "retention.yaml: no es YAML válido" in checked.output
        with pytest.raises(RetentionError):
            run_job("anonymise")
    finally:
        app.config["CATALOG_DIR"] = original
    with pytest.raises(RetentionError, match="no se encontró el archivo"):
        load_retention(tmp_path / "falta.yaml")
    shipped = runner.invoke(args=["salve", "retention", "check"])
    assert shipped.exit_code == 0 and "cases      se anonimiza a los 10 años" in shipped.output


def test_retention_leaves_every_audit_row_as_it_was_and_the_chain_whole(world):
    """Anonymising rewrites reports and students, never the audit log (SECURITY.md item 31)."""
    from salve.audit import chain

    audit = sa.table("audit_events", sa.column("id"), sa.column("seq"), sa.column("row_hash"))
    file(world)
    leave(world.students_a[0], world.students_a[1])
    db.session.commit()
    query = sa.select(audit.c.id, audit.c.seq, audit.c.row_hash).order_by(audit.c.seq)
    before = db.session.execute(query).all()

    counts = anonymise(later(6))
    assert counts["incidents_anonymised"] == 1 and counts["students_anonymised"] == 2
    after = db.session.execute(query).all()
    assert after[: len(before)] == before  # untouched; the run only adds its own rows
    verdict = chain.verify(db.session.connection())
    assert verdict.broken is None and verdict.rows == len(after)
