"""Write to the audit log."""

from __future__ import annotations

from flask import g, has_request_context, request
from flask_login import current_user

from salve.audit.models import AuditEvent
from salve.db import set_write_intent, utcnow
from salve.extensions import db


def _request_facts() -> tuple[int | None, str]:
    if not has_request_context():
        return None, ""
    user_id = current_user.id if current_user and current_user.is_authenticated else None
    return user_id, (request.remote_addr or "")[:45]


def record(
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    *,
    outcome: str = "ok",
    user_id: int | None = None,
    **detail,
) -> AuditEvent:
    """Add an audit event to the current transaction; it commits with the work it describes."""
    request_user_id, ip_address = _request_facts()
    event = AuditEvent(
        occurred_at=utcnow(),
        user_id=user_id if user_id is not None else request_user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        ip_address=ip_address,
        detail=detail,
    )
    db.session.add(event)
    return event


def record_now(
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    *,
    outcome: str = "ok",
    user_id: int | None = None,
    **detail,
) -> None:
    """Abandon the request's pending work, then store an audit event and commit it.

    For refusals and failed sign-ins: whatever the request had begun is not kept, the fact is.
    """
    db.session.rollback()
    if has_request_context():
        g.pop("audit_reads", None)  # rolled back with the rest: what was refused was not shown
    set_write_intent(True)
    record(action, object_type, object_id, outcome=outcome, user_id=user_id, **detail)
    db.session.commit()


def record_read(
    action: str, object_type: str = "", object_id: str | int = "", **detail
) -> AuditEvent:
    """Record that the answer shows a child's record; kept even when the answer is a refusal.

    A form refused with 4xx shows the record again while the request's work is rolled back
    (``salve.web``): ``replay_reads`` then stores the read on its own.
    """
    if has_request_context():
        g.setdefault("audit_reads", []).append((action, object_type, object_id, detail))
    return record(action, object_type, object_id, **detail)


def replay_reads(status: int) -> bool:
    """After a rollback, record again the reads the refused answer still shows; say if any."""
    reads = g.pop("audit_reads", None) if has_request_context() else None
    if not reads:
        return False
    set_write_intent(True)
    for action, object_type, object_id, detail in reads:
        record(action, object_type, object_id, **{**detail, "status": status})
    return True
