"""Incident pages: the report form, drafts, the school's reports, one report and its history."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from salve.audit.operations import record, record_read
from salve.auth import roles as R
from salve.auth.scope import FULL, Identities, incident_identities, require, roles_required
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents import closure, forms, presenting, queries
from salve.incidents.disclosure import fields_for, named_students
from salve.incidents.models import STATUSES, Incident
from salve.incidents.operations import (
    MAX_REASON,
    IncidentError,
    amend_incident,
    as_payload,
    close_unfounded,
    file_incident,
    find_students,
    reporting_school_ids,
    save_draft,
    validate_incident,
)
from salve.incidents.validation import MAX_NARRATIVE
from salve.pagination import page_number
from salve.schools import queries as school_queries
from salve.schools.models import School
from salve.web import csrf_token_merely_expired, on_csrf_expired, refuse_csrf, writes_on_read

bp = Blueprint("incidents", __name__, url_prefix="/incidentes")

REPORTERS = (R.DOCENTE, R.DIRECTOR)
#: Roles that list reports; what each sees is decided by ``salve.auth.scope``.
READERS = (R.DOCENTE, R.DIRECTOR, R.GESTOR, R.SUPERVISOR)


@bp.app_template_filter("tr")
def translate_label(label) -> str:
    """Return a catalog label in the interface language."""
    return presenting.text(label)


@bp.app_template_global()
def reports_awaiting_validation() -> int:
    """Return how many reports of the principal's schools await validation."""
    return queries.incident_list(current_user, status="reportado", per_page=1).total


# --- The report form ------------------------------------------------------------------------


def _reporting_schools() -> list[School]:
    school_ids = reporting_school_ids(current_user)
    if not school_ids:
        abort(403)
    return list(
        db.session.scalars(db.select(School).where(School.id.in_(school_ids)).order_by(School.name))
    )


def _chosen_school(schools: list[School], code: str) -> School:
    """Return the school the form names, or the user's first (the validator refuses others)."""
    return next((s for s in schools if s.code == code), schools[0])


def _typed_payload(schools: list[School]) -> dict:
    school = schools[0].code if len(schools) == 1 else request.form.get("school", "")[:5]
    return forms.payload_from_form(request.form, school=school)


def _render_report(
    template: str,
    payload: dict,
    schools: list[School],
    *,
    errors=(),
    rows: int = 0,
    status: int = 200,
    **context,
):
    school = _chosen_school(schools, payload.get("school", ""))
    students = find_students(school, forms.typed_nies(payload)) if forms.typed_nies(payload) else {}
    state = forms.form_state(payload, errors, rows=rows, students=students)
    page = render_template(
        template,
        form=state,
        catalog=current_catalog(),
        schools=schools,
        school=school,
        max_narrative=MAX_NARRATIVE,
        **context,
    )
    return page, status


def handle_expired_form(error):
    """Keep what was typed when the form's CSRF token expired: save a draft, show the form again.

    Wired by ``on_csrf_expired``; runs only for signed-in users. The answer is 200 so that the
    request's commit keeps the draft; the re-rendered form carries a fresh token. A token that
    is missing, forged or another session's is refused and nothing is kept: that is a post from
    another site, not a teacher who took too long.
    """
    if not csrf_token_merely_expired():
        return refuse_csrf(error)
    message = _(
        "Su sesión de formulario caducó; revisamos y guardamos lo escrito, vuelva a enviar."
    )
    if request.endpoint == "incidents.amend":
        incident = _principal_incident(request.view_args["incident_id"])
        payload = _amend_payload(incident)
        _record_view(incident, FULL, Identities(True), page="amend")
        return _render_report(
            "incidents/amend.html",
            payload,
            [incident.school],
            incident=incident,
            reason=request.form.get("reason", "")[: MAX_REASON + 1],
            notice=_("Su sesión de formulario caducó; revise lo escrito y vuelva a enviar."),
        )
    if not current_user.has_role(*REPORTERS) or not reporting_school_ids(current_user):
        return refuse_csrf(error)
    schools = _reporting_schools()
    payload = _typed_payload(schools)
    save_draft(current_user, payload)
    record("incident.draft_saved", "draft", payload["idempotency_key"][:16], reason="csrf_expired")
    return _render_report(
        "incidents/new.html",
        payload,
        schools,
        rows=forms.posted_party_rows(request.form),
        notice=message,
    )


