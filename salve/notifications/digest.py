"""The daily digest: one email per person listing the alerts of the digest level, by reference.

Alerts of ``policy.digest_level`` (medio) reach the inbox one by one but are not emailed one by
one; instead the ``digest`` job, at ``policy.digest_hour`` El Salvador time, queues for each case
handler and supervisor one outbox email about the open ones opened or updated in the last 24 h.
The key ``digest:<local date>:<user id>`` makes a rerun on the same day queue nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import url_for

from salve.alerts.models import OPEN, Alert, AlertEvent
from salve.alerts.policy import policy_in_force
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.notifications.models import OutboxMessage
from salve.schools.models import School

#: How far back an alert must have been opened or updated to be in the digest.
DIGEST_WINDOW = timedelta(hours=24)


def send_digest(now: datetime | None = None) -> dict[str, int]:
    """Queue today's digest email for each handler and supervisor with alerts to hear of.

    Return counts: ``alerts`` in the digests, ``recipients`` with a digest, ``queued`` new emails
    (0 on a second run the same day). Flushes only: the job's runner commits.
    """
    now = now or utcnow()
    level = policy_in_force().digest_level
    since = now - DIGEST_WINDOW
    touched = sa.select(AlertEvent.alert_id).where(AlertEvent.at >= since, AlertEvent.at <= now)
    alerts = db.session.execute(
        sa.select(Alert.id, Alert.rule_id, Alert.assignee_id, Alert.department_id, School.code)
        .join(School, School.id == Alert.school_id)
        .where(
            Alert.status.in_(OPEN),
            Alert.level == level,
            sa.or_(Alert.opened_at.between(since, now), Alert.id.in_(touched)),
        )
        .order_by(Alert.id)
    ).all()
    by_user = _recipients(alerts)
    day = now.astimezone(LOCAL_TZ).date().isoformat()
    rows = [
        {
            "key": f"digest:{day}:{user_id}",
            "channel": "email",
            "recipient_id": user_id,
            "kind": "digest",
            "payload": {
                "date": day,
                "level": level,
                "count": len(items),
                "alerts": [
                    {"alert_id": a.id, "rule": a.rule_id, "school_code": a.code} for a in items
                ],
                "link": inbox_link(),
            },
            "created_at": now,
            "next_attempt_at": now,
        }
        for user_id, items in sorted(by_user.items())
    ]
    queued = _insert_new(rows)
    return {"alerts": len(alerts), "recipients": len(by_user), "queued": queued}


def _recipients(alerts) -> dict[int, list]:
    """Map each user who should hear of some of ``alerts`` to them: assignee and supervisors."""
    if not alerts:
        return {}
    departments = {a.department_id for a in alerts}
    assignees = {a.assignee_id for a in alerts if a.assignee_id is not None}
    reachable = User.is_enabled.is_(True) & (User.email != "")
    supervisors = defaultdict(set)
    for department_id, user_id in db.session.execute(
        sa.select(RoleAssignment.department_id, RoleAssignment.user_id)
        .join(User, User.id == RoleAssignment.user_id)
        .where(
            RoleAssignment.role == R.SUPERVISOR,
            RoleAssignment.department_id.in_(departments),
            reachable,
        )
    ):
        supervisors[department_id].add(user_id)
    handlers = set(
        db.session.scalars(sa.select(User.id).where(User.id.in_(assignees), reachable))
    ) if assignees else set()  # fmt: skip
    by_user: dict[int, list] = defaultdict(list)
    for alert in alerts:
        people = set(supervisors[alert.department_id])
        if alert.assignee_id in handlers:
            people.add(alert.assignee_id)
        for user_id in people:
            by_user[user_id].append(alert)
    return dict(by_user)


def _insert_new(rows: list[dict]) -> int:
    """Insert the rows whose key is not taken yet; return how many were new."""
    if not rows:
        return 0
    taken = set(
        db.session.scalars(
            sa.select(OutboxMessage.key).where(OutboxMessage.key.in_([r["key"] for r in rows]))
        )
    )
    fresh = [row for row in rows if row["key"] not in taken]
    if fresh:
        db.session.execute(sa.insert(OutboxMessage), fresh)
    return len(fresh)


def inbox_link() -> str:
    """The in-app inbox, as a path (the sender makes it absolute)."""
    try:
        return url_for("notifications.index")
    except (RuntimeError, LookupError):  # outside a request (the scheduler): the path is known
        return "/avisos"
