"""Swapped ids through the API: someone else's record is 403 or 404, never data (SECURITY.md 9, 10).

The API's half of tests/test_scope_swaps.py, with the same records (``Foreign``): for every
operation that takes a code or an id in its path or its query (exports as CSV and XLSX included),
each role that may read its own record asks for someone else's and gets 403 or 404 with a JSON
error and none of the record's identifying values; a list filtered by someone else's school holds
none of their records. Every answer is also checked against the OpenAPI document. A path or query
parameter of the document that no swap covers and nobody classified fails the build.
The last tests check item 10: a body may not set status, reporter, school, assignee and the like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from salve.alerts.models import Alert
from salve.auth import roles as R
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents.models import Incident
from salve.schools.models import School
from tests.api.conftest import DOC, openapi_path, report, stored, token_for
from tests.api.test_api_matrix import MATRIX as API_MATRIX
from tests.conftest import ROLE_ACCOUNTS
from tests.factories import district_in
from tests.test_scope_swaps import (
    DEPARTMENT,
    HANDLED,
    KINDS,
    OTHER_DEPARTMENT,
    OTHER_SCHOOL,
    OWNERS,
    ROLE_KINDS,
    SCHOOLS,
    Foreign,
    alert_rows,
    file_report,
    fresh_students,
    gestor,
    hand_to,
    readable,
    rows,
    student_alert,
    user,
)

API = "/api/v1"


def _review_at() -> str:
    return (datetime.now(LOCAL_TZ) + timedelta(days=1)).strftime("%Y-%m-%d 09:00")


@dataclass(frozen=True)
class ApiSwap:
    """An operation, the parameter that names someone else's record, for which kinds, how."""

    endpoint: str
    param: str
    kinds: frozenset[str]
    url: Callable[[Foreign], str]
    method: str = "GET"
    #: The JSON posted, made from the records.
    body: Callable[[Foreign], dict] | None = None
    #: A snapshot of what a refused change must leave as it was.
    state: Callable[[Foreign], list] | None = None
    #: The answers that are right; a list filtered by the parameter answers, without the record.
    expected: tuple[int, ...] = (403, 404)
    #: For a filtered list: the id of the record that must not be among its items.
    listed: Callable[[Foreign], int] | None = None
    variant: str = ""

    @property
    def label(self) -> str:
        return f"{self.endpoint}[{self.param}{' ' + self.variant if self.variant else ''}]"


def _places(f: Foreign, fmt: str = "json") -> str:
    """Department 06's list filtered by a place of department 05 (refused: not of 06)."""
    district = district_in("05")
    return (
        f"{API}/departments/06/schools/risk?municipality={district.municipality_id}"
        f"&district={district.id}&format={fmt}"
    )


def _roll(f: Foreign) -> str:
    assert f.students  # on the roll, to be seen if it leaked
    return f"{API}/schools/{f.school_code}/students"


SWAPS: tuple[ApiSwap, ...] = (
    ApiSwap("api.school_students", "code", SCHOOLS, _roll),
    ApiSwap("api.get_incident", "incident_id", SCHOOLS,
            lambda f: f"{API}/incidents/{f.incident.id}"),
    ApiSwap("api.list_incidents", "school", SCHOOLS,
            lambda f: f"{API}/incidents?school={f.school_code}", expected=(200,),
            listed=lambda f: f.incident.id),
    ApiSwap("api.school_risk", "code", SCHOOLS, lambda f: f"{API}/schools/{f.school_code}/risk"),
    ApiSwap("api.student_risk", "nie", SCHOOLS,
            lambda f: f"{API}/students/{f.students[0].nie}/risk"),
    ApiSwap("api.get_alert", "alert_id", HANDLED, lambda f: f"{API}/alerts/{f.alert.id}"),
    ApiSwap("api.list_alerts", "school", HANDLED,
            lambda f: f"{API}/alerts?school={f.school_code}", expected=(200,),
            listed=lambda f: f.alert.id),
    ApiSwap("api.transition_alert", "alert_id", HANDLED,
            lambda f: f"{API}/alerts/{f.alert.id}/transitions", "POST",
            lambda f: {"to": "en_seguimiento", "review_at": _review_at()}, alert_rows),
    ApiSwap("api.department_schools_risk", "code", DEPARTMENT,
            lambda f: f"{API}/departments/{f.department_code}/schools/risk"),
    ApiSwap("api.department_schools_risk", "code", DEPARTMENT,
            lambda f: f"{API}/departments/{f.department_code}/schools/risk?format=csv",
            variant="csv"),
    ApiSwap("api.department_schools_risk", "code", DEPARTMENT,
            lambda f: f"{API}/departments/{f.department_code}/schools/risk?format=xlsx",
            variant="xlsx"),
    ApiSwap("api.department_schools_risk", "district", DEPARTMENT, _places, expected=(400,)),
    ApiSwap("api.department_schools_risk", "municipality", DEPARTMENT,
            lambda f: _places(f, "csv"), expected=(400,), variant="csv"),
)  # fmt: skip

