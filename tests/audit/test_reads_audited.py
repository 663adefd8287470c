"""Every view of a child's record or an alert is audited once; every refused try too (item 19).

Each page and API operation that shows a student (a roll, a risk page, a report naming
children, an alert, a case, the lists of alerts and cases) adds exactly one audit event per
successful read: who (the account), what (action, kind of record and its id), from where (the
client's address), and nothing of the child (no name, no NIE, no narrative). The same read of
someone else's record, or by a role that may not, adds one ``refused`` event instead. A GET route
that nobody classified (shows a child and is audited here, or shows none) fails the build.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.extensions import db
from tests.api.conftest import token_for
from tests.test_scope_swaps import (
    OTHER_DEPARTMENT,
    Foreign,
    case_for,
    file_report,
    fresh_students,
    hand_to,
    student_alert,
    user,
)

#: The client's address on every request here: the events must say it.
ADDRESS = "203.0.113.19"
FROM = {"REMOTE_ADDR": ADDRESS}


class Own:
    """The signed-in accounts' own records: docente_a's report naming two new children of
    school_a, sexual violence, so the victim's alert is gestor_06's and has a case."""

    def __init__(self, world):
        self.world = world
        self.tag = secrets.token_hex(5)
        self.students = fresh_students(world.school_a)
        self.incident = file_report(
            world, "docente_a", world.school_a, self.students, f"Relato propio {self.tag}.",
            ["SEX_TOCAMIENTOS"],
        )  # fmt: skip
        self.alert = student_alert(self.students[0].id)
        hand_to(self.alert, "gestor_06")
        self._case = None
        db.session.commit()

    @property
    def case(self):
        if self._case is None:
            self._case = case_for(self.alert, "gestor_06")
            db.session.commit()
        return self._case

    def secrets(self) -> list[str]:
        """What an audit event must never hold: the children's NIE and names, the narrative."""
        values = [f"Relato propio {self.tag}"]
        for student in self.students:
            values += [student.nie, student.given_names, student.family_names]
        return values


@dataclass(frozen=True)
class Read:
    """A read of a child's record or an alert: by whom, where, and the event it must leave."""

    account: str
    #: (url, object_type, object_id) of the account's own record.
    own: Callable[[Own], tuple[str, str, str]]
    action: str
    #: A URL of someone else's record (another department's), refused to the account.
    theirs: Callable[[Foreign], str] | None = None
    #: For a list: an account whose role may not read it at all.
    refused_to: str | None = None
    is_api: bool = False


def _alert_read(o: Own):
    return f"/alertas/{o.alert.id}", "alert", str(o.alert.id)


WEB_READS: dict[str, Read] = {
    "schools.students": Read(
        "docente_a",
        lambda o: (f"/escuelas/{o.world.school_a}/estudiantes", "school", o.world.school_a),
        "student_roll.view",
        lambda f: f"/escuelas/{f.school_code}/estudiantes",
    ),
    "incidents.students": Read(
        "docente_a",
        lambda o: (f"/incidentes/estudiantes?q={o.students[0].nie}", "school", o.world.school_a),
        "student_search.view",
        lambda f: f"/incidentes/estudiantes?escuela={f.school_code}",
    ),
    "incidents.show": Read(
        "docente_a",
        lambda o: (f"/incidentes/{o.incident.id}", "incident", str(o.incident.id)),
        "incident.view",
        lambda f: f"/incidentes/{f.incident.id}",
    ),
    "incidents.amend": Read(
        "director_a",
        lambda o: (f"/incidentes/{o.incident.id}/corregir", "incident", str(o.incident.id)),
        "incident.view",
        lambda f: f"/incidentes/{f.incident.id}/corregir",
    ),
    "risk.student": Read(
        "director_a",
        lambda o: (f"/riesgo/estudiantes/{o.students[0].nie}", "student", str(o.students[0].id)),
        "student_risk.view",
        lambda f: f"/riesgo/estudiantes/{f.students[0].nie}",
    ),
    "alerts.show": Read("gestor_06", _alert_read, "alert.view", lambda f: f"/alertas/{f.alert.id}"),
    "alerts.index": Read(
        "gestor_06", lambda o: ("/alertas/", "alert", ""), "alert.list", refused_to="docente_a"
    ),
    "cases.show": Read(
        "gestor_06",
        lambda o: (f"/casos/{o.case.id}", "case", str(o.case.id)),
        "case.view",
        lambda f: f"/casos/{f.case.id}",
    ),
    "cases.index": Read(
        "gestor_06", lambda o: ("/casos/", "case", ""), "case.list", refused_to="docente_a"
    ),
}

