"""``salve opendata publish``: build today's open data ahead of the first visitor.

Run it from cron shortly after midnight (El Salvador's time) on the host that serves the app:
it writes the day's snapshot that every worker then reads, so no visitor waits for the build.
"""

from __future__ import annotations

import time

import click
from flask.cli import AppGroup

opendata_group = AppGroup("opendata", help="Open data: aggregate counts for the public.")


@opendata_group.command("publish")
def publish_command():
    """Build (or read) today's suppressed tables and say where they are kept."""
    from salve.opendata.publication import current_publication, snapshot_path

    started = time.perf_counter()
    publication = current_publication()
    finest = publication.lattice.table(publication.lattice.dims)
    where = snapshot_path()
    click.echo(
        f"Datos abiertos del {publication.published_on.isoformat()}: "
        f"{len(finest)} celdas en la tabla más detallada, "
        f"{time.perf_counter() - started:.1f} s"
        + (f"; guardados en {where}" if where else "; solo en memoria")
        + "."
    )


def register(group) -> None:
    """Add the open data commands to the ``salve`` group."""
    group.add_command(opendata_group)