#: Query parameters of the OpenAPI document that name no record.
NOT_IDS: dict[str, str] = dict.fromkeys(
    ("status", "level", "rule", "sector", "zone", "open_alerts", "silent", "q", "sort",
     "direction", "page", "per_page", "by"),
    "a filter, a sort or a page",
)  # fmt: skip
NOT_IDS["format"] = "a format: every export is swapped by its code, as CSV and as XLSX"
#: Operations with a path parameter that no swap covers, and why none is needed.
EXEMPT: dict[str, str] = {
    "api.audit_events": "administrators only, who read every event (filters by user and record)",
}


def parameters(operation: dict, path_item: dict) -> list[tuple[str, str]]:
    """Return (in, name) of an operation's parameters, references resolved."""
    found = []
    for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        if "$ref" in parameter:
            parameter = DOC["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        found.append((parameter["in"], parameter["name"]))
    return found


def allowed_roles(endpoint: str) -> frozenset[str]:
    """Who gets a 2xx from ``endpoint``, by the API's access matrix."""
    call = API_MATRIX[endpoint]
    return frozenset(R.ROLES) if call.allowed == "public" else call.allowed


def swaps_for(role: str, kind: str) -> list[ApiSwap]:
    return [s for s in SWAPS if kind in s.kinds and role in allowed_roles(s.endpoint)]


def ask(api, method: str, url: str, token: str, body: dict | None = None):
    """Send a request with ``token``; return the response and whether it is as documented."""
    response = api.client.open(
        url, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        api.check(method, url, response)
    except AssertionError as error:
        return response, [f"{method} {url}: not as documented: {str(error)[:200]}"]
    return response, []


def try_swap(api, swap: ApiSwap, foreign: Foreign, token: str) -> list[str]:
    """Ask for someone else's record; return what went wrong (nothing, when it was refused)."""
    url = swap.url(foreign)
    hidden = [value for value in foreign.secrets() if value not in url]
    listed = swap.listed(foreign) if swap.listed else None
    before = swap.state(foreign) if swap.state else None
    label = f"{swap.label} {swap.method} {url}"
    response, problems = ask(
        api, swap.method, url, token, swap.body(foreign) if swap.body else None
    )
    if response.status_code not in swap.expected:
        problems.append(f"{label}: answered {response.status_code}, not {swap.expected}")
    if response.status_code >= 400 and (not response.is_json or set(response.json) != {"errors"}):
        problems.append(f"{label}: a refusal that is not a JSON error")
    leaked = [value for value in hidden if value in readable(response)]
    if leaked:
        problems.append(f"{label}: shows {leaked}")
    items = response.json.get("items", []) if response.is_json else []
    if listed is not None and listed in [item["id"] for item in items]:
        problems.append(f"{label}: lists record {listed}")
    if swap.state is not None and swap.state(foreign) != before:
        problems.append(f"{label}: changed the record")
    return problems


def reach(api, role: str, foreign: Foreign, token: str) -> list[str]:
    """Read the kind's records as their owner; return what did not come back."""
    problems = []
    for swap in swaps_for(role, foreign.kind):
        if swap.method != "GET" or swap.expected != (403, 404):
            continue
        url = swap.url(foreign)
        known = [*foreign.secrets(), f'"{foreign.school_code}"']  # a school's risk: its code
        response, documented = ask(api, "GET", url, token)
        problems += documented
        is_download = response.headers.get("Content-Disposition", "").startswith("attachment")
        if response.status_code != 200:
            problems.append(f"{swap.label} {url}: its owner got {response.status_code}")
        elif not is_download and not any(v in readable(response) for v in known):
            problems.append(f"{swap.label} {url}: shows its owner none of {known}")
    return problems


def test_every_api_parameter_is_swapped_or_classified(app):
    covered = {(s.endpoint, s.param) for s in SWAPS}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in EXEMPT:
            continue
        path_item = DOC["paths"][openapi_path(rule.rule)]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            for where, name in parameters(path_item[method.lower()], path_item):
                if (rule.endpoint, name) in covered or (where == "query" and name in NOT_IDS):
                    continue
                missing.append(f"{method} {rule.rule} {where} {name}")
    assert not missing, f"API parameters neither swapped nor classified: {sorted(missing)}"
    assert not {s.endpoint for s in SWAPS} - {r.endpoint for r in app.url_map.iter_rules()}


def test_every_api_swap_is_tried_by_some_role():
    tried = {
        s.label for role, kinds in ROLE_KINDS.items() for k in kinds for s in swaps_for(role, k)
    }
    assert not {s.label for s in SWAPS} - tried


@pytest.mark.parametrize("kind", KINDS)
def test_someone_elses_records_are_refused_without_their_data(api, world, kind):
    foreign = Foreign(world, kind)
    problems = []
    for username in OWNERS[kind]:
        role = user(username).role_assignments[0].role
        problems += reach(api, role, foreign, token_for(username))
    for role, kinds in ROLE_KINDS.items():
        if kind in kinds:
            token = token_for(ROLE_ACCOUNTS[role])
            for swap in swaps_for(role, kind):
                problems += [f"{role}: {p}" for p in try_swap(api, swap, foreign, token)]
    assert not problems, "\n".join(problems)


# --- Item 10: fields a body may not set -------------------------------------------------------


def test_a_report_may_not_set_status_reporter_school_or_validation(api, world):
    api.as_user("docente_a")
    school_c = db.session.scalar(sa.select(School).where(School.code == world.school_c))
    principal = user("director_a").id
    forbidden = {
        "status": "validado",
        "reporter_id": principal,
        "school_id": school_c.id,
        "school_code": school_c.code,
        "department_id": school_c.department_id,
        "validated": True,
        "validated_by_id": principal,
        "validated_at": "2026-01-01T00:00:00Z",
        "closed_reason": "Cerrado desde el cuerpo.",
        "names_staff_aggressor": False,
        "reported_at": "2026-01-01T00:00:00Z",
        "channel": "web",
        "id": 1,
    }
    before = stored()
    response = api.post(f"{API}/incidents", json=report(world, **forbidden))
    assert response.status_code == 422
    named = {error["field"] for error in response.json["errors"]}
    assert named == set(forbidden), named ^ set(forbidden)
    assert stored() == before


def test_a_report_for_another_school_or_with_another_reports_key_is_refused(api, world):
    theirs = Foreign(world, OTHER_DEPARTMENT)
    key = theirs.incident.idempotency_key
    api.as_user("docente_a")
    before = stored()
    response = api.post(f"{API}/incidents", json=report(world, school=world.school_b))
    assert response.status_code in (403, 422), response.json
    assert stored() == before

    response = api.post(f"{API}/incidents", json=report(world, idempotency_key=key))
    assert response.status_code == 409
    assert [e["field"] for e in response.json["errors"]] == ["idempotency_key"]
    assert not [value for value in theirs.secrets() if value in response.get_data(as_text=True)]
    assert stored() == before


def test_a_transition_may_not_set_assignee_place_level_or_status(api, world):
    other = gestor("gestor_06b", "06")
    school_c = db.session.scalar(sa.select(School).where(School.code == world.school_c))
    students = fresh_students(world.school_a)
    file_report(world, "docente_a", world.school_a, students, "Relato.", ["SEX_TOCAMIENTOS"])
    alert = student_alert(students[0].id)
    hand_to(alert, "gestor_06")
    db.session.commit()
    before = rows(Alert, id=alert.id)
    forbidden = {
        "assignee_id": other.id,
        "assignee": other.username,
        "department_id": school_c.department_id,
        "school_id": school_c.id,
        "school": school_c.code,
        "level": "bajo",
        "escalation": 3,
        "status": "resuelta",
        "entity_id": students[1].id,
    }
    api.as_user("gestor_06")
    response = api.post(
        f"{API}/alerts/{alert.id}/transitions", json={"to": "reconocida", **forbidden}
    )
    assert response.status_code == 422
    assert {error["field"] for error in response.json["errors"]} == set(forbidden)
    assert rows(Alert, id=alert.id) == before


def test_listing_by_another_schools_code_never_confirms_its_reports(api, world):
    # The list filter and a missing school answer alike: an empty page, not an error.
    theirs = Foreign(world, OTHER_SCHOOL)
    assert theirs.incident
    api.as_user("docente_a")
    known = api.get(f"{API}/incidents?school={world.school_b}")
    unknown = api.get(f"{API}/incidents?school=99999")
    assert known.status_code == unknown.status_code == 200
    assert known.json["items"] == unknown.json["items"] == []
    assert known.json["total"] == unknown.json["total"] == 0
    assert db.session.get(Incident, theirs.incident.id) is not None
