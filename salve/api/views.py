"""The JSON API under /api/v1 for the ministry's other systems and mobile clients.

Every request but the OpenAPI document and open data (``/api/v1/open``, public) needs
``Authorization: Bearer <token>`` (``salve.api.auth``); the session cookie is never read. What
a caller may see is decided by ``salve.auth.scope``, as in the web pages. Errors:
``salve.api.errors``. The document at ``/api/v1/openapi.json`` (``salve.api.openapi``) describes
every route here; a test keeps it so.
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from flask import Blueprint, abort, g, request, url_for
from flask_babel import gettext as _
from sqlalchemy import orm

from salve import ratelimit
from salve.alerts import presenting as alert_words
from salve.alerts.operations import AlertError, transition
from salve.alerts.queries import find_alert, inbox, is_overdue, students_by_id
from salve.api.alerts import (
    ALERT_ROLES,
    MAX_TRANSITION_BYTES,
    entity_refs,
    explained,
    inbox_filters,
    parse_transition,
)
from salve.api.auth import Refusal, _bearer_token, authenticate, hash_token
from salve.api.errors import ApiError, error_response, field_errors
from salve.api.openapi import MAX_PER_PAGE, document
from salve.api.serializers import (
    alert_detail_json,
    alert_json,
    catalog_json,
    incident_json,
    risk_json,
    school_json,
    student_json,
)
from salve.audit.operations import record
from salve.auth.scope import (
    FULL,
    RISK_ROLES,
    STUDENT_RISK_ROLES,
    SUMMARY,
    alert_access,
    alert_identities,
    can_list_students,
    can_view_school_risk,
    can_view_student_risk,
    child_identities,
    incident_access,
    incident_identities,
    listed_alert_names_student,
    require,
    visible_schools,
)
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db, login_manager
from salve.geography.models import District
from salve.i18n import current_language
from salve.incidents.disclosure import named_students
from salve.incidents.models import STATUSES, Incident, IncidentParty
from salve.incidents.operations import IncidentError, file_incident, reporting_school_ids
from salve.incidents.queries import find_incident, incident_list
from salve.pagination import paginate
from salve.schools.models import School, Student
from salve.scoring.queries import current_risk
from salve.web import writes_on_read

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: Endpoints that answer without a token.
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
#: Nested blueprints whose every route answers without a token: open data (/api/v1/open).
PUBLIC_BLUEPRINTS = frozenset({"api.open"})
DEFAULT_PER_PAGE = 50
MAX_PAGE = 1_000_000
#: Incident ids are 32-bit integers in PostgreSQL; larger numbers name nothing.
MAX_ID = 2**31 - 1
#: UTF-16 surrogates: JSON may escape one alone (``"\\ud800"``); no database can store it.
_SURROGATE = re.compile("[\ud800-\udfff]")


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS or request.blueprint in PUBLIC_BLUEPRINTS:
        g._login_user = login_manager.anonymous_user()
        if request.blueprint in PUBLIC_BLUEPRINTS:  # open data: per client address
            return ratelimit.enforce("open-data", ratelimit.client_address())
        return None
    result = authenticate()
    if isinstance(result, Refusal) and result.retry_after:
        return ratelimit.too_many_requests(result.retry_after)
    if isinstance(result, Refusal):
        challenge = "Bearer" + (f' error="{result.error}"' if result.error else "")
        return error_response(
            result.status, [(None, result.message)], {"WWW-Authenticate": challenge}
        )
    # Per token, named by a prefix of the hash it is stored under (never the token itself).
    return ratelimit.enforce("api", hash_token(_bearer_token())[:32])


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error_response(error.status, error.errors)


def _user():
    return g._login_user


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ApiError(400, [(name, _("Debe ser un número entero."))]) from None
    if not 1 <= value <= maximum:
        raise ApiError(
            400, [(name, _("Debe estar entre 1 y %(maximum)d.", maximum=maximum))]
        ) from None
    return value


def _paging() -> tuple[int, int]:
    return (
        _int_arg("page", 1, MAX_PAGE),
        _int_arg("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
    )


def _search() -> str:
    return request.args.get("q", "").strip()[:80]


def _page_json(page, items: list) -> dict:
    return {"items": items, "total": page.total, "page": page.page, "per_page": page.per_page}


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    return document()


@bp.get("/catalog")
def catalog():
    """The violence catalog in force."""
    return catalog_json(current_catalog())


@bp.get("/schools")
def schools():
    """The schools in the caller's scope."""
    page_number, per_page = _paging()
    query = (
        visible_schools(_user())
        .options(
            orm.joinedload(School.district).joinedload(District.municipality),
            orm.joinedload(School.department),
        )
        .order_by(School.code)
    )
    search = _search()
    if search:
        pattern = f"%{search}%"
        query = query.where(sa.or_(School.name.ilike(pattern), School.code.like(pattern)))
    page = paginate(query, page_number, per_page)
    return _page_json(page, [school_json(school) for school in page.items])


