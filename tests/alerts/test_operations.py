"""Raising alerts, one per rule and entity; the lifecycle with who, when and why; escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.alerts import operations as alerts
from salve.alerts.models import Alert, AlertEvent, AlertEvidence
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.notifications.models import InboxMessage, OutboxMessage
from salve.schools.models import Student
from salve.scoring.operations import rescore
from tests.factories import report_payload
from tests.scoring.test_persistence import _plant_bullying, _user


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _file_sexual_violence(world, **overrides):
    payload = report_payload(
        world,
        types=["SEX_TOCAMIENTOS"],
        relationship="estudiante_estudiante",
        **overrides,
    )
    incident, _created = incidents.file_incident(_user("docente_a"), payload, current_catalog())
    return incident


def _student_alert(world, nie_index=0, rule="hecho_grave_estudiante") -> Alert | None:
    student_id = db.session.scalar(
        sa.select(Student.id).where(Student.nie == world.students_a[nie_index])
    )
    return db.session.scalar(
        sa.select(Alert).where(
            Alert.rule_id == rule, Alert.entity_type == "student", Alert.entity_id == student_id
        )
    )


def test_an_immediate_report_raises_its_alerts_in_the_same_transaction(world):
    incident = _file_sexual_violence(world)
    alert = _student_alert(world)
    assert alert is not None
    assert alert.status == "abierta"
    assert alert.level == "critico"
    assert alert.immediate
    assert alert.assignee.username == "gestor_06"
    assert alert.due_at - alert.opened_at == timedelta(hours=24)
    assert [e.incident_id for e in alert.evidence] == [incident.id]
    assert [e.kind for e in alert.events][:2] == ["raised", "assigned"]
    # The assignee hears of it in the app (and by email when they have an address).
    assert _count(InboxMessage, InboxMessage.user_id == alert.assignee_id) >= 1


def test_new_evidence_joins_the_open_alert_with_no_second_alert_or_message(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    messages = _count(InboxMessage) + _count(OutboxMessage)
    second = _file_sexual_violence(world)
    alerts_for_rule = _count(
        Alert,
        Alert.rule_id == "hecho_grave_estudiante",
        Alert.entity_id == alert.entity_id,
    )
    assert alerts_for_rule == 1
    assert second.id in {e.incident_id for e in alert.evidence}
    assert _count(InboxMessage) + _count(OutboxMessage) == messages


def test_the_database_refuses_a_second_open_alert(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    twin = Alert(
        rule_id=alert.rule_id, rules_version="x", entity_type=alert.entity_type,
        entity_id=alert.entity_id, school_id=alert.school_id, department_id=alert.department_id,
        level="alto", status="abierta", due_at=utcnow(),
    )  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(twin)
        db.session.flush()


def test_the_lifecycle_records_who_when_and_why(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    gestor = _user("gestor_06")
    alerts.transition(gestor, alert, "reconocida")
    assert alert.acknowledged_at is not None
    with pytest.raises(alerts.AlertError) as refused:
        alerts.transition(gestor, alert, "descartada")
    assert refused.value.field == "reason"
    alerts.transition(gestor, alert, "descartada", reason="falso_positivo", note="Revisado.")
    assert alert.status == "descartada"
    assert alert.dismiss_reason == "falso_positivo"
    last = alert.events[-1]
    assert (last.actor_id, last.from_status, last.to_status, last.reason) == (
        gestor.id, "reconocida", "descartada", "falso_positivo"
    )  # fmt: skip
    with pytest.raises(alerts.AlertError):
        alerts.transition(gestor, alert, "abierta")  # reopening needs a note
    alerts.transition(gestor, alert, "abierta", note="Llegó información nueva.")
    assert alert.status == "abierta"
    assert alert.events[-1].kind == "reopened"


def test_refused_transitions_say_why(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    with pytest.raises(alerts.AlertError) as wrong_order:
        alerts.transition(_user("gestor_06"), alert, "resuelta", note="x")
    assert "no puede pasar" in str(wrong_order.value.message)
    with pytest.raises(alerts.AlertError) as stranger:
        alerts.transition(_user("docente_a"), alert, "reconocida")
    assert stranger.value.status == 403
    alerts.transition(_user("gestor_06"), alert, "reconocida")
    with pytest.raises(alerts.AlertError) as past:
        alerts.transition(
            _user("gestor_06"), alert, "en_seguimiento", review_at=utcnow() - timedelta(days=1)
        )
    assert past.value.field == "review_at"


def test_overdue_alerts_escalate_to_the_supervisor_then_nationally_once_each(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    opened = alert.opened_at
    raised = _count(Alert)  # the victim's, the aggressor's and the school's
    assert raised == 3
    assert alerts.escalate_overdue(now=opened + timedelta(hours=23)) == 0
    assert alert.escalation == 0
    assert alerts.escalate_overdue(now=opened + timedelta(hours=25)) == raised
    assert alert.escalation == 1
    supervisor = _user("supervisor_06")
    assert (
        _count(
            InboxMessage,
            InboxMessage.user_id == supervisor.id,
            InboxMessage.kind == "alert_escalated",
        )
        == raised
    )
    assert alerts.escalate_overdue(now=opened + timedelta(hours=26)) == 0  # no second time
    assert alerts.escalate_overdue(now=opened + timedelta(hours=49)) == raised
    assert alert.escalation == 2
    national = _user("nacional")
    assert _count(InboxMessage, InboxMessage.user_id == national.id) == raised
    assert [e.data["to"] for e in alert.events if e.kind == "escalated"] == [1, 2]


def test_an_acknowledged_alert_does_not_escalate(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    alerts.transition(_user("gestor_06"), alert, "reconocida")
    alerts.escalate_overdue(now=alert.opened_at + timedelta(days=10))  # the others escalate
    assert alert.escalation == 0
    assert all(e.kind != "escalated" for e in alert.events)


def test_scores_raise_level_alerts_once_and_clear_only_after_a_quiet_spell(world):
    _plant_bullying(world)
    rescore(current_catalog())
    first = alerts.raise_from_scores()
    assert first["raised"] >= 1
    alert = _student_alert(world, 0, "mismo_agresor")
    assert alert is not None and alert.level in ("alto", "critico")
    assert len(alert.evidence) == 4
    again = alerts.raise_from_scores()
    assert again["raised"] == 0
    assert _count(Alert, Alert.rule_id == "mismo_agresor", Alert.entity_id == alert.entity_id) == 1
    # The pattern ages out of the window: the level falls, the clock starts, then clears.
    later = utcnow() + timedelta(days=100)
    rescore(current_catalog(), as_of=later)
    alerts.raise_from_scores(now=later)
    assert alert.status == "abierta" and alert.below_since is not None
    alerts.raise_from_scores(now=later + timedelta(days=13))
    assert alert.status == "abierta"
    alerts.raise_from_scores(now=later + timedelta(days=15))
    assert alert.status == "resuelta"
    assert alert.events[-1].kind == "cleared"


def test_a_dismissed_alert_cools_down(world):
    _plant_bullying(world)
    rescore(current_catalog())
    alerts.raise_from_scores()
    alert = _student_alert(world, 0, "mismo_agresor")
    gestor = _user("gestor_06")
    alerts.transition(gestor, alert, "reconocida")
    alerts.transition(gestor, alert, "descartada", reason="duplicada")
    assert alerts.raise_from_scores()["raised"] == 0
    assert _count(Alert, Alert.rule_id == "mismo_agresor", Alert.entity_id == alert.entity_id) == 1


def test_events_are_append_only(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    event_id = alert.events[0].id
    with pytest.raises(sa.exc.DBAPIError), db.session.begin_nested():
        db.session.execute(sa.update(AlertEvent).where(AlertEvent.id == event_id).values(note="x"))
    assert _count(AlertEvidence) >= 1


def test_the_job_catches_up_immediate_reports_that_bypassed_the_hook(app, world):
    app.config["RESCORE_ON_SAVE"] = False
    from salve.incidents.operations import INCIDENT_SAVED_HOOKS

    saved = list(INCIDENT_SAVED_HOOKS)
    INCIDENT_SAVED_HOOKS.clear()  # as if the report came in through an import
    try:
        _file_sexual_violence(world)
    finally:
        INCIDENT_SAVED_HOOKS.extend(saved)
        app.config["RESCORE_ON_SAVE"] = True
    assert _student_alert(world) is None
    rescore(current_catalog())
    assert alerts.raise_from_scores()["raised"] >= 2
    alert = _student_alert(world)
    assert alert is not None and alert.immediate and alert.level == "critico"
    gestor = _user("gestor_06")
    alerts.transition(gestor, alert, "reconocida")
    alerts.transition(gestor, alert, "descartada", reason="error_datos")
    # Dismissed: the same incident never raises it again.
    alerts.raise_from_scores()
    assert _count(Alert, Alert.rule_id == alert.rule_id, Alert.entity_id == alert.entity_id) == 1


def test_an_immediate_alert_explains_itself(world):
    from salve.scoring.queries import explain_contributions, rules_in_force

    _file_sexual_violence(world)
    alert = _student_alert(world)
    explained = explain_contributions(alert.contributions, rules_in_force(), "es")
    mine = [c for c in explained if c.rule == "hecho_grave_estudiante"]
    assert mine and "hechos de alerta inmediata" in mine[0].explanation


def test_reopening_is_refused_while_a_newer_alert_of_the_same_rule_is_open(world):
    _file_sexual_violence(world)
    alert = _student_alert(world)
    gestor = _user("gestor_06")
    alerts.transition(gestor, alert, "reconocida")
    alerts.transition(gestor, alert, "descartada", reason="duplicada")
    _file_sexual_violence(world)  # immediate: no cooldown, a new alert
    with pytest.raises(alerts.AlertError) as refused:
        alerts.transition(gestor, alert, "abierta", note="Información nueva.")
    assert refused.value.status == 409
    assert "Ya hay una alerta abierta" in str(refused.value.message)
