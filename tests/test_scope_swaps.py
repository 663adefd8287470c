"""Swapped ids: someone else's record is refused with 403 or 404, never shown (SECURITY.md 9, 10).

For every page that names a record in its path or its query string (a school's code, a NIE, an
incident, alert, case, referral, step, notice or grant id, a department's code, a draft's key, a
place filter, the CSV and XLSX exports), each role that may open its own record asks for one of
the same kind that is not theirs: at another school of its department (school_b, 06), in another
department (school_c, 05), or handled by another case handler of its department (a second gestor
of 06, added here). The answer is 403 or 404 and holds none of the record's identifying values
(the children's NIE and names, the narrative, the alert or case reference, the school's name
when the school is out of scope), CSV and XLSX bodies included; a form posted there changes
nothing. A list filtered by someone else's school or place answers without their records. The
same requests made by those the records belong to reach them, so a refusal is a refusal and not
a wrong address.

A route with a path parameter that no swap covers fails ``test_every_route_with_an_id_is_swapped``;
a query parameter that nobody classified fails ``test_every_query_parameter_is_classified``.
The last tests check item 10: fields a user may not set are ignored or refused when posted.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import MethodNotAllowed, NotFound

from salve.alerts import operations as alert_ops
from salve.alerts.models import Alert, AlertEvent
from salve.alerts.presenting import alert_ref, case_ref
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.auth.operations import build_assignment
from salve.cases import operations as case_ops
from salve.cases.models import Case, CaseAlert, CaseEvent, CaseStep, FollowUp, Referral
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents import operations as incident_ops
from salve.incidents.forms import local_now_parts
from salve.incidents.models import Incident, IncidentAmendment, IncidentDraft
from salve.notifications.models import InboxMessage
from salve.reports import department_list as listing
from salve.reports.exports import XLSX_MIME
from salve.schools.models import School, Student
from tests.conftest import ROLE_ACCOUNTS
from tests.factories import PASSWORD, district_in, make_student, report_payload
from tests.test_route_matrix import MATRIX as WEB_MATRIX

OTHER_SCHOOL = "other_school"  # school_b: the same department (06), another school
OTHER_DEPARTMENT = "other_department"  # school_c: department 05
OTHER_HANDLER = "other_handler"  # school_a, but the alert and case of a second gestor of 06
KINDS = (OTHER_SCHOOL, OTHER_DEPARTMENT, OTHER_HANDLER)
SCHOOLS = frozenset({OTHER_SCHOOL, OTHER_DEPARTMENT})
HANDLED = frozenset({OTHER_DEPARTMENT, OTHER_HANDLER})
DEPARTMENT = frozenset({OTHER_DEPARTMENT})
EVERY_KIND = frozenset(KINDS)

#: role → the kinds of record that are someone else's for the role's seeded account. A national
#: analyst reaches every school: what is not theirs is an alert nobody escalated and another
#: user's notice or grant; the administrator's, another user's notice.
ROLE_KINDS: dict[str, tuple[str, ...]] = {
    R.DOCENTE: (OTHER_SCHOOL, OTHER_DEPARTMENT),
    R.DIRECTOR: (OTHER_SCHOOL, OTHER_DEPARTMENT),
    R.GESTOR: (OTHER_DEPARTMENT, OTHER_HANDLER),
    R.SUPERVISOR: (OTHER_DEPARTMENT,),
    R.DEPARTAMENTAL: (OTHER_DEPARTMENT,),
    R.NACIONAL: (OTHER_HANDLER,),
    R.ADMIN: (OTHER_HANDLER,),
}
#: kind → the accounts the records belong to, or who supervise them: they reach them.
OWNERS: dict[str, tuple[str, ...]] = {
    OTHER_SCHOOL: ("docente_b",),
    OTHER_DEPARTMENT: ("director_c", "departamental_05"),
    OTHER_HANDLER: ("supervisor_06",),
}
#: A reason long enough for a break-the-glass grant.
GRANT_REASON = "Verificar la identidad de la víctima de un reporte recibido por teléfono."


def user(username: str) -> User | None:
    """Return the account named ``username``."""
    return db.session.scalar(sa.select(User).where(User.username == username))


def _school(code: str) -> School:
    return db.session.scalar(sa.select(School).where(School.code == code))


def _tomorrow() -> str:
    return (datetime.now(LOCAL_TZ).date() + timedelta(days=1)).isoformat()


def gestor(username: str, department_code: str) -> User:
    """Return a case handler of a department, added if missing (it never signs in).

    The seeded accounts' password hash is reused: hashing a new one costs a third of a second.
    """
    found = user(username)
    if found is None:
        found = User(
            username=username,
            display_name=username,
            password_hash=user("gestor_06").password_hash,
            role_assignments=[build_assignment(R.GESTOR, department_code=department_code)],
        )
        db.session.add(found)
        db.session.flush()
    return found


def student_alert(student_id: int) -> Alert:
    """Return the newest alert raised for a student."""
    return db.session.scalar(
        sa.select(Alert)
        .where(Alert.entity_type == "student", Alert.entity_id == student_id)
        .order_by(Alert.id.desc())
        .limit(1)
    )


def hand_to(alert: Alert, username: str) -> None:
    """Make ``username`` (a gestor of 06) the alert's handler, as supervisor_06 would."""
    handler = user(username)
    if alert.assignee_id != handler.id:
        alert_ops.reassign(user("supervisor_06"), alert, handler)