@bp.get("/schools/<code>/students")
@writes_on_read
def school_students(code: str):
    """The active roll of a school: its own staff and its department's case handlers only."""
    user = _user()
    school = db.session.scalar(visible_schools(user).where(School.code == code[:20]))
    require(school is not None)
    if not can_list_students(user, school):
        raise_forbidden(
            _(
                "Solo el personal de la escuela ve su nómina. Los gestores de casos buscan a un "
                "estudiante por su NIE en /students/<nie>/risk."
            )
        )
    page_number, per_page = _paging()
    query = sa.select(Student).where(Student.school_id == school.id, Student.is_active)
    search = _search()
    if search:
        pattern = f"%{search}%"
        query = query.where(
            sa.or_(
                Student.nie.like(pattern),
                Student.given_names.ilike(pattern),
                Student.family_names.ilike(pattern),
            )
        )
    query = query.order_by(
        Student.grade, Student.section, Student.family_names, Student.given_names, Student.id
    )
    page = paginate(query, page_number, per_page)
    record(
        "student_roll.view",
        "school",
        school.code,
        shown=len(page.items),
        searched=bool(search),
        students=[student.id for student in page.items],
        channel="api",
    )
    return _page_json(page, [student_json(student) for student in page.items])


@bp.get("/schools/<code>/risk")
def school_risk(code: str):
    """A school's risk score, explained: its principal and the ministry's offices."""
    user = _user()
    # Refused by role before any lookup, so the answer says nothing about what exists.
    if not user.has_role(*RISK_ROLES):
        raise_forbidden(
            _("Solo la dirección de la escuela y las oficinas del Ministerio ven su riesgo.")
        )
    school = db.session.scalar(visible_schools(user).where(School.code == code[:20]))
    require(school is not None and can_view_school_risk(user, school))
    risk = current_risk("school", school.id, current_language())
    return risk_json(risk, "code", school.code)


@bp.get("/students/<nie>/risk")
@writes_on_read
def student_risk(nie: str):
    """A student's risk score, explained, by NIE and never by name. Audited."""
    user = _user()
    if not user.has_role(*STUDENT_RISK_ROLES):
        raise_forbidden(
            _(
                "Solo la dirección de la escuela y los gestores de casos del departamento "
                "ven el riesgo de un estudiante."
            )
        )
    student = db.session.scalar(
        sa.select(Student).where(Student.nie == nie[:20]).options(orm.joinedload(Student.school))
    )
    require(student is not None and can_view_student_risk(user, student.school))
    risk = current_risk("student", student.id, current_language())
    identities = child_identities(user, student)
    record(
        "student_risk.view",
        "student",
        student.id,
        level=risk.level,
        channel="api",
        **identities.audit,
        **({"students": [student.id]} if identities.is_shown else {}),
    )
    return risk_json(risk, "nie", student.nie, student=student if identities.is_shown else None)


def raise_forbidden(message: str) -> None:
    """Refuse with 403 (audited by the app's error handler)."""
    abort(403, description=message)


