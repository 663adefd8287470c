"""Each catalog version is stored once and never silently changed.

These tests need the catalog_versions table (the migration for salve.catalog.models).
"""

from __future__ import annotations

import copy

import pytest

from salve.catalog.entries import CatalogVersionConflict
from salve.catalog.loading import VIOLENCE_FILE, build_catalog, load_catalog, store_version
from salve.catalog.models import CatalogVersion
from salve.catalog.queries import catalog_of_version, stored_version
from tests.catalog.conftest import SHIPPED, entry, read, write
from tests.conftest import count


def renumbered(catalog, version):
    """Return ``catalog`` under another version string (as if the ministry had bumped it)."""
    content = copy.deepcopy(catalog.content)
    content[VIOLENCE_FILE]["version"] = version
    return build_catalog(content)


def test_a_new_version_is_stored_with_its_content(app):
    catalog = renumbered(load_catalog(SHIPPED), "2099.1")
    row, is_new = store_version(catalog)
    assert is_new
    assert (row.version, row.valid_from, row.content_hash) == (
        "2099.1", catalog.valid_from, catalog.content_hash,
    )  # fmt: skip
    assert row.loaded_at.tzinfo is not None
    assert stored_version("2099.1") is row


def test_storing_the_same_version_again_adds_nothing(app):
    catalog = renumbered(load_catalog(SHIPPED), "2099.1")
    first, _ = store_version(catalog)
    before = count(CatalogVersion)
    again, is_new = store_version(catalog)
    assert (again, is_new) == (first, False)
    assert count(CatalogVersion) == before


def test_changed_content_under_a_stored_version_is_refused(app, catalog_dir):
    store_version(renumbered(load_catalog(catalog_dir), "2099.1"))
    content = read(catalog_dir, VIOLENCE_FILE)
    entry(content, "types", "FIS_LEVE")["tier"] = "II"
    write(catalog_dir, VIOLENCE_FILE, content)
    with pytest.raises(CatalogVersionConflict, match=r'"2099\.1" is already stored'):
        store_version(renumbered(load_catalog(catalog_dir), "2099.1"))


def test_a_bumped_version_is_stored_beside_the_old_one(app):
    catalog = load_catalog(SHIPPED)
    store_version(renumbered(catalog, "2099.1"))
    _row, is_new = store_version(renumbered(catalog, "2099.2"))
    assert is_new
    assert stored_version("2099.1") is not None


def test_a_stored_version_rebuilds_the_catalog_it_was_filed_under(app, catalog_dir):
    store_version(renumbered(load_catalog(catalog_dir), "2099.1"))
    content = read(catalog_dir, VIOLENCE_FILE)
    entry(content, "types", "FIS_LEVE")["tier"] = "II"
    content["version"] = "2099.2"
    write(catalog_dir, VIOLENCE_FILE, content)
    store_version(load_catalog(catalog_dir))
    old = catalog_of_version("2099.1")
    assert (old.version, old.types["FIS_LEVE"].tier) == ("2099.1", "I")
    assert catalog_of_version("2099.2").types["FIS_LEVE"].tier == "II"


def test_an_unknown_stored_version_is_refused(app):
    with pytest.raises(LookupError, match="never loaded"):
        catalog_of_version("1999.1")
