"""Command line: ``flask --app app salve …``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from salve.extensions import db

salve_group = AppGroup("salve", help="SALVE administration commands.")


@salve_group.command("init")
def init_command():
    """Create or upgrade the database and load the catalogs."""
    from salve.audit.cli import grant_after_migration
    from salve.catalog.entries import CatalogError
    from salve.catalog.loading import load_catalog, store_version
    from salve.geography.operations import load_geography

    upgrade()
    grant_after_migration()
    catalog_dir = Path(current_app.config["CATALOG_DIR"])
    added = load_geography(catalog_dir / "geography.csv")
    try:
        version, is_new = store_version(load_catalog(catalog_dir))
    except CatalogError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(
        f"Base de datos lista. Geografía: {added['departments']} departamentos, "
        f"{added['municipalities']} municipios y {added['districts']} distritos nuevos."
    )
    state = "cargado" if is_new else "ya estaba cargado"
    click.echo(f"Catálogo de violencia {version.version}: {state}.")


@salve_group.command("create-user")
@click.argument("username")
@click.option("--role", required=True, help="docente, director, gestor, supervisor, …")
@click.option("--school", "school_code", help="School code, for docente and director.")
@click.option("--department", "department_code", help="Department code (01-14) or name.")
@click.option("--name", "display_name", default="", help="Name shown in the interface.")
@click.option("--email", default="", help="Address for notifications.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user_command(
    username, role, school_code, department_code, display_name, email, password_stdin
):
    """Create an account with one role (the password is prompted for)."""
    from salve.auth.operations import AccountError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Contraseña", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(
            username,
            password,
            role,
            school_code=school_code,
            department_code=department_code,
            display_name=display_name,
            email=email,
        )
    except AccountError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Usuario {user.username} creado con el rol {role}.")


def init_app(app) -> None:
    """Register the ``salve`` command group and the commands of each domain."""
    from salve.api import cli as api_cli
    from salve.audit import cli as audit_cli
    from salve.auth import cli as auth_cli
    from salve.catalog import cli as catalog_cli
    from salve.demo import cli as demo_cli
    from salve.jobs import cli as jobs_cli
    from salve.maintenance import cli as maintenance_cli
    from salve.opendata import cli as opendata_cli
    from salve.schools import cli as schools_cli
    from salve.scoring import cli as scoring_cli

    schools_cli.register(salve_group)
    demo_cli.register(salve_group)
    catalog_cli.register(salve_group)
    api_cli.register(salve_group)
    auth_cli.register(salve_group)
    scoring_cli.register(salve_group)
    jobs_cli.register(salve_group)
    opendata_cli.register(salve_group)
    maintenance_cli.register(salve_group)
    audit_cli.register(salve_group)
    app.cli.add_command(salve_group)
