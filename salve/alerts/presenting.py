"""What alert pages show: references, rule names, who or what an alert is about, why it was
raised, and its timeline in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext

from salve.alerts.models import Alert, AlertEvent
from salve.alerts.operations import OVERDUE_STEP_RULE, STATUS_LABELS
from salve.alerts.policy import AlertPolicy
from salve.auth.models import User
from salve.auth.scope import listed_alert_names_student
from salve.catalog.entries import Catalog
from salve.i18n import current_language, local_date
from salve.incidents import presenting as incident_words
from salve.schools.models import Student
from salve.scoring.queries import Contribution, explain_contributions
from salve.scoring.rules import KINDS, Rule, RuleSet


def alert_ref(alert_id: int) -> str:
    """Return an alert's reference as people say it on the phone: ``A-000042``."""
    return f"A-{alert_id:06d}"


def case_ref(case_id: int) -> str:
    """Return a case's reference: ``C-000042``."""
    return f"C-{case_id:06d}"


def status_label(status: str) -> str:
    """Return an alert status in words."""
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status


def user_name(user: User | None) -> str:
    """Return how a person is named on a page ("Sistema" for the scheduled jobs)."""
    if user is None:
        return _("Sistema")
    return user.display_name or user.username


# --- Rules ---------------------------------------------------------------------------------


def rule_label(rule_id: str, rules: RuleSet | None) -> str:
    """Return a rule's name in words, from what it does (rules.yaml gives rules no title)."""
    if rule_id == OVERDUE_STEP_RULE:
        return _("Paso del protocolo vencido")
    rule = _rule(rules, rule_id)
    if rule is None:
        return rule_id
    if rule.kind == "victim_count":
        return _("Víctima en varios incidentes")
    if rule.kind == "aggressor_count":
        return _("Señalado como agresor en varios incidentes")
    if rule.kind == "repeat_pair":
        if rule.params.get("role") == "agresor":
            return _("Agrede a la misma persona (patrón de acoso)")
        return _("Agredido por la misma persona (patrón de acoso)")
    if rule.kind == "immediate":
        if rule.entity == "school":
            return _("Hecho grave en el centro (alerta inmediata)")
        return _("Hecho grave (alerta inmediata)")
    if rule.kind == "school_rate":
        return _("Tasa de incidentes alta en el centro")
    if rule.kind == "school_spike":
        return _("Repunte de incidentes en el centro")
    if rule.kind == "silence":
        return _("El centro dejó de reportar")
    return rule_id


def rule_choices(rules: RuleSet | None) -> list[tuple[str, str]]:
    """Return (rule id, name) of every rule that may raise an alert, for the inbox filter."""
    choices = [
        (rule.id, rule_label(rule.id, rules))
        for rule in (rules.rules if rules else ())
        if rule.immediate or rule.alert_level is not None
    ]
    choices.append((OVERDUE_STEP_RULE, rule_label(OVERDUE_STEP_RULE, rules)))
    return choices


def _rule(rules: RuleSet | None, rule_id: str) -> Rule | None:
    if rules is None:
        return None
    return next((rule for rule in rules.rules if rule.id == rule_id), None)


# --- Who or what an alert is about ----------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    """The student or school an alert is about, as far as the reader may know them."""

    entity_type: str
    #: The student's NIE; empty for a school, or when the reader sees the alert in summary.
    nie: str = ""
    #: The student's name; only for readers who see the alert in full.
    name: str = ""

    @property
    def label(self) -> str:
        """Return the entity in a few words: ``Estudiante NIE 1234567``."""
        if self.entity_type == "school":
            return _("Centro educativo")
        if self.nie:
            return _("Estudiante NIE %(nie)s", nie=self.nie)
        return _("Estudiante (identidad reservada)")


def entity_of(alert: Alert, access: str | None, students: dict[int, Student]) -> Entity:
    """Describe ``alert``'s entity: NIE and name for full access; in summary, neither."""
    if alert.entity_type != "student":
        return Entity("school")
    student = students.get(alert.entity_id)
    if student is None or not listed_alert_names_student(alert, access):
        return Entity("student")
    return Entity("student", student.nie, f"{student.given_names} {student.family_names}")


def named_students(alert: Alert, identities) -> dict:
    """Return what the audit event of an answer showing ``alert`` adds about the child it names.

    The child's id when the answer names it (``identities.is_shown``); nothing otherwise.
    """
    if alert.entity_type != "student" or not identities.is_shown:
        return {}
    return {"students": [alert.entity_id]}


# --- Why it was raised ---------------------------------------------------------------------


@dataclass(frozen=True)
class Why:
    """Why an alert exists: its rule in words and the score behind it."""

    rule_label: str
    #: The rule's plain-language explanation, filled in with the alert's figures.
    explanation: str
    #: Every rule's part of the entity's score when the alert was raised or last updated.
    contributions: tuple[Contribution, ...]


def explain_alert(
    alert: Alert,
    rules: RuleSet | None,
    catalog: Catalog,
    evidence_count: int,
    language: str | None = None,
) -> Why:
    """Explain ``alert`` from its stored contributions and its rule.

    Immediate alerts store no score; their rule's explanation is filled with the evidence.
    """
    language = language or current_language()
    label = rule_label(alert.rule_id, rules)
    if alert.rule_id == OVERDUE_STEP_RULE:
        return Why(label, _overdue_step_text(alert, catalog), ())
    stored = [c for c in alert.contributions or [] if c.get("rule") != OVERDUE_STEP_RULE]
    contributions = explain_contributions(stored, rules, language) if stored else ()
    own = next((c for c in contributions if c.rule == alert.rule_id), None)
    if own is not None:
        return Why(label, own.explanation, contributions)
    rule = _rule(rules, alert.rule_id)
    text = ""
    if rule is not None:
        days = rule.params.get(KINDS[rule.kind].days_param, "")
        try:
            text = rule.explain({"count": evidence_count, "days": days}, language)
        except (KeyError, IndexError, ValueError):
            text = ""
    return Why(label, text, contributions)


