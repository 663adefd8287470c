"""Risk scores: rules as data, a vectorised engine, scores stored with their explanation."""

from __future__ import annotations


def init_app(app) -> None:
    """Rescore the students and school of every saved report (``RESCORE_ON_SAVE``)."""
    from salve.incidents.operations import INCIDENT_SAVED_HOOKS
    from salve.scoring.operations import rescore_incident

    app.config.setdefault("RESCORE_ON_SAVE", True)
    if rescore_incident not in INCIDENT_SAVED_HOOKS:
        INCIDENT_SAVED_HOOKS.append(rescore_incident)
