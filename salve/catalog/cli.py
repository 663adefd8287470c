"""``salve catalog check`` and ``salve catalog load``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from salve.catalog.entries import Catalog, CatalogError
from salve.catalog.loading import load_catalog, store_version
from salve.extensions import db

catalog_group = AppGroup("catalog", help="The violence catalog in catalogs/.")

directory_option = click.option(
    "--dir",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Catalog folder (default: the CATALOG_DIR setting).",
)


def summary(catalog: Catalog) -> str:
    """Describe ``catalog`` in a few lines of Spanish for the administrator."""
    types = catalog.types.values()
    tiers = Counter(violence_type.tier for violence_type in types)
    return "\n".join(
        [
            f"Catálogo {catalog.version}, vigente desde {catalog.valid_from.isoformat()}: válido.",
            f"  {len(catalog.categories)} categorías, {len(catalog.types)} tipos "
            f"(nivel I: {tiers['I']}, nivel II: {tiers['II']}, nivel III: {tiers['III']})",
            f"  {sum(t.is_immediate for t in types)} de alerta inmediata, "
            f"{sum(t.is_mandatory_report for t in types)} de aviso obligatorio",
            f"  {len(catalog.institutions)} instituciones, "
            f"{len(catalog.relationships)} relaciones, {len(catalog.locations)} lugares, "
            f"{len(catalog.repetition)} frecuencias, "
            f"{len(catalog.motivations)} motivaciones, {len(catalog.measures)} medidas, "
            f"{len(catalog.mappings)} códigos retirados",
        ]
    )


def _load_or_exit(directory: Path | None) -> Catalog:
    directory = directory or Path(current_app.config["CATALOG_DIR"])
    try:
        return load_catalog(directory)
    except CatalogError as error:
        click.echo(f"El catálogo de {directory} tiene {len(error.errors)} errores:", err=True)
        for line in error.errors:
            click.echo(f"  {line}", err=True)
        raise click.exceptions.Exit(1) from error


@catalog_group.command("check")
@directory_option
def check_command(directory):
    """Validate the catalog files and print a summary."""
    click.echo(summary(_load_or_exit(directory)))


@catalog_group.command("load")
@directory_option
def load_command(directory):
    """Validate the catalog and store its version if it is new."""
    catalog = _load_or_exit(directory)
    try:
        _row, is_new = store_version(catalog)
    except CatalogError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(summary(catalog))
    if is_new:
        click.echo(f"Versión {catalog.version} guardada.")
    else:
        click.echo(f"La versión {catalog.version} ya estaba guardada; no cambió nada.")


def register(group) -> None:
    """Add the ``catalog`` commands to ``group``."""
    group.add_command(catalog_group)