def _overdue_step_text(alert: Alert, catalog: Catalog) -> str:
    figures = next((c.get("figures") or {} for c in alert.contributions or [] if c.get("rule")), {})
    step = step_label(catalog, "", str(figures.get("step", "")))
    if figures.get("case"):
        return _(
            "El paso «%(step)s» del caso %(case)s venció sin registrarse como hecho.",
            step=step,
            case=case_ref(int(figures["case"])),
        )
    return _("Un paso del protocolo venció sin registrarse como hecho.")


def overdue_case_id(alert: Alert) -> int | None:
    """Return the case whose missed step raised ``alert`` (the overdue-step rule only)."""
    if alert.rule_id != OVERDUE_STEP_RULE:
        return None
    for item in alert.contributions or []:
        case_id = (item.get("figures") or {}).get("case")
        if case_id:
            return int(case_id)
    return None


def step_label(catalog: Catalog, protocol_code: str, step_code: str) -> str:
    """Return a protocol step's words, searching every protocol when none is given."""
    protocols = (
        [catalog.protocols[protocol_code]]
        if protocol_code in catalog.protocols
        else list(catalog.protocols.values())
    )
    for protocol in protocols:
        for step in protocol.steps:
            if step.code == step_code:
                return incident_words.text(step.label)
    return step_code


# --- The timeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One event of an alert, in words."""

    at: datetime
    actor: str
    what: str
    #: The coded reason in words (a dismissal's reason), or empty.
    reason: str = ""
    #: The person's note as typed (the template escapes it).
    note: str = ""
    #: The case an event refers to ("en atención" or resolved by a case).
    case_id: int | None = None


def level_word(level: str) -> str:
    """Return a level in words, lower case for use inside a sentence."""
    return {"medio": _("medio"), "alto": _("alto"), "critico": _("crítico"), "bajo": _("bajo")}.get(
        level, level
    )


def dismiss_reason_label(policy: AlertPolicy | None, code: str | None) -> str:
    """Return a dismissal reason's label in the interface language."""
    if not code:
        return ""
    reason = policy.reason(code) if policy else None
    return reason.label(current_language()) if reason else code


def _what(event: AlertEvent, users: dict[int, User]) -> str:
    data = event.data or {}
    if event.kind == "raised":
        return _("Alerta generada, nivel %(level)s.", level=level_word(data.get("level", "")))
    if event.kind == "evidence":
        count = len(data.get("incidents") or [])
        return ngettext(
            "Se agregó %(num)d incidente como evidencia.",
            "Se agregaron %(num)d incidentes como evidencia.",
            count,
        )
    if event.kind == "assigned":
        name = user_name(users.get(data.get("to")))
        return _("Asignada a %(name)s.", name=name)
    if event.kind == "escalated":
        if data.get("to") == 2:
            return _("Escaló al nivel nacional: nadie la reconoció a tiempo.")
        return _("Escaló a la supervisión del departamento: venció el plazo para reconocerla.")
    if event.kind == "level":
        return _(
            "El nivel subió de %(before)s a %(after)s.",
            before=level_word(data.get("from", "")),
            after=level_word(data.get("to", "")),
        )
    if event.kind == "cleared":
        return _("Se resolvió sola: el nivel se mantuvo bajo durante el tiempo fijado.")
    if event.kind == "reopened":
        return _("Reabierta (estaba «%(before)s»).", before=status_label(event.from_status or ""))
    if event.kind == "transition":
        return _(
            "Pasó de «%(before)s» a «%(after)s».",
            before=status_label(event.from_status or ""),
            after=status_label(event.to_status or ""),
        )
    return event.kind


def timeline(
    alert: Alert, policy: AlertPolicy | None, users: dict[int, User], *, show_notes: bool
) -> list[TimelineEntry]:
    """Return ``alert``'s events in words, newest first.

    ``show_notes`` False (a reader in summary) leaves out what people typed: notes may name a
    child.
    """
    entries = []
    for event in reversed(alert.events):
        data = event.data or {}
        reason, case_id = "", None
        if event.reason and event.reason.startswith("caso:"):
            case_id = int(event.reason.split(":", 1)[1]) if event.reason[5:].isdigit() else None
        elif event.kind == "transition" and event.to_status == "descartada":
            reason = dismiss_reason_label(policy, event.reason)
        if data.get("review_at"):
            review = datetime.fromisoformat(data["review_at"])
            reason = _("Revisar el %(date)s.", date=local_date(review, "long"))
        entries.append(
            TimelineEntry(
                at=event.at,
                actor=user_name(event.actor),
                what=_what(event, users),
                reason=reason,
                note=event.note if show_notes else "",
                case_id=case_id,
            )
        )
    return entries


def assigned_user_ids(alert: Alert) -> set[int]:
    """Return the users the alert's assignment events name, to load them at once."""
    return {
        event.data["to"]
        for event in alert.events
        if event.kind == "assigned" and isinstance((event.data or {}).get("to"), int)
    }


# --- The inbox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    """One alert of the inbox, as far as the reader may see it."""

    alert: Alert
    rule: str
    entity: Entity
    is_overdue: bool
