"""What a case page shows: statuses, protocol steps and their deadlines, referrals, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from salve.alerts.presenting import alert_ref, step_label, user_name
from salve.cases.models import (
    ACEPTADA,
    CONCLUIDA,
    RECHAZADA,
    REVOCADA,
    Case,
    CaseEvent,
    CaseStep,
    Referral,
)
from salve.cases.operations import REFERRAL_TRANSITIONS
from salve.catalog.entries import Catalog
from salve.incidents import presenting as incident_words


def status_label(status: str) -> str:
    """Return a case status in words."""
    return {
        "abierto": _("Abierto"),
        "cierre_solicitado": _("Cierre solicitado"),
        "cerrado": _("Cerrado"),
    }.get(status, status)


def referral_status_label(status: str) -> str:
    """Return a referral status in words."""
    return {
        "enviada": _("Enviada"),
        "aceptada": _("Aceptada"),
        "rechazada": _("Rechazada"),
        "concluida": _("Concluida"),
        "revocada": _("Revocada"),
    }.get(status, status)


def institution_label(catalog: Catalog, code: str) -> str:
    """Return an institution's name, or its code when the catalog no longer has it."""
    return incident_words.entry_label(catalog.institutions, code)


# --- Protocol steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    """A protocol step of the case, in words, with its deadline."""

    step: CaseStep
    label: str
    is_overdue: bool


def steps_of(case: Case, catalog: Catalog, now: datetime) -> list[StepView]:
    """Return the case's steps by deadline; a pending step past its deadline is overdue."""
    return [
        StepView(
            step=step,
            label=step_label(catalog, step.protocol, step.code),
            is_overdue=step.done_at is None and step.due_at < now,
        )
        for step in case.steps
    ]


# --- Referrals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralMove:
    """An answer a referral may get now."""

    to: str
    label: str
    needs_reason: bool


def referral_moves(referral: Referral) -> list[ReferralMove]:
    """Return the answers ``referral`` may get from its status."""
    labels = {
        ACEPTADA: _("La institución la aceptó"),
        RECHAZADA: _("La institución la rechazó"),
        CONCLUIDA: _("La institución concluyó su parte"),
        REVOCADA: _("Revocar la referencia"),
    }
    return [
        ReferralMove(to, labels.get(to, to), to in (RECHAZADA, REVOCADA))
        for to in REFERRAL_TRANSITIONS.get(referral.status, ())
    ]


# --- The timeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One event of a case, in words."""

    at: datetime
    actor: str
    what: str
    #: The reason as typed (the template escapes it).
    reason: str = ""


def _what(event: CaseEvent, catalog: Catalog) -> str:
    data = event.data or {}
    kind = event.kind
    if kind == "opened":
        return _(
            "Caso abierto para la alerta %(ref)s.", ref=alert_ref(int(data.get("alert_id", 0)))
        )
    if kind == "follow_up":
        return _("Registró un seguimiento.")
    if kind == "referral":
        return _(
            "Refirió el caso a %(institution)s.",
            institution=institution_label(catalog, data.get("institution", "")),
        )
    if kind == "referral_status":
        return _(
            "Una referencia pasó de «%(before)s» a «%(after)s».",
            before=referral_status_label(data.get("from", "")),
            after=referral_status_label(data.get("to", "")),
        )
    if kind == "step_done":
        return _("Paso hecho: %(step)s.", step=step_label(catalog, "", data.get("step", "")))
    if kind == "step_overdue":
        return _("Paso vencido: %(step)s.", step=step_label(catalog, "", data.get("step", "")))
    if kind == "closure_requested":
        return _("Solicitó el cierre del caso.")
    if kind == "closure_refused":
        return _("Devolvió el caso sin cerrarlo.")
    if kind == "closed":
        return _("Cerró el caso.")
    if kind == "reopened":
        return _("Reabrió el caso.")
    return kind


def timeline(case: Case, catalog: Catalog) -> list[TimelineEntry]:
    """Return the case's events in words, newest first."""
    return [
        TimelineEntry(event.at, user_name(event.actor), _what(event, catalog), event.reason or "")
        for event in reversed(case.events)
    ]
