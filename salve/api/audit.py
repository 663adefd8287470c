"""The API's audit log: ``GET /api/v1/audit``, for administrators only, itself audited.

A route of the ``api`` blueprint (salve/api/views.py). It answers with the audit rows as they
are stored, and the username of each row's account; nothing is looked up about the records the
rows name. Filters as in the page ``admin.audit``: user, action (prefix), record, dates.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import request
from flask_babel import gettext as _

from salve.api.errors import ApiError
from salve.api.views import _page_json, _paging, _user, bp, raise_forbidden
from salve.audit.models import AuditEvent
from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.models import User
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.pagination import paginate
from salve.web import writes_on_read

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Text filters and the longest value each may have (the column's size).
TEXT_FILTERS = {"user": 64, "object_type": 40, "object_id": 64, "action": 60}


def _text(name: str) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > TEXT_FILTERS[name]:
        raise ApiError(
            400, [(name, _("Demasiado largo: a lo sumo %(n)d caracteres.", n=TEXT_FILTERS[name]))]
        )
    return value


def _day(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        if not DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, [(name, _("Use una fecha AAAA-MM-DD."))]) from None


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_TZ)


def _filtered(asked: dict) -> sa.Select:
    query = sa.select(AuditEvent)
    if asked["user"]:
        user_id = sa.select(User.id).where(User.username == asked["user"].lower())
        query = query.where(AuditEvent.user_id == user_id.scalar_subquery())
    if asked["object_type"]:
        query = query.where(AuditEvent.object_type == asked["object_type"])
    if asked["object_id"]:
        query = query.where(AuditEvent.object_id == asked["object_id"])
    if asked["action"]:
        query = query.where(AuditEvent.action.startswith(asked["action"], autoescape=True))
    if asked["from"]:
        query = query.where(AuditEvent.occurred_at >= _local_midnight(asked["from"]))
    if asked["to"]:
        end = _local_midnight(asked["to"] + timedelta(days=1))
        query = query.where(AuditEvent.occurred_at < end)
    return query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())


def event_json(event: AuditEvent, username: str | None) -> dict:
    """Return an audit row as stored, with its account's username."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at.isoformat(),
        "user_id": event.user_id,
        "username": username,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "ip_address": event.ip_address,
        "detail": event.detail or {},
    }


@bp.get("/audit")
@writes_on_read
def audit_events():
    """The audit log, newest first, filtered: administrators only. Reading it is audited."""
    user = _user()
    # Refused by role before any lookup.
    if not user.has_role(R.ADMIN):
        raise_forbidden(_("Solo la administración del sistema consulta el registro de auditoría."))
    asked = {name: _text(name) for name in TEXT_FILTERS}
    asked["from"], asked["to"] = _day("from"), _day("to")
    if asked["from"] and asked["to"] and asked["from"] > asked["to"]:
        raise ApiError(400, [("from", _("La fecha inicial es posterior a la final."))])
    page_number, per_page = _paging()
    page = paginate(_filtered(asked), page_number, per_page)
    user_ids = {event.user_id for event in page.items if event.user_id is not None}
    usernames = dict(
        db.session.execute(sa.select(User.id, User.username).where(User.id.in_(user_ids))).all()
        if user_ids
        else []
    )
    items = [event_json(event, usernames.get(event.user_id)) for event in page.items]
    record(
        "audit.list",
        "audit",
        "",
        channel="api",
        filters={name: str(value) for name, value in asked.items() if value},
        page=page.page,
        shown=len(items),
        total=page.total,
    )
    return _page_json(page, items)