def fresh_students(school_code: str, count: int = 2) -> list[Student]:
    """Add students whose NIE and names appear nowhere else, so any sight of them is a leak."""
    school = _school(school_code)
    return [
        make_student(
            school,
            nie=f"8{secrets.randbelow(10**7):07d}",
            given_names=f"Nombre{secrets.token_hex(4)}",
            family_names=f"Apellido{secrets.token_hex(4)}",
        )
        for _ in range(count)
    ]


def file_report(world, reporter: str, school_code: str, students, narrative: str, types):
    """File a report by ``reporter``: the first student the victim, the second the aggressor."""
    payload = report_payload(
        world,
        school=school_code,
        types=list(types),
        parties=[
            {"role": "victima", "kind": "estudiante", "nie": students[0].nie},
            {"role": "agresor", "kind": "estudiante", "nie": students[1].nie},
        ],
        narrative=narrative,
    )
    incident, _created = incident_ops.file_incident(user(reporter), payload, current_catalog())
    return incident


def case_for(alert: Alert, handler: str) -> Case:
    """Acknowledge ``alert`` and open its case, as its handler."""
    account = user(handler)
    alert_ops.transition(account, alert, "reconocida")
    return case_ops.open_case(account, alert, current_catalog())


def own_case(world) -> Case:
    """Return a new case of gestor_06's in 06, about two new students of school_a."""
    students = fresh_students(world.school_a)
    file_report(world, "docente_a", world.school_a, students, "Relato propio.", ["SEX_TOCAMIENTOS"])
    alert = student_alert(students[0].id)
    hand_to(alert, "gestor_06")
    return case_for(alert, "gestor_06")


class Foreign:
    """Someone else's records of one kind, each built on first use and kept (committed)."""

    def __init__(self, world, kind: str):
        self.world = world
        self.kind = kind
        self.tag = secrets.token_hex(5)
        school_key, self.reporter = {
            OTHER_SCHOOL: ("school_b", "docente_b"),
            OTHER_DEPARTMENT: ("school_c", "director_c"),
            OTHER_HANDLER: ("school_a", "docente_a"),
        }[kind]
        self.school_code = getattr(world, school_key)
        self.department_code = "05" if kind == OTHER_DEPARTMENT else "06"
        #: Whose alerts and case these are (05 has no gestor among the seeded accounts).
        self.handler = {OTHER_DEPARTMENT: "gestor_05", OTHER_HANDLER: "gestor_06b"}.get(kind)
        #: Whose notice and break-the-glass grant these are.
        self.owner = {
            OTHER_SCHOOL: "docente_b",
            OTHER_DEPARTMENT: "departamental_05",
            OTHER_HANDLER: "gestor_06b",
        }[kind]
        self._built: dict[str, object] = {}

    def _once(self, name: str, build: Callable[[], object]):
        if name not in self._built:
            self._built[name] = build()
            # A savepoint in the tests: a refused request rolls back its own work, not this.
            db.session.commit()
        return self._built[name]

    @property
    def school(self) -> School:
        return _school(self.school_code)

    @property
    def students(self) -> list[Student]:
        return self._once("students", lambda: fresh_students(self.school_code))

    @property
    def incident(self) -> Incident:
        """Their report; sexual violence (an alert for each child) where a handler works it."""

        def build():
            types = ["SEX_TOCAMIENTOS"] if self.handler else ["ACO_VERBAL"]
            if self.handler:
                gestor(self.handler, self.department_code)  # first, so the alerts are theirs
            incident = file_report(
                self.world, self.reporter, self.school_code, self.students,
                f"Relato ajeno {self.tag}.", types,
            )  # fmt: skip
            for student in self.students if self.handler else ():
                alert = student_alert(student.id)
                if self.kind == OTHER_HANDLER:
                    hand_to(alert, self.handler)
                assert alert.assignee_id == user(self.handler).id
            return incident

        return self._once("incident", build)

    @property
    def alert(self) -> Alert:
        """The aggressor's alert, acknowledged by its handler, without a case."""

        def build():
            assert self.incident
            alert = student_alert(self.students[1].id)
            alert_ops.transition(user(self.handler), alert, "reconocida")
            return alert

        return self._once("alert", build)

    @property
    def case(self) -> Case:
        """The victim's case, opened by its handler."""

        def build():
            assert self.incident
            return case_for(student_alert(self.students[0].id), self.handler)

        return self._once("case", build)

    @property
    def referral(self) -> Referral:
        return self._once(
            "referral",
            lambda: case_ops.refer(user(self.handler), self.case, "FGR", current_catalog()),
        )

    @property
    def step(self) -> CaseStep:
        return self.case.steps[0]

    @property
    def own_case(self) -> Case:
        """gestor_06's own case, for the forms that pair it with someone else's sub-record."""
        return self._once("own_case", lambda: own_case(self.world))

    @property
    def draft(self) -> IncidentDraft:
        def build():
            payload = report_payload(
                self.world, school=self.school_code, narrative=f"Borrador ajeno {self.tag}."
            )
            return incident_ops.save_draft(user(self.reporter), payload)

        return self._once("draft", build)

    @property
    def notice(self) -> InboxMessage:
        def build():
            owner = user(self.owner) or gestor(self.owner, self.department_code)
            notice = InboxMessage(
                key=f"swap:{self.tag}",
                user_id=owner.id,
                kind="alert_raised",
                payload={"alert_id": 1, "level": "alto"},
                link="/inicio",
            )
            db.session.add(notice)
            db.session.flush()
            return notice

        return self._once("notice", build)

    @property
    def grant(self):
        """A live break-the-glass grant of the owner's (school_c for 05, school_b for 06)."""
        from salve.breakglass.operations import grant_access

        def build():
            owner = user(self.owner) or gestor(self.owner, self.department_code)
            school = _school(
                self.school_code if self.kind == OTHER_DEPARTMENT else self.world.school_b
            )
            return grant_access(owner, school, "verificacion", GRANT_REASON)

        return self._once("grant", build)

    def secrets(self) -> list[str]:
        """Every identifying value of what has been built so far."""
        values = [] if self.kind == OTHER_HANDLER else [self.school.name]
        for student in self._built.get("students", []):
            values += [student.nie, student.given_names, student.family_names]
        if "incident" in self._built or "draft" in self._built:
            values.append(f"ajeno {self.tag}")
        if "alert" in self._built:
            values.append(alert_ref(self._built["alert"].id))
        if "case" in self._built:
            values.append(case_ref(self._built["case"].id))
        return values


