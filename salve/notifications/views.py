"""The in-app inbox: each user's notices, newest first, marked read one by one or all at once."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from salve.auth.scope import require
from salve.db import utcnow
from salve.extensions import db
from salve.notifications.messages import is_internal_path, summary
from salve.notifications.models import InboxMessage
from salve.notifications.operations import unread_count
from salve.pagination import page_number, paginate

bp = Blueprint("notifications", __name__)

#: The ``estado`` filter value that lists unread notices only.
UNREAD = "sin_leer"


@bp.app_template_global()
def unread_notices() -> int:
    """Return how many notices the signed-in user has not read (the navigation's badge)."""
    if not current_user.is_authenticated:
        return 0
    return unread_count(current_user.id)


@bp.route("/avisos")
@login_required
def index():
    """List the current user's notices, newest first; unread ones stand out."""
    only_unread = request.args.get("estado") == UNREAD
    query = sa.select(InboxMessage).where(InboxMessage.user_id == current_user.id)
    if only_unread:
        query = query.where(InboxMessage.read_at.is_(None))
    query = query.order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc())
    page = paginate(query, page_number(), current_app.config["PAGE_SIZE"])
    return render_template(
        "notifications/index.html",
        page=page,
        only_unread=only_unread,
        unread=unread_count(current_user.id),
        summary=summary,
        link_of=lambda notice: notice.link if is_internal_path(notice.link) else "",
    )


@bp.route("/avisos/<int:notice_id>/leido", methods=["POST"])
@login_required
def mark_read(notice_id: int):
    """Mark one of the current user's notices read; another user's is not found."""
    notice = db.session.scalar(
        sa.select(InboxMessage).where(
            InboxMessage.id == notice_id, InboxMessage.user_id == current_user.id
        )
    )
    require(notice is not None)
    if notice.read_at is None:
        notice.read_at = utcnow()
    return redirect(_back_to_list())


@bp.route("/avisos/leer-todos", methods=["POST"])
@login_required
def read_all():
    """Mark every unread notice of the current user read."""
    db.session.execute(
        sa.update(InboxMessage)
        .where(InboxMessage.user_id == current_user.id, InboxMessage.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return redirect(_back_to_list())


def _back_to_list() -> str:
    """The page of the list the form was posted from (its filter and page number)."""
    params = {}
    if request.form.get("estado") == UNREAD:
        params["estado"] = UNREAD
    page = request.form.get("pagina", "")
    if page.isascii() and page.isdigit() and 1 < int(page) < 10**6:  # "²".isdigit() is True
        params["pagina"] = int(page)
    return url_for("notifications.index", **params)
