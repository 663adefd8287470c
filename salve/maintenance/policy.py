"""The retention periods of ``catalogs/retention.yaml``, validated.

``load_retention(path)`` returns a ``RetentionPolicy`` or raises ``RetentionError`` listing every
problem, each naming the file and field, e.g. ``retention.yaml: periods.cases.years: debe ser un
número entero de años entre 1 y 100, no "diez"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

RETENTION_FILE = "retention.yaml"

#: Records anonymised in place once their period is over: counted in years.
ANONYMISED_KINDS = ("students", "incidents", "cases")
#: Working records deleted once their period is over: counted in days.
DELETED_KINDS = ("notices", "sessions", "drafts")
#: The smallest and largest period allowed for each unit: a typo must never wipe a year's work.
YEARS = (1, 100)
DAYS = (1, 3650)
BATCH_SIZE = (1, 10_000)


class RetentionError(Exception):
    """The retention file is unusable; ``errors`` name the file and field of each problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Period:
    """A retention period: whole calendar years, or days."""

    years: int = 0
    days: int = 0

    def cutoff(self, now: datetime) -> datetime:
        """Return the moment before which a record's period is over, as of ``now``."""
        if self.years:
            return _years_before(now, self.years)
        return now - timedelta(days=self.days)

    def describe(self) -> str:
        """Say the period in Spanish, e.g. "5 años" or "90 días"."""
        if self.years:
            return f"{self.years} año" if self.years == 1 else f"{self.years} años"
        return f"{self.days} día" if self.days == 1 else f"{self.days} días"


def _years_before(moment: datetime, years: int) -> datetime:
    """Return ``moment`` the given number of calendar years earlier (29 February → 28)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True)
class RetentionPolicy:
    version: str
    #: kind → period, for every kind of ``ANONYMISED_KINDS`` and ``DELETED_KINDS``.
    periods: dict[str, Period]
    #: How many records one batch anonymises or deletes before the job commits.
    batch_size: int

    def cutoff(self, kind: str, now: datetime) -> datetime:
        """Return the cutoff of ``kind`` as of ``now``."""
        return self.periods[kind].cutoff(now)


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def parse_retention(document: Any, file_name: str = RETENTION_FILE) -> RetentionPolicy:
    """Validate a parsed ``retention.yaml`` and return the policy."""
    errors: list[str] = []

    def error(where: str, message: str) -> None:
        errors.append(f"{file_name}: {where}: {message}")

    if not isinstance(document, dict):
        raise RetentionError([f"{file_name}: debe ser un mapa de ajustes (version, periods…)"])
    for key in document:
        if key not in {"version", "periods", "batch_size"}:
            error(str(key), "ajuste desconocido; los ajustes son version, periods y batch_size")
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        error("version", 'debe ser una versión entre comillas, p. ej. "2026.1"')
    periods: dict[str, Period] = {}
    raw = document.get("periods")
    kinds = (*ANONYMISED_KINDS, *DELETED_KINDS)
    if not isinstance(raw, dict):
        error("periods", f"debe dar el plazo de cada tipo de registro: {', '.join(kinds)}")
        raw = None
    for kind in raw or ():
        if kind not in kinds:
            error(f"periods.{kind}", f"tipo desconocido; los tipos son {', '.join(kinds)}")
    for kind in kinds if raw is not None else ():
        unit, (low, high) = ("years", YEARS) if kind in ANONYMISED_KINDS else ("days", DAYS)
        words = "años" if unit == "years" else "días"
        spec = raw.get(kind)
        where = f"periods.{kind}"
        if spec is None:
            error(where, f"falta: indique {{{unit}: N}} ({words})")
        elif not isinstance(spec, dict) or set(spec) != {unit}:
            error(where, f"debe ser {{{unit}: N}} ({words}), no {spec!r}")
        elif not _whole(spec[unit], low, high):
            error(
                f"{where}.{unit}",
                f"debe ser un número entero de {words} entre {low} y {high}, no {spec[unit]!r}",
            )
        else:
            periods[kind] = Period(**{unit: spec[unit]})
    batch_size = document.get("batch_size", 500)
    if not _whole(batch_size, *BATCH_SIZE):
        error(
            "batch_size",
            f"debe ser un número entero entre {BATCH_SIZE[0]} y {BATCH_SIZE[1]}, no {batch_size!r}",
        )
    if errors:
        raise RetentionError(errors)
    return RetentionPolicy(version=version, periods=periods, batch_size=batch_size)


def load_retention(path: str | Path) -> RetentionPolicy:
    """Read and validate the retention file at ``path``."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RetentionError([f"{path.name}: no se encontró el archivo en {path.parent}"]) from None
    except yaml.YAMLError as problem:
        raise RetentionError([f"{path.name}: no es YAML válido: {problem}"]) from None
    return parse_retention(document, path.name)


def retention_in_force() -> RetentionPolicy:
    """Return the policy of the app's ``CATALOG_DIR``, read again only when the file changes."""
    from flask import current_app

    from salve.filecache import load_if_changed

    path = Path(current_app.config["CATALOG_DIR"]) / RETENTION_FILE
    return load_if_changed("retention_policy", path, load_retention)
