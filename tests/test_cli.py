"""The ``salve`` command line: init and create-user."""

from __future__ import annotations

import sqlalchemy as sa

from salve import create_app
from salve.auth.models import User
from salve.auth.passwords import verify_password
from salve.extensions import db
from salve.geography.models import District


def test_init_creates_a_database_and_is_idempotent(tmp_path):
    # A fresh database of its own: `init` migrates, which the test transaction cannot wrap.
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"})
    runner = app.test_cli_runner()
    first = runner.invoke(args=["salve", "init"])
    assert first.exit_code == 0, first.output
    assert "14 departamentos, 44 municipios y 262 distritos" in first.output
    second = runner.invoke(args=["salve", "init"])
    assert second.exit_code == 0, second.output
    assert "0 departamentos" in second.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(District)) == 262
        db.engine.dispose()


def test_create_user_reads_the_password_from_stdin(runner, world):
    result = runner.invoke(
        args=["salve", "create-user", "nueva.directora", "--role", "director", "--school",
              world.school_b, "--password-stdin"],
        input="una frase bastante larga\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "nueva.directora"))
    assert user.roles == {"director"}
    assert user.role_assignments[0].school.code == world.school_b
    assert verify_password(user.password_hash, "una frase bastante larga")


def test_create_user_refuses_a_role_without_its_scope(runner, world):
    result = runner.invoke(
        args=["salve", "create-user", "sin.escuela", "--role", "docente", "--password-stdin"],
        input="una frase bastante larga\n",
    )
    assert result.exit_code != 0
    assert "necesita una escuela" in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "sin.escuela")) is None


def test_create_user_refuses_a_common_password(runner, world):
    result = runner.invoke(
        args=["salve", "create-user", "otro", "--role", "nacional", "--password-stdin"],
        input="password\n",
    )
    assert result.exit_code != 0
    assert "común" in result.output


def test_create_user_by_department_name(runner, world):
    result = runner.invoke(
        args=["salve", "create-user", "gestora.ss", "--role", "gestor", "--department",
              "San Salvador", "--password-stdin"],
        input="una frase bastante larga\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
