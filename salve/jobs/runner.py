"""Run one job: a ``JobRun`` row first, then the job in its own transaction, one commit, a log line.

The ``running`` row is committed before the job starts, so a process killed halfway leaves it
behind; the next run of the same job marks such rows ``abandoned`` once their process is gone.
The job's transaction begins with write intent (``BEGIN IMMEDIATE`` on SQLite) and ends with the
row set to ``ok`` and the counts: the work and the record of it commit together or not at all.
A run for a scheduler also checks its lease at both ends (see ``salve.jobs.lease``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from salve.db import set_write_intent, utcnow, write_intended
from salve.extensions import db
from salve.jobs.lease import extend_lease, holder_process, holds_lease, new_holder
from salve.jobs.models import JobRun
from salve.jobs.registry import JOBS, Counts

logger = logging.getLogger(__name__)

RUNNING = "running"
OK = "ok"
FAILED = "failed"
#: Its process died (or was killed) before the run ended; the run's work was rolled back.
ABANDONED = "abandoned"
#: A ``running`` row of another machine this old is taken for abandoned.
ABANDON_AFTER = timedelta(hours=1)


class UnknownJob(LookupError):
    """No job has this name."""


class LeaseLost(RuntimeError):
    """The scheduler no longer holds the lease: its run must not commit."""


@dataclass(frozen=True)
class JobOutcome:
    """What one run did."""

    run_id: int
    job: str
    status: str
    counts: Counts
    seconds: float


def run_job(
    name: str,
    now: datetime | None = None,
    holder: str | None = None,
    *,
    lease_seconds: float | None = None,
) -> JobOutcome:
    """Run job ``name`` once as of ``now`` and record the run; re-raise what made it fail.

    With ``lease_seconds`` (a scheduler's run) the job runs only while ``holder`` holds the
    lease, and its commit renews the lease for that long.
    """
    if name not in JOBS:
        raise UnknownJob(name)
    holder = holder or new_holder()
    intended = write_intended()
    set_write_intent(True)
    try:
        run_id = _start(name, holder, now)
        started = time.perf_counter()
        try:
            if lease_seconds is not None and not holds_lease(holder):
                raise LeaseLost(name)
            counts = JOBS[name](now)
            seconds = round(time.perf_counter() - started, 3)
            _finish(run_id, OK, {**_as_of(now), **counts, "seconds": seconds})
            if lease_seconds is not None and not extend_lease(holder, lease_seconds):
                raise LeaseLost(name)
            db.session.commit()
        except BaseException as error:
            db.session.rollback()
            seconds = round(time.perf_counter() - started, 3)
            _record_failure(run_id, name, error, {**_as_of(now), "seconds": seconds})
            raise
    finally:
        set_write_intent(intended)
    logger.info(
        "job %s ok in %.2f s: %s",
        name,
        seconds,
        ", ".join(f"{key}={value}" for key, value in counts.items()) or "nothing to do",
    )
    return JobOutcome(run_id, name, OK, counts, seconds)


def _start(name: str, holder: str, now: datetime | None) -> int:
    """Mark the job's dead runs abandoned and commit a ``running`` row for this one."""
    abandoned = _mark_abandoned(name)
    if abandoned:
        logger.warning("job %s: %d earlier run(s) died halfway; marked abandoned", name, abandoned)
    run = JobRun(
        job=name,
        holder=holder,
        started_at=utcnow(),
        status=RUNNING,
        detail=_as_of(now),
    )
    db.session.add(run)
    db.session.flush()
    run_id = run.id
    db.session.commit()
    return run_id


def _as_of(now: datetime | None) -> dict:
    """The frozen clock a run was given (``--now``), kept in its detail."""
    return {"as_of": now.isoformat()} if now is not None else {}


def _finish(run_id: int, status: str, detail: dict) -> None:
    db.session.execute(
        sa.update(JobRun)
        .where(JobRun.id == run_id)
        .values(status=status, finished_at=utcnow(), detail=detail)
    )


def _record_failure(run_id: int, name: str, error: BaseException, detail: dict) -> None:
    """Log the failure and mark the run failed in a transaction of its own (kind of error only)."""
    kind = type(error).__name__
    if isinstance(error, LeaseLost):
        logger.warning("job %s: the lease was lost; its work was rolled back", name)
    elif isinstance(error, Exception):
        logger.exception("job %s failed after %.2f s", name, detail["seconds"])
    try:
        _finish(run_id, FAILED, {**detail, "error": kind})
        db.session.commit()
    except Exception:  # the database itself is down: the row stays running, later abandoned
        db.session.rollback()
        logger.exception("job %s: could not record its failure", name)


def _mark_abandoned(name: str) -> int:
    """Mark ``running`` rows of ``name`` whose process is gone as abandoned; return how many."""
    now = utcnow()
    here = socket.gethostname()[:80]
    stale = db.session.execute(
        sa.select(JobRun.id, JobRun.holder, JobRun.started_at).where(
            JobRun.job == name, JobRun.status == RUNNING
        )
    ).all()
    dead = []
    for run_id, holder, started_at in stale:
        process = holder_process(holder)
        if process is not None and process[0] == here:
            if not _alive(process[1]):
                dead.append(run_id)
        elif started_at < now - ABANDON_AFTER:
            dead.append(run_id)
    if dead:
        db.session.execute(
            sa.update(JobRun)
            .where(JobRun.id.in_(dead), JobRun.status == RUNNING)
            .values(status=ABANDONED, finished_at=now)
        )
    return len(dead)


def _alive(pid: int) -> bool:
    """Tell whether process ``pid`` of this machine is alive."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
