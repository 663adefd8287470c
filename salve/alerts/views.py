"""Alert pages: the handler's inbox, one alert explained with its timeline, and what to do now."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from salve.alerts import forms, presenting, queries
from salve.alerts.models import (
    ABIERTA,
    CLOSED,
    EN_ATENCION,
    EN_SEGUIMIENTO,
    LEVELS,
    STATUSES,
    Alert,
)
from salve.alerts.operations import (
    TRANSITIONS,
    AlertError,
    department_users,
    may_act,
    open_alert,
    reassign,
    transition,
)
from salve.alerts.policy import PolicyError, policy_in_force
from salve.audit.operations import record, record_read
from salve.auth import roles as R
from salve.auth.models import User
from salve.auth.scope import (
    FULL,
    Identities,
    alert_access,
    alert_identities,
    can_view_case,
    listed_alert_names_student,
    require,
    roles_required,
)
from salve.cases.models import Case
from salve.cases.operations import CaseError, open_case
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import local_date
from salve.pagination import page_number
from salve.scoring import presenting as risk_words
from salve.scoring.queries import rules_in_force
from salve.scoring.rules import RulesError, RuleSet
from salve.web import on_csrf_expired, writes_on_read

bp = Blueprint("alerts", __name__, url_prefix="/alertas")

#: Roles that read alerts; which ones, ``salve.auth.scope.alert_clause`` decides.
READERS = (R.GESTOR, R.SUPERVISOR, R.NACIONAL)
#: Roles that act on alerts; on which ones, ``salve.alerts.operations.may_act`` decides.
WORKERS = (R.GESTOR, R.SUPERVISOR)
#: The order in which the page offers the moves an alert's status allows.
MOVES = ("reconocida", "en_seguimiento", "resuelta", "descartada", "abierta")


@bp.app_template_filter("alert_ref")
def alert_ref(alert_id: int) -> str:
    """Return an alert's reference (``A-000042``)."""
    return presenting.alert_ref(alert_id)


@bp.app_template_filter("case_ref")
def case_ref(case_id: int) -> str:
    """Return a case's reference (``C-000042``)."""
    return presenting.case_ref(case_id)


@bp.app_template_global()
def alert_counts() -> dict[str, int]:
    """Return the signed-in user's open and overdue alerts, for home pages."""
    return queries.alert_counts(current_user)


def _rules() -> RuleSet | None:
    """Return the rules in force, or None when the file cannot be read (alerts still show)."""
    try:
        return rules_in_force()
    except RulesError:
        return None


def _policy():
    try:
        return policy_in_force()
    except PolicyError:
        return None


# --- The inbox ---------------------------------------------------------------------------------


@bp.route("/")
@roles_required(*READERS)
@writes_on_read
def index():
    """List the alerts the user may see, overdue first, filtered by level, status, school, rule."""
    rules = _rules()
    rule_choices = presenting.rule_choices(rules)
    level = request.args.get("nivel", "")
    level = level if level in LEVELS else ""
    status = request.args.get("estado", "")
    status = status if status in STATUSES or status == queries.ALL_FILTER else ""
    school_code = request.args.get("escuela", "").strip()[:5]
    school_code = school_code if school_code.isdigit() else ""
    rule_id = request.args.get("regla", "")
    rule_id = rule_id if rule_id in dict(rule_choices) else ""
    now = utcnow()
    page = queries.inbox(
        current_user,
        level=level,
        status=status,
        school_code=school_code,
        rule_id=rule_id,
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
        now=now,
    )
    students = queries.students_by_id(a.entity_id for a in page.items if a.entity_type == "student")
    rows = []
    for alert in page.items:
        access = alert_access(current_user, alert)
        rows.append(
            presenting.InboxRow(
                alert=alert,
                rule=presenting.rule_label(alert.rule_id, rules),
                entity=presenting.entity_of(alert, access, students),
                is_overdue=queries.is_overdue(alert, now),
            )
        )
    # The list names children for the handler: a read of their records, audited naming them.
    named = [
        row.alert.entity_id
        for row in rows
        if listed_alert_names_student(row.alert, alert_access(current_user, row.alert))
    ]
    record("alert.list", "alert", "", shown=len(rows), students=named)
    return render_template(
        "alerts/index.html",
        page=page,
        rows=rows,
        level=level,
        status=status,
        school_code=school_code,
        rule_id=rule_id,
        levels=LEVELS[::-1],
        statuses=STATUSES,
        rule_choices=rule_choices,
        presenting=presenting,
        is_filtered=bool(level or status or school_code or rule_id),
    )


