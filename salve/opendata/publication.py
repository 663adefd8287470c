"""The published open data: every grouping of the counts, suppressed once, kept for the day.

**Daily.** The figures are cut at El Salvador's midnight: an incident counts once it happened
and was reported before today began, and stops counting if it was closed as unfounded before
then. So the figures change once a day, not with every report: a reader comparing today's
table with the one of an hour ago cannot isolate a single new report (a differencing attack).

**One snapshot per day and host.** The first request of the day (or ``salve opendata publish``
run after midnight) builds the lattice and writes it to ``OPEN_DATA_DIR`` (the instance
folder's ``open-data`` by default); every worker process then reads that file, so all of them
publish the very same cells. Two workers publishing patterns built a few hours apart (a report
amended in between) would let a reader combine them. Each process also keeps the day's
publication in memory.

At national size (the demo's 600,000 incidents a year, on SQLite) building takes 9 s: about 5 s
to count in the database and 4 s to suppress the 52,920 cells of the 32 tables (up to 17 s when
the machine is busy); reading the snapshot takes 0.07 s, a table from memory milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from flask import current_app

from salve.catalog.entries import Catalog, Label
from salve.catalog.queries import current_catalog
from salve.opendata.data import (
    DIMENSIONS,
    LOCAL_TZ,
    Period,
    base_counts,
    complete,
    dimension_values,
    period_ending,
)
from salve.reports.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    SECONDARY_MARK,
    Lattice,
    build_lattice,
)

log = logging.getLogger(__name__)

#: Categories published with the higher threshold.
SENSITIVE_CATEGORIES = ("sexual",)
DEFAULT_THRESHOLD = 5
DEFAULT_SENSITIVE_THRESHOLD = 10
#: How many publications a process keeps in memory (one per database and day, in practice).
MEMORY_SLOTS = 4
#: Part of the snapshot's name: change it with what is counted or how, so that a new release
#: does not serve a snapshot its previous version wrote earlier that day.
METHOD_VERSION = 1

_lock = threading.Lock()
_memory: dict[str, Publication] = {}


@dataclass(frozen=True)
class Thresholds:
    """The smallest count published as such: ``default``, or ``sensitive`` for some categories."""

    default: int
    sensitive: int

    def __post_init__(self):
        if not 2 <= self.default <= self.sensitive:
            raise ValueError(
                "SALVE_OPEN_DATA_THRESHOLD must be at least 2 and at most "
                "SALVE_OPEN_DATA_SEXUAL_THRESHOLD"
            )

    def of(self, frame: pd.DataFrame) -> np.ndarray:
        """Return each cell's threshold; tables without a category use the default."""
        if "category" not in frame:
            return np.full(len(frame), self.default)
        sensitive = frame["category"].isin(SENSITIVE_CATEGORIES).to_numpy()
        return np.where(sensitive, self.sensitive, self.default)


@dataclass(frozen=True)
class Publication:
    """One day's open data: the suppressed tables, their period and their labels."""

    period: Period
    lattice: Lattice
    thresholds: Thresholds
    #: dimension → {code: Label}, each in display order.
    values: dict[str, dict[str, Label]]

    @property
    def published_on(self) -> date:
        """Return the day these figures were published (the day after ``period.last_day``)."""
        return self.period.end.date()

    def table(self, by: Sequence[str]) -> pd.DataFrame:
        """Return the table grouped by ``by`` in display order, with its ``shown`` values.

        ``shown`` is the count, or ``<threshold`` (primary suppression) or ``s`` (secondary).
        """
        frame = self.lattice.table(by).reset_index(drop=True)
        if by:
            ranks = [
                frame[dim].map({code: i for i, code in enumerate(self.values[dim])}).fillna(1e9)
                for dim in by
            ]
            frame = frame.iloc[np.lexsort([r.to_numpy() for r in reversed(ranks)])]
            frame = frame.reset_index(drop=True)
        frame["shown"] = shown_values(frame)
        return frame

    def label(self, dimension: str, code: str) -> Label:
        """Return the label of a dimension's value (the code itself if unknown)."""
        return self.values[dimension].get(code) or Label(code, code)


def shown_values(frame: pd.DataFrame) -> pd.Series:
    """Return each cell as published: an int, ``<threshold`` or ``s``."""
    shown = frame["count"].astype(int).astype(object)
    primary = frame["status"] == PRIMARY
    shown = shown.where(~primary, "<" + frame["threshold"].astype(int).astype(str))
    return shown.where(frame["status"] != SECONDARY, SECONDARY_MARK)


def local_today() -> date:
    """Return today's date in El Salvador."""
    return datetime.now(LOCAL_TZ).date()


def configured_thresholds() -> Thresholds:
    """Return the thresholds of ``SALVE_OPEN_DATA_THRESHOLD`` and ``…_SEXUAL_THRESHOLD``."""
    config = current_app.config
    return Thresholds(
        int(config.get("OPEN_DATA_THRESHOLD", DEFAULT_THRESHOLD)),
        int(config.get("OPEN_DATA_SEXUAL_THRESHOLD", DEFAULT_SENSITIVE_THRESHOLD)),
    )


