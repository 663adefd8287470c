"""A child's name appears on the web and through the API in exactly the same cases.

Who sees a child's identity (``salve.auth.scope``): the school's own staff; whoever handles an
alert or a case about the child (its assigned case handler, the department's supervisors); anyone
else only through a live break-the-glass grant, on what they may already open. The audit of
December 2026 found a case handler's API token listing 20,705 named children that the web hid.

Every GET route of the web and of the API is walked, for every role, with and without a grant,
over records built so that each rule has a child to show or hide: the children named on the web
must be those named through the API, and both must be those the rule above allows. Paired
resources (a report, an alert, a risk page, a roll, on both channels) must agree one by one.
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.auth import roles as R
from salve.breakglass.models import BreakGlassGrant
from salve.db import utcnow
from salve.extensions import db
from salve.schools.models import School
from tests.api.conftest import token_for
from tests.conftest import ROLE_ACCOUNTS, login
from tests.test_scope_swaps import (
    case_for,
    file_report,
    fresh_students,
    gestor,
    hand_to,
    student_alert,
    user,
)

API = "/api/v1"


class Records:
    """Children in every situation the rule distinguishes, with their reports, alerts, a case.

    - ``handled`` (school_a): a sexual-violence report, so each child has an alert, gestor_06's;
      the victim's has a case.
    - ``unhandled`` (school_a): a verbal-abuse report; no alert, nobody handles them.
    - ``other_handler`` (school_b, also 06): alerts handled by another gestor of 06.
    - ``elsewhere`` (school_c, department 05): alerts escalated to the national level.
    """

    def __init__(self, world):
        self.world = world
        self.handled = fresh_students(world.school_a)
        self.unhandled = fresh_students(world.school_a)
        self.other_handler = fresh_students(world.school_b)
        self.elsewhere = fresh_students(world.school_c)
        sexual, verbal = ["SEX_TOCAMIENTOS"], ["ACO_VERBAL"]
        self.incidents = [
            file_report(world, "docente_a", world.school_a, self.handled, "R1.", sexual),
            file_report(world, "docente_a", world.school_a, self.unhandled, "R2.", verbal),
            file_report(world, "docente_b", world.school_b, self.other_handler, "R3.", sexual),
            file_report(world, "director_c", world.school_c, self.elsewhere, "R4.", sexual),
        ]
        self.alerts = []
        for student in self.handled:
            alert = student_alert(student.id)
            hand_to(alert, "gestor_06")
            self.alerts.append(alert)
        gestor("gestor_06b", "06")
        for student in self.other_handler:
            alert = student_alert(student.id)
            hand_to(alert, "gestor_06b")
            self.alerts.append(alert)
        for student in self.elsewhere:
            alert = student_alert(student.id)
            alert.escalation = 2  # overdue twice: national analysts see it, in summary
            self.alerts.append(alert)
        self.case = case_for(self.alerts[0], "gestor_06")
        db.session.commit()

    @property
    def students(self):
        return [*self.handled, *self.unhandled, *self.other_handler, *self.elsewhere]

    def school(self, code: str) -> School:
        return db.session.scalar(sa.select(School).where(School.code == code))


#: Which children each role sees by name: the rule of the issue, written out by hand.
#: Keys: (account, grant on school_a, grant on school_c) → groups of ``Records``.
EXPECTED = {
    ("docente_a", False): {"handled", "unhandled"},
    ("director_a", False): {"handled", "unhandled"},
    ("gestor_06", False): {"handled"},
    ("gestor_06", True): {"handled", "unhandled"},
    ("supervisor_06", False): {"handled", "other_handler"},
    ("supervisor_06", True): {"handled", "unhandled", "other_handler"},
    # A grant shows names only on what the user may already open: no page of theirs has any.
    ("departamental_06", False): set(),
    ("departamental_06", True): set(),
    # Escalated alerts reach national analysts in summary; a grant on the school names them.
    ("nacional", False): set(),
    ("nacional", True): {"elsewhere"},
    ("admin", False): set(),
}


def grant(
    username: str, school: School, reason: str = "Prueba de la paridad de identidades."
) -> None:
    """Give ``username`` a live break-the-glass grant on ``school`` (committed: a savepoint)."""
    account = user(username)
    db.session.add(
        BreakGlassGrant(
            user_id=account.id, school_id=school.id, department_id=school.department_id,
            reason_category="caso", reason_text=reason,
            granted_at=utcnow(), expires_at=utcnow() + timedelta(hours=4),
        )
    )  # fmt: skip
    db.session.commit()


def _values(records: Records, rule) -> list[dict]:
    """Every way to fill ``rule``'s arguments with the records; fail on an unknown argument."""
    world = records.world
    by_argument = {
        "incident_id": [i.id for i in records.incidents],
        "alert_id": [a.id for a in records.alerts],
        "case_id": [records.case.id],
        "nie": [group[0].nie for group in (records.handled, records.unhandled,
                                           records.other_handler, records.elsewhere)],
        "user_id": [user("gestor_06").id],
    }  # fmt: skip
    if "department" in rule.endpoint:
        by_argument["code"] = ["06", "05"]
    else:
        by_argument["code"] = [world.school_a, world.school_b, world.school_c]
    fills = [{}]
    for argument in sorted(rule.arguments):
        assert argument in by_argument, (
            f"{rule.rule}: no value for <{argument}>; add it to tests/test_identity_parity.py"
        )
        fills = [{**fill, argument: value} for fill in fills for value in by_argument[argument]]
    return fills