# --- What a refused form must leave as it was ---------------------------------------------------


def rows(model, **where) -> list[dict]:
    """Return the rows of ``model`` matching ``where``, every column, in key order."""
    table = model.__table__
    query = sa.select(table).where(*(table.c[k] == v for k, v in where.items()))
    return [dict(row) for row in db.session.execute(query.order_by(*table.primary_key)).mappings()]


def incident_rows(f: Foreign) -> list:
    return [rows(Incident, id=f.incident.id), rows(IncidentAmendment, incident_id=f.incident.id)]


def alert_rows(f: Foreign) -> list:
    alert_id = f.alert.id
    return [rows(model, **{"id" if model is Alert else "alert_id": alert_id})
            for model in (Alert, AlertEvent, CaseAlert)]  # fmt: skip


def case_rows(f: Foreign) -> list:
    case_id = f.case.id
    return [rows(Case, id=case_id)] + [
        rows(model, case_id=case_id)
        for model in (CaseEvent, FollowUp, Referral, CaseStep, CaseAlert)
    ]


def notice_rows(f: Foreign) -> list:
    return rows(InboxMessage, id=f.notice.id)


def grant_rows(f: Foreign) -> list:
    from salve.breakglass.models import BreakGlassGrant

    return rows(BreakGlassGrant)


# --- The swaps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Swap:
    """A route, the parameter that names someone else's record, for which kinds, how to ask."""

    endpoint: str
    param: str
    kinds: frozenset[str]
    url: Callable[[Foreign], str]
    method: str = "GET"
    #: The form posted, or how to make it from the records.
    data: dict | Callable[[Foreign], dict] | None = None
    #: A snapshot of what a posted form must leave unchanged.
    state: Callable[[Foreign], list] | None = None
    #: A list filtered by the parameter: 200 is right, without someone else's records.
    filters: bool = False
    #: What such a list must still show (the filter was read, the page is not an error).
    shown: tuple[str, ...] = ()
    variant: str = ""

    @property
    def label(self) -> str:
        return f"{self.endpoint}[{self.param}{' ' + self.variant if self.variant else ''}]"


def _roll(f: Foreign) -> str:
    assert f.students  # on the roll, to be seen if it leaked
    return f"/escuelas/{f.school_code}/estudiantes"


def _student_search(f: Foreign) -> str:
    assert f.students
    return f"/incidentes/estudiantes?escuela={f.school_code}"


