"""The jobs by name, their schedule from the policy, and when the server runs them itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from salve.alerts.policy import JOB_NAMES, load_policy
from salve.jobs import registry
from salve.jobs.scheduler import plan, should_run_in_process

POLICY = load_policy(Path(__file__).resolve().parents[2] / "catalogs" / "alerts.yaml")
NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)


def test_every_job_of_the_policy_has_a_body():
    assert tuple(registry.JOBS) == JOB_NAMES


def test_the_schedule_comes_from_the_policy():
    planned = {job.name: job for job in plan(POLICY)}
    assert isinstance(planned["raise_alerts"].trigger, IntervalTrigger)
    assert planned["raise_alerts"].trigger.interval.total_seconds() == 5 * 60
    assert planned["raise_alerts"].description == "cada 5 min"
    digest = planned["digest"].trigger
    assert isinstance(digest, CronTrigger)
    # 07:00 in El Salvador (UTC-6, no daylight saving) is 13:00 UTC.
    assert digest.get_next_fire_time(None, NOW).astimezone(UTC) == datetime(
        2026, 3, 2, 13, 0, tzinfo=UTC
    )
    quick = plan(POLICY, interval_seconds=1)
    assert {job.trigger.interval.total_seconds() for job in quick} == {1.0}


@pytest.mark.parametrize(
    ("job", "module", "function"),
    [("send_mail", "sending", "send_pending"), ("digest", "digest", "send_digest")],
)
def test_the_mail_jobs_pass_their_clock_on(job, module, function, monkeypatch):
    seen = []

    def double(now=None):
        seen.append(now)
        return {"sent": 2, "note": "texto"}  # only numbers are counts

    monkeypatch.setattr(f"salve.notifications.{module}.{function}", double)
    assert registry.JOBS[job](NOW) == {"sent": 2}
    assert seen == [NOW]


ASKED = {"SCHEDULER_IN_PROCESS": 1}


@pytest.mark.parametrize(
    ("config", "command", "debug", "reloader_child", "runs"),
    [
        ({}, "run", False, False, False),  # not asked
        (ASKED, "run", False, False, True),  # make run: flask run without the reloader
        (ASKED, "run", True, False, False),  # the reloader's watcher process
        (ASKED, "run", True, True, True),  # the reloader's serving child
        (ASKED, "salve", False, False, False),  # another command (salve init, salve scheduler)
        (ASKED, None, False, False, False),  # gunicorn: the scheduler is a process of its own
        ({**ASKED, "ENV": "testing"}, "run", False, False, False),
    ],
)
def test_the_development_server_runs_the_jobs_only_when_asked(
    config, command, debug, reloader_child, runs, monkeypatch
):
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true" if reloader_child else "")
    app = SimpleNamespace(config=config, testing=False, debug=debug)
    if command is None:
        assert should_run_in_process(app) is runs
    else:
        with click.Context(click.Command(command)):
            assert should_run_in_process(app) is runs


def test_tests_never_run_the_scheduler(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_IN_PROCESS", True)
    assert not should_run_in_process(app)
