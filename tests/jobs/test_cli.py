"""``salve jobs list`` and ``salve jobs run``: what an operator sees and what the jobs do."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from salve.alerts.models import Alert
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.jobs.models import JobRun
from salve.notifications.models import SENT, InboxMessage, OutboxMessage
from salve.scoring.operations import rescore
from tests.alerts.test_operations import _file_sexual_violence, _student_alert
from tests.scoring.test_persistence import _plant_bullying, _user


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _line(output: str, job: str) -> str:
    return next(line for line in output.splitlines() if line.split()[:1] == [job])


def test_jobs_run_raise_alerts_then_jobs_list_shows_the_run(runner, world):
    _plant_bullying(world)
    rescore(current_catalog())
    before = runner.invoke(args=["salve", "jobs", "list"])
    assert before.exit_code == 0, before.output
    assert "cada 5 min" in _line(before.output, "raise_alerts")
    assert _line(before.output, "raise_alerts").endswith("nunca")
    assert "cada día a las 07:00 (hora de El Salvador)" in _line(before.output, "digest")

    result = runner.invoke(args=["salve", "jobs", "run", "raise_alerts"])
    assert result.exit_code == 0, result.output
    raised = int(re.search(r"levantadas (\d+)", result.output).group(1))
    assert raised >= 1
    assert raised == _count(Alert, Alert.rule_id == "mismo_agresor") + _count(
        Alert, Alert.rule_id != "mismo_agresor", Alert.immediate.is_(False)
    )
    again = runner.invoke(args=["salve", "jobs", "run", "raise_alerts"])
    assert "levantadas 0," in again.output  # idempotent: nothing raised twice

    listed = runner.invoke(args=["salve", "jobs", "list"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"correcta, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+\.\d\d s\)$",
                     _line(listed.output, "raise_alerts"))  # fmt: skip
    assert _line(listed.output, "escalate").endswith("nunca")
    assert "Ningún programador dirige las tareas ahora" in listed.output
    runs = db.session.scalars(sa.select(JobRun).where(JobRun.job == "raise_alerts")).all()
    assert [run.status for run in runs] == ["ok", "ok"]
    assert runs[0].detail["raised"] == raised
    assert runs[0].finished_at >= runs[0].started_at


def test_an_unknown_job_is_refused_in_spanish(runner):
    result = runner.invoke(args=["salve", "jobs", "run", "limpiar"])
    assert result.exit_code == 1
    assert "Tarea desconocida: «limpiar»" in result.output
    assert "rescore, raise_alerts, escalate, overdue_steps, send_mail, digest" in result.output
    assert _count(JobRun) == 0


def test_a_malformed_now_is_refused(runner):
    result = runner.invoke(args=["salve", "jobs", "run", "escalate", "--now", "mañana"])
    assert result.exit_code == 1
    assert "--now debe ser una fecha y hora ISO 8601" in result.output


def test_escalation_follows_the_clock_given_with_now(runner, world):
    _file_sexual_violence(world)  # an immediate report: three alerts, 24 h to acknowledge
    alert = _student_alert(world)
    opened = alert.opened_at

    def escalate(hours: float) -> str:
        moment = (opened + timedelta(hours=hours)).isoformat()
        result = runner.invoke(args=["salve", "jobs", "run", "escalate", "--now", moment])
        assert result.exit_code == 0, result.output
        return result.output

    assert "escaladas 0." in escalate(23)
    assert "escaladas 3." in escalate(25)
    assert "escaladas 0." in escalate(26)  # each step once, however often the job runs
    assert "escaladas 3." in escalate(49)
    db.session.refresh(alert)
    assert alert.escalation == 2
    supervisor, national = _user("supervisor_06"), _user("nacional")
    escalated = InboxMessage.kind == "alert_escalated"
    assert _count(InboxMessage, escalated, InboxMessage.user_id == supervisor.id) == 3
    assert _count(InboxMessage, escalated, InboxMessage.user_id == national.id) == 3
    [last] = db.session.scalars(
        sa.select(JobRun).where(JobRun.job == "escalate").order_by(JobRun.id.desc()).limit(1)
    )
    assert last.detail["as_of"].startswith((opened + timedelta(hours=49)).date().isoformat())


def test_naive_now_is_el_salvador_time(runner, world):
    result = runner.invoke(args=["salve", "jobs", "run", "escalate", "--now", "2026-03-01T08:00"])
    assert result.exit_code == 0, result.output
    assert "con la hora 2026-03-01 08:00:00" in result.output
    run = db.session.scalar(sa.select(JobRun).where(JobRun.job == "escalate"))
    assert run.detail["as_of"] == "2026-03-01T14:00:00+00:00"  # UTC-6


def test_send_mail_after_raising_sends_each_email_once(runner, world):
    _user("gestor_06").email = "gestora@example.org"
    _file_sexual_violence(world)
    queued = _count(OutboxMessage)
    assert queued >= 1
    first = runner.invoke(args=["salve", "jobs", "run", "send_mail"])
    assert first.exit_code == 0, first.output
    assert f"enviados {queued}," in first.output
    second = runner.invoke(args=["salve", "jobs", "run", "send_mail"])
    assert "enviados 0," in second.output
    assert _count(OutboxMessage, OutboxMessage.status == SENT) == queued
