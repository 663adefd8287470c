"""Databases of their own and real ``flask --app app salve …`` processes, for the job tests.

The scheduler and crash tests run the command line in subprocesses, exactly as an operator would,
against a database migrated and seeded here; nothing is shared with them but the database.
"""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from salve import create_app
from salve.auth import roles as R
from salve.db import utcnow
from salve.extensions import db
from salve.geography.operations import load_geography
from salve.jobs.models import JobRun, SchedulerLease
from salve.schools.models import School, Student
from salve.scoring.models import CurrentRiskScore
from tests import factories
from tests.support.live_server import BIN, ROOT, LiveServer

#: The schedulers' test settings: every job every second, a lease of three seconds.
FAST_SCHEDULE = {"SALVE_SCHEDULER_INTERVAL_SECONDS": "1", "SALVE_SCHEDULER_LEASE_SECONDS": "3"}


def salve_env(database_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of a ``flask --app app …`` process on ``database_url``."""
    return {**LiveServer(database_url, ROOT).environ(), **extra}


@dataclass
class SalveProcess:
    """A ``flask --app app …`` process whose output goes to a file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        """Return the process id."""
        return self.process.pid

    def output(self) -> str:
        """Return what the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def holder(self, timeout: float = 30) -> str:
        """Return the lease holder name the scheduler printed as it started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if "; nombre " in line:
                    return line.rsplit("; nombre ", 1)[1].rstrip(".")
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name} printed no holder name:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send ``sig`` and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"{self.name} did not stop:\n{self.output()}") from None


@dataclass
class JobDatabase:
    """A migrated, seeded database that subprocesses can use, and a way to read it."""

    url: str
    workdir: Path
    engine: sa.Engine
    processes: list[SalveProcess] = field(default_factory=list)

    def start(self, name: str, *args: str, **env: str) -> SalveProcess:
        """Start ``flask --app app ARGS`` in the background."""
        log_path = self.workdir / f"{name}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [str(BIN / "flask"), "--app", "app", *args],
                cwd=ROOT,
                env=salve_env(self.url, **env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started = SalveProcess(name, process, log_path)
        self.processes.append(started)
        return started

    def runs(self) -> list:
        """Return every job run, oldest first."""
        table = JobRun.__table__
        with self.engine.connect() as connection:
            return connection.execute(sa.select(table).order_by(table.c.id)).all()

    def lease(self):
        """Return the lease row (or None before any scheduler took it)."""
        table = SchedulerLease.__table__
        with self.engine.connect() as connection:
            return connection.execute(sa.select(table)).first()

    def scalar(self, query):
        """Return the first column of the first row of ``query``."""
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` until it holds, or fail naming ``what`` and the processes' logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in self.processes)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def prepare_database(url: str, setup: Callable[[School], None] | None = None) -> None:
    """Migrate the database at ``url`` and seed a school and its case handler, then ``setup``.

    Much smaller than the world of tests/conftest.py: each account costs a password hash.
    """
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "x" * 32})
    with app.app_context():
        upgrade()
        load_geography(ROOT / "catalogs" / "geography.csv")
        school = factories.make_school("06")
        factories.make_user("gestor_06", R.GESTOR, department="06", email="gestora@example.org")
        db.session.flush()
        if setup is not None:
            setup(school)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def job_database(request, tmp_path) -> Iterator[JobDatabase]:
    """Yield a fresh database of each backend, migrated and seeded, for subprocesses."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'salve.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"salve_jobs_{uuid.uuid4().hex[:12]}")
    with open_job_database(url, tmp_path) as database:
        yield database


@pytest.fixture
def sqlite_job_database(tmp_path) -> Iterator[JobDatabase]:
    """Yield a fresh SQLite database, migrated and seeded, for subprocesses."""
    with open_job_database(f"sqlite:///{tmp_path / 'salve.db'}", tmp_path) as database:
        yield database


@contextmanager
def open_job_database(
    url: str, workdir: Path, setup: Callable[[School], None] | None = None
) -> Iterator[JobDatabase]:
    """Prepare the database at ``url``; on exit kill whatever process the test left running."""
    prepare_database(url, setup)
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    database = JobDatabase(url, workdir, engine)
    try:
        yield database
    finally:
        for started in database.processes:
            if started.process.poll() is None:
                started.process.kill()
                started.process.wait(timeout=10)
        engine.dispose()


def plant_level_scores(school: School, students: int) -> int:
    """Give ``students`` new students of ``school`` a high score that calls for two alerts each.

    Return how many alerts the ``raise_alerts`` job should raise. The department's case handler
    has an email address, so each raised alert also queues exactly one email.
    """
    db.session.execute(
        sa.insert(Student.__table__),
        [
            {"nie": f"8{n:08d}", "school_id": school.id, "given_names": f"Planta{n}",
             "family_names": "Prueba", "sex": "F", "birth_date": date(2012, 1, 1),
             "grade": "7", "section": "A"}
            for n in range(students)
        ],
    )  # fmt: skip
    ids = db.session.scalars(sa.select(Student.id).where(Student.school_id == school.id)).all()
    contributions = [
        {"rule": "victima_reiterada", "points": 30.0, "figures": {}},
        {"rule": "agresion_reiterada", "points": 30.0, "figures": {}},
    ]
    db.session.execute(
        sa.insert(CurrentRiskScore.__table__),
        [
            {"entity_type": "student", "entity_id": student_id, "score": 60.0, "level": "alto",
             "rules_version": "2026.1", "computed_at": utcnow(), "contributions": contributions}
            for student_id in ids
        ],
    )  # fmt: skip
    return len(ids) * len(contributions)
