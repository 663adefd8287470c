"""The log guard (tests/support/log_guard.py) knows the suite's secrets and fails on a leak.

In this session: what the suite creates (names, narratives, cookies, tokens, passwords) is
registered. In a pytest run of its own, on a tiny test file: a name that reaches a log or a
password written to stderr fails that run, plain and under xdist, naming the kind of secret and
where it was seen, never the secret itself; a run without leaks passes.
"""

from __future__ import annotations

import logging
import logging.config
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.operations import file_incident
from salve.schools.models import School
from tests import factories
from tests.api.conftest import token_for
from tests.support.log_guard import PLUGIN_NAME, server_output

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def guard(request):
    """Return this session's guard."""
    return request.config.pluginmanager.get_plugin(PLUGIN_NAME).guard


def test_what_the_suite_creates_is_registered(guard, app, client, login_as, world):
    school = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    student = factories.make_student(school, given_names="Ximena Guadalupe")
    assert guard.kind_of("ximena guadalupe") == "student name"
    assert guard.kind_of(f"Ximena Guadalupe {student.family_names}") == "student name"

    docente = db.session.scalar(sa.select(User).where(User.username == "docente_a"))
    payload = factories.report_payload(world, narrative="Le quitaron la merienda en el patio.")
    file_incident(docente, payload, current_catalog())
    assert guard.kind_of("Le quitaron la merienda en el patio.") == "incident narrative"

    login_as("docente_a")
    cookie = client.get_cookie("salve_session")
    assert cookie is not None and guard.kind_of(cookie.value) == "session cookie or token"
    assert guard.kind_of(token_for("docente_a")) == "API token"
    assert guard.kind_of(factories.PASSWORD) == "password"
    assert guard.kind_of(app.config["SECRET_KEY"]) == "secret key"


def test_log_records_are_kept_even_after_alembic_reconfigures_logging(guard):
    # What migrations/env.py does at every upgrade(): the root logger's handlers are replaced.
    logging.config.fileConfig(ROOT / "migrations" / "alembic.ini", disable_existing_loggers=False)
    before = guard.records
    logging.getLogger("salve.pruebas").info("registro inocente de prueba")
    assert guard.records == before + 1
    assert guard.entries[-1][2] == "registro inocente de prueba"


def test_secrets_too_short_or_without_letters_are_not_guarded(guard):
    guard.register("password", "abc12")
    guard.register("password", "2026-11-24 10:00")
    assert guard.kind_of("abc12") is None
    assert guard.kind_of("2026-11-24 10:00") is None


def test_a_live_servers_log_is_searched_but_not_its_preparation():
    log = (
        "$ flask --app app salve demo --scale small --seed 1  # 20.1 s\n"
        "Contraseña de todas las cuentas de demostración: salve-demo-2026\n"
        "$ gunicorn --bind 127.0.0.1:5001 --workers 2 app:app\n"
        '127.0.0.1 - - "GET /inicio HTTP/1.1" 200\n'
    )
    assert server_output(log) == '127.0.0.1 - - "GET /inicio HTTP/1.1" 200'


# --- A run of its own -------------------------------------------------------------------------

LEAKY = """
import logging
import sys
from datetime import date

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import salve.models  # the whole schema: mappers configure
from salve.schools.models import Student
from tests.factories import PASSWORD


def test_a_student_name_reaches_a_log():
    engine = create_engine("sqlite://")
    Student.__table__.create(engine)
    with Session(engine) as session:
        student = Student(
            nie="1234567", school_id=1, given_names="Fulanita", family_names="Ejemplar Tercera",
            sex="F", birth_date=date(2012, 5, 1), grade="3", section="A",
        )
        session.add(student)
        session.flush()
    logging.getLogger("salve.prueba").warning(
        "atendida: %s %s", student.given_names, student.family_names
    )


def test_a_password_reaches_stderr():
    print("contraseña:", PASSWORD, file=sys.stderr)
"""

CLEAN = """
import logging


def test_nothing_personal_is_logged():
    logging.getLogger("salve.prueba").warning("alerta 12 escalada al nivel nacional")
"""


def _run(tmp_path: Path, source: str, *options: str) -> subprocess.CompletedProcess:
    test_file = tmp_path / "test_guarded.py"
    test_file.write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    command = [
        sys.executable, "-m", "pytest", str(test_file), "-p", "tests.support.log_guard",
        "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"),
        "--rootdir", str(tmp_path), *options,
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["plain", "xdist"])
def test_a_leak_fails_the_run_without_showing_the_secret(tmp_path, options):
    result = _run(tmp_path, LEAKY, *options)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "2 passed" in output  # the tests passed; the guard failed the run
    assert "log guard: secrets in the logs" in output
    assert "a student name appeared in logger 'salve.prueba'" in output
    assert "test_guarded.py::test_a_student_name_reaches_a_log" in output
    assert "a password appeared in stderr" in output
    assert "Fulanita" not in output and "Ejemplar" not in output
    assert factories.PASSWORD not in output


def test_a_run_without_leaks_passes(tmp_path):
    result = _run(tmp_path, CLEAN)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "nothing leaked" in output