# --- One alert -----------------------------------------------------------------------------------


def _is_supervisor_of(alert: Alert) -> bool:
    return any(
        a.role == R.SUPERVISOR and a.department_id == alert.department_id
        for a in current_user.role_assignments
    )


def available_actions(alert: Alert) -> list[str]:
    """Return what the signed-in user may do to ``alert`` now, in the order the page shows it."""
    if not may_act(current_user, alert):
        return []
    allowed = TRANSITIONS.get(alert.status, ())
    actions = [to for to in MOVES if to in allowed]
    if alert.status == EN_ATENCION:
        actions = [to for to in actions if to != "resuelta"]  # its case resolves it
    if EN_ATENCION in allowed:
        actions.insert(1 if "reconocida" in actions else 0, forms.OPEN_CASE)
    if alert.is_open and _is_supervisor_of(alert):
        actions.append(forms.REASSIGN)
    return actions


def _identities(alert: Alert, access: str) -> Identities:
    """Whether the page names the alert's student: in full, or under a break-the-glass grant."""
    return alert_identities(current_user, alert, access)


def _render_show(
    alert: Alert,
    access: str,
    *,
    form: forms.PostedForm | None = None,
    notice: str = "",
    status: int = 200,
):
    rules = _rules()
    policy = _policy()
    catalog = current_catalog()
    full = access == FULL
    identities = _identities(alert, access)
    # Every page showing the alert is a read of it, a refused form's too (salve.web replays it).
    record_read(
        "alert.view",
        "alert",
        alert.id,
        level=access,
        **identities.audit,
        **presenting.named_students(alert, identities),
    )
    now = utcnow()
    incidents = queries.evidence_incidents(alert)
    students = queries.students_by_id([alert.entity_id]) if alert.entity_type == "student" else {}
    user_ids = presenting.assigned_user_ids(alert)
    users = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    case = queries.case_of(alert)
    overdue_case_id = presenting.overdue_case_id(alert)
    overdue_case = db.session.get(Case, overdue_case_id) if overdue_case_id else None
    actions = available_actions(alert)
    return (
        render_template(
            "alerts/show.html",
            alert=alert,
            full=full,
            identities=identities,
            entity=presenting.entity_of(alert, FULL if identities.is_shown else access, students),
            student=students.get(alert.entity_id) if identities.is_shown else None,
            why=presenting.explain_alert(alert, rules, catalog, len(incidents)),
            incidents=risk_words.incident_rows(current_user, incidents),
            timeline=presenting.timeline(alert, policy, users, show_notes=full),
            is_overdue=queries.is_overdue(alert, now),
            case=case,
            may_see_case=case is not None and can_view_case(current_user, case),
            overdue_case=overdue_case
            if overdue_case and can_view_case(current_user, overdue_case)
            else None,
            actions=actions,
            dismiss_reasons=policy.dismiss_reasons if policy else (),
            dismiss_reason=presenting.dismiss_reason_label(policy, alert.dismiss_reason),
            handlers=department_users(alert.department_id, R.GESTOR)
            if forms.REASSIGN in actions
            else [],
            form=form or forms.PostedForm(""),
            notice=notice,
            tomorrow=(now.astimezone(forms.LOCAL_TZ).date() + timedelta(days=1)).isoformat(),
            presenting=presenting,
            risk_words=risk_words,
        ),
        status,
    )


@bp.route("/<int:alert_id>")
@roles_required(*READERS)
@writes_on_read
def show(alert_id: int):
    """Show an alert: why it was raised, the incidents behind it, its timeline; audited."""
    alert, access = queries.find_alert(current_user, alert_id)
    require(alert is not None)
    return _render_show(alert, access)


def _workable_alert(alert_id: int) -> tuple[Alert, str]:
    """Return the alert if the user may see it (else 404)."""
    alert, access = queries.find_alert(current_user, alert_id)
    require(alert is not None)
    return alert, access


def _refuse(alert: Alert, access: str, form: forms.PostedForm, error):
    """Show the page again with the refusal beside the field and what was typed kept."""
    if error.status == 403:
        abort(403)
    db.session.rollback()  # nothing half-done survives a refusal
    return _render_show(alert, access, form=forms.refused(form, error), status=error.status)


