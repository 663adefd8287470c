"""``salve catalog check`` and ``salve catalog load``."""

from __future__ import annotations

import shutil

import pytest

from salve import create_app
from salve.catalog.cli import catalog_group
from salve.catalog.loading import VIOLENCE_FILE, load_catalog
from salve.catalog.models import CatalogVersion
from salve.catalog.queries import stored_version
from tests.catalog.conftest import SHIPPED, entry, read, write
from tests.conftest import count


@pytest.fixture
def bare_runner(tmp_path, catalog_dir):
    """Return a CLI runner of an app whose database is never touched, on a catalog copy."""
    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
            "CATALOG_DIR": str(catalog_dir),
        }
    )
    return app.test_cli_runner()


def test_check_prints_a_summary(bare_runner):
    result = bare_runner.invoke(catalog_group, ["check"])
    assert result.exit_code == 0, result.output
    assert "Catálogo 2026.1, vigente desde 2026-02-01: válido." in result.output
    assert "13 categorías, 44 tipos (nivel I: 5, nivel II: 19, nivel III: 20)" in result.output
    assert "15 de alerta inmediata" in result.output


def test_check_lists_every_error_and_fails(bare_runner, catalog_dir):
    content = read(catalog_dir, VIOLENCE_FILE)
    entry(content, "types", "SEX_ACOSO")["tier"] = "IV"
    entry(content, "types", "ARM_USO")["report_to"] = ["FISCALIA"]
    write(catalog_dir, VIOLENCE_FILE, content)
    result = bare_runner.invoke(catalog_group, ["check"])
    assert result.exit_code == 1
    assert "tiene 2 errores" in result.output
    assert 'violence.yaml: types[SEX_ACOSO].tier: must be I, II or III, not "IV"' in result.output
    assert 'types[ARM_USO].report_to: unknown institution "FISCALIA"' in result.output


def test_check_reads_another_folder_when_asked(bare_runner, tmp_path):
    empty = tmp_path / "vacio"
    empty.mkdir()
    result = bare_runner.invoke(catalog_group, ["check", "--dir", str(empty)])
    assert result.exit_code == 1
    assert "violence.yaml: file not found" in result.output


# The tests below need the catalog_versions table (the migration for salve.catalog.models).


def test_load_stores_the_version_once(runner):
    before = count(CatalogVersion)
    first = runner.invoke(args=["salve", "catalog", "load"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(args=["salve", "catalog", "load"])
    assert again.exit_code == 0, again.output
    assert "ya estaba guardada" in again.output
    assert count(CatalogVersion) - before in {0, 1}  # 0 when `salve init` already stored it
    assert stored_version("2026.1").content_hash == load_catalog(SHIPPED).content_hash


def test_load_refuses_a_changed_catalog_under_the_same_version(app, catalog_dir):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["salve", "catalog", "load"]).exit_code == 0
    content = read(catalog_dir, VIOLENCE_FILE)
    entry(content, "types", "SEX_ACOSO")["label"]["es"] = "Acoso sexual (revisado)"
    write(catalog_dir, VIOLENCE_FILE, content)
    result = runner.invoke(args=["salve", "catalog", "load", "--dir", str(catalog_dir)])
    assert result.exit_code == 1
    assert "a changed catalog needs a new version" in result.output


def test_the_app_refuses_to_start_with_a_broken_catalog(tmp_path):
    from salve.catalog.entries import CatalogError

    catalog_dir = tmp_path / "catalogs"
    shutil.copytree(SHIPPED, catalog_dir)
    violence = catalog_dir / VIOLENCE_FILE
    text = violence.read_text(encoding="utf-8")
    violence.write_text(text.replace("tier: III", "tier: IV", 1), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"violence\.yaml"):
        create_app({"CATALOG_DIR": str(catalog_dir)})
