"""Fixtures for the catalog: a private copy of the shipped files to break on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from salve.catalog.loading import CATALOG_FILES

SHIPPED = Path(__file__).resolve().parents[2] / "catalogs"


@pytest.fixture
def catalog_dir(tmp_path) -> Path:
    """Return a folder holding a copy of the shipped catalog files."""
    folder = tmp_path / "catalogs"
    folder.mkdir()
    for name in CATALOG_FILES:
        shutil.copy(SHIPPED / name, folder / name)
    return folder


def read(folder: Path, name: str) -> dict:
    """Return the parsed content of one catalog file."""
    return yaml.load((folder / name).read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def write(folder: Path, name: str, content: dict) -> None:
    """Write ``content`` as the catalog file ``name``."""
    (folder / name).write_text(
        yaml.dump(content, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )


def entry(content: dict, section: str, code: str, key: str = "code") -> dict:
    """Return the entry of ``section`` whose ``key`` is ``code``."""
    return next(item for item in content[section] if item[key] == code)
