"""Alerts: rule results a case handler must see, with their lifecycle."""

from __future__ import annotations


def init_app(app) -> None:
    """Raise the immediate rules' alerts in the transaction that saves each report.

    Registered after the rescoring hook, so a report's scores and its alerts land together.
    """
    from salve.alerts.operations import raise_immediate_alerts
    from salve.incidents.operations import INCIDENT_SAVED_HOOKS

    if raise_immediate_alerts not in INCIDENT_SAVED_HOOKS:
        INCIDENT_SAVED_HOOKS.append(raise_immediate_alerts)