def _inbox(f: Foreign) -> str:
    assert f.alert  # raised, to be listed if it leaked
    return f"/alertas/?escuela={f.school_code}&estado=todas"


def _analytics_export(fmt: str) -> Callable[[Foreign], str]:
    return lambda f: (
        f"/reportes/escuelas/{f.school_code}/analisis/exportar?tabla=lugares&formato={fmt}"
    )


def _department_list(fmt: str = "") -> Callable[[Foreign], str]:
    return lambda f: (
        f"/reportes/departamentos/{f.department_code}/escuelas" + (f"?formato={fmt}" if fmt else "")
    )


def _places(fmt: str = "") -> Callable[[Foreign], str]:
    """Department 06's list filtered by a municipality and a district of department 05."""

    def url(f: Foreign) -> str:
        district = district_in("05")
        return (
            f"/reportes/departamentos/06/escuelas?municipio={district.municipality_id}"
            f"&distrito={district.id}" + (f"&formato={fmt}" if fmt else "")
        )

    return url


POST = "POST"
#: The page drops a place it does not know: the whole of 06's list, school_a on it.
ALFA = ("Centro Escolar Prueba Alfa",)

SWAPS: tuple[Swap, ...] = (
    # Schools and their rolls.
    Swap("schools.show", "code", SCHOOLS, lambda f: f"/escuelas/{f.school_code}"),
    Swap("schools.students", "code", SCHOOLS, _roll),
    Swap("schools.index", "departamento", SCHOOLS,
         lambda f: f"/escuelas/?departamento={f.department_code}", filters=True),
    # Reports, drafts and the student search of the report form.
    Swap("incidents.show", "incident_id", SCHOOLS, lambda f: f"/incidentes/{f.incident.id}"),
    Swap("incidents.amend", "incident_id", SCHOOLS,
         lambda f: f"/incidentes/{f.incident.id}/corregir", variant="GET"),
    Swap("incidents.amend", "incident_id", SCHOOLS,
         lambda f: f"/incidentes/{f.incident.id}/corregir", POST,
         {"reason": "Corrección.", "narrative": "Relato cambiado."}, incident_rows, variant=POST),
    Swap("incidents.validate", "incident_id", SCHOOLS,
         lambda f: f"/incidentes/{f.incident.id}/validar", POST, {}, incident_rows),
    Swap("incidents.close", "incident_id", SCHOOLS,
         lambda f: f"/incidentes/{f.incident.id}/infundado", POST, {"reason": "Intento."},
         incident_rows),
    Swap("incidents.decide_closure", "incident_id", DEPARTMENT,
         lambda f: f"/incidentes/{f.incident.id}/infundado/decision", POST,
         {"decision": "aprobar", "reason": "Intento."}, incident_rows),
    Swap("incidents.new", "borrador", SCHOOLS,
         lambda f: f"/incidentes/nuevo?borrador={f.draft.idempotency_key}"),
    Swap("incidents.students", "escuela", SCHOOLS, _student_search),
    # Risk.
    Swap("risk.school", "code", SCHOOLS, lambda f: f"/riesgo/escuelas/{f.school_code}"),
    Swap("risk.student", "nie", SCHOOLS, lambda f: f"/riesgo/estudiantes/{f.students[0].nie}"),
    # Alerts.
    Swap("alerts.index", "escuela", HANDLED, _inbox, filters=True),
    Swap("alerts.show", "alert_id", HANDLED, lambda f: f"/alertas/{f.alert.id}"),
    Swap("alerts.transition", "alert_id", HANDLED, lambda f: f"/alertas/{f.alert.id}/transicion",
         POST, lambda f: {"to": "en_seguimiento", "review_at": _tomorrow()}, alert_rows),
    Swap("alerts.open_case", "alert_id", HANDLED, lambda f: f"/alertas/{f.alert.id}/caso",
         POST, {}, alert_rows),
    Swap("alerts.reassign", "alert_id", HANDLED, lambda f: f"/alertas/{f.alert.id}/reasignar",
         POST, lambda f: {"assignee": str(user("gestor_06").id)}, alert_rows),
    # Cases, and their referrals and steps (also on one's own case).
    Swap("cases.show", "case_id", HANDLED, lambda f: f"/casos/{f.case.id}"),
    Swap("cases.add_follow_up", "case_id", HANDLED, lambda f: f"/casos/{f.case.id}/seguimientos",
         POST, {"note": "Nota."}, case_rows),
    Swap("cases.refer", "case_id", HANDLED, lambda f: f"/casos/{f.case.id}/referencias",
         POST, {"institution": "PNC"}, case_rows),
    Swap("cases.update_referral", "case_id", HANDLED,
         lambda f: f"/casos/{f.case.id}/referencias/{f.referral.id}", POST, {"to": "aceptada"},
         case_rows),
    Swap("cases.update_referral", "referral_id", HANDLED,
         lambda f: f"/casos/{f.own_case.id}/referencias/{f.referral.id}", POST,
         {"to": "aceptada"}, case_rows, variant="on one's own case"),
    Swap("cases.complete_step", "case_id", HANDLED,
         lambda f: f"/casos/{f.case.id}/pasos/{f.step.id}", POST, {"note": "Hecho."}, case_rows),
    Swap("cases.complete_step", "step_id", HANDLED,
         lambda f: f"/casos/{f.own_case.id}/pasos/{f.step.id}", POST, {"note": "Hecho."},
         case_rows, variant="on one's own case"),
    Swap("cases.request_closure", "case_id", HANDLED, lambda f: f"/casos/{f.case.id}/cierre",
         POST, {"summary": "Fin."}, case_rows),
    Swap("cases.approve_closure", "case_id", HANDLED,
         lambda f: f"/casos/{f.case.id}/cierre/aprobar", POST, {}, case_rows),
    Swap("cases.refuse_closure", "case_id", HANDLED,
         lambda f: f"/casos/{f.case.id}/cierre/devolver", POST, {"reason": "Falta."}, case_rows),
    Swap("cases.reopen", "case_id", HANDLED, lambda f: f"/casos/{f.case.id}/reabrir",
         POST, {"reason": "Otra vez."}, case_rows),
    # Another user's notice.
    Swap("notifications.mark_read", "notice_id", EVERY_KIND,
         lambda f: f"/avisos/{f.notice.id}/leido", POST, {}, notice_rows),
    # Regional views and their downloads.
    Swap("reports.school_analytics", "code", SCHOOLS,
         lambda f: f"/reportes/escuelas/{f.school_code}/analisis"),
    Swap("reports.school_analytics_export", "code", SCHOOLS, _analytics_export("csv"),
         variant="csv"),
    Swap("reports.school_analytics_export", "code", SCHOOLS, _analytics_export("xlsx"),
         variant="xlsx"),
    Swap("reports.department_list", "code", DEPARTMENT, _department_list()),
    Swap("reports.department_list", "code", DEPARTMENT, _department_list("csv"), variant="csv"),
    Swap("reports.department_list", "code", DEPARTMENT, _department_list("xlsx"),
         variant="xlsx"),
    Swap("reports.department_list", "distrito", DEPARTMENT, _places(), filters=True, shown=ALFA),
    Swap("reports.department_list", "municipio", DEPARTMENT, _places("csv"), filters=True,
         shown=ALFA, variant="csv"),
    Swap("reports.department_list", "distrito", DEPARTMENT, _places("xlsx"), filters=True,
         shown=ALFA, variant="xlsx"),
    # Break the glass: another department's school, another person's grant.
    Swap("breakglass.request_access", "code", DEPARTMENT,
         lambda f: f"/vidrio/escuelas/{f.school_code}", variant="GET"),
    Swap("breakglass.request_access", "code", DEPARTMENT,
         lambda f: f"/vidrio/escuelas/{f.school_code}", POST,
         {"reason_category": "verificacion", "reason_text": GRANT_REASON}, grant_rows,
         variant=POST),
    # The record a request comes from, named in the query: another department's report.
    Swap("breakglass.request_access", "registro", DEPARTMENT,
         lambda f: f"/vidrio/escuelas/{f.world.school_a}?registro=incident:{f.incident.id}",
         filters=True, shown=ALFA),
    Swap("breakglass.end", "grant_id", HANDLED, lambda f: f"/vidrio/{f.grant.id}/terminar",
         POST, {}, grant_rows),
)  # fmt: skip

