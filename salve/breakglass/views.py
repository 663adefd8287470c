"""Break-the-glass pages: ask to see a school's students by name, end it; the supervision's list."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.scope import (
    BREAK_GLASS_ROLES,
    can_view_student_identities,
    may_break_glass,
    require,
    roles_required,
)
from salve.breakglass import forms, queries
from salve.breakglass.models import REASONS, BreakGlassGrant
from salve.breakglass.operations import BreakGlassError, duration, end_grant, grant_access
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import local_datetime
from salve.notifications.messages import is_internal_path
from salve.pagination import page_number
from salve.schools.models import School
from salve.web import on_csrf_expired, writes_on_read

bp = Blueprint("breakglass", __name__, url_prefix="/vidrio")

#: Who reads the list of grants: the department's supervisors, and the national level (all).
OVERSEERS = (R.SUPERVISOR, R.NACIONAL)


def _next_url(value: str | None) -> str:
    """Return ``value`` if it is a path inside SALVE, else the home page."""
    return (
        value if value and is_internal_path(value) and len(value) <= 300 else url_for("main.home")
    )


def _record(value: str) -> tuple[str, int | None]:
    """Parse ``kind:id`` (where the request came from); anything else is ("", None)."""
    kind, _sep, number = (value or "").partition(":")
    # ASCII digits only ("²".isdigit() is True but int() refuses it), and within the 32-bit
    # integer column: a longer number overflowed it on PostgreSQL (a 500).
    is_id = number.isascii() and number.isdigit() and len(number) < 10
    if kind in ("student", "alert", "incident") and is_id:
        return kind, int(number)
    return "", None


def _school(code: str) -> School:
    """Return the school of ``code`` if the user may break the glass there (else 404)."""
    school = db.session.scalar(sa.select(School).where(School.code == code[:5]))
    require(school is not None and may_break_glass(current_user, school))
    return school


def handle_expired_form(error):
    """Show the request again with what was typed when the form's CSRF token expired."""
    if not current_user.has_role(*BREAK_GLASS_ROLES):
        abort(403)
    school = _school(request.view_args["code"])
    form = forms.BreakGlassForm(meta={"csrf": False})
    return _render(
        form,
        school,
        notice=_("Su sesión de formulario caducó; revise lo escrito y vuelva a enviar."),
        status=400,
    )


@bp.route("/escuelas/<code>", methods=["GET", "POST"])
@roles_required(*sorted(BREAK_GLASS_ROLES))
@on_csrf_expired(handle_expired_form)
def request_access(code: str):
    """Ask to see a school's students by name for a few hours, with a reason; granted at once."""
    school = _school(code)
    form = forms.BreakGlassForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        form.registro.data = request.args.get("registro", "")
    back = _next_url(form.next.data)
    if can_view_student_identities(current_user, school):
        return redirect(back)  # names are theirs to see already
    live = queries.live_grant(current_user.id, school.id)
    if live is not None:
        flash(
            _(
                "Ya tiene acceso excepcional a este centro hasta las %(time)s.",
                time=local_datetime(live.expires_at, "HH:mm"),
            ),
            "info",
        )
        return redirect(back)
    if form.validate_on_submit():
        record_type, record_id = _record(form.registro.data)
        try:
            grant = grant_access(
                current_user,
                school,
                form.reason_category.data,
                form.reason_text.data,
                record_type=record_type,
                record_id=record_id,
            )
        except BreakGlassError as error:
            if error.status == 403:
                require(False)
            getattr(form, error.field, form.reason_text).errors.append(error.message)
        else:
            flash(
                _(
                    "Acceso excepcional concedido hasta las %(time)s. Su motivo quedó registrado "
                    "y se avisó a la supervisión.",
                    time=local_datetime(grant.expires_at, "HH:mm"),
                ),
                "success",
            )
            return redirect(back)
    return _render(form, school, status=422 if form.errors else 200)


def _render(form: forms.BreakGlassForm, school: School, *, notice: str = "", status: int = 200):
    return render_template(
        "breakglass/request.html",
        form=form,
        school=school,
        back=_next_url(form.next.data),
        hours=f"{duration().total_seconds() / 3600:g}",
        notice=notice,
    ), status


@bp.route("/<int:grant_id>/terminar", methods=["POST"])
@roles_required(*sorted(BREAK_GLASS_ROLES))
def end(grant_id: int):
    """End one's own grant now: the names are hidden again."""
    grant = db.session.get(BreakGlassGrant, grant_id)
    require(grant is not None and grant.user_id == current_user.id)
    if end_grant(current_user, grant):
        flash(_("Acceso excepcional terminado. Los nombres vuelven a estar reservados."), "success")
    return redirect(_next_url(request.form.get("next")))


@bp.route("/")
@roles_required(*OVERSEERS)
@writes_on_read
def index():
    """List the recent grants of the supervisor's departments (every one for the nation)."""
    departments = None
    if not current_user.has_role(R.NACIONAL):
        departments = frozenset(
            a.department_id
            for a in current_user.role_assignments
            if a.role == R.SUPERVISOR and a.department_id
        )
    page = queries.recent_grants(
        departments, page=page_number(), per_page=current_app.config["PAGE_SIZE"]
    )
    record("breakglass.list", "grant", "", shown=len(page.items))
    return render_template(
        "breakglass/index.html",
        page=page,
        now=utcnow(),
        reasons=REASONS,
        recent_days=queries.RECENT_DAYS,
    )
