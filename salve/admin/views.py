"""Administration: accounts and the audit log."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import orm
from wtforms.fields.choices import SelectChoice

from salve.admin.forms import RoleForm, UserForm
from salve.audit.models import AuditEvent
from salve.auth import operations, second_factor
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.auth.reauth import recent_auth_required
from salve.auth.scope import require, roles_required
from salve.extensions import db
from salve.geography.models import Department
from salve.i18n import LOCAL_TZ
from salve.pagination import page_number, paginate
from salve.web import on_csrf_expired

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/usuarios")
@roles_required(R.ADMIN)
def users():
    """List accounts, searchable by username or name."""
    search = request.args.get("q", "").strip()
    query = (
        sa.select(User)
        .options(
            orm.selectinload(User.role_assignments).joinedload(RoleAssignment.school),
            orm.selectinload(User.role_assignments).joinedload(RoleAssignment.department),
        )
        .order_by(User.username)
    )
    if search:
        pattern = f"%{search[:64]}%"
        query = query.where(sa.or_(User.username.ilike(pattern), User.display_name.ilike(pattern)))
    page = paginate(query, page_number(), current_app.config["PAGE_SIZE"])
    return render_template("admin/users.html", page=page, search=search, role_labels=R.ROLE_LABELS)


def _department_choices() -> list[SelectChoice]:
    return [SelectChoice("", "—")] + [
        SelectChoice(d.code, f"{d.code} {d.name}")
        for d in db.session.scalars(sa.select(Department).order_by(Department.code))
    ]


def _expired_new_user(error):
    """Show the account form again with what was typed (never the password) after a stale token."""
    if not current_user.has_role(R.ADMIN):
        abort(403)
    form = UserForm(meta={"csrf": False})
    form.department_code.choices = _department_choices()
    form.password.data = ""
    flash(_("Su sesión de formulario caducó; revise lo escrito y vuelva a enviar."), "error")
    return render_template("admin/new_user.html", form=form), 400


def _expired_add_role(error):
    """Show the account page again with the role form as it was typed after a stale token."""
    if not current_user.has_role(R.ADMIN):
        abort(403)
    user = _user_or_404(request.view_args["user_id"])
    form = RoleForm(meta={"csrf": False})
    form.department_code.choices = _department_choices()
    flash(_("Su sesión de formulario caducó; revise lo escrito y vuelva a enviar."), "error")
    return render_template(
        "admin/user.html",
        user=user,
        form=form,
        role_labels=R.ROLE_LABELS,
        recovery_left=second_factor.remaining_recovery_codes(user),
    ), 400


@bp.route("/usuarios/nuevo", methods=["GET", "POST"])
@on_csrf_expired(_expired_new_user)
@roles_required(R.ADMIN)
@recent_auth_required
def new_user():
    """Create an account (granting a role: a fresh confirmation of the password first)."""
    form = UserForm()
    form.department_code.choices = _department_choices()
    if form.validate_on_submit():
        try:
            user = operations.create_user(
                form.username.data,
                form.password.data,
                form.role.data,
                school_code=form.school_code.data or None,
                department_code=form.department_code.data or None,
                display_name=form.display_name.data or "",
                email=form.email.data or "",
            )
        except operations.AccountError as error:
            flash(str(error), "error")
        else:
            flash(_("Usuario «%(name)s» creado.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    form.password.data = ""
    return render_template("admin/new_user.html", form=form)


@bp.route("/usuarios/<int:user_id>/estado", methods=["POST"])
@roles_required(R.ADMIN)
@recent_auth_required
def set_user_enabled(user_id: int):
    """Enable or disable an account; disabling ends its sessions at once."""
    user = db.session.get(User, user_id)
    require(user is not None)
    enable = request.form.get("enabled") == "1"
    if user.id == current_user.id and not enable:
        flash(_("No puede desactivar su propia cuenta."), "error")
    else:
        operations.set_enabled(user, enable)
        message = (
            _("Cuenta activada.") if enable else _("Cuenta desactivada; sus sesiones se cerraron.")
        )
        flash(message, "success")
    return redirect(url_for("admin.users"))


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    require(user is not None)
    return user


@bp.route("/usuarios/<int:user_id>")
@roles_required(R.ADMIN)
def user_detail(user_id: int):
    """One account: its roles, its second factor, and the forms to change them."""
    user = _user_or_404(user_id)
    form = RoleForm()
    form.department_code.choices = _department_choices()
    return render_template(
        "admin/user.html",
        user=user,
        form=form,
        role_labels=R.ROLE_LABELS,
        recovery_left=second_factor.remaining_recovery_codes(user),
    )


@bp.route("/usuarios/<int:user_id>/roles", methods=["POST"])
@on_csrf_expired(_expired_add_role)
@roles_required(R.ADMIN)
@recent_auth_required
def add_role(user_id: int):
    """Grant another role; the account's sessions end so the new scope applies at once."""
    user = _user_or_404(user_id)
    form = RoleForm()
    form.department_code.choices = _department_choices()
    if form.validate_on_submit():
        try:
            operations.add_role(
                user,
                form.role.data,
                school_code=form.school_code.data or None,
                department_code=form.department_code.data or None,
            )
        except operations.AccountError as error:
            form.role.errors = [*form.role.errors, str(error)]
        else:
            flash(_("Rol agregado. Las sesiones abiertas de la cuenta se cerraron."), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_template(
        "admin/user.html",
        user=user,
        form=form,
        role_labels=R.ROLE_LABELS,
        recovery_left=second_factor.remaining_recovery_codes(user),
    ), 422


@bp.route("/usuarios/<int:user_id>/roles/<int:assignment_id>/quitar", methods=["POST"])
@roles_required(R.ADMIN)
@recent_auth_required
def remove_role(user_id: int, assignment_id: int):
    """Take a role away; the account's sessions end."""
    user = _user_or_404(user_id)
    try:
        operations.remove_role(user, assignment_id, acting_user_id=current_user.id)
    except operations.AccountError as error:
        flash(str(error), "error")
    else:
        flash(_("Rol quitado. Las sesiones abiertas de la cuenta se cerraron."), "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


@bp.route("/usuarios/<int:user_id>/segundo-factor/restablecer", methods=["POST"])
@roles_required(R.ADMIN)
@recent_auth_required
def reset_second_factor(user_id: int):
    """Forget an account's authenticator (a lost phone); it enrols again at its next sign-in."""
    user = _user_or_404(user_id)
    if user.id == current_user.id:
        flash(_("No puede restablecer su propio segundo factor; pídalo a otro administrador."),
              "error")  # fmt: skip
    else:
        second_factor.reset(user)
        flash(_("Segundo factor restablecido: la persona lo activará de nuevo al ingresar."),
              "success")  # fmt: skip
    return redirect(url_for("admin.user_detail", user_id=user.id))


def _parse_day(value: str) -> datetime | None:
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(), LOCAL_TZ)
    except ValueError:
        return None


@bp.route("/auditoria")
@roles_required(R.ADMIN)
def audit():
    """Browse the audit log, filtered by user, action, record and dates."""
    filters = {
        key: request.args.get(key, "").strip()
        for key in ("usuario", "accion", "objeto", "desde", "hasta")
    }
    query = sa.select(AuditEvent, User.username).outerjoin(User, User.id == AuditEvent.user_id)
    if filters["usuario"]:
        query = query.where(User.username == filters["usuario"].lower())
    if filters["accion"]:
        query = query.where(AuditEvent.action.like(f"{filters['accion'][:60]}%"))
    if filters["objeto"]:
        query = query.where(AuditEvent.object_id == filters["objeto"][:64])
    start = _parse_day(filters["desde"])
    if start:
        query = query.where(AuditEvent.occurred_at >= start)
    end = _parse_day(filters["hasta"])
    if end:
        query = query.where(AuditEvent.occurred_at < end + timedelta(days=1))
    query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    per_page = current_app.config["PAGE_SIZE"]
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    # Past the last page is the last page: a huge ?pagina= overflowed the OFFSET (a 500).
    current_page = min(page_number(), max(1, -(-total // per_page)))
    rows = db.session.execute(query.limit(per_page).offset((current_page - 1) * per_page)).all()
    return render_template(
        "admin/audit.html", rows=rows, total=total, page_number=current_page,
        pages=max(1, -(-total // per_page)), filters=filters,
    )  # fmt: skip
