"""``salve rules check`` on a bare app (no database needed)."""

from __future__ import annotations

import pytest

from salve import create_app
from salve.scoring.cli import rules_group
from tests.scoring.builders import ROOT


@pytest.fixture
def runner():
    return create_app().test_cli_runner()


def test_check_prints_a_summary(runner):
    result = runner.invoke(rules_group, ["check"])
    assert result.exit_code == 0, result.output
    assert "Reglas de riesgo 2026.1: válidas." in result.output
    assert "9 reglas: 5 de estudiantes, 4 de centros educativos" in result.output


def test_check_lists_every_error_and_exits_1(runner, tmp_path):
    broken = tmp_path / "rules.yaml"
    text = (ROOT / "catalogs" / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("window_days: 90", "window_days: -1", 1).replace(
        "use_immediate_flag: true\n      roles", "categories: [magia]\n      roles", 1
    )
    broken.write_text(text, encoding="utf-8")
    result = runner.invoke(rules_group, ["check", "--file", str(broken)])
    assert result.exit_code == 1
    assert "tienen 2 errores" in result.output
    assert "rules[victima_reiterada].params.window_days: must be a whole number" in result.output
    assert (
        'rules[hecho_grave_estudiante].params.categories: unknown category "magia"' in result.output
    )
