"""The runner: a recorded run per call, the job's work and its ``ok`` committed together."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.db import utcnow
from salve.extensions import db
from salve.jobs import registry
from salve.jobs.lease import take_lease
from salve.jobs.models import JobRun, SchedulerLease
from salve.jobs.runner import LeaseLost, UnknownJob, run_job
from salve.schools.models import School

HERE = socket.gethostname()


def _runs(job: str) -> list[JobRun]:
    return list(db.session.scalars(sa.select(JobRun).where(JobRun.job == job).order_by(JobRun.id)))


def test_a_failing_job_is_recorded_failed_and_its_work_rolled_back(app, world, monkeypatch):
    def half_done_then_broken(now=None):
        db.session.execute(sa.update(School).values(name="Escrito a medias"))
        raise RuntimeError("la tarea se rompió")

    monkeypatch.setitem(registry.JOBS, "escalate", half_done_then_broken)
    with pytest.raises(RuntimeError):
        run_job("escalate")
    [run] = _runs("escalate")
    assert run.status == "failed"
    assert run.detail["error"] == "RuntimeError"
    assert "se rompió" not in str(run.detail)  # the kind of error, never its message
    assert run.finished_at is not None
    names = db.session.scalars(sa.select(School.name)).all()
    assert "Escrito a medias" not in names


def test_runs_left_running_by_dead_processes_are_marked_abandoned(app, world):
    ended = subprocess.Popen(["true"])
    ended.wait()
    long_ago = utcnow() - timedelta(hours=2)
    rows = {
        "dead here": JobRun(job="escalate", holder=f"{HERE}:{ended.pid}:aa", status="running"),
        "alive here": JobRun(job="escalate", holder=f"{HERE}:{os.getppid()}:bb", status="running"),
        "old elsewhere": JobRun(
            job="escalate", holder="otra-maquina:1:cc", status="running", started_at=long_ago
        ),
        "recent elsewhere": JobRun(job="escalate", holder="otra-maquina:2:dd", status="running"),
        "other job": JobRun(job="rescore", holder=f"{HERE}:{ended.pid}:ee", status="running"),
    }
    db.session.add_all(rows.values())
    db.session.flush()
    outcome = run_job("escalate")
    assert outcome.status == "ok"
    for row in rows.values():
        db.session.refresh(row)
    assert {name: row.status for name, row in rows.items()} == {
        "dead here": "abandoned",
        "alive here": "running",
        "old elsewhere": "abandoned",
        "recent elsewhere": "running",
        "other job": "running",  # only the job being run is looked at
    }


def test_a_scheduler_run_needs_the_lease(app, world):
    with pytest.raises(LeaseLost):
        run_job("escalate", holder="nadie:1:aa", lease_seconds=60)
    assert [run.status for run in _runs("escalate")] == ["failed"]

    assert take_lease("lider:1:bb", 60)
    outcome = run_job("escalate", holder="lider:1:bb", lease_seconds=60)
    assert outcome.status == "ok"
    assert _runs("escalate")[-1].holder == "lider:1:bb"


def test_an_unknown_job_records_nothing(app):
    with pytest.raises(UnknownJob):
        run_job("limpiar")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 0


def test_a_run_whose_scheduler_lost_the_lease_meanwhile_commits_nothing(app, world, monkeypatch):
    def taken_over_halfway(now=None):
        db.session.execute(sa.update(School).values(name="Escrito por un ex líder"))
        # Meanwhile this scheduler stalled, its lease expired and another one took it.
        db.session.execute(sa.update(SchedulerLease).values(holder="otro:2:bb"))
        return {"escalated": 1}

    assert take_lease("lider:1:aa", 60)
    monkeypatch.setitem(registry.JOBS, "escalate", taken_over_halfway)
    with pytest.raises(LeaseLost):
        run_job("escalate", holder="lider:1:aa", lease_seconds=60)
    [run] = _runs("escalate")
    assert (run.status, run.detail["error"]) == ("failed", "LeaseLost")
    assert "Escrito por un ex líder" not in db.session.scalars(sa.select(School.name)).all()
