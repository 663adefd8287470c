"""``salve import-schools`` and ``salve import-students``: load the ministry's CSV files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from salve.audit.operations import record
from salve.extensions import db
from salve.schools import importing

#: Problems printed before the rest are only counted.
MAX_PRINTED_PROBLEMS = 50


def run_import(
    path: Path,
    validate: Callable[[Path], importing.ValidationResult],
    write: Callable[[importing.ValidationResult], importing.ImportCounts],
    action: str,
    *,
    skip_invalid: bool,
) -> importing.ImportCounts | None:
    """Check ``path``, print its problems, and write it unless refused; None when refused."""
    result = validate(path)
    _print_problems(result.problems)
    refused = not result.is_importable or (result.invalid_row_count and not skip_invalid)
    if refused:
        record(
            action,
            outcome="refused",
            rows=result.row_count,
            invalid_rows=result.invalid_row_count,
            file_problems=len(result.file_problems),
        )
        db.session.commit()
        return None
    counts = write(result)
    db.session.commit()
    return counts


def _print_problems(problems: list[importing.Problem]) -> None:
    for problem in problems[:MAX_PRINTED_PROBLEMS]:
        click.echo(str(problem), err=True)
    if len(problems) > MAX_PRINTED_PROBLEMS:
        click.echo(f"… y {len(problems) - MAX_PRINTED_PROBLEMS} errores más.", err=True)


def _report(noun: str, counts: importing.ImportCounts | None, skip_invalid: bool) -> None:
    if counts is None:
        advice = "" if skip_invalid else " Corrija el archivo o use --skip-invalid."
        raise click.ClickException(f"Archivo rechazado: no se importó nada.{advice}")
    click.echo(
        f"{noun}: {counts.inserted} registros nuevos, {counts.updated} actualizados, "
        f"{counts.unchanged} sin cambios; {counts.skipped} filas omitidas por errores."
    )


_file_argument = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_skip_option = click.option(
    "--skip-invalid", is_flag=True, help="Import the valid rows and report the others."
)


@click.command("import-schools")
@_file_argument
@_skip_option
def import_schools_command(file: Path, skip_invalid: bool) -> None:
    """Import or update schools from the ministry's CSV file."""
    counts = run_import(
        file,
        importing.validate_schools,
        importing.write_schools,
        "school.import",
        skip_invalid=skip_invalid,
    )
    _report("Escuelas", counts, skip_invalid)


@click.command("import-students")
@_file_argument
@_skip_option
def import_students_command(file: Path, skip_invalid: bool) -> None:
    """Import or update students from the ministry's CSV file."""
    counts = run_import(
        file,
        importing.validate_students,
        importing.write_students,
        "student.import",
        skip_invalid=skip_invalid,
    )
    _report("Estudiantes", counts, skip_invalid)


def register(group) -> None:
    """Add the import commands to ``group``."""
    group.add_command(import_schools_command)
    group.add_command(import_students_command)
