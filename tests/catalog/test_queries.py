"""The catalog in force is read once and read again only when a file changes."""

from __future__ import annotations

import os

import pytest

from salve.catalog.entries import CatalogError
from salve.catalog.loading import MAPPINGS_FILE, VIOLENCE_FILE
from salve.catalog.queries import cached_catalog
from tests.catalog.conftest import read, write


def test_an_unchanged_catalog_is_not_read_again(catalog_dir):
    assert cached_catalog(catalog_dir) is cached_catalog(catalog_dir)


def test_a_changed_file_is_read_again(catalog_dir):
    first = cached_catalog(catalog_dir)
    content = read(catalog_dir, VIOLENCE_FILE)
    content["version"] = "2026.2"
    write(catalog_dir, VIOLENCE_FILE, content)
    path = catalog_dir / VIOLENCE_FILE
    stat = path.stat()
    # Filesystems with coarse timestamps may not see the write; make the change visible.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = cached_catalog(catalog_dir)
    assert (first.version, second.version) == ("2026.1", "2026.2")


def test_a_file_broken_after_caching_is_reported_not_hidden(catalog_dir):
    cached_catalog(catalog_dir)
    (catalog_dir / MAPPINGS_FILE).write_text("mappings: 3\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog_mappings\.yaml: mappings"):
        cached_catalog(catalog_dir)
