"""The verbs of cases: open from an alert, follow up, refer, complete steps, close, reopen.

Every function flushes; the request commits once. Each change writes a ``CaseEvent`` and is
audited. Closing needs the protocol's evidence (a minimum number of follow-ups by tier, every
referral answered) and, when the policy says so, a supervisor's approval: the handler asks, the
supervisor approves or sends it back with a reason.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from salve.alerts import operations as alerts
from salve.alerts.models import EN_ATENCION, EN_SEGUIMIENTO, RECONOCIDA, Alert, AlertEvidence
from salve.alerts.policy import policy_in_force
from salve.audit.operations import record
from salve.auth import roles as R
from salve.cases.models import (
    ABIERTO,
    ACEPTADA,
    ANSWERED,
    CERRADO,
    CIERRE_SOLICITADO,
    CONCLUIDA,
    ENVIADA,
    RECHAZADA,
    REVOCADA,
    Case,
    CaseAlert,
    CaseEvent,
    CaseStep,
    FollowUp,
    Referral,
)
from salve.catalog.entries import Catalog
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident

#: Referral status → the statuses it may move to.
REFERRAL_TRANSITIONS = {
    ENVIADA: (ACEPTADA, RECHAZADA, REVOCADA),
    ACEPTADA: (CONCLUIDA, REVOCADA),
    RECHAZADA: (),
    CONCLUIDA: (),
    REVOCADA: (),
}
TIER_RANK = {"I": 1, "II": 2, "III": 3}
REFERRAL_LABELS = {
    ENVIADA: _l("enviada"),
    ACEPTADA: _l("aceptada"),
    RECHAZADA: _l("rechazada"),
    CONCLUIDA: _l("concluida"),
    REVOCADA: _l("revocada"),
}
MAX_NOTE = 5000
#: The longest reference an institution's file number may have.
MAX_REFERENCE = 60


class CaseError(ValueError):
    """A request about a case that cannot be carried out; ``message`` says why."""

    def __init__(self, message, status: int = 409, field: str = ""):
        super().__init__(str(message))
        self.message = message
        self.status = status
        self.field = field


def _event(case: Case, kind: str, actor_id: int | None, reason: str = "", **data) -> CaseEvent:
    event = CaseEvent(kind=kind, actor_id=actor_id, at=utcnow(), reason=reason, data=data)
    case.events.append(event)
    return event


def is_supervisor_of(user, department_id: int) -> bool:
    return any(
        a.role == R.SUPERVISOR and a.department_id == department_id for a in user.role_assignments
    )


def may_work(user, case: Case) -> bool:
    """The case's handler and the department's supervisors work on a case."""
    return case.handler_id == user.id or is_supervisor_of(user, case.department_id)


def _require_work(user, case: Case) -> None:
    if not may_work(user, case):
        raise CaseError(_l("Solo la persona a cargo del caso y la supervisión pueden actuar."), 403)
    if case.status == CERRADO:
        raise CaseError(_l("El caso está cerrado; reábralo para seguir trabajando en él."))


def _note(text: str, field: str = "note", message=None) -> str:
    text = _bounded(text, MAX_NOTE, field)
    if not text:
        raise CaseError(message or _l("Escriba una nota."), 422, field)
    return text


def _bounded(text: str, limit: int, field: str) -> str:
    """Return ``text`` trimmed; refuse it whole when it is longer than ``limit``, never cut it."""
    text = (text or "").strip()
    if len(text) > limit:
        raise CaseError(
            _l("Es demasiado largo; el máximo es %(limit)d caracteres.", limit=limit), 422, field
        )
    return text


def open_case(user, alert: Alert, catalog: Catalog, *, now: datetime | None = None) -> Case:
    """Open a case for ``alert`` (acknowledged or under watch); the alert goes into care."""
    now = now or utcnow()
    if not alerts.may_act(user, alert):
        raise CaseError(_l("Solo la persona asignada y la supervisión pueden abrir un caso."), 403)
    # Checked before anything is written: a refused request leaves no half-made case.
    if alert.status == EN_ATENCION:
        raise CaseError(_l("La alerta ya tiene un caso abierto."))
    if alert.status not in (RECONOCIDA, EN_SEGUIMIENTO):
        raise CaseError(_l("Reconozca la alerta antes de abrir un caso."))
    incidents = list(
        db.session.scalars(
            sa.select(Incident)
            .join(AlertEvidence, AlertEvidence.incident_id == Incident.id)
            .where(AlertEvidence.alert_id == alert.id, Incident.status != "infundado")
            .order_by(Incident.occurred_at)
        )
    )
    tier = "I"
    for incident in incidents:
        for type_row in incident.types:
            if TIER_RANK.get(type_row.tier, 0) > TIER_RANK[tier]:
                tier = type_row.tier
    case = Case(
        entity_type=alert.entity_type,
        entity_id=alert.entity_id,
        school_id=alert.school_id,
        department_id=alert.department_id,
        status=ABIERTO,
        handler_id=user.id if user.has_role(R.GESTOR) else (alert.assignee_id or user.id),
        tier=tier,
        opened_at=now,
        opened_by_id=user.id,
    )
    db.session.add(case)
    db.session.flush()
    try:
        alerts.set_in_care(user.id, alert, case.id)
    except alerts.AlertError as error:
        raise CaseError(error.message, error.status) from None
    case.alerts.append(CaseAlert(alert_id=alert.id))
    for incident in incidents:
        add_steps(case, incident, catalog)
    _event(case, "opened", user.id, alert_id=alert.id)
    record("case.open", "case", case.id, alert=alert.id, tier=tier)
    return case


def add_steps(case: Case, incident: Incident, catalog: Catalog) -> int:
    """Add the protocol steps of ``incident``'s types, due from when it was reported."""
    existing = set(
        db.session.scalars(
            sa.select(CaseStep.code).where(
                CaseStep.case_id == case.id, CaseStep.incident_id == incident.id
            )
        )
    )
    added = 0
    protocols = []
    for code in incident.type_codes:
        violence_type = catalog.types.get(code)
        if violence_type is not None and violence_type.protocol not in protocols:
            protocols.append(violence_type.protocol)
    for protocol in protocols:
        for step in protocol.steps:
            if step.code in existing:
                continue  # a step shared by two protocols is done once
            existing.add(step.code)
            case.steps.append(
                CaseStep(
                    incident_id=incident.id,
                    protocol=protocol.code,
                    code=step.code,
                    due_at=incident.created_at + timedelta(hours=step.deadline_hours),
                )
            )
            added += 1
    return added


