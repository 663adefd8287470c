"""The verbs of alerts: raise or attach evidence, assign, move through the lifecycle, escalate.

Every function flushes; the request or job that calls it commits once. Each change to an alert
writes an ``AlertEvent`` (who, when, why) and is audited.

One open alert per (rule, entity): the database refuses a second (a partial unique index), and
``raise_alert`` attaches new evidence to the open one instead. Raising happens in two places: a
saved report with an immediate type raises its alerts in the same transaction
(``raise_immediate_alerts``, an incident-saved hook), and the ``raise_alerts`` job turns the
stored scores into alerts (``raise_from_scores``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from salve.alerts.models import (
    ABIERTA,
    CLOSED,
    DESCARTADA,
    EN_ATENCION,
    EN_SEGUIMIENTO,
    OPEN,
    RECONOCIDA,
    RESUELTA,
    Alert,
    AlertEvent,
    AlertEvidence,
)
from salve.alerts.policy import AlertPolicy, policy_in_force
from salve.audit.operations import record
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident, IncidentParty
from salve.notifications.operations import notify
from salve.schools.models import School, Student

logger = logging.getLogger(__name__)

#: The status an alert may move to from each status, and who may not need a case.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ABIERTA: (RECONOCIDA, DESCARTADA),
    RECONOCIDA: (DESCARTADA, EN_SEGUIMIENTO, EN_ATENCION),
    EN_SEGUIMIENTO: (EN_ATENCION, DESCARTADA, RESUELTA),
    EN_ATENCION: (RESUELTA,),
    DESCARTADA: (ABIERTA,),
    RESUELTA: (ABIERTA,),
}
LEVEL_RANK = {"bajo": 0, "medio": 1, "alto": 2, "critico": 3}
#: The longest note a transition or a reassignment keeps; a longer one is refused, not cut.
MAX_NOTE = 5000


class AlertError(ValueError):
    """A transition refused; ``message`` says why, in the user's language."""

    def __init__(self, message, status: int = 409, field: str = ""):
        super().__init__(str(message))
        self.message = message
        self.status = status
        self.field = field


@dataclass(frozen=True)
class Candidate:
    """An alert a rule calls for now."""

    rule_id: str
    rules_version: str
    entity_type: str
    entity_id: int
    school_id: int
    department_id: int
    level: str
    immediate: bool
    contributions: tuple = ()


def _event(
    alert: Alert, kind: str, actor_id: int | None = None, at: datetime | None = None, **fields
) -> AlertEvent:
    event = AlertEvent(kind=kind, actor_id=actor_id, at=at or utcnow(), **fields)
    alert.events.append(event)
    return event


def alert_link(alert_id: int) -> str:
    """The alert's page, as a path (the mail sender makes it absolute)."""
    try:
        return url_for("alerts.show", alert_id=alert_id)
    except Exception:  # no request or no alerts blueprint (a job): the path is known
        return f"/alertas/{alert_id}"


def _payload(alert: Alert, **extra) -> dict:
    return {
        "alert_id": alert.id,
        "level": alert.level,
        "rule": alert.rule_id,
        "school_code": alert.school.code if alert.school else "",
        "entity_type": alert.entity_type,
        **extra,
    }


# --- Who ---------------------------------------------------------------------------------------


def department_users(department_id: int, *roles: str) -> list[User]:
    """Enabled users holding one of ``roles`` in ``department_id``."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                RoleAssignment.role.in_(roles),
                RoleAssignment.department_id == department_id,
                User.is_enabled,
            )
            .order_by(User.id)
            .distinct()
        )
    )


def national_users() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(RoleAssignment.role == R.NACIONAL, User.is_enabled)
            .order_by(User.id)
            .distinct()
        )
    )


def least_loaded_handler(department_id: int) -> User | None:
    """The department's case handler (gestor) with the fewest open alerts; ties by id."""
    handlers = department_users(department_id, R.GESTOR)
    if not handlers:
        return None
    counts = dict(
        db.session.execute(
            sa.select(Alert.assignee_id, sa.func.count())
            .where(Alert.assignee_id.in_([h.id for h in handlers]), Alert.status.in_(OPEN))
            .group_by(Alert.assignee_id)
        ).all()
    )
    return min(handlers, key=lambda user: (counts.get(user.id, 0), user.id))


# --- Raising -----------------------------------------------------------------------------------


