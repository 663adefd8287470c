"""The scheduler: APScheduler firing the jobs of ``catalogs/alerts.yaml``, run only by the leader.

Every scheduler fires every job on time, but a firing first takes or renews the leader lease and
does nothing when another scheduler holds it; a heartbeat renews it every third of its length
between jobs. So a second scheduler started by mistake (or the one inside ``make run``) stands by
and takes over within one lease when the leader dies (SECURITY.md item 24). ``coalesce`` folds a
backlog into one run, ``max_instances=1`` forbids a run over a run, and ``misfire_grace_time``
comes from the policy, since APScheduler's default (1 s) would silently skip late runs.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass
from datetime import datetime

import click
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from salve.alerts.policy import AlertPolicy, JobSchedule
from salve.db import set_write_intent, write_intended
from salve.i18n import LOCAL_TZ
from salve.jobs.lease import new_holder, release_lease, take_lease
from salve.jobs.registry import JOBS
from salve.jobs.runner import run_job

logger = logging.getLogger(__name__)

#: The heartbeat's job id (not a job of the registry, never recorded as a run).
HEARTBEAT = "_lease_heartbeat"


@dataclass(frozen=True)
class Planned:
    """A job as the scheduler will fire it."""

    name: str
    trigger: BaseTrigger
    #: The schedule in Spanish, for the command line.
    description: str


def describe(schedule: JobSchedule, interval_seconds: float | None = None) -> str:
    """Say in Spanish when a job runs."""
    if interval_seconds:
        return f"cada {interval_seconds:g} s (intervalo de prueba)"
    if schedule.minutes is not None:
        return f"cada {schedule.minutes} min"
    return f"cada día a las {schedule.hour:02d}:{schedule.minute:02d} (hora de El Salvador)"


def plan(policy: AlertPolicy, interval_seconds: float | None = None) -> list[Planned]:
    """Build each job's trigger from the policy (or, for tests, one short interval for all)."""
    planned = []
    for schedule in policy.jobs:
        if interval_seconds:
            trigger = IntervalTrigger(seconds=interval_seconds, timezone=LOCAL_TZ)
        elif schedule.minutes is not None:
            trigger = IntervalTrigger(minutes=schedule.minutes, timezone=LOCAL_TZ)
        else:
            trigger = CronTrigger(hour=schedule.hour, minute=schedule.minute, timezone=LOCAL_TZ)
        planned.append(Planned(schedule.name, trigger, describe(schedule, interval_seconds)))
    return planned


class JobScheduler:
    """One process's scheduler: its jobs, its name as a lease holder, its heartbeat."""

    def __init__(self, app, *, background: bool = False, holder: str | None = None):
        from salve.alerts.policy import policy_in_force

        self.app = app
        self.holder = holder or new_holder()
        self.lease_seconds = float(app.config["SCHEDULER_LEASE_SECONDS"])
        with app.app_context():
            policy = policy_in_force()
        self.plan = plan(policy, app.config.get("SCHEDULER_INTERVAL_SECONDS"))
        kind = BackgroundScheduler if background else BlockingScheduler
        self.scheduler: BaseScheduler = kind(
            timezone=LOCAL_TZ,
            executors={"default": ThreadPoolExecutor(max_workers=len(JOBS) + 2)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": policy.misfire_grace_seconds,
            },
        )
        for job in self.plan:
            self.scheduler.add_job(self._fire, job.trigger, args=[job.name], id=job.name,
                                   name=job.name)  # fmt: skip
        self.scheduler.add_job(
            self._heartbeat,
            IntervalTrigger(seconds=max(self.lease_seconds / 3, 0.5), timezone=LOCAL_TZ),
            id=HEARTBEAT,
            name="lease heartbeat",
            next_run_time=datetime.now(LOCAL_TZ),  # take the lease at once
            misfire_grace_time=None,
        )
        self.is_leader: bool | None = None
        self._running = 0
        self._idle = threading.Condition()
        self._stopped = False
        self._signalled = False

    # --- firing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _working(self):
        """Count the work in progress, which ``stop`` waits for; yield False once stopping."""
        with self._idle:
            stopping = self._stopped
            if not stopping:
                self._running += 1
        if stopping:  # fired just before stop(): the lease may be gone already
            yield False
            return
        try:
            yield True
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _fire(self, name: str) -> None:
        with self._working() as working, self.app.app_context():
            if not working or not self._take():
                return
            # A failure is logged and recorded as a failed run by run_job; fire again later.
            with contextlib.suppress(Exception):
                run_job(name, holder=self.holder, lease_seconds=self.lease_seconds)

    def _heartbeat(self) -> None:
        with self._working() as working, self.app.app_context():
            if working:
                self._take()

    def _take(self) -> bool:
        """Take or renew the lease; tell whether this scheduler may run jobs now."""
        intended = write_intended()
        set_write_intent(True)
        try:
            held = take_lease(self.holder, self.lease_seconds)
        except SQLAlchemyError as error:
            logger.warning("scheduler lease: not taken this time (%s)", type(error).__name__)
            return False
        finally:
            set_write_intent(intended)
        if held != self.is_leader:
            self.is_leader = held
            if held:
                logger.info("scheduler %s leads: it runs the jobs", self.holder)
            else:
                logger.info("scheduler %s stands by: another scheduler leads", self.holder)
        return held

    # --- life -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start firing (a background scheduler returns at once; a blocking one at ``stop``)."""
        self.scheduler.start()

    def run_until_stopped(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT; then stop cleanly."""

        def on_signal(_signum, _frame):
            if self._signalled:  # asked again (or the same signal sent to the process group)
                logger.warning(
                    "scheduler stopping: waiting for the jobs running now (kill -9 aborts)"
                )
                return
            self._signalled = True
            # Stop firing; the main thread returns from start() and waits for running jobs.
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.scheduler.start()
        finally:
            try:
                self.stop()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def stop(self) -> None:
        """Stop firing, wait for the jobs running now, and let the lease go."""
        with self._idle:
            self._stopped = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0)
        with self.app.app_context():
            try:
                if release_lease(self.holder):
                    logger.info("scheduler %s released the lease", self.holder)
            except SQLAlchemyError as error:  # it expires by itself within one lease
                logger.warning("scheduler lease not released (%s)", type(error).__name__)


def should_run_in_process(app) -> bool:
    """Tell whether this process is the development server that runs the jobs itself.

    Only with ``SCHEDULER_IN_PROCESS``, never in tests, only while ``flask run`` loads the app
    (not gunicorn, not another command), and only in the process that serves: the reloader's
    child, or the one process when the reloader is off. A mistake here still runs nothing twice:
    an in-process scheduler takes the lease like any other.
    """
    if not app.config.get("SCHEDULER_IN_PROCESS") or app.testing:
        return False
    if app.config.get("ENV") == "testing":
        return False
    command = click.get_current_context(silent=True)
    if command is None or command.command.name != "run":
        return False
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true" or not app.debug


def start_in_process(app) -> JobScheduler:
    """Start a background scheduler in this process; stop it when the process exits."""
    jobs_logger = logging.getLogger("salve.jobs")
    if not logging.getLogger().handlers and not jobs_logger.handlers:
        # The development server configures no logging: show the runs' counts in its console.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        jobs_logger.addHandler(handler)
        jobs_logger.setLevel(logging.INFO)
    scheduler = JobScheduler(app, background=True)
    scheduler.start()
    app.extensions["salve_scheduler"] = scheduler
    atexit.register(scheduler.stop)
    logger.info("scheduler started inside the server as %s", scheduler.holder)
    return scheduler