def add_follow_up(user, case: Case, note: str, *, now: datetime | None = None) -> FollowUp:
    _require_work(user, case)
    follow_up = FollowUp(author_id=user.id, note=_note(note), at=now or utcnow())
    case.follow_ups.append(follow_up)
    db.session.flush()
    _event(case, "follow_up", user.id, follow_up=follow_up.id)
    record("case.follow_up", "case", case.id)
    return follow_up


def refer(
    user, case: Case, institution: str, catalog: Catalog, note: str = "", reference: str = ""
) -> Referral:
    """Refer the case to an institution of the catalog (FGR, PNC, CONAPINA…)."""
    _require_work(user, case)
    if institution not in catalog.institutions:
        raise CaseError(_l("Elija una institución del catálogo."), 422, "institution")
    open_same = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Referral)
        .where(
            Referral.case_id == case.id,
            Referral.institution == institution,
            Referral.status.in_((ENVIADA, ACEPTADA)),
        )
    )
    if open_same:
        raise CaseError(_l("Ya hay una referencia en curso a esa institución."), 409, "institution")
    referral = Referral(
        institution=institution,
        status=ENVIADA,
        sent_by_id=user.id,
        reference=_bounded(reference, MAX_REFERENCE, "reference"),
        reason=_bounded(note, MAX_NOTE, "note"),
    )
    case.referrals.append(referral)
    db.session.flush()
    _event(case, "referral", user.id, referral=referral.id, institution=institution)
    record("case.refer", "case", case.id, institution=institution)
    return referral


