"""``salve demo``: fill an empty SALVE with an invented country to try it or benchmark it."""

from __future__ import annotations

import time

import click

from salve.alerts.operations import raise_from_scores
from salve.catalog.queries import current_catalog
from salve.demo import DEMO_PASSWORD
from salve.demo.operations import SCALES, DemoError, create_demo, demo_present
from salve.extensions import db
from salve.scoring.operations import rescore


@click.command("demo")
@click.option(
    "--scale",
    type=click.Choice(sorted(SCALES)),
    default="small",
    show_default=True,
    help="small: 300 schools, 60,000 students; national: 6,000 schools, 1.3 million.",
)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed.")
# Hidden: the tests make a much smaller country.
@click.option("--schools", "school_count", type=click.IntRange(14), hidden=True)
@click.option("--students", "student_count", type=click.IntRange(100), hidden=True)
def demo_command(scale: str, seed: int, school_count: int | None, student_count: int | None):
    """Create demo schools, students, accounts and a year of reports, unless already there."""
    if demo_present():
        click.echo("Los datos de demostración ya existen: no se agregó nada.")
        return
    default_schools, default_students = SCALES[scale]
    started = time.perf_counter()
    try:
        summary = create_demo(
            school_count or default_schools, student_count or default_students, seed
        )
    except DemoError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    elapsed = time.perf_counter() - started
    click.echo(
        f"Demostración creada en {elapsed:.1f} s: {_number(summary.school_count)} escuelas, "
        f"{_number(summary.student_count)} estudiantes y {_number(summary.incident_count)} "
        "reportes de los últimos doce meses, inventados."
    )
    # Score the invented country at once, so the risk pages have something to show.
    report = rescore(current_catalog())
    db.session.commit()
    click.echo(
        f"Puntajes de riesgo calculados en {sum(report.timings.values()):.1f} s: "
        f"{_number(report.changed)} estudiantes y escuelas con puntos."
    )
    # And raise the alerts those scores call for, assigned to the departments' case handlers.
    started = time.perf_counter()
    counts = raise_from_scores()
    db.session.commit()
    click.echo(
        f"Alertas abiertas en {time.perf_counter() - started:.1f} s: {_number(counts['raised'])}."
    )
    click.echo("")
    width = max(len(username) for username, _role, _where in summary.accounts)
    click.echo(f"{'usuario':<{width}}  {'rol':<13}  dónde")
    for username, role, where in summary.accounts:
        click.echo(f"{username:<{width}}  {role:<13}  {where}")
    click.echo("")
    click.echo(f"Contraseña de todas las cuentas de demostración: {DEMO_PASSWORD}")
    click.echo(SECOND_FACTOR_NOTE)


#: What gestor, supervisor, nacional and admin meet at their first sign-in.
SECOND_FACTOR_NOTE = (
    "gestor, supervisor, nacional y admin piden además un código de 6 dígitos: al primer"
    " ingreso se escanea un código QR con una aplicación de autenticación (FreeOTP, Aegis,"
    " Google o Microsoft Authenticator)."
)


def _number(value: int) -> str:
    """Return ``value`` with a space between thousands: 1 300 000."""
    return f"{value:,}".replace(",", " ")


def register(group) -> None:
    """Add the demo command to ``group``."""
    group.add_command(demo_command)
