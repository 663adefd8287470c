"""Scheduled jobs: plain job bodies, a runner that records each run, a scheduler under a lease."""

from __future__ import annotations


def init_app(app) -> None:
    """Set the scheduler's defaults; start it inside the development server when configured."""
    from salve.jobs.scheduler import should_run_in_process, start_in_process

    # How long a scheduler leads without renewing (SALVE_SCHEDULER_LEASE_SECONDS).
    app.config.setdefault("SCHEDULER_LEASE_SECONDS", 60)
    # Run the jobs inside this process too (`make run` sets SALVE_SCHEDULER_IN_PROCESS=1).
    app.config.setdefault("SCHEDULER_IN_PROCESS", False)
    # Tests only: fire every job every N seconds instead of the policy's schedule.
    app.config.setdefault("SCHEDULER_INTERVAL_SECONDS", None)
    if should_run_in_process(app):
        start_in_process(app)
