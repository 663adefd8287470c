"""``salve backup``, ``salve restore`` and ``salve retention`` check, run, hold, release, list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from salve.audit.operations import record
from salve.db import set_write_intent, write_intended
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.jobs.registry import COUNT_LABELS
from salve.maintenance.backup import BackupError, Snapshot, backup_database, restore_database

#: How a dry run names each count (a real run uses the jobs' ``COUNT_LABELS``).
DRY_RUN_LABELS = {
    "cases_anonymised": "casos por anonimizar",
    "incidents_anonymised": "reportes por anonimizar",
    "students_anonymised": "estudiantes por anonimizar",
    "inbox_deleted": "avisos por borrar",
    "outbox_deleted": "correos por borrar",
    "sessions_deleted": "sesiones por borrar",
    "throttles_deleted": "bloqueos de ingreso por borrar",
    "drafts_deleted": "borradores por borrar",
}


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def _echo_snapshot(snapshot: Snapshot) -> None:
    click.echo(f"Revisión del esquema: {snapshot.revision or 'ninguna'}")
    click.echo("Filas por tabla:")
    width = max(len(table) for table in snapshot.counts) if snapshot.counts else 0
    for table, rows in snapshot.counts.items():
        click.echo(f"  {table:<{width}}  {rows:>12,}")


def _size(size: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


@click.command("backup")
@with_appcontext
@click.option(
    "--output",
    type=click.Path(),
    help="File, or folder ending in /, to write to (default: instance/backups/).",
)
def backup_command(output: str | None):
    """Copy the whole database to a file readable only by its owner, and check it."""
    try:
        result = backup_database(output)
    except BackupError as error:
        raise click.ClickException(f"La copia de seguridad falló: {error}") from error
    click.echo(f"Copia de seguridad: {result.path}")
    click.echo(f"Tamaño: {_size(result.size)} ({result.size:,} bytes).")
    click.echo(f"Comprobada: {result.check}.")
    _echo_snapshot(result.snapshot)
    record(
        "backup.create",
        "backup",
        result.path.name[:64],
        bytes=result.size,
        **result.snapshot.counts,
    )
    db.session.commit()


@click.command("restore")
@with_appcontext
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_command(file: Path, yes: bool):
    """Restore backup FILE into the configured database, which must be empty."""
    target = db.engine.url.render_as_string(hide_password=True)
    if not yes:
        click.confirm(f"¿Restaurar {file} en {target}?", abort=True)
    try:
        snapshot = restore_database(file)
    except BackupError as error:
        raise click.ClickException(f"La restauración falló: {error}") from error
    click.echo(f"Restaurada la copia {file} en {target}.")
    _echo_snapshot(snapshot)
    record("backup.restore", "backup", file.name[:64], **snapshot.counts)
    db.session.commit()
    click.echo(
        "Si esta versión de SALVE es más nueva que la copia, «flask --app app salve init» "
        "pone el esquema al día."
    )


BY_HELP = "The account (supervisor, nacional or admin) on whose authority it is done."

retention_group = AppGroup(
    "retention", help="Retention periods, legal holds and anonymisation (catalogs/retention.yaml)."
)


def _moment(value: str | None) -> datetime | None:
    """Read --now: ISO 8601; without an offset it is El Salvador time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.ClickException(
            f"--now debe ser una fecha y hora ISO 8601, p. ej. 2031-03-01T08:00, no «{value}»."
        ) from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC)


def _policy():
    from salve.maintenance.policy import RetentionError, retention_in_force

    try:
        return retention_in_force()
    except RetentionError as error:
        raise click.ClickException("\n".join(error.errors)) from error