@bp.route("/nuevo", methods=["GET", "POST"])
@roles_required(*REPORTERS)
@on_csrf_expired(handle_expired_form)
def new():
    """Show the report form, and file the report, save it as a draft, or add a party row."""
    schools = _reporting_schools()
    if request.method == "GET":
        key = request.args.get("borrador", "")
        if key:
            draft = queries.find_draft(current_user, key)
            require(draft is not None)
            payload = {**draft.data, "idempotency_key": draft.idempotency_key}
        else:
            payload = forms.empty_payload(schools[0].code)
        return _render_report("incidents/new.html", payload, schools, from_draft=bool(key))

    payload = _typed_payload(schools)
    action = request.form.get("action", "submit")
    if action == "add_party":
        rows = forms.posted_party_rows(request.form) + 1
        return _render_report("incidents/new.html", payload, schools, rows=rows, focus_row=rows - 1)
    if action == "save_draft":
        save_draft(current_user, payload)
        flash(_("Borrador guardado. Puede seguir escribiendo o retomarlo más tarde."), "success")
        return redirect(url_for(".new", borrador=payload["idempotency_key"]))
    try:
        incident, created = file_incident(current_user, payload, current_catalog(), channel="web")
    except IncidentError as refused:
        return _render_report(
            "incidents/new.html",
            payload,
            schools,
            errors=refused.errors,
            rows=forms.posted_party_rows(request.form),
            status=refused.status,
        )
    if created:
        flash(_("Reporte registrado con el número %(id)d.", id=incident.id), "success")
    else:
        flash(_("Este reporte ya estaba registrado; no se guardó dos veces."), "info")
    return redirect(url_for(".show", incident_id=incident.id))


@bp.route("/borradores")
@roles_required(*REPORTERS)
def drafts():
    """List the user's own drafts, newest first."""
    return render_template(
        "incidents/drafts.html",
        drafts=queries.drafts_of(current_user),
        catalog=current_catalog(),
        presenting=presenting,
    )


@bp.route("/estudiantes")
@roles_required(*REPORTERS)
@writes_on_read
def students():
    """Find students of the user's school by NIE or name, to type their NIE in a report; audited."""
    schools = _reporting_schools()
    code = request.args.get("escuela", "")
    require(not code or any(s.code == code for s in schools))
    school = _chosen_school(schools, code)
    search = request.args.get("q", "").strip()[:80]
    page = school_queries.student_roll(
        current_user, school, search=search, page=page_number(), per_page=20
    )
    record(
        "student_search.view",
        "school",
        school.code,
        shown=len(page.items),
        students=[student.id for student in page.items],
    )
    return render_template(
        "incidents/students.html", school=school, schools=schools, page=page, search=search
    )


# --- The school's reports ---------------------------------------------------------------------


