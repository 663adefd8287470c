"""Scheduled jobs: the leader lease that lets one scheduler run them, and a log of each run."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from salve.db import utcnow
from salve.extensions import db


class SchedulerLease(db.Model):
    """Who leads: the one scheduler allowed to run jobs until ``expires_at``.

    A scheduler takes the lease when it is free or expired and renews it while alive; a second
    scheduler started by mistake finds it held and runs nothing.
    """

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    #: host:pid:random of the holder.
    holder: Mapped[str] = mapped_column(sa.String(120))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class JobRun(db.Model):
    """One run of a job: when, by whom, how it ended and what it did (counts only)."""

    __tablename__ = "job_runs"
    __table_args__ = (sa.Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(40))
    holder: Mapped[str] = mapped_column(sa.String(120))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    #: running, ok, failed, or abandoned (its process died; marked by a later run).
    status: Mapped[str] = mapped_column(sa.String(10), default="running")
    #: Counts and timings, never personal data.
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
