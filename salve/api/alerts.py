"""Alerts through the API: the list's filters, a page's NIEs, a transition's input.

Who sees an alert is decided by ``salve.auth.scope``; the list, its order and what "overdue"
means, by ``salve.alerts.queries`` (the web inbox reads the same); what a transition may do, by
``salve.alerts.operations.transition``. This module only turns the request into their terms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _

from salve.alerts import queries
from salve.alerts.models import EN_SEGUIMIENTO, LEVELS, STATUSES, Alert
from salve.api.errors import ApiError
from salve.auth import roles as R
from salve.i18n import current_language
from salve.incidents.validation import parse_occurred_at
from salve.scoring.queries import Contribution, explain_contributions, rules_in_force
from salve.scoring.rules import RulesError

#: Roles that may ask about alerts at all; each sees only its own (``alert_clause``).
ALERT_ROLES = frozenset({R.GESTOR, R.SUPERVISOR, R.NACIONAL})
#: The ``status`` filter that means every status but the closed ones; no filter means all.
OPEN_FILTER = "open"
#: A transition is a few short fields; anything bigger is not one.
MAX_TRANSITION_BYTES = 16 * 1024
MAX_REASON = 40  # alerts.dismiss_reason
MAX_NOTE = 5000  # what the timeline keeps of a note
MAX_RULE = 60  # alerts.rule_id
MAX_REVIEW_AT = 40
#: A review date further away than this is a typo, not a plan.
MAX_REVIEW_AHEAD = timedelta(days=366)
TRANSITION_FIELDS = frozenset({"to", "reason", "note", "review_at"})


def inbox_filters(args: Mapping[str, str]) -> dict[str, str]:
    """Read the list's filters as ``salve.alerts.queries.inbox`` takes them.

    Unknown statuses and levels are refused (400) rather than ignored.
    """
    status = args.get("status", "").strip()[:30]
    level = args.get("level", "").strip()[:30]
    if status and status != OPEN_FILTER and status not in STATUSES:
        raise ApiError(400, [("status", _("Estado desconocido: «%(status)s».", status=status))])
    if level and level not in LEVELS:
        raise ApiError(400, [("level", _("Código desconocido: «%(code)s».", code=level))])
    if status == OPEN_FILTER:
        status = queries.OPEN_FILTER
    elif not status:
        status = queries.ALL_FILTER
    return {
        "status": status,
        "level": level,
        "rule_id": args.get("rule", "").strip()[:MAX_RULE],
        "school_code": args.get("school", "").strip()[:20],
    }


def entity_refs(alerts: list[Alert], shows_identity) -> dict[int, str | None]:
    """Return alert id → the student's NIE or the school's code, in one query for the NIEs.

    ``shows_identity(alert)`` says whether the caller may see which student it is about; when it
    may not (a summary), a student alert's reference is None.
    """
    students = queries.students_by_id(
        a.entity_id for a in alerts if a.entity_type == "student" and shows_identity(a)
    )
    return {
        a.id: a.school.code
        if a.entity_type == "school"
        else (students[a.entity_id].nie if a.entity_id in students else None)
        for a in alerts
    }


def explained(alert: Alert) -> tuple[Contribution, ...]:
    """The contributions behind ``alert``, explained in the caller's language."""
    try:
        rules = rules_in_force()
    except RulesError:
        rules = None
    return explain_contributions(alert.contributions or [], rules, current_language())


@dataclass(frozen=True)
class TransitionRequest:
    """A transition as asked for, bounded and typed, not yet judged."""

    to: str
    reason: str
    note: str
    review_at: datetime | None


def _text(payload: dict, key: str, limit: int, errors: list) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append((key, _("Debe ser un texto.")))
        return ""
    if len(value) > limit:
        errors.append(
            (
                key,
                _(
                    "Es demasiado largo: %(length)d caracteres; el máximo es %(limit)d.",
                    length=len(value),
                    limit=limit,
                ),
            )
        )
        return ""
    return value.strip()


def parse_transition(payload: dict, now: datetime) -> TransitionRequest:
    """Read a transition's fields; refuse unknown fields, wrong types and overlong text (422).

    Whether the move itself is allowed is for ``salve.alerts.operations.transition`` to say.
    """
    errors: list[tuple[str, str]] = [
        (key[:60], _("Este campo no se puede enviar."))
        for key in sorted(set(payload) - TRANSITION_FIELDS)
    ]
    to = _text(payload, "to", 30, errors)
    if not to and not any(field == "to" for field, _message in errors):
        errors.append(("to", _("Este dato es obligatorio.")))
    reason = _text(payload, "reason", MAX_REASON, errors)
    note = _text(payload, "note", MAX_NOTE, errors)
    review_at = None
    raw_review = payload.get("review_at")
    if raw_review is not None:
        if to != EN_SEGUIMIENTO:
            errors.append(
                ("review_at", _("La fecha de revisión solo se indica al pasar a «en seguimiento»."))
            )
        else:
            if isinstance(raw_review, str) and len(raw_review) <= MAX_REVIEW_AT:
                review_at = parse_occurred_at(raw_review)
            if review_at is None:
                errors.append(
                    ("review_at", _("Fecha y hora no válidas; use el formato AAAA-MM-DD HH:MM."))
                )
            elif review_at > now + MAX_REVIEW_AHEAD:
                errors.append(
                    ("review_at", _("La fecha de revisión debe estar dentro del próximo año."))
                )
    if errors:
        raise ApiError(422, errors)
    return TransitionRequest(to=to, reason=reason, note=note, review_at=review_at)