def open_alert(rule_id: str, entity_type: str, entity_id: int) -> Alert | None:
    return db.session.scalar(
        sa.select(Alert).where(
            Alert.rule_id == rule_id,
            Alert.entity_type == entity_type,
            Alert.entity_id == entity_id,
            Alert.status.in_(OPEN),
        )
    )


def in_cooldown(candidate: Candidate, policy: AlertPolicy, now: datetime) -> bool:
    """Tell whether the same alert was closed within the cooldown (immediate ones never wait)."""
    if candidate.immediate or policy.cooldown_days == 0:
        return False
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Alert)
            .where(
                Alert.rule_id == candidate.rule_id,
                Alert.entity_type == candidate.entity_type,
                Alert.entity_id == candidate.entity_id,
                Alert.status.in_(CLOSED),
                Alert.closed_at >= now - timedelta(days=policy.cooldown_days),
            )
        )
        > 0
    )


def attach_evidence(alert: Alert, incident_ids, now: datetime) -> int:
    """Attach the incidents not yet attached; return how many were new."""
    wanted = {int(i) for i in incident_ids}
    if not wanted:
        return 0
    have = set(
        db.session.scalars(
            sa.select(AlertEvidence.incident_id).where(
                AlertEvidence.alert_id == alert.id, AlertEvidence.incident_id.in_(wanted)
            )
        )
    )
    new = sorted(wanted - have)
    for incident_id in new:
        alert.evidence.append(AlertEvidence(incident_id=incident_id, added_at=now))
    if new:
        alert.last_evidence_at = now
        _event(alert, "evidence", at=now, data={"incidents": new})
    return len(new)


def raise_alert(
    candidate: Candidate,
    incident_ids,
    *,
    now: datetime | None = None,
    policy: AlertPolicy | None = None,
) -> tuple[Alert | None, bool]:
    """Raise ``candidate``'s alert, or attach the evidence to the open one.

    Return (alert, created); (None, False) while the same alert is cooling down.
    """
    now = now or utcnow()
    policy = policy or policy_in_force()
    existing = open_alert(candidate.rule_id, candidate.entity_type, candidate.entity_id)
    if existing is None:
        if in_cooldown(candidate, policy, now):
            return None, False
        assignee = least_loaded_handler(candidate.department_id)
        alert = Alert(
            rule_id=candidate.rule_id,
            rules_version=candidate.rules_version,
            entity_type=candidate.entity_type,
            entity_id=candidate.entity_id,
            school_id=candidate.school_id,
            department_id=candidate.department_id,
            level=candidate.level,
            immediate=candidate.immediate,
            status=ABIERTA,
            assignee_id=assignee.id if assignee else None,
            opened_at=now,
            due_at=now + timedelta(hours=policy.acknowledge_hours[candidate.level]),
            contributions=list(candidate.contributions),
        )
        try:
            with db.session.begin_nested():
                db.session.add(alert)
                db.session.flush()
        except IntegrityError:
            # Raised meanwhile by another transaction: attach to that one.
            existing = open_alert(candidate.rule_id, candidate.entity_type, candidate.entity_id)
            if existing is None:
                raise
        else:
            _event(alert, "raised", at=now, to_status=ABIERTA, data={"level": alert.level})
            if assignee is not None:
                _event(alert, "assigned", at=now, data={"to": assignee.id})
            attach_evidence(alert, incident_ids, now)
            record(
                "alert.raise",
                "alert",
                alert.id,
                rule=alert.rule_id,
                level=alert.level,
                immediate=alert.immediate,
            )
            _notify_raised(alert)
            return alert, True
    alert = existing
    if LEVEL_RANK[candidate.level] > LEVEL_RANK[alert.level]:
        _event(alert, "level", at=now, data={"from": alert.level, "to": candidate.level})
        alert.level = candidate.level
        # A higher level shortens the deadline, never lengthens it.
        alert.due_at = min(
            alert.due_at, now + timedelta(hours=policy.acknowledge_hours[candidate.level])
        )
    if candidate.contributions:
        alert.contributions = list(candidate.contributions)
    alert.below_since = None
    attach_evidence(alert, incident_ids, now)
    return alert, False