def _json_body(expected: str | None = None, max_bytes: int | None = None) -> dict:
    """Return the request's JSON object; ``expected`` says what it should hold when it is not one.

    ``max_bytes`` bounds a route's body below the app's ``MAX_CONTENT_LENGTH`` (413 past it).
    """
    if not request.is_json:
        raise ApiError(
            400, [(None, _("Envíe los datos como JSON (Content-Type: application/json)."))]
        )
    if max_bytes is not None and (request.content_length or 0) > max_bytes:
        raise _too_large(max_bytes)
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
    if max_bytes is not None and len(raw) > max_bytes:  # sent without a Content-Length
        raise _too_large(max_bytes)
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, [(None, _("El cuerpo de la solicitud no es JSON válido."))]) from None
    if not isinstance(payload, dict):
        raise ApiError(
            400, [(None, expected or _("Se esperaba un objeto JSON con los datos del reporte."))]
        )
    bad = _unstorable_text(payload)
    if bad is not None:
        raise ApiError(400, [(bad or None, _("Contiene caracteres no válidos."))])
    return payload


def _unstorable_text(value, path: str = "") -> str | None:
    """Return the path of the first text holding a NUL or a lone surrogate (JSON allows both).

    Neither can be stored (PostgreSQL refuses NUL; UTF-8 has no surrogates): refused here, they
    no longer reach the database as a 500.
    """
    if isinstance(value, str):
        return path if "\x00" in value or _SURROGATE.search(value) else None
    if isinstance(value, dict):
        items = ((f"{path}.{key}" if path else str(key), key, item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", "", item) for index, item in enumerate(value))
    else:
        return None
    for item_path, key, item in items:
        if _unstorable_text(key, item_path) is not None:
            return path
        found = _unstorable_text(item, item_path)
        if found is not None:
            return found
    return None


def _too_large(max_bytes: int) -> ApiError:
    message = _("La solicitud es demasiado grande; el máximo es %(kb)d KB.", kb=max_bytes // 1024)
    return ApiError(413, [(None, message)])


@bp.post("/incidents")
def create_incident():
    """File a report; the same idempotency key again answers with the first one (200)."""
    user = _user()
    if not reporting_school_ids(user):
        raise_forbidden(_("Solo el personal de una escuela puede presentar reportes."))
    payload = _json_body()
    try:
        incident, created = file_incident(user, payload, current_catalog(), channel="api")
    except IncidentError as error:
        return error_response(error.status, field_errors(error.errors))
    access = incident_access(user, incident) or FULL  # the reporter sees their own report
    location = url_for("api.get_incident", incident_id=incident.id)
    return incident_json(incident, access), 201 if created else 200, {"Location": location}


@bp.get("/incidents/<int:incident_id>")
@writes_on_read
def get_incident(incident_id: int):
    """One report, in full or in summary as the caller's access allows. Audited."""
    user = _user()
    incident, access = find_incident(user, incident_id) if incident_id <= MAX_ID else (None, None)
    require(incident is not None)
    identities = incident_identities(user, incident, access)
    record(
        "incident.view",
        "incident",
        incident.id,
        level=access,
        channel="api",
        **identities.audit,
        **named_students(incident, identities),
    )
    return incident_json(incident, access, names_students=identities.is_shown)


@bp.get("/incidents")
@writes_on_read
def list_incidents():
    """The reports the caller may list, newest first; full items only where access is full."""
    user = _user()
    school = request.args.get("school", "").strip()[:20]
    status = request.args.get("status", "").strip()
    if status and status not in STATUSES:
        raise ApiError(
            400, [("status", _("Estado desconocido: «%(status)s».", status=status[:20]))]
        )
    page_number, per_page = _paging()
    page = incident_list(
        user, school_code=school, status=status, page=page_number, per_page=per_page
    )
    ids = [incident.id for incident in page.items]
    if ids:  # parties, students and amendments of the whole page in three queries
        db.session.scalars(
            sa.select(Incident)
            .where(Incident.id.in_(ids))
            .options(
                orm.selectinload(Incident.parties).joinedload(IncidentParty.student),
                orm.selectinload(Incident.amendments),
            )
        ).all()
    items, full, named = [], [], set()
    for incident in page.items:
        access = incident_access(user, incident)
        if access is None:  # incident_clause and incident_access agree; never show more
            continue
        if access == FULL:
            full.append(incident.id)
            named.update(p.student_id for p in incident.parties if p.student_id)
        # Lists never apply grants (a grant shows names on one record's answer, as on the web).
        items.append(incident_json(incident, access))
    record(
        "incident.list",
        "school",
        school,
        shown=len(items),
        full=full,
        status=status,
        students=sorted(named),
    )
    return _page_json(page, items)


# --- Alerts -------------------------------------------------------------------------------------


def _require_alert_role(user) -> None:
    # Refused by role before any lookup, so the answer says nothing about what exists.
    if not user.has_role(*ALERT_ROLES):
        raise_forbidden(
            _("Solo los gestores de casos, la supervisión y el nivel nacional ven las alertas.")
        )


def _alert_detail(alert, access: str, identities) -> dict:
    shown = identities.is_shown and alert.entity_type == "student"
    refs = entity_refs([alert], lambda _alert: shown)
    student = students_by_id([alert.entity_id]).get(alert.entity_id) if shown else None
    return alert_detail_json(
        alert, access, refs[alert.id], is_overdue(alert, utcnow()), explained(alert), student
    )


@bp.get("/alerts")
@writes_on_read
def list_alerts():
    """The alerts in the caller's scope: overdue first, then the most serious, oldest first."""
    user = _user()
    _require_alert_role(user)
    filters = inbox_filters(request.args)
    page_number, per_page = _paging()
    now = utcnow()
    page = inbox(user, **filters, page=page_number, per_page=per_page, now=now)
    # alert_clause and alert_access agree; an alert without access is never shown.
    access = {alert.id: alert_access(user, alert) for alert in page.items}
    shown = [alert for alert in page.items if access[alert.id] is not None]
    named = [alert for alert in shown if listed_alert_names_student(alert, access[alert.id])]
    refs = entity_refs(shown, lambda alert: access[alert.id] == FULL)
    students = students_by_id(alert.entity_id for alert in named)
    items = [
        alert_json(
            alert,
            access[alert.id],
            refs[alert.id],
            is_overdue(alert, now),
            students.get(alert.entity_id) if alert in named else None,
        )
        for alert in shown
    ]
    record(
        "alert.list",
        "alert",
        "",
        shown=[alert.id for alert in shown],
        summary=[alert.id for alert in shown if access[alert.id] == SUMMARY],
        status=request.args.get("status", "").strip()[:30],
        channel="api",
        students=sorted({alert.entity_id for alert in named}),
    )
    return _page_json(page, items)


@bp.get("/alerts/<int:alert_id>")
@writes_on_read
def get_alert(alert_id: int):
    """One alert, explained, with its evidence and timeline. Audited."""
    user = _user()
    _require_alert_role(user)
    alert, access = find_alert(user, alert_id) if alert_id <= MAX_ID else (None, None)
    require(alert is not None)
    identities = alert_identities(user, alert, access)
    record(
        "alert.view",
        "alert",
        alert.id,
        level=access,
        channel="api",
        **identities.audit,
        **alert_words.named_students(alert, identities),
    )
    return _alert_detail(alert, access, identities)


@bp.post("/alerts/<int:alert_id>/transitions")
def transition_alert(alert_id: int):
    """Move an alert through its lifecycle; a refusal says why, naming the field at fault."""
    user = _user()
    _require_alert_role(user)
    alert, access = find_alert(user, alert_id) if alert_id <= MAX_ID else (None, None)
    require(alert is not None)
    payload = _json_body(
        _("Se esperaba un objeto JSON con el cambio de estado de la alerta."),
        MAX_TRANSITION_BYTES,
    )
    asked = parse_transition(payload, utcnow())
    try:
        transition(
            user, alert, asked.to, reason=asked.reason, note=asked.note, review_at=asked.review_at
        )
    except AlertError as error:
        if error.status == 403:  # audited as a refusal, like every 403
            raise_forbidden(str(error.message))
        return error_response(error.status, [(error.field or None, str(error.message))])
    db.session.flush()
    location = url_for("api.get_alert", alert_id=alert.id)
    identities = alert_identities(user, alert, access)
    return _alert_detail(alert, access, identities), 201, {"Location": location}


# Routes kept in their own modules, registered on this blueprint when imported.
from salve.api import audit, department_risk  # noqa: E402, F401

# Open data (salve/opendata/api.py): a nested blueprint, public, under /api/v1/open.
from salve.opendata.api import bp as open_data_bp  # noqa: E402

bp.register_blueprint(open_data_bp)