API = "/api/v1"
API_READS: dict[str, Read] = {
    "api.school_students": Read(
        "docente_a",
        lambda o: (f"{API}/schools/{o.world.school_a}/students", "school", o.world.school_a),
        "student_roll.view",
        lambda f: f"{API}/schools/{f.school_code}/students",
    ),
    "api.student_risk": Read(
        "director_a",
        lambda o: (f"{API}/students/{o.students[0].nie}/risk", "student", str(o.students[0].id)),
        "student_risk.view",
        lambda f: f"{API}/students/{f.students[0].nie}/risk",
    ),
    "api.get_incident": Read(
        "docente_a",
        lambda o: (f"{API}/incidents/{o.incident.id}", "incident", str(o.incident.id)),
        "incident.view",
        lambda f: f"{API}/incidents/{f.incident.id}",
    ),
    # Everyone may list reports (each sees their own): there is nothing to refuse.
    "api.list_incidents": Read(
        "docente_a", lambda o: (f"{API}/incidents", "school", ""), "incident.list"
    ),
    "api.get_alert": Read(
        "gestor_06",
        lambda o: (f"{API}/alerts/{o.alert.id}", "alert", str(o.alert.id)),
        "alert.view",
        lambda f: f"{API}/alerts/{f.alert.id}",
    ),
    "api.list_alerts": Read(
        "gestor_06", lambda o: (f"{API}/alerts", "alert", ""), "alert.list", refused_to="docente_a"
    ),
}

#: GET routes that show no child and no alert, and what they show instead.
NO_CHILD: dict[str, str] = {
    "static": "files",
    "main.index": "the public home page",
    "main.health": "whether the app and the database answer",
    "main.home": "counts of the user's reports, alerts and cases",
    "opendata.index": "published aggregates, small counts suppressed",
    "auth.login": "the sign-in form",
    "auth.second_factor": "the code form",
    "auth.enrol": "one's own authenticator",
    "auth.reauthenticate": "the confirmation form",
    "auth.change_password": "the password form",
    "admin.users": "accounts",
    "admin.new_user": "the account form",
    "admin.user_detail": "an account, its roles and its second factor",
    "admin.audit": "audit events, which hold no child's name or narrative",
    "schools.index": "schools in scope",
    "schools.show": "a school's profile and roll figures, no names",
    "incidents.new": "the reporter's own form or draft; typed NIEs name their own school's pupils",
    "incidents.drafts": "the user's own drafts, by date",
    "incidents.index": "reports by date, type and status; no party named",
    "risk.school": "a school's score and its reports by date and type; no child",
    "notifications.index": "references and links, never a name (SECURITY.md 21)",
    "reports.department_picker": "departments",
    "reports.department_list": "schools ranked by risk; no child",
    "reports.school_analytics": "a school's figures; no child",
    "reports.school_analytics_export": "a school's figures; no child (the export is audited)",
    "reports.national": "departments' figures",
    "reports.rule_quality": "rules' figures",
    "breakglass.index": "grants: who asked for which school, why (audited as breakglass.list)",
    "breakglass.request_access": "the request form for a school",
    "api.openapi": "the API's description",
    "api.open.incidents": "published aggregates",
    "api.catalog": "the violence catalog",
    "api.schools": "schools in scope",
    "api.school_risk": "a school's score",
    "api.department_schools_risk": "schools ranked by risk; no child",
    "api.audit_events": "audit events (administrators only; the read is audited)",
}


def events_after(last_id: int) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
        )
    )


def last_event_id() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


def get(client, url: str, token: str | None):
    """GET ``url`` from ``ADDRESS``, with a bearer token when one is given (the API)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(url, headers=headers, environ_overrides=FROM)


def check_read(client, read: Read, own: Own, token: str | None = None) -> None:
    """Read one's own record: one event, saying who, what and from where, nothing of the child."""
    url, object_type, object_id = read.own(own)
    before = last_event_id()
    response = get(client, url, token)
    assert response.status_code == 200, (url, response.status_code)
    events = events_after(before)
    assert [(e.action, e.outcome) for e in events] == [(read.action, "ok")], url
    (event,) = events
    assert (event.object_type, event.object_id) == (object_type, object_id)
    assert (event.user_id, event.ip_address) == (user(read.account).id, ADDRESS)
    kept = json.dumps(event.detail, ensure_ascii=False) + event.object_id
    assert not [value for value in own.secrets() if value in kept], kept


def check_refused(client, url: str, username: str, token: str | None = None) -> None:
    """Try a read one may not: one ``refused`` event, with who, the path and the address."""
    before = last_event_id()
    response = get(client, url, token)
    assert response.status_code in (403, 404), (url, response.status_code)
    events = events_after(before)
    assert [(e.action, e.outcome) for e in events] == [("access.refused", "refused")], url
    (event,) = events
    assert (event.object_type, event.object_id) == ("path", url.split("?")[0][:64])
    assert (event.user_id, event.ip_address) == (user(username).id, ADDRESS)


def test_every_get_route_is_audited_here_or_shows_no_child(app):
    reads = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}
    classified = WEB_READS.keys() | API_READS.keys() | NO_CHILD.keys()
    assert not reads - classified, f"GET routes nobody classified: {sorted(reads - classified)}"
    assert not classified - reads, f"no longer GET routes: {sorted(classified - reads)}"
    assert not (WEB_READS.keys() | API_READS.keys()) & NO_CHILD.keys()