def _notify_raised(alert: Alert) -> None:
    """Tell the assignee (or, with none, the department's supervisors) about a new alert."""
    recipients = [alert.assignee] if alert.assignee_id else []
    if not recipients or alert.level == "critico":
        recipients += department_users(alert.department_id, R.SUPERVISOR)
    # Level medio goes into the daily digest by email, not one email each.
    notify(
        recipients,
        "alert_raised",
        f"alert:{alert.id}:raised",
        _payload(alert),
        alert_link(alert.id),
        email=alert.level != policy_in_force().digest_level,
    )


# --- Immediate alerts, as a report is saved -----------------------------------------------------


def raise_immediate_alerts(incident: Incident) -> list[Alert]:
    """Raise the immediate rules' alerts for ``incident`` (an incident-saved hook).

    Runs in the report's own transaction: the alert exists the moment the report does.
    """
    from salve.catalog.queries import current_catalog
    from salve.scoring.queries import rules_in_force

    if incident.status == "infundado":
        return []
    catalog = current_catalog()
    rules = rules_in_force()
    school = incident.school
    raised = []
    for rule in rules.rules:
        if rule.kind != "immediate" or not rule.immediate:
            continue
        params = rule.params
        hit = False
        for code in incident.type_codes:
            violence_type = catalog.types.get(code)
            if violence_type is None:
                continue
            hit |= bool(params.get("use_immediate_flag") and violence_type.is_immediate)
            hit |= violence_type.category in (params.get("categories") or ())
            hit |= code in (params.get("types") or ())
        if not hit:
            continue
        if rule.entity == "school":
            entities = [("school", school.id)]
        else:
            roles = params.get("roles") or ("victima", "agresor")
            entities = sorted(
                {
                    ("student", party.student_id)
                    for party in incident.parties
                    if party.kind == "estudiante"
                    and party.student_id is not None
                    and party.role in roles
                }
            )
        for entity_type, entity_id in entities:
            candidate = Candidate(
                rule_id=rule.id,
                rules_version=rules.version,
                entity_type=entity_type,
                entity_id=entity_id,
                school_id=school.id,
                department_id=school.department_id,
                level="critico",
                immediate=True,
                contributions=_explanation_now(rule, entity_type, entity_id),
            )
            alert, _created = raise_alert(candidate, [incident.id])
            if alert is not None:
                raised.append(alert)
    return raised


def _explanation_now(rule, entity_type: str, entity_id: int) -> tuple:
    """The entity's stored contributions (just rescored by the save hook), or the rule's own."""
    from salve.scoring.models import CurrentRiskScore

    current = db.session.get(CurrentRiskScore, (entity_type, entity_id))
    if current is not None and any(c.get("rule") == rule.id for c in current.contributions):
        return tuple(current.contributions)
    days = rule.params.get("window_days", 30)
    return ({"rule": rule.id, "points": rule.points, "figures": {"count": 1, "days": days}},)


# --- Alerts from the stored scores (the raise_alerts job) ----------------------------------------


def raise_from_scores(
    now: datetime | None = None, *, checkpoint=None, every: int = 200
) -> dict[str, int]:
    """Raise or update alerts for every stored score whose contributions call for one.

    Also starts, resets and completes the clearing clock of open level alerts (hysteresis).
    Return counts: raised, updated, cleared. ``checkpoint`` (the job's commit) is called every
    ``every`` candidates, so a long run never holds SQLite's write lock for long and a crash
    loses at most one batch, which the next run redoes (every step is idempotent).
    """
    from salve.scoring.models import CurrentRiskScore
    from salve.scoring.queries import rules_in_force

    now = now or utcnow()
    policy = policy_in_force()
    rules = rules_in_force()
    by_id = {rule.id: rule for rule in rules.rules}
    counts = {"raised": 0, "updated": 0, "cleared": 0}
    alerting_levels = [lvl for lvl, rank in LEVEL_RANK.items() if rank >= 1]
    rows = db.session.execute(
        sa.select(
            CurrentRiskScore.entity_type,
            CurrentRiskScore.entity_id,
            CurrentRiskScore.level,
            CurrentRiskScore.contributions,
        ).where(CurrentRiskScore.level.in_(alerting_levels))
    ).all()
    student_ids = [r.entity_id for r in rows if r.entity_type == "student"]
    school_of_student = dict(
        db.session.execute(
            sa.select(Student.id, Student.school_id).where(Student.id.in_(student_ids))
        ).all()
    ) if student_ids else {}  # fmt: skip
    departments = dict(db.session.execute(sa.select(School.id, School.department_id)).all())
    wanted: set[tuple[str, str, int]] = set()
    seen = 0
    for row in rows:
        school_id = row.entity_id if row.entity_type == "school" else school_of_student.get(
            row.entity_id
        )  # fmt: skip
        if school_id is None:
            continue
        for item in row.contributions or []:
            rule = by_id.get(item.get("rule"))
            if rule is None:
                continue
            if rule.immediate:
                # Raised as the report was saved; this catches reports that reached the
                # database another way (an import, a restore), once per incident.
                counts["raised"] += _catch_up_immediate(
                    rule, rules.version, row, school_id, departments[school_id], now, policy
                )
                continue
            if rule.alert_level is None or LEVEL_RANK[row.level] < LEVEL_RANK[rule.alert_level]:
                continue
            wanted.add((rule.id, row.entity_type, row.entity_id))
            candidate = Candidate(
                rule_id=rule.id,
                rules_version=rules.version,
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                school_id=school_id,
                department_id=departments[school_id],
                level=row.level,
                immediate=False,
                contributions=tuple(row.contributions),
            )
            alert, created = raise_alert(
                candidate,
                evidence_for(row.entity_type, row.entity_id, rule, now),
                now=now,
                policy=policy,
            )
            if alert is not None:
                counts["raised" if created else "updated"] += 1
            seen += 1
            if checkpoint is not None and seen % every == 0:
                checkpoint()
    counts["cleared"] = _clear_quiet_alerts(wanted, policy, now)
    return counts


