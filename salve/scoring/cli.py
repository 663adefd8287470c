"""``salve rules check``: validate catalogs/rules.yaml against the violence catalog."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from salve.scoring.rules import RULES_FILE, RulesError, RuleSet, load_rules

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
    path = path or catalog_dir / RULES_FILE
    try:
        catalog = load_catalog(catalog_dir)
    except CatalogError:
        catalog = None
        click.echo(
            "Aviso: el catálogo de violencia no es válido; no se revisan sus códigos.", err=True
        )
    try:
        rules = load_rules(path, catalog)
    except RulesError as error:
        click.echo(f"Las reglas de {path} tienen {len(error.errors)} errores:", err=True)
        for line in error.errors:
            click.echo(f"  {line}", err=True)
        raise click.exceptions.Exit(1) from error
    click.echo(summary(rules))


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
