"""``salve rules check`` validates catalogs/rules.yaml; ``salve rules backtest`` replays rules over
past incidents; ``salve score`` rescores the nation."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import date
from pathlib import Path

import click
import pandas as pd
from flask import current_app
from flask.cli import AppGroup

from salve.scoring.backtest import (
    MAX_DAYS,
    Weeks,
    backtest,
    rule_summary,
    weeks_between,
)
from salve.scoring.rules import RULES_FILE, RulesError, RuleSet, load_rules

#: A date as --from and --to take it.
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Columns of the backtest's CSV file, in Spanish.
CSV_HEADERS = {"rule": "regla", "week": "semana", "department": "departamento", "alerts": "alertas"}
#: What the summary calls entities whose school has no known department.
UNKNOWN_DEPARTMENT = "sin departamento"
#: The summary's last row, over every rule.
ALL_RULES = "todas las reglas"
#: The summary fits a terminal this wide.
WIDTH = 100

rules_group = AppGroup("rules", help="The risk rules in catalogs/rules.yaml.")


def summary(rules: RuleSet) -> str:
    """Describe ``rules`` in a few lines of Spanish for the administrator."""
    entities = Counter(rule.entity for rule in rules.rules)
    kinds = Counter(rule.kind for rule in rules.rules)
    levels = rules.levels
    lines = [
        f"Reglas de riesgo {rules.version}: válidas.",
        f"  Niveles: bajo 0-{levels['medio']:g}, medio desde {levels['medio']:g}, "
        f"alto desde {levels['alto']:g}, crítico desde {levels['critico']:g}",
        f"  {len(rules.rules)} reglas: {entities['student']} de estudiantes, "
        f"{entities['school']} de centros educativos; "
        f"{sum(rule.immediate for rule in rules.rules)} de alerta inmediata",
        "  Tipos: " + ", ".join(f"{kind} ({n})" for kind, n in sorted(kinds.items())),
    ]
    return "\n".join(lines)


@rules_group.command("check")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rules file (default: rules.yaml in the CATALOG_DIR setting).",
)
def check_command(path):
    """Validate the rules file and print a summary."""
    from salve.catalog.entries import CatalogError
    from salve.catalog.loading import load_catalog

    catalog_dir = Path(current_app.config["CATALOG_DIR"])
    try:
        catalog = load_catalog(catalog_dir)
    except CatalogError:
        catalog = None
        click.echo(
            "Aviso: el catálogo de violencia no es válido; no se revisan sus códigos.", err=True
        )
    rules = _rules_or_exit(path or catalog_dir / RULES_FILE, catalog)
    click.echo(summary(rules))


def _rules_or_exit(path: Path, catalog) -> RuleSet:
    """Load the rules at ``path``, or list their errors and exit with code 1."""
    try:
        return load_rules(path, catalog)
    except RulesError as error:
        click.echo(f"Las reglas de {path} tienen {len(error.errors)} errores:", err=True)
        for line in error.errors:
            click.echo(f"  {line}", err=True)
        raise click.exceptions.Exit(1) from error


@rules_group.command("backtest")
@click.option("--from", "first_day", metavar="AAAA-MM-DD", help="First day of the period.")
@click.option("--to", "last_day", metavar="AAAA-MM-DD", help="Last day of the period (included).")
@click.option(
    "--rules",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rules file to try (default: the rules in force).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every rule, week and department to this CSV file.",
)
def backtest_command(first_day, last_day, path, output):
    """Count the alerts each rule would have raised per week and department in a past period."""
    from salve.catalog.queries import current_catalog
    from salve.scoring.operations import load_tables

    started = time.perf_counter()
    first_day, last_day = _period(first_day, last_day)
    catalog = current_catalog()
    rules = _rules_or_exit(path or Path(current_app.config["CATALOG_DIR"]) / RULES_FILE, catalog)
    weeks = weeks_between(first_day, last_day)
    tables = load_tables(
        rules, catalog, weeks.ends_at[-1].to_pydatetime(), start=weeks.starts_at.to_pydatetime()
    )
    loaded = time.perf_counter()
    counts = _named(backtest(tables, rules, weeks))
    computed = time.perf_counter()
    if output is not None:
        _write_csv(counts, output)
    click.echo(_backtest_summary(rules, first_day, last_day, weeks, counts))
    if output is not None:
        click.echo(f"Tabla completa ({len(counts):,} filas) en {output}.")
    click.echo(
        f"Tiempo: {time.perf_counter() - started:.1f} s (lectura {loaded - started:.1f} s, "
        f"simulación {computed - loaded:.1f} s)."
    )


def _period(first: str | None, last: str | None) -> tuple[date, date]:
    """Return the period's first and last day, or stop with a clear error."""
    from salve.db import utcnow
    from salve.i18n import LOCAL_TZ

    if not first or not last:
        raise click.ClickException(
            "Indique el período con --from AAAA-MM-DD y --to AAAA-MM-DD (ambos incluidos)."
        )
    first_day, last_day = _day(first, "--from"), _day(last, "--to")
    if last_day < first_day:
        raise click.ClickException(
            f"El período termina ({last_day}) antes de empezar ({first_day}): "
            "--to debe ser igual o posterior a --from."
        )
    days = (last_day - first_day).days + 1
    if days > MAX_DAYS:
        raise click.ClickException(
            f"El período abarca {days} días; el máximo es {MAX_DAYS}. Divídalo en varios."
        )
    today = utcnow().astimezone(LOCAL_TZ).date()
    if last_day > today:
        raise click.ClickException(
            f"--to ({last_day}) es posterior a hoy ({today}): solo se simulan datos pasados."
        )
    return first_day, last_day