def _catch_up_immediate(rule, version, row, school_id, department_id, now, policy) -> int:
    """Raise an immediate rule's alert for incidents no alert of it holds yet; return 0 or 1."""
    from salve.catalog.queries import current_catalog
    from salve.incidents.models import IncidentType

    catalog = current_catalog()
    params = rule.params
    codes = [
        code
        for code, t in catalog.types.items()
        if (params.get("use_immediate_flag") and t.is_immediate)
        or t.category in (params.get("categories") or ())
        or code in (params.get("types") or ())
    ]
    flagged = set(
        db.session.scalars(
            sa.select(IncidentType.incident_id).where(
                IncidentType.incident_id.in_(
                    evidence_for(row.entity_type, row.entity_id, rule, now)
                ),
                IncidentType.type_code.in_(codes),
            )
        )
    )
    if not flagged:
        return 0
    covered = set(
        db.session.scalars(
            sa.select(AlertEvidence.incident_id)
            .join(Alert, Alert.id == AlertEvidence.alert_id)
            .where(
                Alert.rule_id == rule.id,
                Alert.entity_type == row.entity_type,
                Alert.entity_id == row.entity_id,
                AlertEvidence.incident_id.in_(flagged),
            )
        )
    )
    if flagged <= covered:
        return 0
    candidate = Candidate(
        rule_id=rule.id,
        rules_version=version,
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        school_id=school_id,
        department_id=department_id,
        level="critico",
        immediate=True,
        contributions=tuple(row.contributions),
    )
    _alert, created = raise_alert(candidate, sorted(flagged), now=now, policy=policy)
    return int(created)


def evidence_for(entity_type: str, entity_id: int, rule, now: datetime) -> list[int]:
    """The counted incidents within the rule's window that involve the entity (newest 50)."""
    days = rule.params.get("window_days") or rule.params.get("recent_days") or 30
    query = sa.select(Incident.id).where(
        Incident.occurred_at >= now - timedelta(days=days),
        Incident.occurred_at <= now,
        Incident.status != "infundado",
    )
    if entity_type == "student":
        query = query.where(
            Incident.id.in_(
                sa.select(IncidentParty.incident_id).where(IncidentParty.student_id == entity_id)
            )
        )
    else:
        query = query.where(Incident.school_id == entity_id)
    return list(db.session.scalars(query.order_by(Incident.occurred_at.desc()).limit(50)))


