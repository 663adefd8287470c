"""Read the catalog in force and the stored versions that old incidents were filed under."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from salve.catalog.entries import Catalog
from salve.catalog.loading import CATALOG_FILES, build_catalog, load_catalog
from salve.catalog.models import CatalogVersion
from salve.extensions import db

_lock = threading.Lock()
#: directory → (the files' modification stamps, the catalog read from them).
_current: dict[Path, tuple[tuple, Catalog]] = {}
#: (version, content hash) → catalog rebuilt from the database; stored versions never change.
_stored: dict[tuple[str, str], Catalog] = {}


def current_catalog() -> Catalog:
    """Return the catalog of the app's ``CATALOG_DIR``, read again only when a file changes."""
    return cached_catalog(Path(current_app.config["CATALOG_DIR"]))


def cached_catalog(directory: Path) -> Catalog:
    """Return the catalog in ``directory``, cached until a file's mtime or size changes."""
    directory = directory.resolve()
    stamp = _stamp(directory)
    cached = _current.get(directory)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _lock:
        catalog = load_catalog(directory)
        _current[directory] = (stamp, catalog)
    return catalog


def _stamp(directory: Path) -> tuple:
    stamps = []
    for name in CATALOG_FILES:
        try:
            status = (directory / name).stat()
        except FileNotFoundError:
            stamps.append(None)
        else:
            stamps.append((status.st_mtime_ns, status.st_size))
    return tuple(stamps)


def stored_version(version: str) -> CatalogVersion | None:
    """Return the stored row of catalog ``version``, if it was ever loaded."""
    return db.session.scalar(sa.select(CatalogVersion).where(CatalogVersion.version == version))


def catalog_of_version(version: str) -> Catalog:
    """Return stored catalog ``version`` rebuilt from the database (``LookupError`` if absent)."""
    row = stored_version(version)
    if row is None:
        raise LookupError(f"catalog version {version!r} was never loaded")
    key = (row.version, row.content_hash)
    if key not in _stored:
        _stored[key] = build_catalog(row.content)
    return _stored[key]
