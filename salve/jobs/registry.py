"""The job bodies: plain functions of ``now`` that return what they did as counts.

Each one is idempotent: run twice, or killed halfway and run again, it leaves the same result,
because the operations it calls look before they write (one open alert per rule and entity,
one outbox row per key, an escalation step recorded on the alert). They only flush; the runner
(``salve.jobs.runner``) commits. The schedule of each lives in ``catalogs/alerts.yaml``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime

from salve.db import utcnow

#: What a job returns: how many things of each kind it touched (never who or what).
Counts = dict[str, int]


def _counts(result, key: str) -> Counts:
    """Turn what an operation returned (a number, a mapping or a dataclass) into counts."""
    if result is None:
        return {}
    if isinstance(result, bool):
        return {key: int(result)}
    if isinstance(result, int):
        return {key: result}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if isinstance(result, Mapping):
        return {
            str(name): int(value)
            for name, value in result.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
    raise TypeError(f"a job returned {type(result).__name__}, not counts")


def rescore(now: datetime | None = None) -> Counts:
    """Rescore every student and school of the nation as of ``now``."""
    from salve.catalog.queries import current_catalog
    from salve.scoring.operations import rescore as rescore_nation

    report = rescore_nation(current_catalog(), as_of=now or utcnow())
    return {"scored": report.scored, "changed": report.changed}


def raise_alerts(now: datetime | None = None) -> Counts:
    """Raise or update the alerts the stored scores call for; clear the quiet ones."""
    from salve.alerts.operations import raise_from_scores
    from salve.extensions import db

    # Committed in batches: a national run takes seconds and must not hold SQLite's lock.
    return _counts(raise_from_scores(now=now or utcnow(), checkpoint=db.session.commit), "raised")


def escalate(now: datetime | None = None) -> Counts:
    """Escalate open alerts past their acknowledgement deadline."""
    from salve.alerts.operations import escalate_overdue

    return _counts(escalate_overdue(now=now or utcnow()), "escalated")


def overdue_steps(now: datetime | None = None) -> Counts:
    """Raise an alert for each protocol step of an open case past its deadline."""
    from salve.cases.operations import raise_overdue_steps

    return _counts(raise_overdue_steps(now=now or utcnow()), "overdue_steps")


def send_mail(now: datetime | None = None) -> Counts:
    """Deliver the outbox's pending emails."""
    from salve.notifications.sending import send_pending

    return _counts(send_pending(now=now or utcnow()), "sent")


def digest(now: datetime | None = None) -> Counts:
    """Queue the daily digest of medium-level alerts for each case handler."""
    from salve.notifications.digest import send_digest

    return _counts(send_digest(now=now or utcnow()), "digests")


def anonymise(now: datetime | None = None) -> Counts:
    """Anonymise what is past its retention period; delete expired notices, sessions, drafts."""
    from salve.extensions import db
    from salve.maintenance.retention import run

    # Committed in batches, like raise_alerts: a killed run loses one batch, redone next time.
    return _counts(run(now or utcnow(), checkpoint=db.session.commit), "anonymised")


#: Every job by name, in the order of ``salve.alerts.policy.JOB_NAMES``.
JOBS: dict[str, Callable[[datetime | None], Counts]] = {
    "rescore": rescore,
    "raise_alerts": raise_alerts,
    "escalate": escalate,
    "overdue_steps": overdue_steps,
    "send_mail": send_mail,
    "digest": digest,
    "anonymise": anonymise,
}

#: How the command line names each count, in Spanish.
COUNT_LABELS = {
    "scored": "puntuados",
    "changed": "cambiaron",
    "raised": "levantadas",
    "updated": "actualizadas",
    "cleared": "despejadas",
    "escalated": "escaladas",
    "overdue_steps": "pasos vencidos",
    "sent": "enviados",
    "retried": "por reintentar",
    "failed": "fallidos",
    "uncertain": "inciertos",
    "alerts": "alertas",
    "recipients": "destinatarios",
    "queued": "en cola",
    "digests": "resúmenes",
    "cases_anonymised": "casos anonimizados",
    "incidents_anonymised": "reportes anonimizados",
    "students_anonymised": "estudiantes anonimizados",
    "inbox_deleted": "avisos borrados",
    "outbox_deleted": "correos borrados",
    "sessions_deleted": "sesiones borradas",
    "throttles_deleted": "bloqueos de ingreso borrados",
    "drafts_deleted": "borradores borrados",
}