def _clear_quiet_alerts(wanted: set, policy: AlertPolicy, now: datetime) -> int:
    """Clear open level alerts whose entity stayed below ``clear_below`` long enough."""
    from salve.scoring.models import CurrentRiskScore

    cleared = 0
    alerts = db.session.scalars(
        sa.select(Alert).where(
            Alert.status.in_((ABIERTA, RECONOCIDA, EN_SEGUIMIENTO)),
            Alert.immediate.is_(False),
            Alert.rule_id != OVERDUE_STEP_RULE,
        )
    ).all()
    for alert in alerts:
        if (alert.rule_id, alert.entity_type, alert.entity_id) in wanted:
            continue
        current = db.session.get(CurrentRiskScore, (alert.entity_type, alert.entity_id))
        level = current.level if current is not None else "bajo"
        if LEVEL_RANK[level] >= LEVEL_RANK[policy.clear_below]:
            alert.below_since = None
            continue
        if alert.below_since is None:
            alert.below_since = now
            continue
        if alert.below_since <= now - timedelta(days=policy.clear_after_days):
            previous = alert.status
            alert.status = RESUELTA
            alert.closed_at = now
            _event(
                alert,
                "cleared",
                at=now,
                from_status=previous,
                to_status=RESUELTA,
                reason="despejada",
                data={"below_since": alert.below_since.isoformat()},
            )
            record("alert.clear", "alert", alert.id)
            cleared += 1
    return cleared


# --- Lifecycle ---------------------------------------------------------------------------------


def may_act(user, alert: Alert) -> bool:
    """The assigned handler and the department's supervisors act on an alert."""
    if alert.assignee_id == user.id and user.has_role(R.GESTOR):
        return True
    return any(
        a.role == R.SUPERVISOR and a.department_id == alert.department_id
        for a in user.role_assignments
    )


def transition(
    user,
    alert: Alert,
    to: str,
    *,
    reason: str = "",
    note: str = "",
    review_at: datetime | None = None,
    now: datetime | None = None,
) -> AlertEvent:
    """Move ``alert`` to ``to`` on behalf of ``user``; refuse with a reason that says why."""
    now = now or utcnow()
    policy = policy_in_force()
    note = (note or "").strip()
    if not may_act(user, alert):
        raise AlertError(_l("Solo la persona asignada y la supervisión pueden actuar."), 403)
    if to not in TRANSITIONS:
        raise AlertError(_l("Estado desconocido: «%(to)s».", to=to[:30]), 400, "to")
    if to not in TRANSITIONS[alert.status]:
        raise AlertError(
            _l(
                "Una alerta «%(status)s» no puede pasar a «%(to)s».",
                status=STATUS_LABELS[alert.status],
                to=STATUS_LABELS[to],
            ),
            409,
            "to",
        )
    if len(note) > MAX_NOTE:
        raise _too_long()
    if to == DESCARTADA and policy.reason(reason) is None:
        raise AlertError(_l("Indique el motivo para descartar la alerta."), 422, "reason")
    if to == EN_SEGUIMIENTO and (review_at is None or review_at <= now):
        raise AlertError(_l("Indique una fecha futura para revisar la alerta."), 422, "review_at")
    if to == EN_ATENCION:
        raise AlertError(
            _l("Una alerta pasa a «en atención» al abrir un caso para ella."), 409, "to"
        )
    if to == RESUELTA and alert.status == EN_ATENCION:
        raise AlertError(_l("La alerta se resuelve al cerrar su caso."), 409, "to")
    if to == ABIERTA and not note:
        raise AlertError(_l("Explique por qué se reabre la alerta."), 422, "note")
    if to == ABIERTA:
        newer = open_alert(alert.rule_id, alert.entity_type, alert.entity_id)
        if newer is not None:
            raise AlertError(
                _l(
                    "Ya hay una alerta abierta de la misma regla para el mismo caso: "
                    "A-%(id)06d. Trabaje en esa.",
                    id=newer.id,
                ),
                409,
                "to",
            )
    if to == RESUELTA and not note:
        raise AlertError(_l("Explique cómo se resolvió la alerta."), 422, "note")
    return _move(user.id, alert, to, reason=reason, note=note, review_at=review_at, now=now)


def _move(actor_id, alert: Alert, to: str, *, reason="", note="", review_at=None, now=None):
    now = now or utcnow()
    previous = alert.status
    alert.status = to
    if to == RECONOCIDA and alert.acknowledged_at is None:
        alert.acknowledged_at = now
    if to == EN_SEGUIMIENTO:
        alert.review_at = review_at
    if to in CLOSED:
        alert.closed_at = now
        alert.dismiss_reason = reason if to == DESCARTADA else None
    if to == ABIERTA:  # reopened
        alert.closed_at = None
        alert.dismiss_reason = None
        alert.acknowledged_at = None
        policy = policy_in_force()
        alert.due_at = now + timedelta(hours=policy.acknowledge_hours[alert.level])
        alert.escalation = 0
    event = _event(
        alert,
        "reopened" if to == ABIERTA else "transition",
        actor_id=actor_id,
        at=now,
        from_status=previous,
        to_status=to,
        reason=reason or None,
        note=note,
        data={"review_at": review_at.isoformat()} if review_at else {},
    )
    record("alert.transition", "alert", alert.id, to=to, reason=reason or None)
    return event


