"""Case pages: the handler's cases, and one case with its steps, follow-ups, referrals, closure."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from salve.alerts.forms import PostedForm, refused
from salve.alerts.models import CLOSED as CLOSED_ALERT
from salve.alerts.operations import open_alert
from salve.alerts.policy import PolicyError, policy_in_force
from salve.alerts.presenting import alert_ref, user_name
from salve.alerts.presenting import status_label as alert_status_label
from salve.alerts.queries import students_by_id
from salve.audit.operations import record, record_read
from salve.auth import roles as R
from salve.auth.models import User
from salve.auth.scope import alert_access, require, roles_required
from salve.cases import forms, presenting, queries
from salve.cases.models import CERRADO, STATUSES, Case, CaseStep, Referral
from salve.cases.operations import (
    CaseError,
    add_follow_up,
    approve_closure,
    closure_problems,
    complete_step,
    is_supervisor_of,
    may_work,
    refer,
    refuse_closure,
    reopen,
    request_closure,
    update_referral,
)
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.incidents import presenting as incident_words
from salve.incidents.models import Incident
from salve.pagination import page_number
from salve.schools.models import Student
from salve.web import on_csrf_expired, writes_on_read

bp = Blueprint("cases", __name__, url_prefix="/casos")

#: Roles that work cases; which ones, ``salve.auth.scope.case_clause`` decides.
WORKERS = (R.GESTOR, R.SUPERVISOR)


@bp.app_template_global()
def case_counts() -> dict[str, int]:
    """Return the signed-in user's cases being worked and awaiting closure, for home pages."""
    return queries.case_counts(current_user)