def _local_day(value: str, *, next_day: bool = False) -> datetime | None:
    """Return local midnight of a ``YYYY-MM-DD`` filter (or of the next day) in UTC."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=LOCAL_TZ)


@bp.route("/")
@roles_required(*READERS)
def index():
    """List the reports the user may see, newest first, filtered by status, type and date."""
    catalog = current_catalog()
    status = request.args.get("estado", "")
    status = status if status in STATUSES else ""
    type_code = request.args.get("tipo", "")
    type_code = type_code if type_code in catalog.types else ""
    since_text, until_text = request.args.get("desde", ""), request.args.get("hasta", "")
    since, until = _local_day(since_text), _local_day(until_text, next_day=True)
    page = queries.incident_list(
        current_user,
        status=status,
        type_code=type_code,
        since=since,
        until=until,
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template(
        "incidents/index.html",
        page=page,
        catalog=catalog,
        status=status,
        type_code=type_code,
        since=since_text if since else "",
        until=until_text if until else "",
        statuses=STATUSES,
        show_school=not current_user.has_role(*REPORTERS)
        or len(reporting_school_ids(current_user)) > 1,
        is_reporter=current_user.has_role(*REPORTERS),
        presenting=presenting,
    )


# --- One report ---------------------------------------------------------------------------------


def _is_principal(incident: Incident) -> bool:
    return any(
        a.role == R.DIRECTOR and a.school_id == incident.school_id
        for a in current_user.role_assignments
    )


def _identities(incident: Incident, access: str) -> Identities:
    """Whether a summary names the report's students: only under a break-the-glass grant."""
    return incident_identities(current_user, incident, access)


def _record_view(incident: Incident, access: str, identities: Identities, **detail) -> None:
    """Record a read of the report, a refused form's too (``salve.web`` replays it)."""
    record_read(
        "incident.view",
        "incident",
        incident.id,
        level=access,
        **identities.audit,
        **named_students(incident, identities),
        **detail,
    )


def _render_show(incident: Incident, access: str, *, close_errors=(), status: int = 200):
    catalog = presenting.catalog_for(incident)
    full = access == FULL
    identities = _identities(incident, access)
    _record_view(incident, access, identities)
    return (
        render_template(
            "incidents/show.html",
            incident=incident,
            full=full,
            fields=fields_for(access),
            identities=identities,
            catalog=catalog,
            presenting=presenting,
            is_own=incident.reporter_id == current_user.id,
            is_principal=_is_principal(incident),
            needs_the_ministry=closure.needs_the_ministry(incident),
            closure_request=closure.pending_request(incident),
            may_decide_closure=closure.may_decide(current_user, incident),
            protocols=presenting.protocols_of(catalog, incident) if full else [],
            institutions=presenting.mandatory_reports(catalog, incident) if full else [],
            history=[(a, presenting.changes_of(catalog, a)) for a in incident.amendments]
            if full
            else [],
            close_errors=[e.message for e in close_errors],
            close_reason=request.form.get("reason", "") if close_errors else "",
        ),
        status,
    )


@bp.route("/<int:incident_id>")
@login_required
@writes_on_read
def show(incident_id: int):
    """Show a report as far as the user may see it (in full or in summary); audited."""
    incident, access = queries.find_incident(current_user, incident_id)
    require(incident is not None)
    return _render_show(incident, access)


def _principal_incident(incident_id: int) -> Incident:
    """Return the incident if the user may see it (else 404) and is its principal (else 403)."""
    incident, _access = queries.find_incident(current_user, incident_id)
    require(incident is not None)
    if not _is_principal(incident):
        abort(403)
    return incident


def _refused(refused: IncidentError, incident: Incident):
    if refused.status == 403:
        abort(403)
    flash(" ".join(e.message for e in refused.errors), "error")
    return redirect(url_for(".show", incident_id=incident.id))


@bp.route("/<int:incident_id>/validar", methods=["POST"])
@roles_required(R.DIRECTOR)
def validate(incident_id: int):
    """Validate a report, as the principal of its school."""
    incident = _principal_incident(incident_id)
    try:
        validate_incident(current_user, incident)
    except IncidentError as refused:
        return _refused(refused, incident)
    flash(_("Reporte validado."), "success")
    return redirect(url_for(".show", incident_id=incident.id))


