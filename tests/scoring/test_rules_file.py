"""Validation of rules.yaml: every problem named by file, rule and field."""

from __future__ import annotations

import copy

import pytest
import yaml

from salve.scoring.rules import RulesError, load_rules, parse_rules
from tests.scoring.builders import ROOT, catalog

SHIPPED = yaml.safe_load((ROOT / "catalogs" / "rules.yaml").read_text(encoding="utf-8"))


def errors_of(change) -> list[str]:
    document = copy.deepcopy(SHIPPED)
    change(document)
    with pytest.raises(RulesError) as caught:
        parse_rules(document, "rules.yaml", catalog())
    return caught.value.errors


def rule(document, rule_id):
    return next(r for r in document["rules"] if r["id"] == rule_id)


def test_the_shipped_rules_are_valid_and_complete():
    rules = load_rules(ROOT / "catalogs" / "rules.yaml", catalog())
    assert rules.version == "2026.1"
    assert dict(rules.levels) == {"medio": 25, "alto": 50, "critico": 75}
    assert {r.kind for r in rules.rules} == {
        "victim_count", "aggressor_count", "repeat_pair", "immediate", "school_rate",
        "school_spike", "silence",
    }  # fmt: skip
    assert list(rules.level_of([0, 24.9, 25, 49.9, 50, 74.9, 75, 100])) == [
        "bajo", "bajo", "medio", "medio", "alto", "alto", "critico", "critico",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: rule(d, "victima_reiterada")["params"].update(window_days=0),
            "rules.yaml: rules[victima_reiterada].params.window_days: must be a whole number "
            "above 0, not 0",
        ),
        (
            lambda d: rule(d, "victima_reiterada").update(kind="horoscope"),
            'rules.yaml: rules[victima_reiterada].kind: unknown kind "horoscope"',
        ),
        (
            lambda d: rule(d, "victima_reiterada")["params"].update(colour="red"),
            "rules.yaml: rules[victima_reiterada].params.colour: unknown parameter",
        ),
        (
            lambda d: rule(d, "mismo_agresor")["explanation"].pop("en"),
            "rules.yaml: rules[mismo_agresor].explanation.en: missing",
        ),
        (
            lambda d: rule(d, "mismo_agresor")["explanation"].update(es="Veces: {times}"),
            'rules.yaml: rules[mismo_agresor].explanation.es: unknown figure "{times}"',
        ),
        (
            lambda d: d["rules"].append(copy.deepcopy(rule(d, "tasa_centro"))),
            "rules.yaml: rules[tasa_centro].id: is used by an earlier rule",
        ),
        (
            lambda d: d["levels"].update(alto=20),
            "rules.yaml: levels: must rise: medio < alto < critico",
        ),
        (
            lambda d: d["levels"].pop("critico"),
            "rules.yaml: levels.critico: missing",
        ),
        (
            lambda d: d["levels"].update(medio=150),
            "rules.yaml: levels.medio: must be a score above 0 and at most 100, not 150",
        ),
        (
            lambda d: rule(d, "victima_reiterada")["params"].update(sexo_weight=2),
            "rules.yaml: rules[victima_reiterada].params.sexo_weight: "
            "names a protected trait (sexo)",
        ),
        (
            lambda d: rule(d, "tasa_centro")["params"].update(etnia=["indigena"]),
            "rules.yaml: rules[tasa_centro].params.etnia: "
            "names a protected trait (etnia, indigena)",
        ),
        (
            lambda d: rule(d, "silencio_centro")["params"].update(group_by="household_income"),
            "rules.yaml: rules[silencio_centro].params.group_by: names a protected trait (income)",
        ),
        (
            lambda d: rule(d, "hecho_grave_estudiante")["params"].update(categories=["magia"]),
            'rules.yaml: rules[hecho_grave_estudiante].params.categories: unknown category "magia"',
        ),
        (
            lambda d: rule(d, "tasa_centro").update(entity="student"),
            "rules.yaml: rules[tasa_centro].entity: a school_rate rule scores school, not student",
        ),
        (
            lambda d: rule(d, "victima_reiterada").update(points=30),
            "rules.yaml: rules[victima_reiterada].points: must be {per_unit: …, cap: …}",
        ),
        (
            lambda d: rule(d, "mismo_agresor").update(alert={"level": "rojo"}),
            "rules.yaml: rules[mismo_agresor].alert: must be {level: medio|alto|critico}",
        ),
        (
            lambda d: rule(d, "mismo_agresor").pop("explanation"),
            "rules.yaml: rules[mismo_agresor].explanation: missing",
        ),
        (
            lambda d: d["rules"][0].update(id="Bad Id"),
            'rules.yaml: rules[#1].id: must be lower_snake_case, not "Bad Id"',
        ),
        (lambda d: d.pop("version"), "rules.yaml: version: must be a text"),
    ],
)
def test_errors_name_the_file_rule_and_field(change, expected):
    errors = errors_of(change)
    assert any(error.startswith(expected) for error in errors), errors


def test_the_sexual_violence_category_is_not_mistaken_for_a_protected_trait():
    document = copy.deepcopy(SHIPPED)
    rule(document, "hecho_grave_estudiante")["params"]["categories"] = ["sexual", "armas"]
    parse_rules(document, "rules.yaml", catalog())


def test_unreadable_and_broken_files(tmp_path):
    with pytest.raises(RulesError, match="cannot be read"):
        load_rules(tmp_path / "missing.yaml")
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules\.yaml: is not valid YAML"):
        load_rules(broken)
