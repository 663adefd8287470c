"""The audit log: append-only in the database, and written for reads, refusals and writes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError

from salve.audit.models import AuditEvent
from salve.extensions import db


def _last(action: str) -> AuditEvent | None:
    return db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
    ).first()


def test_audit_rows_cannot_be_changed_or_deleted(client, login_as, world):
    login_as("docente_a")
    event = _last("login")
    with pytest.raises(DatabaseError), db.session.begin_nested():
        db.session.execute(
            sa.update(AuditEvent).where(AuditEvent.id == event.id).values(action="nada")
        )
    with pytest.raises(DatabaseError), db.session.begin_nested():
        db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == event.id))


def test_viewing_a_student_roll_is_audited(client, login_as, world):
    login_as("director_a")
    assert client.get(f"/escuelas/{world.school_a}/estudiantes").status_code == 200
    event = _last("student_roll.view")
    assert event is not None and event.object_id == world.school_a and event.user_id


def test_refused_access_is_audited(client, login_as, world):
    login_as("docente_a")
    assert client.get(f"/escuelas/{world.school_c}/estudiantes").status_code == 404
    event = _last("access.refused")
    assert event.outcome == "refused"
    assert world.school_c in event.object_id


def test_forbidden_route_is_audited(client, login_as, world):
    login_as("gestor_06")
    assert client.get("/admin/usuarios").status_code == 403
    assert _last("access.refused").object_id == "/admin/usuarios"