def _urls(app, records: Records, *, api: bool) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if rule.rule.startswith(API) != api:
            continue
        for fill in _values(records, rule):
            url = rule.rule
            for argument, value in fill.items():
                url = url.replace(f"<{argument}>", str(value)).replace(
                    f"<int:{argument}>", str(value)
                )
            urls.append(url)
    return urls


def _named(records: Records, body: str) -> set[int]:
    """Return the ids of the children whose name appears in ``body`` (JSON decoded or HTML)."""
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), ensure_ascii=False)
    return {s.id for s in records.students if s.given_names in body or s.family_names in body}


def _expected(records: Records, groups: set[str]) -> set[int]:
    return {s.id for group in groups for s in getattr(records, group)}


@pytest.mark.slow
@pytest.mark.parametrize(("account", "with_grant"), sorted(EXPECTED))
def test_children_are_named_on_the_web_and_through_the_api_in_the_same_cases(
    app, world, client, account, with_grant
):
    records = Records(world)
    if with_grant:
        grant(account, records.school(world.school_a))
        if account == "nacional":
            grant(account, records.school(world.school_c))
    assert login(client, account).status_code == 302
    web = {url: _named(records, client.get(url).get_data(as_text=True))
           for url in _urls(app, records, api=False)}  # fmt: skip
    client.post("/salir")
    headers = {"Authorization": f"Bearer {token_for(account)}"}
    api = {url: _named(records, client.get(url, headers=headers).get_data(as_text=True))
           for url in _urls(app, records, api=True)}  # fmt: skip

    on_web = set().union(*web.values())
    through_api = set().union(*api.values())
    expected = _expected(records, EXPECTED[(account, with_grant)])
    assert on_web == expected, f"web names {on_web}, the rule allows {expected}"
    assert through_api == expected, f"API names {through_api}, the rule allows {expected}"

    # Resource by resource: the same record names the same children on both channels.
    pairs = [(f"/incidentes/{i.id}", f"{API}/incidents/{i.id}") for i in records.incidents]
    pairs += [(f"/alertas/{a.id}", f"{API}/alerts/{a.id}") for a in records.alerts[::2]]
    pairs += [(f"/riesgo/estudiantes/{s.nie}", f"{API}/students/{s.nie}/risk")
              for s in records.students[::2]]  # fmt: skip
    pairs += [(f"/escuelas/{c}/estudiantes", f"{API}/schools/{c}/students")
              for c in (world.school_a, world.school_b, world.school_c)]  # fmt: skip
    pairs += [("/alertas/", f"{API}/alerts")]
    for web_url, api_url in pairs:
        assert web[web_url] == api[api_url], (web_url, web[web_url], api_url, api[api_url])


def test_every_role_is_walked():
    """A role added to SALVE must be given its expected identities here."""
    assert {account for account, _grant in EXPECTED} == set(ROLE_ACCOUNTS.values())
    assert set(ROLE_ACCOUNTS) == set(R.ROLES)