@bp.route("/<int:incident_id>/infundado", methods=["POST"])
@roles_required(R.DIRECTOR)
def close(incident_id: int):
    """Close a report as unfounded, with a reason; the report itself is kept."""
    incident = _principal_incident(incident_id)
    try:
        closed = close_unfounded(
            current_user, incident, request.form.get("reason", "")[: MAX_REASON + 1]
        )
    except IncidentError as refused:
        if refused.status == 422:
            return _render_show(incident, FULL, close_errors=refused.errors, status=422)
        return _refused(refused, incident)
    if closed:
        flash(_("Reporte cerrado como infundado. Queda guardado con su historial."), "success")
    else:
        flash(
            _(
                "Solicitud enviada a la supervisión del Ministerio: este reporte nombra a un "
                "miembro del personal, y el cierre lo decide la supervisión."
            ),
            "success",
        )
    return redirect(url_for(".show", incident_id=incident.id))


@bp.route("/<int:incident_id>/infundado/decision", methods=["POST"])
@roles_required(R.SUPERVISOR)
def decide_closure(incident_id: int):
    """Approve or send back a principal's request to close a report naming staff as unfounded."""
    incident, access = queries.find_incident(current_user, incident_id)
    require(incident is not None)
    decision = request.form.get("decision", "")[:20]
    try:
        closure.decide(
            current_user, incident, decision, request.form.get("reason", "")[: MAX_REASON + 1]
        )
    except IncidentError as refused:
        if refused.status == 422:
            return _render_show(incident, access, close_errors=refused.errors, status=422)
        return _refused(refused, incident)
    if decision == closure.APPROVE:
        flash(_("Reporte cerrado como infundado. Queda guardado con su historial."), "success")
    else:
        flash(_("Solicitud devuelta: el reporte sigue abierto."), "success")
    return redirect(url_for(".show", incident_id=incident.id))


def _amend_payload(incident: Incident) -> dict:
    """Return the posted amendment; an unchanged date and time keep the stored instant."""
    stored = as_payload(incident)
    payload = forms.payload_from_form(request.form, school=incident.school.code)
    payload["idempotency_key"] = incident.idempotency_key
    if forms.occurred_parts(payload["occurred_at"]) == forms.occurred_parts(stored["occurred_at"]):
        payload["occurred_at"] = stored["occurred_at"]  # keep seconds the form does not show
    return payload


@bp.route("/<int:incident_id>/corregir", methods=["GET", "POST"])
@roles_required(R.DIRECTOR)
@on_csrf_expired(handle_expired_form)
@writes_on_read
def amend(incident_id: int):
    """Show a report's form filled in (audited), and save the correction with its reason."""
    incident = _principal_incident(incident_id)
    if incident.status == "infundado":
        flash(_("El reporte está cerrado como infundado; no se puede corregir."), "error")
        return redirect(url_for(".show", incident_id=incident.id))
    if request.method == "GET":
        # The form shows the whole report, the children's names included: a read of it.
        _record_view(incident, FULL, Identities(True), page="amend")
        return _render_report(
            "incidents/amend.html", as_payload(incident), [incident.school], incident=incident
        )
    payload = _amend_payload(incident)
    reason = request.form.get("reason", "")[: MAX_REASON + 1]
    # Shown again (a row added, or refused), the form is a read of the report like the GET.
    if request.form.get("action") == "add_party":
        _record_view(incident, FULL, Identities(True), page="amend")
        rows = forms.posted_party_rows(request.form) + 1
        return _render_report(
            "incidents/amend.html",
            payload,
            [incident.school],
            rows=rows,
            incident=incident,
            reason=reason,
            focus_row=rows - 1,
        )
    try:
        amendment = amend_incident(current_user, incident, payload, reason, current_catalog())
    except IncidentError as refused:
        if refused.status != 422:
            return _refused(refused, incident)
        _record_view(incident, FULL, Identities(True), page="amend")
        return _render_report(
            "incidents/amend.html",
            payload,
            [incident.school],
            errors=refused.errors,
            rows=forms.posted_party_rows(request.form),
            status=422,
            incident=incident,
            reason=reason,
        )
    if amendment is None:
        flash(_("No había cambios que guardar."), "info")
    else:
        flash(_("Corrección guardada en el historial del reporte."), "success")
    return redirect(url_for(".show", incident_id=incident.id))
