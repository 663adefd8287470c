"""Cases: opened from an alert, worked through follow-ups, referrals and protocol steps, closed
with the protocol's evidence and a supervisor's approval."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.alerts import operations as alerts
from salve.alerts.models import Alert
from salve.cases import operations as cases
from salve.catalog.queries import current_catalog
from salve.extensions import db
from tests.alerts.test_operations import _file_sexual_violence, _student_alert
from tests.scoring.test_persistence import _user


@pytest.fixture
def alert(world) -> Alert:
    _file_sexual_violence(world)
    found = _student_alert(world)
    alerts.transition(_user("gestor_06"), found, "reconocida")
    return found


def test_a_case_opens_from_an_acknowledged_alert_with_the_protocol_steps(alert):
    case = cases.open_case(_user("gestor_06"), alert, current_catalog())
    assert alert.status == "en_atencion"
    assert case.handler.username == "gestor_06"
    assert case.tier == "III"
    codes = [step.code for step in case.steps]
    assert "proteccion_inmediata" in codes
    assert len(codes) == len(set(codes))
    first = min(case.steps, key=lambda s: s.due_at)
    incident_created = alert.evidence[0].incident_id
    assert first.incident_id == incident_created


def test_an_unacknowledged_alert_cannot_get_a_case(world):
    _file_sexual_violence(world)
    found = _student_alert(world)
    with pytest.raises(cases.CaseError):
        cases.open_case(_user("gestor_06"), found, current_catalog())


def test_closing_needs_follow_ups_answers_and_the_supervisors_approval(alert):
    gestor, supervisor = _user("gestor_06"), _user("supervisor_06")
    case = cases.open_case(gestor, alert, current_catalog())
    referral = cases.refer(gestor, case, "FGR", current_catalog(), note="Aviso por escrito.")
    with pytest.raises(cases.CaseError) as duplicate:
        cases.refer(gestor, case, "FGR", current_catalog())
    assert duplicate.value.status == 409
    problems = " ".join(str(p) for p in cases.closure_problems(case))
    assert "al menos 3 seguimientos" in problems and "FGR" in problems
    with pytest.raises(cases.CaseError):
        cases.request_closure(gestor, case, "Atendido.")
    for n in range(3):
        cases.add_follow_up(gestor, case, f"Visita {n + 1}: la estudiante está acompañada.")
    cases.update_referral(gestor, referral, "aceptada", reference="FGR-2026-001")
    cases.update_referral(gestor, referral, "concluida")
    assert cases.closure_problems(case) == []
    cases.request_closure(gestor, case, "Protección, aviso a FGR y tres seguimientos.")
    assert case.status == "cierre_solicitado"
    with pytest.raises(cases.CaseError) as not_supervisor:
        cases.approve_closure(gestor, case)
    assert not_supervisor.value.status == 403
    cases.approve_closure(supervisor, case)
    assert case.status == "cerrado"
    assert case.closed_by_id == supervisor.id
    assert alert.status == "resuelta"
    assert [e.kind for e in case.events][-2:] == ["closure_requested", "closed"]


def test_a_supervisor_sends_a_closure_back_and_a_closed_case_reopens(alert):
    gestor, supervisor = _user("gestor_06"), _user("supervisor_06")
    case = cases.open_case(gestor, alert, current_catalog())
    for n in range(3):
        cases.add_follow_up(gestor, case, f"Seguimiento {n + 1}.")
    cases.request_closure(gestor, case, "Listo.")
    with pytest.raises(cases.CaseError):
        cases.refuse_closure(supervisor, case, "")
    cases.refuse_closure(supervisor, case, "Falta hablar con la familia.")
    assert case.status == "abierto"
    cases.request_closure(gestor, case, "Ya se habló con la familia.")
    cases.approve_closure(supervisor, case)
    cases.reopen(gestor, case, "La agresión se repitió.")
    assert case.status == "abierto"
    assert alert.status == "en_atencion"
    assert case.events[-1].kind == "reopened"


def test_a_refused_referral_needs_a_reason(alert):
    gestor = _user("gestor_06")
    case = cases.open_case(gestor, alert, current_catalog())
    referral = cases.refer(gestor, case, "CONAPINA", current_catalog())
    with pytest.raises(cases.CaseError) as missing:
        cases.update_referral(gestor, referral, "rechazada")
    assert missing.value.field == "reason"
    cases.update_referral(gestor, referral, "rechazada", reason="No es de su competencia.")
    with pytest.raises(cases.CaseError):
        cases.update_referral(gestor, referral, "aceptada")
    with pytest.raises(cases.CaseError):
        cases.refer(gestor, case, "NO_EXISTE", current_catalog())


def test_a_missed_step_raises_one_overdue_alert_to_the_department(alert):
    gestor = _user("gestor_06")
    case = cases.open_case(gestor, alert, current_catalog())
    first = min(case.steps, key=lambda s: s.due_at)
    later = first.due_at + timedelta(minutes=1)
    assert cases.raise_overdue_steps(now=later) >= 1
    overdue = db.session.scalar(sa.select(Alert).where(Alert.rule_id == "paso_vencido"))
    assert overdue is not None and overdue.school_id == case.school_id
    assert cases.raise_overdue_steps(now=later) == 0
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Alert).where(Alert.rule_id == "paso_vencido")
        )
        == 1
    )


def test_only_the_handler_and_supervisors_work_a_case(alert):
    case = cases.open_case(_user("gestor_06"), alert, current_catalog())
    with pytest.raises(cases.CaseError) as refused:
        cases.add_follow_up(_user("docente_a"), case, "Nota.")
    assert refused.value.status == 403
    cases.add_follow_up(_user("supervisor_06"), case, "Nota de la supervisión.")


def test_a_refused_case_leaves_nothing_behind(world):
    from salve.cases.models import Case

    _file_sexual_violence(world)
    found = _student_alert(world)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
    with pytest.raises(cases.CaseError):
        cases.open_case(_user("gestor_06"), found, current_catalog())
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == before