def update_referral(
    user, referral: Referral, to: str, reason: str = "", reference: str = ""
) -> None:
    """Record the institution's answer: accepted, refused (with a reason), concluded; or revoke."""
    case = referral.case
    _require_work(user, case)
    if to not in REFERRAL_TRANSITIONS.get(referral.status, ()):
        raise CaseError(
            _l("Una referencia «%(status)s» no puede pasar a «%(to)s».",
               status=REFERRAL_LABELS[referral.status],
               to=REFERRAL_LABELS.get(to, to[:20])),
            409,
            "to",
        )  # fmt: skip
    reason = _bounded(reason, MAX_NOTE, "reason")
    reference = _bounded(reference, MAX_REFERENCE, "reference")
    if to in (RECHAZADA, REVOCADA) and not reason:
        raise CaseError(_l("Explique el motivo."), 422, "reason")
    previous = referral.status
    referral.status = to
    referral.updated_at = utcnow()
    if reason:
        referral.reason = reason
    if reference:
        referral.reference = reference
    _event(case, "referral_status", user.id, reason, referral=referral.id,
           **{"from": previous, "to": to})  # fmt: skip
    record("case.referral", "case", case.id, referral=referral.id, to=to)


def complete_step(user, step: CaseStep, note: str = "", *, now: datetime | None = None) -> None:
    case = step.case
    _require_work(user, case)
    if step.done_at is not None:
        raise CaseError(_l("Ese paso ya está hecho."))
    note = _bounded(note, MAX_NOTE, "note")
    step.done_at = now or utcnow()
    step.done_by_id = user.id
    step.note = note
    _event(case, "step_done", user.id, step=step.code, incident=step.incident_id)
    record("case.step", "case", case.id, step=step.code)


def closure_problems(case: Case) -> list:
    """What still stops ``case`` from closing, in the user's language (empty: it may close)."""
    policy = policy_in_force()
    problems = []
    needed = policy.min_follow_ups.get(case.tier, 0)
    have = len(case.follow_ups)
    if have < needed:
        problems.append(
            _l(
                "Un caso de nivel %(tier)s necesita al menos %(needed)d seguimientos; tiene "
                "%(have)d.",
                tier=case.tier,
                needed=needed,
                have=have,
            )
        )
    if policy.referrals_answered:
        waiting = [r for r in case.referrals if r.status not in ANSWERED]
        if waiting:
            problems.append(
                _l(
                    "Faltan respuestas de: %(institutions)s.",
                    institutions=", ".join(sorted({r.institution for r in waiting})),
                )
            )
    return problems


def request_closure(user, case: Case, summary: str, *, now: datetime | None = None) -> None:
    """The handler asks to close: checked now, approved by a supervisor (or closed at once)."""
    _require_work(user, case)
    if case.status != ABIERTO:
        raise CaseError(_l("El cierre de este caso ya fue solicitado."))
    summary = _note(summary, "summary", _l("Resuma la atención dada antes de cerrar el caso."))
    problems = closure_problems(case)
    if problems:
        raise CaseError(" ".join(str(p) for p in problems), 422, "summary")
    now = now or utcnow()
    case.closing_summary = summary
    case.closure_requested_at = now
    if not policy_in_force().supervisor_approval:
        _close(user.id, case, now)
        return
    case.status = CIERRE_SOLICITADO
    _event(case, "closure_requested", user.id)
    record("case.request_closure", "case", case.id)
    from salve.notifications.operations import notify

    notify(
        alerts.department_users(case.department_id, R.SUPERVISOR),
        "case_closure",
        f"case:{case.id}:closure:{int(now.timestamp())}",
        {"case_id": case.id, "school_code": case.school.code},
        f"/casos/{case.id}",
        actor_id=user.id,
    )