#: Routes with a path parameter that no swap covers, and why none is needed.
EXEMPT: dict[str, str] = {
    "static": "public files",
    "admin.user_detail": "the administrator reaches every account; nobody else reaches the route",
    "admin.set_user_enabled": "the administrator reaches every account",
    "admin.add_role": "the administrator reaches every account",
    "admin.remove_role": "the administrator; another account's role is refused by remove_role",
    "admin.reset_second_factor": "the administrator reaches every account",
}

#: Query parameters that name no record.
NOT_IDS: dict[str, str] = dict.fromkeys(
    ("q", "pagina", "estado", "tipo", "desde", "hasta", "dir", "orden", "periodo", "meses",
     "por", "tabla", "nivel", "regla", "sector", "zona", "con_alertas", "silencio"),
    "a filter, a sort, a page or a period",
)  # fmt: skip
NOT_IDS |= {
    "formato": "a format: every export is swapped by its code, as CSV and as XLSX",
    "next": "where to go back to, checked as a path inside SALVE",
    "replay": "re-posts a form after re-authentication; the form's own checks run again",
}

SALVE = Path(__file__).resolve().parent.parent / "salve"
#: ``args.get("name")`` and ``args.getlist("name")`` (the API's parameters are in its OpenAPI).
QUERY_READ = re.compile(r"args\.get(?:list)?\(\s*\"([^\"]+)\"")