@retention_group.command("check")
def check_command():
    """Validate catalogs/retention.yaml and show the periods."""
    from salve.maintenance.policy import ANONYMISED_KINDS

    policy = _policy()
    click.echo(f"Plazos de conservación {policy.version}: válidos.")
    for kind, period in policy.periods.items():
        what = "se anonimiza" if kind in ANONYMISED_KINDS else "se borra"
        click.echo(f"  {kind:<10} {what} a los {period.describe()}")
    click.echo(f"  Lotes de {policy.batch_size} registros.")


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be done; write nothing.")
@click.option(
    "--now",
    "now_text",
    metavar="AAAA-MM-DDTHH:MM",
    help="Run as if it were this moment (El Salvador time unless an offset is given).",
)
def run_command(dry_run: bool, now_text: str | None):
    """Anonymise what is past its period and delete expired notices, sessions and drafts."""
    from salve.jobs.runner import run_job
    from salve.maintenance.retention import run

    policy = _policy()
    now = _moment(now_text)
    as_of = f" con la hora {_local(now)}" if now is not None else ""
    if dry_run:
        intended = write_intended()
        set_write_intent(False)  # reads only: SQLite need not take the write lock
        try:
            counts = run(now, policy=policy, dry_run=True)
        finally:
            set_write_intent(intended)
        shown = ", ".join(f"{DRY_RUN_LABELS[key]} {value:,}" for key, value in counts.items())
        click.echo(f"Simulación (plazos {policy.version}{as_of}): {shown}. No se cambió nada.")
        return
    try:
        outcome = run_job("anonymise", now=now)
    except Exception as error:
        raise click.ClickException(
            f"La retención falló ({type(error).__name__}); el registro dice por qué. "
            "Lo hecho en lotes ya confirmados queda hecho; vuelva a ejecutarla."
        ) from error
    shown = ", ".join(f"{COUNT_LABELS[key]} {value:,}" for key, value in outcome.counts.items())
    click.echo(f"Retención (plazos {policy.version}{as_of}): {shown}.")


@retention_group.command("hold")
@click.option("--student", "nie", help="NIE of the student.")
@click.option("--incident", "incident_id", help="Number of the incident report.")
@click.option("--case", "case_id", help="Number of the case.")
@click.option("--school", "school_code", help="Code of the school.")
@click.option("--reason", required=True, help="Why, e.g. the prosecutor's file reference.")
@click.option("--by", "by", required=True, help=BY_HELP)
def hold_command(nie, incident_id, case_id, school_code, reason, by):
    """Place a legal hold: the record and all tied to it are never anonymised until released."""
    from salve.maintenance.holds import HoldError, place_hold, target_name

    given = {
        kind: value
        for kind, value in (
            ("student", nie), ("incident", incident_id), ("case", case_id), ("school", school_code)
        )
        if value is not None
    }  # fmt: skip
    if len(given) != 1:
        raise click.ClickException(
            "Indique un solo registro: --student NIE, --incident N, --case N o --school CÓDIGO."
        )
    [(kind, reference)] = given.items()
    try:
        hold, anonymised = place_hold(kind, reference, reason, by)
    except HoldError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Retención legal {hold.id} sobre {target_name(hold)}: en vigor.")
    if anonymised:
        click.echo("Aviso: ese registro ya estaba anonimizado; la retención conserva lo que queda.")


@retention_group.command("release")
@click.argument("hold_id", type=int)
@click.option("--by", "by", required=True, help=BY_HELP)
@click.option("--reason", default="", help="Why, e.g. the proceedings ended.")
def release_command(hold_id: int, by: str, reason: str):
    """Release legal hold HOLD_ID: its records follow their retention period again."""
    from salve.maintenance.holds import HoldError, release_hold, target_name

    try:
        hold = release_hold(hold_id, by, reason)
    except HoldError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Retención legal {hold.id} sobre {target_name(hold)}: levantada.")


@retention_group.command("list")
@click.option("--all", "include_released", is_flag=True, help="Also the released holds.")
def list_command(include_released: bool):
    """List the legal holds in force (or all of them)."""
    from salve.maintenance.holds import list_holds, target_name

    intended = write_intended()
    set_write_intent(False)
    try:
        holds = list_holds(include_released)
    finally:
        set_write_intent(intended)
    if not holds:
        click.echo("No hay retenciones legales en vigor." if not include_released else
                   "No hay retenciones legales.")  # fmt: skip
        return
    for hold in holds:
        state = (
            "en vigor"
            if hold.is_active
            else f"levantada {_local(hold.released_at)} por {hold.released_by.username}"
        )
        click.echo(
            f"{hold.id:>5}  {target_name(hold)}  desde {_local(hold.placed_at)} "
            f"por {hold.placed_by.username}; {state}. Motivo: {hold.reason}"
        )
    click.echo("Horas de El Salvador.")


def register(group) -> None:
    """Add ``backup``, ``restore`` and ``retention`` to the ``salve`` group."""
    group.add_command(backup_command)
    group.add_command(restore_command)
    group.add_command(retention_group)
