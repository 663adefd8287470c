"""Queue notifications: one in-app notice and one email per recipient, each at most once.

``notify`` only writes rows, in the caller's transaction: the in-app notice at once, the email
into the outbox for the ``send_mail`` job. Payloads carry references (alert id, level, rule,
school code), never a child's name or a narrative. The person who acted is never notified of
their own action.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from salve.auth.models import User
from salve.extensions import db
from salve.notifications.models import InboxMessage, OutboxMessage

#: Keys a payload may carry: references only (checked, so a name cannot slip in).
PAYLOAD_KEYS = frozenset(
    {"alert_id", "case_id", "level", "rule", "school_code", "status", "step", "count", "due_at",
     "escalation", "entity_type", "alerts", "date", "incident_id"}
)  # fmt: skip


def _insert_ignoring_duplicates(model, rows: list[dict]) -> None:
    """Insert ``rows``; a row whose ``key`` exists already is skipped (a rerun adds nothing)."""
    if not rows:
        return
    keys = [row["key"] for row in rows]
    taken = set(db.session.scalars(sa.select(model.key).where(model.key.in_(keys))))
    fresh = [row for row in rows if row["key"] not in taken]
    if fresh:
        db.session.execute(sa.insert(model), fresh)


def notify(
    recipients: Iterable[User],
    kind: str,
    key: str,
    payload: dict,
    link: str,
    *,
    actor_id: int | None = None,
    email: bool = True,
) -> int:
    """Queue ``kind`` for each recipient (in-app, and by email when ``email`` and they have one).

    ``key`` names the event (e.g. ``alert:42:raised``); with the channel and the recipient it
    makes each row's unique key. Return how many recipients were notified.
    """
    unknown = set(payload) - PAYLOAD_KEYS
    if unknown:
        raise ValueError(f"payload keys not allowed in a notification: {sorted(unknown)}")
    people = {user.id: user for user in recipients if user.is_enabled and user.id != actor_id}
    inbox = [
        {"key": f"{key}:inbox:{uid}", "user_id": uid, "kind": kind, "payload": payload,
         "link": link}
        for uid in sorted(people)
    ]  # fmt: skip
    mail = [
        {"key": f"{key}:email:{uid}", "channel": "email", "recipient_id": uid, "kind": kind,
         "payload": {**payload, "link": link}}
        for uid, user in sorted(people.items())
        if email and user.email
    ]  # fmt: skip
    _insert_ignoring_duplicates(InboxMessage, inbox)
    _insert_ignoring_duplicates(OutboxMessage, mail)
    return len(people)


def unread_count(user_id: int) -> int:
    """Return how many in-app notices ``user_id`` has not read."""
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(InboxMessage)
        .where(InboxMessage.user_id == user_id, InboxMessage.read_at.is_(None))
    )
