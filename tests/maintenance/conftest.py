"""Databases of their own for the backup tests, and a report with a case for the retention tests.

A backup reads the database through its own connection (sqlite3, pg_dump), so it sees committed
rows only: the backup tests cannot run inside the rolled-back transaction of the ``app``
fixture. They get databases migrated and seeded here, one per backend, and empty ones to
restore into.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from salve import create_app
from salve.alerts import operations as alerts
from salve.alerts.models import OPEN, Alert
from salve.cases import operations as cases
from salve.cases.models import Case
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import operations as incidents
from tests.alerts.test_operations import _file_sexual_violence, _student_alert
from tests.conftest import seed_world
from tests.factories import report_payload
from tests.scoring.test_persistence import _plant_bullying, _user


def make_app(url: str) -> Flask:
    """Return an app on the database at ``url`` (not migrated)."""
    return create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "s" * 32})


def close_case_of_an_immediate_report(world) -> tuple[Case, int]:
    """File a report of sexual violence, work its case to closure; return (case, incident id).

    Every other alert the report raised is dismissed, so nothing about it is left open.
    """
    incident = _file_sexual_violence(world, narrative="Relato de prueba del caso cerrado.")
    gestor, supervisor = _user("gestor_06"), _user("supervisor_06")
    alert = _student_alert(world)
    alerts.transition(gestor, alert, "reconocida")
    case = cases.open_case(gestor, alert, current_catalog())
    referral = cases.refer(gestor, case, "FGR", current_catalog(), note="Aviso por escrito.")
    for n in range(3):
        cases.add_follow_up(gestor, case, f"Visita {n + 1}: la familia colabora.")
    cases.update_referral(gestor, referral, "aceptada", reference="FGR-2026-0099")
    cases.update_referral(gestor, referral, "concluida")
    for step in case.steps:
        cases.complete_step(gestor, step, "Hecho con la familia.")
    cases.request_closure(gestor, case, "Protección, aviso a la FGR y tres visitas.")
    cases.approve_closure(supervisor, case)
    others = db.session.scalars(sa.select(Alert).where(Alert.status.in_(OPEN))).all()
    for other in others:
        if other.status == "abierta":
            alerts.transition(supervisor, other, "reconocida")
        alerts.transition(supervisor, other, "descartada", reason="duplicada")
    db.session.flush()
    return case, incident.id


def seed_reports(world) -> None:
    """File reports that raise alerts, a bullying pattern, and a closed case."""
    close_case_of_an_immediate_report(world)
    _plant_bullying(world)
    incidents.file_incident(
        _user("docente_c"),
        report_payload(
            world,
            school=world.school_c,
            parties=[
                {"role": "victima", "kind": "estudiante", "nie": world.students_c[0]},
                {"role": "agresor", "kind": "externo", "description": "un vecino"},
            ],
            types=["PSI_AMENAZAS"],
            relationship="familiar_externo_estudiante",
        ),
        current_catalog(),
    )


def prepare(url: str) -> None:
    """Migrate the database at ``url`` and seed it with accounts, reports, alerts and a case."""
    app = make_app(url)
    with app.app_context():
        upgrade()
        world = seed_world()
        seed_reports(world)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@dataclass
class Databases:
    """Makes databases of one backend: the seeded source and empty ones to restore into."""

    backend: str
    folder: Path
    create: Callable[[str], str]

    def empty(self) -> str:
        """Return the URL of a new, empty database."""
        return self.create(f"salve_empty_{uuid.uuid4().hex[:10]}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def databases(request, tmp_path_factory) -> Databases:
    """Return how to make databases of each backend."""
    folder = tmp_path_factory.mktemp(f"backup-{request.param}")
    if request.param == "sqlite":
        return Databases("sqlite", folder, lambda name: f"sqlite:///{folder / name}.db")
    server = request.getfixturevalue("postgres_server")
    return Databases("postgresql", folder, server.create_database)


@pytest.fixture(scope="module")
def source(databases) -> Iterator[str]:
    """Yield the URL of a migrated database seeded with accounts, reports, alerts and a case."""
    url = databases.create(f"salve_source_{uuid.uuid4().hex[:10]}")
    prepare(url)
    yield url


def table_counts(url: str) -> dict[str, int]:
    """Return the row count of every table of the database at ``url``."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            names = sa.inspect(connection).get_table_names()
            return {
                name: connection.scalar(sa.select(sa.func.count()).select_from(sa.table(name)))
                for name in sorted(names)
            }
    finally:
        engine.dispose()


def table_rows(url: str, table: str) -> list[tuple]:
    """Return every row of ``table`` at ``url``, ordered by its primary key."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
            order = list(reflected.primary_key.columns) or list(reflected.columns)
            return [tuple(row) for row in connection.execute(sa.select(reflected).order_by(*order))]
    finally:
        engine.dispose()