def _too_long() -> AlertError:
    return AlertError(
        _l("Es demasiado largo; el máximo es %(limit)d caracteres.", limit=MAX_NOTE), 422, "note"
    )


def set_in_care(actor_id: int, alert: Alert, case_id: int) -> None:
    """Put ``alert`` in care of a case (called by ``salve.cases.operations.open_case``)."""
    if alert.status not in (RECONOCIDA, EN_SEGUIMIENTO):
        raise AlertError(_l("Reconozca la alerta antes de abrir un caso."), 409, "to")
    _move(actor_id, alert, EN_ATENCION, note="", reason=f"caso:{case_id}")


def resolve_with_case(actor_id: int, alert: Alert, case_id: int) -> None:
    """Resolve an alert whose case was closed."""
    if alert.status == EN_ATENCION:
        _move(actor_id, alert, RESUELTA, reason=f"caso:{case_id}")


def reassign(user, alert: Alert, assignee: User, note: str = "") -> None:
    """A supervisor gives ``alert`` to another case handler of its department."""
    if not any(
        a.role == R.SUPERVISOR and a.department_id == alert.department_id
        for a in user.role_assignments
    ):
        raise AlertError(_l("Solo la supervisión del departamento reasigna alertas."), 403)
    if not alert.is_open:
        raise AlertError(_l("Una alerta cerrada no se reasigna."), 409, "assignee")
    if (
        not any(
            a.role == R.GESTOR and a.department_id == alert.department_id
            for a in assignee.role_assignments
        )
        or not assignee.is_enabled
    ):
        raise AlertError(
            _l("Elija un gestor de casos activo del departamento de la alerta."), 422, "assignee"
        )
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise _too_long()
    previous = alert.assignee_id
    alert.assignee_id = assignee.id
    _event(alert, "assigned", actor_id=user.id, note=note,
           data={"from": previous, "to": assignee.id})  # fmt: skip
    record("alert.reassign", "alert", alert.id, to=assignee.id)
    notify(
        [assignee],
        "alert_assigned",
        f"alert:{alert.id}:assigned:{alert.events[-1].id if alert.events else 0}",
        _payload(alert),
        alert_link(alert.id),
        actor_id=user.id,
    )


# --- Escalation (the escalate job) --------------------------------------------------------------


def escalate_overdue(now: datetime | None = None) -> int:
    """Escalate open alerts past their acknowledgement deadline; return how many moved up.

    Past ``due_at`` an alert goes to the department's supervisors; one more deadline period
    later, to the national level. Each step happens once, whatever the number of runs.
    """
    now = now or utcnow()
    policy = policy_in_force()
    moved = 0
    overdue = db.session.scalars(
        sa.select(Alert)
        .where(Alert.status == ABIERTA, Alert.due_at < now, Alert.escalation < 2)
        .order_by(Alert.id)
    ).all()
    for alert in overdue:
        period = timedelta(hours=policy.acknowledge_hours[alert.level])
        target = 2 if now >= alert.due_at + period else 1
        if target <= alert.escalation:
            continue
        for step in range(alert.escalation + 1, target + 1):
            alert.escalation = step
            alert.escalated_at = now
            _event(alert, "escalated", at=now, data={"to": step})
            record("alert.escalate", "alert", alert.id, to=step)
            recipients = (
                department_users(alert.department_id, R.SUPERVISOR)
                if step == 1
                else national_users()
            )
            notify(
                recipients,
                "alert_escalated",
                f"alert:{alert.id}:escalated:{step}",
                _payload(alert, escalation=step),
                alert_link(alert.id),
            )
        moved += 1
    return moved


#: The system rule of an overdue protocol step (not in rules.yaml).
OVERDUE_STEP_RULE = "paso_vencido"

STATUS_LABELS = {
    ABIERTA: _l("abierta"),
    RECONOCIDA: _l("reconocida"),
    DESCARTADA: _l("descartada"),
    EN_SEGUIMIENTO: _l("en seguimiento"),
    EN_ATENCION: _l("en atención"),
    RESUELTA: _l("resuelta"),
}
