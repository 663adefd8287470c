"""A job killed halfway (kill -9, no cleanup) and run again: nothing lost, nothing doubled.

SECURITY.md item 25. ``salve jobs run raise_alerts`` runs in a real process on a SQLite database
holding many scores that call for alerts; the test kills it while it raises them, runs the job
again, and counts alerts and queued emails.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
import sqlalchemy as sa

from salve import create_app
from salve.alerts.models import OPEN, Alert
from salve.extensions import db
from salve.jobs.runner import JobOutcome, run_job
from salve.notifications.models import InboxMessage, OutboxMessage
from tests.jobs.conftest import open_job_database, plant_level_scores

#: Students planted with a high score; each calls for two alerts (one per rule).
STUDENTS = 120
#: How long into the job's transaction it is killed; a whole run takes several times longer.
KILL_AFTER = 0.25


@pytest.fixture
def planted(tmp_path):
    """Yield a SQLite database with scores calling for alerts, and how many alerts they call for."""
    wanted = {}

    def plant(school):
        wanted["alerts"] = plant_level_scores(school, STUDENTS)

    with open_job_database(f"sqlite:///{tmp_path / 'salve.db'}", tmp_path, plant) as database:
        yield database, wanted["alerts"]


def run_here(database, job: str) -> JobOutcome:
    """Run ``job`` in this process on the test's database (a rerun need not be a process)."""
    app = create_app({"ENV": "testing", "DATABASE_URL": database.url, "SECRET_KEY": "x" * 32})
    with app.app_context():
        try:
            return run_job(job)
        finally:
            db.session.remove()
            db.engine.dispose()


def writing(database) -> bool:
    """Tell whether a transaction holds the SQLite database's write lock right now."""
    path = database.url.removeprefix("sqlite:///")
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # database is locked
        return True
    finally:
        probe.close()


def _count(database, model, *where) -> int:
    return database.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_a_job_killed_halfway_and_rerun_leaves_no_duplicate_alert_or_email(planted):
    database, wanted = planted
    killed = database.start("killed", "salve", "jobs", "run", "raise_alerts")
    database.wait_for(lambda: database.runs(), 60, "the run to start")
    database.wait_for(lambda: writing(database), 30, "the job's transaction to begin")
    time.sleep(KILL_AFTER)
    assert writing(database), "the job ended before the kill: plant more scores"
    killed.process.kill()
    killed.process.wait(timeout=10)
    [cut_short] = database.runs()
    assert cut_short.status == "running", "the run ended before the kill: plant more scores"

    rerun = run_here(database, "raise_alerts")
    assert rerun.counts["raised"] == wanted
    first, second = database.runs()
    assert (first.status, second.status) == ("abandoned", "ok")
    assert second.detail["seconds"] > KILL_AFTER  # a whole run takes longer than the kill waited
    print(f"a whole run of {wanted} alerts took {second.detail['seconds']:.2f} s")

    open_alerts = Alert.status.in_(OPEN)
    assert _count(database, Alert, open_alerts) == wanted
    doubled = database.scalar(
        sa.select(sa.func.count()).select_from(
            sa.select(Alert.rule_id, Alert.entity_type, Alert.entity_id)
            .where(open_alerts)
            .group_by(Alert.rule_id, Alert.entity_type, Alert.entity_id)
            .having(sa.func.count() > 1)
            .subquery()
        )
    )
    assert doubled == 0
    # One email and one in-app notice per alert, to its case handler.
    assert _count(database, OutboxMessage) == wanted
    assert _count(database, InboxMessage) == wanted

    again = run_here(database, "raise_alerts")
    assert again.counts["raised"] == 0
    assert _count(database, Alert) == wanted
    assert _count(database, OutboxMessage) == wanted