def _posted_form() -> forms.PostedForm:
    """Return the form the request posted, by the endpoint and its ``to``."""
    if request.endpoint == "alerts.reassign":
        return forms.posted(request.form, forms.REASSIGN, forms.REASSIGN_INPUTS)
    if request.endpoint == "alerts.open_case":
        return forms.posted(request.form, forms.OPEN_CASE, ())
    to = request.form.get("to", "")[:30]
    return forms.posted(request.form, to, forms.TRANSITION_INPUTS.get(to, ()))


def handle_expired_form(error):
    """Show the alert again with what was typed when the form's CSRF token expired."""
    if not current_user.has_role(*WORKERS):
        abort(403)
    alert, access = _workable_alert(request.view_args["alert_id"])
    return _render_show(
        alert,
        access,
        form=_posted_form(),
        notice=_("Su sesión de formulario caducó; revise lo escrito y vuelva a enviar."),
        status=400,
    )


_MOVED = {
    "reconocida": lambda alert: _(
        "Alerta reconocida. Ahora puede abrir un caso, dejarla en seguimiento o descartarla."
    ),
    "descartada": lambda alert: _("Alerta descartada."),
    "en_seguimiento": lambda alert: _(
        "Alerta en seguimiento; revísela el %(date)s.", date=local_date(alert.review_at, "long")
    ),
    "resuelta": lambda alert: _("Alerta resuelta."),
    "abierta": lambda alert: _("Alerta reabierta."),
}


@bp.route("/<int:alert_id>/transicion", methods=["POST"], endpoint="transition")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def move(alert_id: int):
    """Move an alert to the status posted in ``to``, with its reason, note or review date."""
    alert, access = _workable_alert(alert_id)
    form = _posted_form()
    to = form.action
    if to == ABIERTA and alert.status in CLOSED:
        twin = open_alert(alert.rule_id, alert.entity_type, alert.entity_id)
        if twin is not None and twin.id != alert.id:
            message = _(
                "Ya hay una alerta abierta por la misma regla: %(ref)s. Trabaje en esa.",
                ref=presenting.alert_ref(twin.id),
            )
            return _refuse(alert, access, form, AlertError(message, 409, "to"))
    review_at = forms.review_at(form.values.get("review_at", "")) if to == EN_SEGUIMIENTO else None
    try:
        transition(
            current_user,
            alert,
            to,
            reason=form.values.get("reason", ""),
            note=form.values.get("note", ""),
            review_at=review_at,
        )
    except AlertError as error:
        return _refuse(alert, access, form, error)
    flash(_MOVED[to](alert), "success")
    return redirect(url_for(".show", alert_id=alert.id))


@bp.route("/<int:alert_id>/caso", methods=["POST"], endpoint="open_case")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def open_case_for(alert_id: int):
    """Open a case for an acknowledged alert and go to it."""
    alert, access = _workable_alert(alert_id)
    existing = queries.case_of(alert)
    if existing is not None:
        flash(
            _(
                "Esta alerta ya se atiende en el caso %(ref)s.",
                ref=presenting.case_ref(existing.id),
            ),
            "info",
        )
        return redirect(url_for("cases.show", case_id=existing.id))
    form = _posted_form()
    try:
        case = open_case(current_user, alert, current_catalog())
    except CaseError as error:
        return _refuse(alert, access, form, error)
    flash(
        _(
            "Caso %(ref)s abierto. Registre aquí los pasos del protocolo, los seguimientos y las "
            "referencias.",
            ref=presenting.case_ref(case.id),
        ),
        "success",
    )
    return redirect(url_for("cases.show", case_id=case.id))


@bp.route("/<int:alert_id>/reasignar", methods=["POST"], endpoint="reassign")
@roles_required(*WORKERS)
@on_csrf_expired(handle_expired_form)
def reassign_to(alert_id: int):
    """Give an alert to another case handler of its department (supervisors only)."""
    alert, access = _workable_alert(alert_id)
    form = _posted_form()
    chosen = form.values.get("assignee", "")
    # isdigit() alone lets "²" through to int(), and a huge number overflows the id column.
    is_id = chosen.isascii() and chosen.isdigit() and len(chosen) < 10
    assignee = db.session.get(User, int(chosen)) if is_id else None
    try:
        if assignee is None:
            raise AlertError(
                _("Elija un gestor de casos activo del departamento de la alerta."),
                422,
                "assignee",
            )
        reassign(current_user, alert, assignee, form.values.get("note", ""))
    except AlertError as error:
        return _refuse(alert, access, form, error)
    flash(_("Alerta asignada a %(name)s.", name=presenting.user_name(assignee)), "success")
    return redirect(url_for(".show", alert_id=alert.id))
