"""Administration: accounts and the audit log."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import orm
from wtforms.fields.choices import SelectChoice

from salve.admin.forms import UserForm
from salve.audit.models import AuditEvent
from salve.auth import operations
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.auth.scope import require, roles_required
from salve.extensions import db
from salve.geography.models import Department
from salve.i18n import LOCAL_TZ
from salve.pagination import page_number, paginate

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


@bp.route("/usuarios/nuevo", methods=["GET", "POST"])
@roles_required(R.ADMIN)
def new_user():
    """Create an account."""
    form = UserForm()
    form.department_code.choices = [SelectChoice("", "—")] + [
        SelectChoice(d.code, f"{d.code} {d.name}")
        for d in db.session.scalars(sa.select(Department).order_by(Department.code))
    ]
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
    current_page = page_number()
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    )
    rows = db.session.execute(query.limit(per_page).offset((current_page - 1) * per_page)).all()
    return render_template(
        "admin/audit.html", rows=rows, total=total, page_number=current_page,
        pages=max(1, -(-total // per_page)), filters=filters,
    )  # fmt: skip