def current_publication() -> Publication:
    """Return today's publication: from memory, from the day's snapshot, or built now."""
    today = local_today()
    thresholds = configured_thresholds()
    name = _snapshot_name(today, thresholds)
    publication = _memory.get(name)
    if publication is not None:
        return publication
    with _lock:  # one build per process at a time; the file lock covers other processes
        publication = _memory.get(name)
        if publication is None:
            publication = _load_or_build(name, today, thresholds)
            while len(_memory) >= MEMORY_SLOTS:
                _memory.pop(next(iter(_memory)))
            _memory[name] = publication
    return publication


def forget() -> None:
    """Drop the publications kept in memory (the snapshot files stay)."""
    with _lock:
        _memory.clear()


def build(catalog: Catalog, today: date, thresholds: Thresholds) -> Publication:
    """Count, suppress and label the figures published on ``today``."""
    started = time.perf_counter()
    period = period_ending(today)
    base = base_counts(catalog, period)
    counted = time.perf_counter()
    values = dimension_values(catalog, period, {dim: set(base[dim]) for dim in DIMENSIONS})
    lattice = build_lattice(complete(base, values), DIMENSIONS, thresholds.of)
    log.info(
        "open data built for %s: counts %.1f s, suppression %.1f s",
        today,
        counted - started,
        time.perf_counter() - counted,
    )
    return Publication(period, lattice, thresholds, values)


# --- The day's snapshot file ---------------------------------------------------------------


def _snapshot_dir() -> Path | None:
    configured = current_app.config.get("OPEN_DATA_DIR")
    if configured is None:
        if current_app.testing:  # tests keep it in memory, out of the instance folder
            return None
        return Path(current_app.instance_path) / "open-data"
    return Path(configured) if configured else None  # "": memory only


def _snapshot_name(today: date, thresholds: Thresholds) -> str:
    # The database is part of the name: a host may serve several (demo and tests).
    database = current_app.config["SQLALCHEMY_DATABASE_URI"].encode()
    digest = hashlib.sha256(database).hexdigest()[:12]
    limits = f"{thresholds.default}-{thresholds.sensitive}"
    return f"incidentes-{today.isoformat()}-m{METHOD_VERSION}-u{limits}-{digest}"


def _load_or_build(name: str, today: date, thresholds: Thresholds) -> Publication:
    directory = _snapshot_dir()
    catalog = current_catalog()
    if directory is None:
        return build(catalog, today, thresholds)
    path = directory / f"{name}.csv"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _file_lock(directory / ".lock"):
            if path.exists():
                try:
                    return _read(path, catalog, today, thresholds)
                except (ValueError, KeyError):
                    log.warning("open data snapshot %s unreadable; building it again", path.name)
            publication = build(catalog, today, thresholds)
            _write(path, publication.lattice)
            _remove_older(directory, today)
            return publication
    except OSError:
        # Still published, by this process alone, rather than not at all.
        log.exception("open data snapshot folder %s unusable; kept in memory", directory)
        return build(catalog, today, thresholds)


@contextlib.contextmanager
def _file_lock(path: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Unix: one process per host is assumed
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, lattice: Lattice) -> None:
    frames = []
    for key, table in lattice.tables.items():
        frame = table.copy()
        frame.insert(0, "by", "|".join(d for d in lattice.dims if d in key))
        frames.append(frame)
    content = pd.concat(frames, ignore_index=True)
    content = content[["by", *lattice.dims, "count", "status", "threshold"]]
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        content.to_csv(out, index=False)
    os.replace(temporary, path)  # readers never see half a file


def _read(path: Path, catalog: Catalog, today: date, thresholds: Thresholds) -> Publication:
    text = {dim: str for dim in (*DIMENSIONS, "by", "status")}
    content = pd.read_csv(path, dtype=text, keep_default_na=False)
    tables = {}
    for by, rows in content.groupby("by", sort=False):
        dims = [d for d in by.split("|") if d]
        frame = rows[[*dims, "count", "status", "threshold"]].reset_index(drop=True)
        frame["count"] = frame["count"].astype(np.int64)
        frame["threshold"] = frame["threshold"].astype(np.int64)
        tables[frozenset(dims)] = frame
    if not set(content["status"]) <= {PUBLISHED, PRIMARY, SECONDARY}:
        raise ValueError(f"{path} is not an open data snapshot")
    period = period_ending(today)
    observed = {dim: set(tables[frozenset({dim})][dim]) for dim in DIMENSIONS}
    values = dimension_values(catalog, period, observed)
    return Publication(period, Lattice(DIMENSIONS, tables), thresholds, values)


def _remove_older(directory: Path, today: date) -> None:
    for old in directory.glob("incidentes-*.csv"):
        if old.name[len("incidentes-") :][:10] < today.isoformat():
            old.unlink(missing_ok=True)


def snapshot_path() -> Path | None:
    """Return where today's snapshot is kept (None when kept in memory only)."""
    directory = _snapshot_dir()
    if directory is None:
        return None
    return directory / f"{_snapshot_name(local_today(), configured_thresholds())}.csv"
