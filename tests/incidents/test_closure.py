"""A report naming staff as aggressor is closed as unfounded by the ministry, never the school.

Audit 2026-12, finding 14: a principal closed as unfounded a report naming a member of the staff
(possibly the principal), which also takes it out of the risk scores. The principal now asks,
with the reason; a supervisor of the department approves or sends it back; all of it is kept.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.models import Incident
from salve.incidents.operations import file_incident
from salve.notifications.models import InboxMessage
from tests.factories import report_payload
from tests.test_scope_swaps import user

REASON = "Se verificó con las cámaras que el docente no estaba en el aula."


def _staff_report(world) -> Incident:
    payload = report_payload(
        world,
        types=["PSI_INSULTOS"],
        relationship="personal_estudiante",
        parties=[
            {"role": "victima", "kind": "estudiante", "nie": world.students_a[0]},
            {"role": "agresor", "kind": "personal", "description": "docente de 5.º grado"},
        ],
    )
    incident, _created = file_incident(user("docente_a"), payload, current_catalog())
    db.session.commit()
    assert incident.names_staff_aggressor
    return incident


def _actions(incident_id: int) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.object_type == "incident", AuditEvent.object_id == str(incident_id))
            .order_by(AuditEvent.id)
        )
    )


def test_the_principal_only_asks_and_the_supervision_is_told(client, login_as, world):
    incident = _staff_report(world)
    login_as("director_a")
    response = client.post(f"/incidentes/{incident.id}/infundado", data={"reason": REASON})
    assert response.status_code == 302
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert incident.status == "reportado" and incident.closed_at is None
    assert [a.action for a in incident.amendments] == ["close_requested"]
    assert incident.amendments[0].reason == REASON
    assert "incident.close_requested" in _actions(incident.id)
    told = db.session.scalars(
        sa.select(InboxMessage.user_id).where(InboxMessage.kind == "unfounded_request")
    ).all()
    assert told == [user("supervisor_06").id]
    page = client.get(f"/incidentes/{incident.id}").get_data(as_text=True)
    assert 'id="cierre-solicitado"' in page
    again = client.post(f"/incidentes/{incident.id}/infundado", data={"reason": REASON})
    assert again.status_code == 302  # refused with a message: one request at a time
    assert len(db.session.get(Incident, incident.id).amendments) == 1


@pytest.mark.parametrize("decision", ["aprobar", "devolver"])
def test_a_supervisor_of_the_department_decides(client, login_as, world, decision):
    incident = _staff_report(world)
    assert not file_and_ask(incident)
    login_as("supervisor_06")
    page = client.get(f"/incidentes/{incident.id}").get_data(as_text=True)
    assert REASON in page and 'id="decidir-cierre"' in page
    missing = client.post(
        f"/incidentes/{incident.id}/infundado/decision", data={"decision": decision}
    )
    assert missing.status_code == 422
    assert "Explique su decisión." in missing.get_data(as_text=True)
    note = "Revisado con la dirección departamental."
    response = client.post(
        f"/incidentes/{incident.id}/infundado/decision",
        data={"decision": decision, "reason": note},
    )
    assert response.status_code == 302
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    if decision == "aprobar":
        assert incident.status == "infundado"
        assert incident.closed_by_id == user("supervisor_06").id
        assert incident.closed_reason == REASON  # the principal's reason is kept
        assert [a.action for a in incident.amendments] == ["close_requested", "close_unfounded"]
    else:
        assert incident.status == "reportado" and incident.closed_at is None
        assert [a.action for a in incident.amendments] == ["close_requested", "close_refused"]
    assert incident.amendments[-1].reason == note


def file_and_ask(incident) -> bool:
    from salve.incidents.operations import close_unfounded

    closed = close_unfounded(user("director_a"), incident, REASON)
    db.session.commit()
    return closed


@pytest.mark.parametrize(("username", "status"), [("gestor_06", 403), ("director_a", 403)])
def test_nobody_else_decides(client, login_as, world, username, status):
    incident = _staff_report(world)
    file_and_ask(incident)
    login_as(username)
    response = client.post(
        f"/incidentes/{incident.id}/infundado/decision",
        data={"decision": "aprobar", "reason": "Intento."},
    )
    assert response.status_code == status
    assert db.session.get(Incident, incident.id).status == "reportado"


def test_a_report_about_pupils_only_is_still_the_principals_to_close(client, login_as, world):
    payload = report_payload(world)
    incident, _created = file_incident(user("docente_a"), payload, current_catalog())
    db.session.commit()
    login_as("director_a")
    response = client.post(f"/incidentes/{incident.id}/infundado", data={"reason": REASON})
    assert response.status_code == 302
    assert db.session.get(Incident, incident.id).status == "infundado"
