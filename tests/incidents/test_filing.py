"""Filing: one incident per key; the saved-incident seam runs in the same transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import operations
from salve.incidents.models import Incident, IncidentType
from tests.incidents.test_validation import _payload


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Incident))


def test_the_same_key_stores_one_incident(world):
    before = _count()
    payload = _payload(world)
    first, created = operations.file_incident(_user("docente_a"), payload, current_catalog())
    again, created_again = operations.file_incident(_user("docente_a"), payload, current_catalog())
    assert created and not created_again
    assert first.id == again.id
    assert _count() == before + 1
    assert first.catalog_version == current_catalog().version
    assert db.session.get(IncidentType, (first.id, "ACO_VERBAL")).tier == "II"


def test_another_users_key_is_refused(world):
    payload = _payload(world)
    operations.file_incident(_user("docente_a"), payload, current_catalog())
    with pytest.raises(operations.IncidentError) as refused:
        operations.file_incident(_user("director_a"), payload, current_catalog())
    assert refused.value.status == 409


def test_bad_reports_store_nothing(world):
    before = _count()
    with pytest.raises(operations.IncidentError):
        operations.file_incident(_user("docente_a"), _payload(world, types=[]), current_catalog())
    assert _count() == before


def test_saved_hooks_see_the_incident_before_commit(world, monkeypatch):
    seen = []
    monkeypatch.setattr(
        operations, "INCIDENT_SAVED_HOOKS", [lambda incident: seen.append(incident.id)]
    )
    incident, _created = operations.file_incident(
        _user("docente_a"), _payload(world), current_catalog()
    )
    assert seen == [incident.id]


def test_amendments_keep_the_before_and_after(world):
    incident, _created = operations.file_incident(
        _user("docente_a"), _payload(world), current_catalog()
    )
    amendment = operations.amend_incident(
        _user("director_a"),
        incident,
        {"types": ["ACO_VERBAL", "PSI_AMENAZAS"], "location": "aula"},
        "La docente aclaró que también hubo amenazas.",
        current_catalog(),
    )
    assert amendment.changes["location"] == ["patio", "aula"]
    assert amendment.changes["types"] == [["ACO_VERBAL"], ["ACO_VERBAL", "PSI_AMENAZAS"]]
    assert sorted(incident.type_codes) == ["ACO_VERBAL", "PSI_AMENAZAS"]
    with pytest.raises(operations.IncidentError) as refused:
        operations.amend_incident(_user("docente_a"), incident, {}, "x", current_catalog())
    assert refused.value.status == 403


def test_unfounded_reports_are_closed_never_deleted(world):
    incident, _created = operations.file_incident(
        _user("docente_a"), _payload(world), current_catalog()
    )
    with pytest.raises(operations.IncidentError):
        operations.close_unfounded(_user("director_a"), incident, "  ")
    operations.close_unfounded(_user("director_a"), incident, "Se verificó que no ocurrió.")
    db.session.flush()
    assert db.session.get(Incident, incident.id).status == "infundado"
    assert [a.action for a in incident.amendments] == ["close_unfounded"]