def approve_closure(user, case: Case, *, now: datetime | None = None) -> None:
    """A supervisor of the department approves the closure; the case's alerts are resolved."""
    if not is_supervisor_of(user, case.department_id):
        raise CaseError(_l("Solo la supervisión del departamento aprueba el cierre."), 403)
    if case.status != CIERRE_SOLICITADO:
        raise CaseError(_l("Nadie ha solicitado cerrar este caso."))
    problems = closure_problems(case)
    if problems:
        raise CaseError(" ".join(str(p) for p in problems), 422)
    _close(user.id, case, now or utcnow())


def _close(actor_id: int, case: Case, now: datetime) -> None:
    case.status = CERRADO
    case.closed_at = now
    case.closed_by_id = actor_id
    _event(case, "closed", actor_id)
    record("case.close", "case", case.id)
    for link in case.alerts:
        alerts.resolve_with_case(actor_id, link.alert, case.id)


def refuse_closure(user, case: Case, reason: str) -> None:
    """A supervisor sends the case back to the handler, saying why."""
    if not is_supervisor_of(user, case.department_id):
        raise CaseError(_l("Solo la supervisión del departamento decide sobre el cierre."), 403)
    if case.status != CIERRE_SOLICITADO:
        raise CaseError(_l("Nadie ha solicitado cerrar este caso."))
    reason = _note(reason, "reason", _l("Explique qué falta para cerrar el caso."))
    case.status = ABIERTO
    case.closure_requested_at = None
    _event(case, "closure_refused", user.id, reason)
    record("case.refuse_closure", "case", case.id)


def reopen(user, case: Case, reason: str) -> None:
    """Reopen a closed case (its alerts go back into care)."""
    if not may_work(user, case):
        raise CaseError(_l("Solo la persona a cargo del caso y la supervisión pueden actuar."), 403)
    if case.status != CERRADO:
        raise CaseError(_l("El caso no está cerrado."))
    reason = _note(reason, "reason", _l("Explique por qué se reabre el caso."))
    case.status = ABIERTO
    case.closed_at = None
    case.closed_by_id = None
    _event(case, "reopened", user.id, reason)
    record("case.reopen", "case", case.id)
    for link in case.alerts:
        alert = link.alert
        newer = alerts.open_alert(alert.rule_id, alert.entity_type, alert.entity_id)
        if newer is not None and newer.id != alert.id:
            continue  # a newer alert of the same rule is open: it carries on; this stays closed
        if alert.status != EN_ATENCION:
            alerts._move(user.id, alert, "abierta", note=str(reason))
            alerts._move(user.id, alert, "reconocida")
            alerts.set_in_care(user.id, alert, case.id)


def raise_overdue_steps(now: datetime | None = None) -> int:
    """Raise an overdue-step alert for each missed step of an open case, once per step."""
    now = now or utcnow()
    steps = db.session.scalars(
        sa.select(CaseStep)
        .join(Case, Case.id == CaseStep.case_id)
        .where(
            Case.status != CERRADO,
            CaseStep.done_at.is_(None),
            CaseStep.overdue_alerted_at.is_(None),
            CaseStep.due_at < now,
        )
        .order_by(CaseStep.id)
    ).all()
    for step in steps:
        case = step.case
        candidate = alerts.Candidate(
            rule_id=alerts.OVERDUE_STEP_RULE,
            rules_version="sistema",
            entity_type="school",
            entity_id=case.school_id,
            school_id=case.school_id,
            department_id=case.department_id,
            level="alto",
            immediate=False,
            contributions=(
                {"rule": alerts.OVERDUE_STEP_RULE, "points": 0,
                 "figures": {"case": case.id, "step": step.code}},
            ),
        )  # fmt: skip
        alerts.raise_alert(candidate, [step.incident_id], now=now)
        step.overdue_alerted_at = now
        _event(case, "step_overdue", None, step=step.code, incident=step.incident_id)
    return len(steps)