@bp.route("/")
@roles_required(*WORKERS)
@writes_on_read
def index():
    """List the cases the user may see, closure requests first, filtered by status."""
    status = request.args.get("estado", "")
    status = status if status in STATUSES or status == queries.ALL_FILTER else ""
    page = queries.case_list(
        current_user,
        status=status,
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    # The list names children for their handler: a read of their records, audited.
    named = [case.entity_id for case in page.items if case.entity_type == "student"]
    record("case.list", "case", "", shown=len(page.items), students=named)
    return render_template(
        "cases/index.html",
        page=page,
        status=status,
        statuses=STATUSES,
        next_due=queries.next_steps_due(c.id for c in page.items),
        students=students_by_id(c.entity_id for c in page.items if c.entity_type == "student"),
        now=utcnow(),
        presenting=presenting,
    )


# --- One case --------------------------------------------------------------------------------


def _case_incidents(case: Case) -> list[Incident]:
    """Return the incidents the case's protocol steps come from, oldest first."""
    ids = {step.incident_id for step in case.steps}
    for link in case.alerts:
        ids.update(e.incident_id for e in link.alert.evidence)
    if not ids:
        return []
    return list(
        db.session.scalars(
            db.select(Incident).where(Incident.id.in_(ids)).order_by(Incident.occurred_at)
        )
    )


def _mandatory_reports(incidents: list[Incident]) -> list[str]:
    """Return the institutions the incidents' types must be reported to, without repeats."""
    found: list[str] = []
    for incident in incidents:
        catalog = incident_words.catalog_for(incident)
        for label in incident_words.mandatory_reports(catalog, incident):
            if label not in found:
                found.append(label)
    return found


def _render_show(case: Case, *, form=None, notice: str = "", status: int = 200):
    catalog = current_catalog()
    now = utcnow()
    try:
        policy = policy_in_force()
    except PolicyError:
        policy = None
    student = db.session.get(Student, case.entity_id) if case.entity_type == "student" else None
    # Every page showing the case is a read of it, a refused form's too (salve.web replays it).
    record_read("case.view", "case", case.id, students=[student.id] if student else [])
    is_open = case.status != CERRADO
    incidents = _case_incidents(case)
    return (
        render_template(
            "cases/show.html",
            case=case,
            student=student,
            alerts=[(link.alert, alert_access(current_user, link.alert)) for link in case.alerts],
            steps=presenting.steps_of(case, catalog, now),
            institutions=[
                (code, incident_words.text(entry.label))
                for code, entry in catalog.institutions.items()
            ],
            mandatory=_mandatory_reports(incidents),
            may_work=may_work(current_user, case),
            is_supervisor=is_supervisor_of(current_user, case.department_id),
            problems=[str(p) for p in closure_problems(case)] if is_open and policy else [],
            needs_approval=policy.supervisor_approval if policy else True,
            closed_by=db.session.get(User, case.closed_by_id) if case.closed_by_id else None,
            timeline=presenting.timeline(case, catalog),
            catalog=catalog,
            form=form or PostedForm(""),
            notice=notice,
            forms=forms,
            presenting=presenting,
            user_name=user_name,
            alert_ref=alert_ref,
            alert_status_label=alert_status_label,
        ),
        status,
    )


@bp.route("/<int:case_id>")
@roles_required(*WORKERS)
@writes_on_read
def show(case_id: int):
    """Show a case: the child or school, its alerts, steps, follow-ups, referrals; audited."""
    case = queries.find_case(current_user, case_id)
    require(case is not None)
    return _render_show(case)


def _visible_case(case_id: int) -> Case:
    case = queries.find_case(current_user, case_id)
    require(case is not None)
    return case


def _action() -> str:
    """Return the name of the form the request posted."""
    endpoint = request.endpoint.rsplit(".", 1)[-1]
    if endpoint == "update_referral":
        return forms.referral_action(
            request.view_args["referral_id"], request.form.get("to", "")[:20]
        )
    if endpoint == "complete_step":
        return forms.step_action(request.view_args["step_id"])
    return {
        "add_follow_up": forms.FOLLOW_UP,
        "refer": forms.REFER,
        "request_closure": forms.CLOSURE,
        "approve_closure": forms.APPROVE,
        "refuse_closure": forms.REFUSE,
        "reopen": forms.REOPEN,
    }.get(endpoint, "")


def _posted():
    return forms.posted_case_form(request.form, _action())


def _refuse(case: Case, form, error: CaseError):
    """Show the case again with the refusal beside the field and what was typed kept."""
    if error.status == 403:
        abort(403)
    db.session.rollback()  # nothing half-done survives a refusal
    return _render_show(case, form=refused(form, error), status=error.status)


def _done(case: Case, message: str, anchor: str):
    flash(message, "success")
    return redirect(url_for(".show", case_id=case.id, _anchor=anchor))


def handle_expired_form(error):
    """Show the case again with what was typed when the form's CSRF token expired."""
    if not current_user.has_role(*WORKERS):
        abort(403)
    case = _visible_case(request.view_args["case_id"])
    return _render_show(
        case,
        form=_posted(),
        notice=_("Su sesión de formulario caducó; revise lo escrito y vuelva a enviar."),
        status=400,
    )


@bp.route("/<int:case_id>/seguimientos", methods=["POST"], endpoint="add_follow_up")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def add_follow_up_to(case_id: int):
    """Note a follow-up: a contact with the child, the family or the school."""
    case = _visible_case(case_id)
    form = _posted()
    try:
        add_follow_up(current_user, case, form.values["note"])
    except CaseError as error:
        return _refuse(case, form, error)
    return _done(case, _("Seguimiento registrado."), "seguimientos")


@bp.route("/<int:case_id>/referencias", methods=["POST"], endpoint="refer")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def refer_to(case_id: int):
    """Refer the case to an institution of the catalog."""
    case = _visible_case(case_id)
    form = _posted()
    catalog = current_catalog()
    institution = form.values["institution"][:20]
    try:
        refer(
            current_user,
            case,
            institution,
            catalog,
            note=form.values["note"],
            reference=form.values["reference"],
        )
    except CaseError as error:
        return _refuse(case, form, error)
    label = presenting.institution_label(catalog, institution)
    return _done(case, _("Caso referido a %(institution)s.", institution=label), "referencias")


@bp.route(
    "/<int:case_id>/referencias/<int:referral_id>", methods=["POST"], endpoint="update_referral"
)
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def update_referral_of(case_id: int, referral_id: int):
    """Record an institution's answer to a referral (``to``), or revoke it."""
    case = _visible_case(case_id)
    referral = db.session.get(Referral, referral_id)
    require(referral is not None and referral.case_id == case.id)
    form = _posted()
    to = request.form.get("to", "")[:20]
    try:
        update_referral(current_user, referral, to, form.values["reason"], form.values["reference"])
    except CaseError as error:
        return _refuse(case, form, error)
    message = _(
        "Referencia a %(institution)s: %(status)s.",
        institution=presenting.institution_label(current_catalog(), referral.institution),
        status=presenting.referral_status_label(to).lower(),
    )
    return _done(case, message, "referencias")


@bp.route("/<int:case_id>/pasos/<int:step_id>", methods=["POST"], endpoint="complete_step")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def complete_step_of(case_id: int, step_id: int):
    """Mark a protocol step done, with a note."""
    case = _visible_case(case_id)
    step = db.session.get(CaseStep, step_id)
    require(step is not None and step.case_id == case.id)
    form = _posted()
    try:
        complete_step(current_user, step, form.values["note"])
    except CaseError as error:
        return _refuse(case, form, error)
    return _done(case, _("Paso marcado como hecho."), "pasos")


@bp.route("/<int:case_id>/cierre", methods=["POST"], endpoint="request_closure")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def ask_closure(case_id: int):
    """Ask to close the case with a summary (or close it, when no approval is required)."""
    case = _visible_case(case_id)
    form = _posted()
    try:
        request_closure(current_user, case, form.values["summary"])
    except CaseError as error:
        return _refuse(case, form, error)
    if case.status == CERRADO:
        return _done(case, _("Caso cerrado."), "cierre")
    return _done(
        case, _("Cierre solicitado. La supervisión del departamento lo revisará."), "cierre"
    )


@bp.route("/<int:case_id>/cierre/aprobar", methods=["POST"], endpoint="approve_closure")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def approve(case_id: int):
    """Approve the requested closure (the department's supervisors); its alerts are resolved."""
    case = _visible_case(case_id)
    form = _posted()
    try:
        approve_closure(current_user, case)
    except CaseError as error:
        return _refuse(case, form, error)
    return _done(case, _("Cierre aprobado. El caso y sus alertas quedan cerrados."), "cierre")


@bp.route("/<int:case_id>/cierre/devolver", methods=["POST"], endpoint="refuse_closure")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def send_back(case_id: int):
    """Send the case back to its handler without closing it, saying what is missing."""
    case = _visible_case(case_id)
    form = _posted()
    try:
        refuse_closure(current_user, case, form.values["reason"])
    except CaseError as error:
        return _refuse(case, form, error)
    return _done(case, _("Caso devuelto a la persona a cargo, sin cerrar."), "cierre")


def _refuse_twin_alerts(case: Case) -> None:
    """Refuse to reopen a case whose closed alert has been raised again since (a new alert).

    Reopening would put the old alert back beside the new one, which the database refuses.
    """
    for link in case.alerts:
        alert = link.alert
        if alert.status in CLOSED_ALERT:
            twin = open_alert(alert.rule_id, alert.entity_type, alert.entity_id)
            if twin is not None and twin.id != alert.id:
                raise CaseError(
                    _(
                        "La situación ya tiene una alerta nueva, %(ref)s: atiéndala con un caso "
                        "nuevo en lugar de reabrir este.",
                        ref=alert_ref(twin.id),
                    ),
                    409,
                )


@bp.route("/<int:case_id>/reabrir", methods=["POST"], endpoint="reopen")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def reopen_case(case_id: int):
    """Reopen a closed case, saying why; its alerts go back into care."""
    case = _visible_case(case_id)
    form = _posted()
    try:
        _refuse_twin_alerts(case)
        reopen(current_user, case, form.values["reason"])
    except CaseError as error:
        return _refuse(case, form, error)
    return _done(case, _("Caso reabierto."), "cierre")
