"""``salve scheduler`` runs the jobs until stopped; ``salve jobs list`` and ``salve jobs run``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from salve.db import set_write_intent, utcnow
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.jobs.registry import COUNT_LABELS, JOBS

#: How the command line names a run's status.
STATUS_LABELS = {
    "running": "en curso",
    "ok": "correcta",
    "failed": "fallida",
    "abandoned": "abandonada",
}

jobs_group = AppGroup("jobs", help="Scheduled jobs: list them, or run one now.")


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _counts_text(counts: dict) -> str:
    shown = [f"{COUNT_LABELS.get(key, key)} {value:,}" for key, value in counts.items()]
    return ", ".join(shown) or "nada que hacer"


def _plan():
    from salve.alerts.policy import PolicyError, policy_in_force
    from salve.jobs.scheduler import plan

    try:
        policy = policy_in_force()
    except PolicyError as error:
        raise click.ClickException("\n".join(error.errors)) from error
    return policy, plan(policy, current_app.config.get("SCHEDULER_INTERVAL_SECONDS"))


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the scheduled jobs in the foreground until stopped (Ctrl+C or SIGTERM)."""
    from salve.jobs.scheduler import JobScheduler

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per firing is noise
    app = current_app._get_current_object()
    policy, _planned = _plan()
    scheduler = JobScheduler(app)
    click.echo(
        f"Programador de tareas de SALVE (política {policy.version}); "
        f"arriendo de líder de {scheduler.lease_seconds:g} s; nombre {scheduler.holder}."
    )
    width = max(len(job.name) for job in scheduler.plan)
    for job in scheduler.plan:
        click.echo(f"  {job.name:<{width}}  {job.description}")
    click.echo(
        "Solo el programador que tiene el arriendo ejecuta tareas; otro en espera toma el "
        "relevo si este se detiene. Detener con Ctrl+C."
    )
    scheduler.run_until_stopped()
    click.echo("Programador detenido; arriendo liberado.")


@jobs_group.command("list")
def list_command():
    """List the jobs with their schedule and last run."""
    from salve.jobs.lease import current_lease
    from salve.jobs.models import JobRun

    set_write_intent(False)
    policy, planned = _plan()
    click.echo(f"Tareas programadas (política {policy.version}):")
    width = max(len(job.name) for job in planned)
    schedule_width = max(len(job.description) for job in planned)
    click.echo(f"  {'tarea':<{width}}  {'horario':<{schedule_width}}  última ejecución")
    for job in planned:
        last = db.session.scalar(
            sa.select(JobRun)
            .where(JobRun.job == job.name)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc())
            .limit(1)
        )
        if last is None:
            when = "nunca"
        else:
            status = STATUS_LABELS.get(last.status, last.status)
            when = f"{status}, {_local(last.started_at)}"
            seconds = (last.detail or {}).get("seconds")
            if last.status == "ok" and seconds is not None:
                when += f" ({seconds:.2f} s)"
        click.echo(f"  {job.name:<{width}}  {job.description:<{schedule_width}}  {when}")
    lease = current_lease()
    if lease is not None and lease.expires_at > utcnow():
        click.echo(f"Líder: {lease.holder}, con arriendo hasta {_local(lease.expires_at)}.")
    else:
        click.echo("Ningún programador dirige las tareas ahora (inicie «salve scheduler»).")
    click.echo("Horas de El Salvador.")


def _moment(value: str | None) -> datetime | None:
    """Read --now: ISO 8601; without an offset it is El Salvador time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.ClickException(
            f"--now debe ser una fecha y hora ISO 8601, p. ej. 2026-03-01T08:00, no «{value}»."
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC)


@jobs_group.command("run")
@click.argument("name")
@click.option(
    "--now",
    "now_text",
    metavar="AAAA-MM-DDTHH:MM",
    help="Run as if it were this moment (El Salvador time unless an offset is given).",
)
def run_command(name: str, now_text: str | None):
    """Run job NAME once now, whatever the schedule, and print what it did."""
    from salve.jobs.runner import run_job

    if name not in JOBS:
        raise click.ClickException(
            f"Tarea desconocida: «{name}». Las tareas son: {', '.join(JOBS)}."
        )
    now = _moment(now_text)
    try:
        outcome = run_job(name, now=now)
    except Exception as error:
        raise click.ClickException(
            f"La tarea {name} falló ({type(error).__name__}); el registro dice por qué."
        ) from error
    as_of = f" con la hora {_local(now)}" if now is not None else ""
    click.echo(
        f"Tarea {name}{as_of}: correcta en {outcome.seconds:.2f} s; {_counts_text(outcome.counts)}."
    )


def register(group) -> None:
    """Add the ``scheduler`` and ``jobs`` commands to ``group``."""
    group.add_command(scheduler_command)
    group.add_command(jobs_group)
