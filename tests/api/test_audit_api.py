"""The audit log, read: ``GET /api/v1/audit`` for administrators, and the page's filters.

The API answers with audit rows exactly as stored (and each row's username), filtered and
paged; every other role is refused (also in tests/api/test_api_matrix.py); reading is itself
audited. The page ``/admin/auditoria`` filters the same way (its refusal of other roles is in
tests/test_route_matrix.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.models import User
from salve.extensions import db
from salve.schools.models import Student
from tests.api.conftest import audit_actions, report
from tests.conftest import ROLE_ACCOUNTS

#: Fields of an item: the row's columns and its account's username, nothing else.
ITEM_FIELDS = {
    "id", "occurred_at", "user_id", "username", "action", "object_type", "object_id",
    "outcome", "ip_address", "detail",
}  # fmt: skip


def _user_id(username: str) -> int:
    return db.session.scalar(sa.select(User.id).where(User.username == username))


def _event(action: str, when: datetime, *, username: str | None = None, **fields) -> int:
    """Store an audit event at ``when`` (UTC) and return its id."""
    user_id = _user_id(username) if username else None
    event = record(action, user_id=user_id, **fields)
    event.occurred_at = when  # before the insert: rows are never updated
    db.session.commit()
    return event.id


@pytest.fixture
def events(world) -> dict[str, int]:
    """Events of invented actions around midnight of 2 March 2026 in El Salvador (UTC-6)."""
    return {
        # 1 March, 23:30 in El Salvador: still the first of March there.
        "late": _event(
            "prueba.vista", datetime(2026, 3, 2, 5, 30, tzinfo=UTC), username="docente_a",
            object_type="student", object_id="123",
        ),
        "early": _event(
            "prueba.vista", datetime(2026, 3, 2, 6, 30, tzinfo=UTC), username="director_a",
            object_type="student", object_id="124",
        ),
        "wildcard": _event(
            "pruebaXvista", datetime(2026, 3, 2, 7, 0, tzinfo=UTC), username="docente_a",
            object_type="school", object_id="123",
        ),
        "refused": _event(
            "prueba_cambio", datetime(2026, 3, 3, 12, 0, tzinfo=UTC), outcome="refused",
            object_type="path", object_id="/admin", reason="rol",
        ),
    }  # fmt: skip


def _ids(api, query: str) -> list[int]:
    response = api.get(f"/api/v1/audit?{query}")
    assert response.status_code == 200, response.json
    return [item["id"] for item in response.json["items"]]


def test_administrators_read_rows_exactly_as_stored(api, events):
    response = api.as_user("admin").get("/api/v1/audit?action=prueba")
    assert response.status_code == 200
    items = response.json["items"]
    # Newest first.
    assert [item["id"] for item in items] == [
        events["refused"], events["wildcard"], events["early"], events["late"]
    ]  # fmt: skip
    for item in items:
        row = db.session.get(AuditEvent, item["id"])
        assert set(item) == ITEM_FIELDS
        assert datetime.fromisoformat(item["occurred_at"]) == row.occurred_at
        assert (item["user_id"], item["action"], item["outcome"]) == (
            row.user_id, row.action, row.outcome
        )  # fmt: skip
        assert (item["object_type"], item["object_id"]) == (row.object_type, row.object_id)
        assert (item["ip_address"], item["detail"]) == (row.ip_address, row.detail)
    assert items[0]["username"] is None and items[0]["detail"] == {"reason": "rol"}
    assert items[-1]["username"] == "docente_a"


def test_filters_by_user_record_action_and_days(api, events):
    api.as_user("admin")
    assert _ids(api, "action=prueba&user=docente_a") == [events["wildcard"], events["late"]]
    assert _ids(api, "action=prueba&user=DOCENTE_A") == [events["wildcard"], events["late"]]
    assert _ids(api, "action=prueba&user=nadie") == []
    assert _ids(api, "action=prueba&object_id=123") == [events["wildcard"], events["late"]]
    assert _ids(api, "action=prueba&object_type=student&object_id=123") == [events["late"]]
    # The action is a prefix, and "_" in it is a character, not a wildcard.
    assert _ids(api, "action=prueba.") == [events["early"], events["late"]]
    assert _ids(api, "action=prueba_") == [events["refused"]]
    # Days are El Salvador's, both ends included.
    assert _ids(api, "action=prueba&to=2026-03-01") == [events["late"]]
    assert _ids(api, "action=prueba&from=2026-03-02&to=2026-03-02") == [
        events["wildcard"], events["early"]
    ]  # fmt: skip
    assert _ids(api, "action=prueba&from=2026-03-03") == [events["refused"]]


def test_pages_of_the_log(api, events):
    api.as_user("admin")
    first = api.get("/api/v1/audit?action=prueba&per_page=3").json
    second = api.get("/api/v1/audit?action=prueba&per_page=3&page=2").json
    assert (first["total"], second["total"], second["page"]) == (4, 4, 2)
    assert [item["id"] for item in first["items"] + second["items"]] == sorted(
        events.values(), reverse=True
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=ayer", "from"),
        ("to=2026-02-30", "to"),
        ("from=20260301", "from"),
        ("from=2026-03-03&to=2026-03-01", "from"),
        ("user=" + "u" * 65, "user"),
        ("action=" + "a" * 61, "action"),
        ("per_page=100000", "per_page"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(api, world, query, field):
    response = api.as_user("admin").get(f"/api/v1/audit?{query}")
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == field


def test_reading_the_log_is_itself_audited(api, events):
    api.as_user("admin").get("/api/v1/audit?action=prueba&user=docente_a&page=1")
    (event,) = audit_actions("audit.list")
    assert event.user_id == _user_id("admin")
    assert event.detail["filters"] == {"action": "prueba", "user": "docente_a"}
    assert event.detail["shown"] == 2 and event.detail["channel"] == "api"
    # The next reader sees that read.
    assert _ids(api, "action=audit.list") == [event.id]


@pytest.mark.parametrize("role", [role for role in R.ROLES if role != R.ADMIN])
def test_every_other_role_is_refused_and_the_refusal_audited(api, events, role):
    response = api.as_user(ROLE_ACCOUNTS[role]).get("/api/v1/audit?action=prueba")
    assert response.status_code == 403
    assert b"prueba" not in response.data
    refusals = audit_actions("access.refused")
    assert refusals[-1].object_id == "/api/v1/audit"
    assert audit_actions("audit.list") == []


def test_no_name_or_narrative_reaches_the_log_by_reading_a_report(api, world):
    """What the API answers is what rows hold: reading a report leaves ids, never its text."""
    payload = report(world, narrative="Relato que solo la escuela debe leer.")
    filed = api.as_user("docente_a").post("/api/v1/incidents", json=payload)
    assert filed.status_code == 201
    assert api.get(f"/api/v1/incidents/{filed.json['id']}").status_code == 200
    body = api.as_user("admin").get("/api/v1/audit?per_page=500").get_data(as_text=True)
    assert f'"object_id":"{filed.json["id"]}"' in body.replace(" ", "")
    assert "Relato" not in body
    for student in db.session.scalars(sa.select(Student).where(Student.nie.in_(world.students_a))):
        assert student.given_names not in body
        assert student.family_names not in body


# --- The page /admin/auditoria ----------------------------------------------------------------


def _shown(client, query: str) -> set[str]:
    """Return which invented events the page lists, by the record id it shows for each."""
    response = client.get(f"/admin/auditoria?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return {code for code in ("prueba.vista", "pruebaXvista", "prueba_cambio") if code in page}


def test_the_page_filters_by_user_action_record_and_days(client, login_as, events):
    login_as("admin")
    assert _shown(client, "accion=prueba") == {"prueba.vista", "pruebaXvista", "prueba_cambio"}
    assert _shown(client, "accion=prueba&usuario=director_a") == {"prueba.vista"}
    assert _shown(client, "accion=prueba&usuario=nadie") == set()
    assert _shown(client, "accion=prueba.") == {"prueba.vista"}
    assert _shown(client, "accion=prueba&objeto=/admin") == {"prueba_cambio"}
    assert _shown(client, "accion=prueba&desde=2026-03-03") == {"prueba_cambio"}
    assert _shown(client, "accion=prueba&hasta=2026-03-01") == {"prueba.vista"}
    page = client.get("/admin/auditoria?accion=prueba&hasta=2026-03-01").get_data(as_text=True)
    assert "Se encontró 1 evento." in page
