"""Retired codes resolve to the types that replaced them."""

from __future__ import annotations

import pytest

from salve.catalog.loading import MAPPINGS_FILE, load_catalog
from tests.catalog.conftest import SHIPPED, read, write


def test_a_current_code_resolves_to_itself():
    catalog = load_catalog(SHIPPED)
    assert catalog.resolve("SEX_ACOSO") is catalog.types["SEX_ACOSO"]


def test_a_retired_code_resolves_to_its_replacement():
    catalog = load_catalog(SHIPPED)
    assert catalog.resolve("ACOSO_SEXUAL").code == "SEX_ACOSO"
    assert catalog.resolve("BULLYING").category == "acoso_escolar"


def test_an_unknown_code_is_refused():
    with pytest.raises(KeyError, match="NO_EXISTE"):
        load_catalog(SHIPPED).resolve("NO_EXISTE")


def test_a_chain_of_retirements_is_followed(catalog_dir):
    mappings = read(catalog_dir, MAPPINGS_FILE)
    mappings["mappings"].append({"from": "VIOLENCIA_1990", "to": "BULLYING", "from_version": "1"})
    write(catalog_dir, MAPPINGS_FILE, mappings)
    assert load_catalog(catalog_dir).resolve("VIOLENCIA_1990").code == "ACO_VERBAL"


def test_an_empty_mapping_list_is_allowed(catalog_dir):
    write(catalog_dir, MAPPINGS_FILE, {"mappings": []})
    assert load_catalog(catalog_dir).mappings == {}