def web_query_parameters() -> set[str]:
    """Return every query parameter the web pages read."""
    names = set(listing.WEB_NAMES.values())
    for path in SALVE.rglob("*.py"):
        relative = path.relative_to(SALVE).as_posix()
        if not relative.startswith("api/") and relative != "opendata/api.py":
            names |= set(QUERY_READ.findall(path.read_text(encoding="utf-8")))
    return names


def allowed_roles(app, endpoint: str) -> frozenset[str]:
    """Who may call ``endpoint``: the route matrix, else the view's ``roles_required``."""
    route = WEB_MATRIX.get(endpoint)
    if route is not None:
        return frozenset(R.ROLES) if route.allowed == "public" else route.allowed
    return getattr(app.view_functions[endpoint], "allowed_roles", frozenset(R.ROLES))


def swaps_for(app, role: str, kind: str) -> list[Swap]:
    """The swaps a role's account tries on one kind of someone else's record."""
    return [s for s in SWAPS if kind in s.kinds and role in allowed_roles(app, s.endpoint)]


def readable(response) -> str:
    """Return the body as text: an XLSX download's cells, else the page, JSON or CSV as sent."""
    if response.mimetype == XLSX_MIME:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(response.data), read_only=True)
        return "\n".join(
            str(value)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        )
    return response.get_data(as_text=True)


def _data(swap: Swap, foreign: Foreign) -> dict | None:
    return swap.data(foreign) if callable(swap.data) else swap.data


def _asks_its_route(app, swap: Swap, url: str) -> list[str]:
    """Say what is wrong if ``url`` is not the swap's route with the swapped parameter in it."""
    parts = urlsplit(url)
    try:
        endpoint, args = app.url_map.bind("localhost").match(parts.path, swap.method)
    except (NotFound, MethodNotAllowed):
        return [f"{swap.label}: {swap.method} {url} matches no route"]
    if endpoint != swap.endpoint:
        return [f"{swap.label}: {url} is {endpoint}"]
    if swap.param not in args and swap.param not in parse_qs(parts.query):
        return [f"{swap.label}: {url} does not carry {swap.param}"]
    return []


def try_swap(app, client, swap: Swap, foreign: Foreign) -> list[str]:
    """Ask for someone else's record; return what went wrong (nothing, when it was refused)."""
    url = swap.url(foreign)
    problems = _asks_its_route(app, swap, url)
    # What the URL carries comes back in the page's own links (the language switch's "next").
    hidden = [value for value in foreign.secrets() if value not in url]
    before = swap.state(foreign) if swap.state else None
    response = client.open(url, method=swap.method, data=_data(swap, foreign))
    label = f"{swap.label} {swap.method} {url}"
    expected = (200,) if swap.filters else (403, 404)
    if response.status_code not in expected:
        problems.append(f"{label}: answered {response.status_code}, not {expected}")
    body = readable(response)
    leaked = [value for value in hidden if value in body]
    if leaked:
        problems.append(f"{label}: shows {leaked}")
    lost = [value for value in swap.shown if value not in body]
    if lost:
        problems.append(f"{label}: the filtered list lost {lost}")
    if swap.state is not None and swap.state(foreign) != before:
        problems.append(f"{label}: changed the record")
    return problems


def reach(app, client, role: str, foreign: Foreign) -> list[str]:
    """Read the kind's records as their owner; return what did not come back."""
    problems = []
    for swap in swaps_for(app, role, foreign.kind):
        if swap.method != "GET" or swap.filters:
            continue
        url = swap.url(foreign)
        response = client.get(url)
        is_download = response.headers.get("Content-Disposition", "").startswith("attachment")
        if response.status_code != 200:
            problems.append(f"{swap.label} {url}: its owner got {response.status_code}")
        elif not is_download and not any(v in readable(response) for v in foreign.secrets()):
            problems.append(f"{swap.label} {url}: shows its owner none of {foreign.secrets()}")
    return problems


def test_every_route_with_an_id_is_swapped(app):
    covered = {(s.endpoint, s.param) for s in SWAPS}
    missing = [
        f"{rule.endpoint} <{arg}>"
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith("api.") and rule.endpoint not in EXEMPT
        for arg in sorted(rule.arguments)
        if (rule.endpoint, arg) not in covered
    ]
    assert not missing, f"routes with ids that no swap covers: {missing}"
    stale = ({s.endpoint for s in SWAPS} | EXEMPT.keys()) - set(app.view_functions)
    assert not stale, f"swaps name routes that no longer exist: {sorted(stale)}"