@pytest.mark.parametrize("endpoint", sorted(WEB_READS))
def test_a_page_showing_a_child_or_an_alert_is_audited(client, login_as, world, endpoint):
    read = WEB_READS[endpoint]
    own = Own(world)
    login_as(read.account)
    check_read(client, read, own)
    if read.theirs is not None:
        check_refused(client, read.theirs(Foreign(world, OTHER_DEPARTMENT)), read.account)
    if read.refused_to is not None:
        client.post("/salir")
        login_as(read.refused_to)
        check_refused(client, read.own(own)[0], read.refused_to)


@pytest.mark.parametrize("endpoint", sorted(API_READS))
def test_an_api_read_of_a_child_or_an_alert_is_audited(client, world, endpoint):
    read = API_READS[endpoint]
    own = Own(world)
    check_read(client, read, own, token_for(read.account))
    if read.theirs is not None:
        url = read.theirs(Foreign(world, OTHER_DEPARTMENT))
        check_refused(client, url, read.account, token_for(read.account))
    if read.refused_to is not None:
        check_refused(client, read.own(own)[0], read.refused_to, token_for(read.refused_to))


# --- A refused form shows the record again: that read is audited too (audit 2026-12, 5) --------


@dataclass(frozen=True)
class RefusedPost:
    """A POST refused with 4xx whose answer shows the record again, and the read it must leave."""

    account: str
    #: (url, form data, object_type, object_id) on the account's own record.
    post: Callable[[Own], tuple[str, dict, str, str]]
    action: str
    status: int
    #: Sent without a CSRF token (CSRF protection on): refused as expired, the page shown again.
    without_csrf: bool = False


def _alert_post(path: str, data: dict):
    return lambda o: (f"/alertas/{o.alert.id}/{path}", data, "alert", str(o.alert.id))


def _case_post(path: str, data: dict):
    return lambda o: (f"/casos/{o.case.id}/{path}", data, "case", str(o.case.id))


REFUSED_POSTS = {
    "unfounded without a reason": RefusedPost(
        "director_a",
        lambda o: (
            f"/incidentes/{o.incident.id}/infundado",
            {"reason": ""},
            "incident",
            str(o.incident.id),
        ),
        "incident.view",
        422,
    ),
    "an unknown move": RefusedPost(
        "gestor_06", _alert_post("transicion", {"to": "bogus"}), "alert.view", 400
    ),
    "a move without a CSRF token": RefusedPost(
        "gestor_06", _alert_post("transicion", {"to": "reconocida"}), "alert.view", 400, True
    ),
    "a reassignment to nobody": RefusedPost(
        "supervisor_06", _alert_post("reasignar", {"assignee": "x"}), "alert.view", 422
    ),
    "an empty follow-up": RefusedPost(
        "gestor_06", _case_post("seguimientos", {"note": ""}), "case.view", 422
    ),
    "a follow-up without a CSRF token": RefusedPost(
        "gestor_06", _case_post("seguimientos", {"note": "Visita."}), "case.view", 400, True
    ),
    "a referral to an unknown institution": RefusedPost(
        "gestor_06", _case_post("referencias", {"institution": "nadie"}), "case.view", 422
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED_POSTS))
def test_a_refused_form_showing_the_record_is_audited(app, client, login_as, world, name):
    post = REFUSED_POSTS[name]
    own = Own(world)
    url, data, object_type, object_id = post.post(own)
    login_as(post.account)
    before = last_event_id()
    app.config["WTF_CSRF_ENABLED"] = post.without_csrf
    try:
        response = client.post(url, data=data, environ_overrides=FROM)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == post.status, (url, response.status_code)
    page = response.get_data(as_text=True)
    assert own.students[0].given_names in page or own.incident.narrative in page  # shown again
    events = events_after(before)
    assert [(e.action, e.outcome) for e in events] == [(post.action, "ok")], url
    (event,) = events
    assert (event.object_type, event.object_id) == (object_type, object_id)
    assert (event.user_id, event.ip_address) == (user(post.account).id, ADDRESS)
    assert event.detail["status"] == post.status
    kept = json.dumps(event.detail, ensure_ascii=False)
    assert not [value for value in own.secrets() if value in kept], kept


@pytest.mark.parametrize(
    ("endpoint", "account", "named"),
    [
        ("incidents.show", "docente_a", 2),  # the reporter sees the report in full
        ("alerts.show", "gestor_06", 1),
        ("cases.show", "gestor_06", 1),
        ("risk.student", "director_a", 1),
        ("schools.students", "docente_a", 7),  # the five seeded children and the two new
    ],
)
def test_an_audited_read_names_the_children_shown(
    client, login_as, world, endpoint, account, named
):
    """Which children a page showed is kept (by internal id, never a name or a NIE)."""
    read = WEB_READS[endpoint]
    own = Own(world)
    login_as(account)
    url, _object_type, _object_id = read.own(own)
    before = last_event_id()
    assert get(client, url, None).status_code == 200
    (event,) = events_after(before)
    assert len(event.detail["students"]) == named
    assert own.students[0].id in event.detail["students"]