def _day(value: str, option: str) -> date:
    try:
        if not DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as error:
        raise click.ClickException(
            f"{option} debe ser una fecha válida con el formato AAAA-MM-DD, no «{value}»."
        ) from error


def _named(counts: pd.DataFrame) -> pd.DataFrame:
    """Add each department's code and name to ``backtest``'s counts, ordered by code."""
    import sqlalchemy as sa

    from salve.extensions import db
    from salve.geography.models import Department

    names = {
        row.id: (row.code, row.name)
        for row in db.session.execute(sa.select(Department.id, Department.code, Department.name))
    }
    known = counts["department_id"].map(lambda i: names.get(i, ("", UNKNOWN_DEPARTMENT)))
    counts = counts.assign(
        department_code=[code for code, _ in known], department=[name for _, name in known]
    )
    rule_order = {rule: n for n, rule in enumerate(dict.fromkeys(counts["rule"]))}
    return counts.sort_values(
        ["rule", "week", "department_code"],
        key=lambda column: column.map(rule_order) if column.name == "rule" else column,
        kind="stable",
        ignore_index=True,
    )


def _write_csv(counts, path: Path) -> None:
    table = counts[["rule", "week", "department", "alerts"]].rename(columns=CSV_HEADERS)
    try:
        # With a byte-order mark, so that Excel reads the departments' accents right.
        table.to_csv(path, index=False, encoding="utf-8-sig")
    except OSError as error:
        raise click.ClickException(
            f"No se pudo escribir {path}: {error.strerror or error}."
        ) from error


def _backtest_summary(
    rules: RuleSet, first_day: date, last_day: date, weeks: Weeks, counts: pd.DataFrame
) -> str:
    """Describe the backtest in Spanish: per rule, its alerts, busiest week and departments."""
    per_rule = pd.concat(
        [rule_summary(counts), rule_summary(counts.assign(rule=ALL_RULES))], ignore_index=True
    )
    names = dict(zip(counts["department_id"], counts["department"], strict=False))
    partial = []
    if weeks.mondays[0] < first_day:
        partial.append(f"la primera empieza el {first_day}")
    if last_day.weekday() != 6:
        partial.append(f"la última termina el {last_day}")
    lines = [
        f"Simulación de las reglas {rules.version} ({rules.source}) del {first_day} al {last_day}.",
        f"{len(weeks.mondays)} semanas de lunes a domingo (hora de El Salvador), "
        "nombradas por su lunes.",
        *([f"Semanas parciales: {'; '.join(partial)}."] if partial else []),
        "Alertas nuevas (las que la regla habría levantado esa semana y no la anterior): total",
        "del período, mediana por semana, semana con más y departamentos con más.",
        "",
    ]
    rule_width = max(len(rule) for rule in per_rule["rule"])
    head = f"  {'regla':<{rule_width}}  {'total':>7}  {'mediana':>7}  {'semana con más':<18}  "
    room = max(WIDTH - len(head), 20)
    lines.append(head + "departamentos con más")
    for row in per_rule.itertuples():  # a loop over the rules only
        busiest = f"{row.busiest_week} ({row.busiest_alerts:,})" if row.total else "—"
        shown = []
        for department_id, alerts in row.top_departments:
            item = f"{names.get(department_id, UNKNOWN_DEPARTMENT)} {alerts:,}"
            if shown and len(", ".join([*shown, item])) > room:
                break
            shown.append(item)
        lines.append(
            f"  {row.rule:<{rule_width}}  {row.total:>7,}  {row.weekly_median:>7.1f}  "
            f"{busiest:<18}  {', '.join(shown) or '—'}".rstrip()
        )
    return "\n".join(lines)


@click.command("score")
def score_command():
    """Rescore every student and school of the nation and store the scores that changed."""
    from salve.catalog.queries import current_catalog
    from salve.extensions import db
    from salve.scoring.operations import rescore

    try:
        report = rescore(current_catalog())
    except RulesError as error:
        raise click.ClickException("\n".join(error.errors)) from error
    db.session.commit()
    timings = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in report.timings.items())
    click.echo(f"Puntajes calculados: {report.scored:,}; cambiaron {report.changed:,} ({timings}).")


def register(group) -> None:
    """Add the ``rules`` and ``score`` commands to ``group``."""
    group.add_command(rules_group)
    group.add_command(score_command)