def test_every_query_parameter_is_classified():
    swapped = {s.param for s in SWAPS}
    unknown = web_query_parameters() - swapped - NOT_IDS.keys()
    assert not unknown, f"query parameters neither swapped nor classified: {sorted(unknown)}"
    assert not swapped & NOT_IDS.keys()


def test_every_swap_is_tried_by_some_role(app):
    tried = {
        s.label
        for role, kinds in ROLE_KINDS.items()
        for k in kinds
        for s in swaps_for(app, role, k)
    }
    assert not {s.label for s in SWAPS} - tried


@pytest.mark.parametrize("kind", KINDS)
def test_someone_elses_records_are_refused_without_their_data(app, client, login_as, world, kind):
    # One kind's records are built once and tried by every role they are not for: each
    # sign-in costs a password hash, each report a rescoring.
    foreign = Foreign(world, kind)
    problems = []
    for username in OWNERS[kind]:
        login_as(username)
        role = user(username).role_assignments[0].role
        problems += reach(app, client, role, foreign)
        client.post("/salir")
    for role, kinds in ROLE_KINDS.items():
        if kind not in kinds:
            continue
        login_as(ROLE_ACCOUNTS[role])
        for swap in swaps_for(app, role, kind):
            problems += [f"{role}: {p}" for p in try_swap(app, client, swap, foreign)]
        client.post("/salir")
    assert not problems, "\n".join(problems)


# --- Item 10: fields a user may not set ----------------------------------------------------------


def _report_form(world, **overrides) -> dict:
    """Return the report form as a browser posts it: two students of school_a."""
    day, minute = local_now_parts(utcnow() - timedelta(hours=2))
    data = {
        "idempotency_key": secrets.token_urlsafe(16),
        "party_rows": "2",
        "occurred_date": day,
        "occurred_time": minute,
        "location": "patio",
        "types": ["ACO_VERBAL"],
        "relationship": "estudiante_estudiante",
        "parties-0-role": "victima",
        "parties-0-kind": "estudiante",
        "parties-0-nie": world.students_a[0],
        "parties-1-role": "agresor",
        "parties-1-kind": "estudiante",
        "parties-1-nie": world.students_a[1],
        "repetition": "2_3",
        "narrative": "En el recreo le quitaron la refacción.",
        "action": "submit",
    }
    data.update(overrides)
    return data


def _not_for_the_form(world) -> dict:
    """What no report form sets: status, reporter, school, department, validation, closure."""
    principal = str(user("director_a").id)
    school_c = _school(world.school_c)
    return {
        "school": world.school_b,
        "school_id": str(school_c.id),
        "school_code": school_c.code,
        "department_id": str(school_c.department_id),
        "status": "validado",
        "reporter_id": principal,
        "validated": "1",
        "validated_by_id": principal,
        "validated_at": "2026-01-01T00:00",
        "closed_reason": "Cerrado desde el formulario.",
    }


def _incident_at(location: str) -> Incident:
    return db.session.get(Incident, int(re.search(r"/incidentes/(\d+)$", location).group(1)))


def _stays_as_filed(incident: Incident, world) -> None:
    db.session.expire_all()
    assert incident.school.code == world.school_a
    assert incident.reporter_id == user("docente_a").id
    assert incident.status == "reportado"
    assert incident.validated_at is None and incident.validated_by_id is None
    assert incident.closed_reason is None


def test_report_forms_set_no_status_reporter_school_or_validation(client, login_as, world):
    login_as("docente_a")
    response = client.post(
        "/incidentes/nuevo", data=_report_form(world, **_not_for_the_form(world))
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    incident = _incident_at(response.location)
    _stays_as_filed(incident, world)

    # Another school's report's submission key files nothing and shows nothing of it.
    theirs = Foreign(world, OTHER_SCHOOL)
    form = _report_form(world, idempotency_key=theirs.incident.idempotency_key)
    before = rows(Incident)
    response = client.post("/incidentes/nuevo", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Esa clave de envío ya fue usada por otro reporte." in page
    assert not [value for value in theirs.secrets() if value in page]
    assert rows(Incident) == before

    # The principal's correction changes what it says, never whose or where the report is.
    client.post("/salir")
    login_as("director_a")
    form = _report_form(
        world,
        idempotency_key=incident.idempotency_key,
        narrative="Relato corregido por la dirección.",
        reason="Faltaba un detalle.",
        **_not_for_the_form(world),
    )
    response = client.post(f"/incidentes/{incident.id}/corregir", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    _stays_as_filed(incident, world)
    assert incident.narrative == "Relato corregido por la dirección."


def test_a_handlers_forms_set_no_assignee_place_status_or_author(client, login_as, world):
    other = gestor("gestor_06b", "06")
    theirs = Foreign(world, OTHER_HANDLER).case
    school_c = _school(world.school_c)
    students = fresh_students(world.school_a)
    file_report(world, "docente_a", world.school_a, students, "Relato.", ["SEX_TOCAMIENTOS"])
    alert = student_alert(students[0].id)
    hand_to(alert, "gestor_06")
    db.session.commit()
    before = rows(Alert, id=alert.id)[0]
    me = user("gestor_06").id
    sneaky = {
        "assignee": str(other.id),
        "assignee_id": str(other.id),
        "handler_id": str(other.id),
        "author_id": str(other.id),
        "sent_by_id": str(other.id),
        "closed_by_id": str(other.id),
        "department_id": str(school_c.department_id),
        "school_id": str(school_c.id),
        "case_id": str(theirs.id),
        "entity_id": str(students[1].id),
        "level": "bajo",
        "escalation": "3",
        "status": "cerrado",
        "tier": "I",
    }
    login_as("gestor_06")

    # The move asked for, and nothing else about the alert.
    response = client.post(f"/alertas/{alert.id}/transicion", data={"to": "reconocida", **sneaky})
    assert response.status_code == 302
    after = rows(Alert, id=alert.id)[0]
    assert after["status"] == "reconocida"
    changed = {k for k in before if before[k] != after[k]}
    assert changed <= {"status", "acknowledged_at", "due_at", "updated_at"}, changed

    # The case is the user's, in the alert's department and school, at the protocol's tier.
    response = client.post(f"/alertas/{alert.id}/caso", data=sneaky)
    assert response.status_code == 302
    case = db.session.get(Case, int(re.search(r"/casos/(\d+)$", response.location).group(1)))
    assert (case.handler_id, case.department_id, case.school_id) == (
        me,
        alert.department_id,
        alert.school_id,
    )
    assert (case.status, case.tier) == ("abierto", "III")

    # Follow-ups and referrals land on this case, by this user, in the status the verb sets.
    url = f"/casos/{case.id}"
    response = client.post(f"{url}/seguimientos", data={**sneaky, "note": "Llamada."})
    assert response.status_code == 302
    response = client.post(f"{url}/referencias", data={**sneaky, "institution": "PNC"})
    assert response.status_code == 302
    referral = rows(Referral, case_id=case.id)[-1]
    response = client.post(
        f"{url}/referencias/{referral['id']}",
        data={**sneaky, "to": "aceptada", "institution": "FGR"},
    )
    assert response.status_code == 302
    assert [(f["note"], f["author_id"]) for f in rows(FollowUp, case_id=case.id)] == [
        ("Llamada.", me)
    ]
    referral = rows(Referral, id=referral["id"])[0]
    assert (referral["institution"], referral["status"], referral["sent_by_id"]) == (
        "PNC",
        "aceptada",
        me,
    )
    assert rows(FollowUp, case_id=theirs.id) == rows(Referral, case_id=theirs.id) == []

    # Asking to close does not close: the supervisor approves.
    for n in range(2):
        client.post(f"{url}/seguimientos", data={"note": f"Seguimiento {n + 2}."})
    response = client.post(f"{url}/cierre", data={**sneaky, "summary": "Atención completa."})
    assert response.status_code == 302
    row = rows(Case, id=case.id)[0]
    assert (row["status"], row["handler_id"]) == ("cierre_solicitado", me)
    assert row["closed_at"] is None and row["closed_by_id"] is None


def test_an_alert_is_reassigned_only_to_a_handler_of_its_department(client, login_as, world):
    gestor_05 = gestor("gestor_05", "05")
    students = fresh_students(world.school_a)
    file_report(world, "docente_a", world.school_a, students, "Relato.", ["SEX_TOCAMIENTOS"])
    alert = student_alert(students[0].id)
    db.session.commit()
    before = rows(Alert, id=alert.id)
    login_as("supervisor_06")
    for someone in (gestor_05, user("docente_a"), user("supervisor_06")):
        response = client.post(f"/alertas/{alert.id}/reasignar", data={"assignee": str(someone.id)})
        assert response.status_code == 422, someone.username
        assert "Elija un gestor de casos activo del departamento de la alerta." in (
            response.get_data(as_text=True)
        )
    assert rows(Alert, id=alert.id) == before


def test_changing_ones_password_changes_no_role_or_scope(client, login_as, world):
    login_as("docente_a")
    account = user("docente_a")
    before = rows(RoleAssignment, user_id=account.id)
    response = client.post(
        "/cuenta/contrasena",
        data={
            "current_password": PASSWORD,
            "new_password": "una frase nueva y larga 2026",
            "confirm_password": "una frase nueva y larga 2026",
            "role": R.ADMIN,
            "username": "admin2",
            "school_code": world.school_c,
            "department_code": "05",
            "is_enabled": "0",
        },
    )
    assert response.status_code == 302
    assert rows(RoleAssignment, user_id=account.id) == before
    row = rows(User, id=account.id)[0]
    assert (row["username"], row["is_enabled"]) == ("docente_a", True)
