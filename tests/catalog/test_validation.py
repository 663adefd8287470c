"""Broken catalog files are refused with errors that name the file, the entry and the field."""

from __future__ import annotations

import pytest

from salve.catalog.entries import CatalogError
from salve.catalog.loading import (
    INSTITUTIONS_FILE,
    MAPPINGS_FILE,
    VIOLENCE_FILE,
    build_catalog,
    load_catalog,
)
from tests.catalog.conftest import SHIPPED, entry, read, write


def errors_of(folder) -> list[str]:
    with pytest.raises(CatalogError) as raised:
        load_catalog(folder)
    return raised.value.errors


def break_violence(folder, change) -> list[str]:
    content = read(folder, VIOLENCE_FILE)
    change(content)
    write(folder, VIOLENCE_FILE, content)
    return errors_of(folder)


def sex_acoso(content) -> dict:
    return entry(content, "types", "SEX_ACOSO")


CASES = {
    "tier": (
        lambda c: sex_acoso(c).update(tier="IV"),
        'violence.yaml: types[SEX_ACOSO].tier: must be I, II or III, not "IV"',
    ),
    "unknown category": (
        lambda c: sex_acoso(c).update(category="sexualidad"),
        'violence.yaml: types[SEX_ACOSO].category: unknown category "sexualidad"',
    ),
    "unknown institution": (
        lambda c: sex_acoso(c).update(report_to=["FGR", "FISCALIA"]),
        'violence.yaml: types[SEX_ACOSO].report_to: unknown institution "FISCALIA"',
    ),
    "immediate not a boolean": (
        lambda c: sex_acoso(c).update(immediate="sí"),
        'violence.yaml: types[SEX_ACOSO].immediate: must be true or false, not "sí"',
    ),
    "mandatory report without institutions": (
        lambda c: sex_acoso(c).pop("report_to"),
        "violence.yaml: types[SEX_ACOSO].report_to: a mandatory report needs at least one",
    ),
    "tier III without mandatory report": (
        lambda c: entry(c, "types", "ROB_ROBO").update(mandatory_report=False, report_to=[]),
        "violence.yaml: types[ROB_ROBO].mandatory_report: must be true for a tier III type",
    ),
    "immediate without mandatory report": (
        lambda c: entry(c, "types", "FIS_LEVE").update(immediate=True),
        "violence.yaml: types[FIS_LEVE].mandatory_report: must be true for an immediate type",
    ),
    "report_to on a type that does not report": (
        lambda c: entry(c, "types", "FIS_LEVE").update(report_to=["PNC"]),
        "violence.yaml: types[FIS_LEVE].report_to: only for mandatory reports; use refer_to",
    ),
    "missing english label": (
        lambda c: sex_acoso(c)["label"].pop("en"),
        "violence.yaml: types[SEX_ACOSO].label.en: missing",
    ),
    "empty spanish description": (
        lambda c: sex_acoso(c)["description"].update(es="  "),
        'violence.yaml: types[SEX_ACOSO].description.es: must be a non-empty text, not "  "',
    ),
    "misspelt field": (
        lambda c: sex_acoso(c).update(mandatory_reprot=True),
        'violence.yaml: types[SEX_ACOSO]: unknown field "mandatory_reprot"',
    ),
    "missing field": (
        lambda c: sex_acoso(c).pop("tier"),
        "violence.yaml: types[SEX_ACOSO].tier: missing",
    ),
    "duplicate type code": (
        lambda c: c["types"].append(dict(sex_acoso(c))),
        'violence.yaml: types[SEX_ACOSO]: code "SEX_ACOSO" is used twice',
    ),
    "badly formed type code": (
        lambda c: c["types"].insert(0, {**sex_acoso(c), "code": "acoso sexual"}),
        'violence.yaml: types[#1].code: "acoso sexual" is not a valid code',
    ),
    "unknown protocol": (
        lambda c: sex_acoso(c).update(protocol="nivel_iv"),
        'violence.yaml: types[SEX_ACOSO].protocol: unknown protocol "nivel_iv"',
    ),
    "protocol without a report step": (
        lambda c: sex_acoso(c).update(protocol="nivel_ii"),
        'violence.yaml: types[SEX_ACOSO].protocol: protocol "nivel_ii" has no step with report',
    ),
    "negative deadline": (
        lambda c: entry(entry(c, "protocols", "nivel_iii"), "steps", "aviso_autoridades").update(
            deadline_hours=-24
        ),
        "violence.yaml: protocols[nivel_iii].steps[aviso_autoridades].deadline_hours: "
        "must be a whole number above 0, not -24",
    ),
    "deadline in days as text": (
        lambda c: entry(entry(c, "protocols", "nivel_iii"), "steps", "seguimiento_1").update(
            deadline_hours="15 días"
        ),
        "protocols[nivel_iii].steps[seguimiento_1].deadline_hours: must be a whole number above"
        ' 0, not "15 días"',
    ),
    "unknown relationship": (
        lambda c: entry(c, "types", "FIS_CASTIGO").update(relationships=["docente_estudiante"]),
        'types[FIS_CASTIGO].relationships: unknown relationship "docente_estudiante"',
    ),
    "repetition code read as a number": (
        lambda c: entry(c, "repetition", "2_3").update(code=23),
        "violence.yaml: repetition[#2].code: 23 is not a valid code",
    ),
    "repetition range upside down": (
        lambda c: entry(c, "repetition", "4_5").update(max_times=3),
        "violence.yaml: repetition[4_5].max_times: must be at least min_times (4), not 3",
    ),
    "version as a number": (
        lambda c: c.update(version=2026.1),
        'violence.yaml: version: must be a text in quotes such as "2026.1", not 2026.1',
    ),
    "valid_from not a date": (
        lambda c: c.update(valid_from="febrero 2026"),
        'violence.yaml: valid_from: must be a date such as 2026-02-01, not "febrero 2026"',
    ),
    "protocol without steps": (
        lambda c: entry(c, "protocols", "nivel_i").update(steps=[]),
        "violence.yaml: protocols[nivel_i].steps: must be a non-empty list, not []",
    ),
    "relationship listed twice": (
        lambda c: entry(c, "types", "FIS_CASTIGO").update(
            relationships=["personal_estudiante", "personal_estudiante"]
        ),
        'types[FIS_CASTIGO].relationships: lists "personal_estudiante" twice',
    ),
    "category without types": (
        lambda c: c["categories"].append({"code": "nueva", "label": {"es": "Nueva", "en": "New"}}),
        "violence.yaml: categories[nueva]: has no types",
    ),
    "unknown section": (
        lambda c: c.update(lugares=[]),
        "violence.yaml: lugares: unknown section",
    ),
    "empty section": (
        lambda c: c.update(locations=[]),
        "violence.yaml: locations: must be a non-empty list, not []",
    ),
}


@pytest.mark.parametrize("change, message", CASES.values(), ids=CASES.keys())
def test_a_broken_violence_file_names_file_entry_and_field(catalog_dir, change, message):
    errors = break_violence(catalog_dir, change)
    assert any(message in error for error in errors), errors


def test_every_problem_is_reported_at_once(catalog_dir):
    def two_problems(content):
        sex_acoso(content).update(tier="IV")
        entry(content, "types", "ARM_USO").update(immediate="no sé")

    errors = break_violence(catalog_dir, two_problems)
    assert len(errors) == 2, errors


def test_an_unknown_institution_in_the_institutions_file_breaks_its_users(catalog_dir):
    institutions = read(catalog_dir, INSTITUTIONS_FILE)
    institutions["institutions"] = [i for i in institutions["institutions"] if i["code"] != "PNC"]
    write(catalog_dir, INSTITUTIONS_FILE, institutions)
    assert 'violence.yaml: types[ARM_USO].report_to: unknown institution "PNC"' in errors_of(
        catalog_dir
    )


def test_institution_labels_need_both_languages(catalog_dir):
    institutions = read(catalog_dir, INSTITUTIONS_FILE)
    entry(institutions, "institutions", "ISDEMU")["label"] = "ISDEMU"
    write(catalog_dir, INSTITUTIONS_FILE, institutions)
    assert errors_of(catalog_dir) == [
        'institutions.yaml: institutions[ISDEMU].label: must have es and en, not "ISDEMU"'
    ]


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"from": "VIEJO", "to": "NO_EXISTE", "from_version": "2025.1"},
         'catalog_mappings.yaml: mappings[VIEJO].to: "NO_EXISTE" is neither a current type nor'),
        ({"from": "SEX_ACOSO", "to": "SEX_TOCAMIENTOS", "from_version": "2025.1"},
         'catalog_mappings.yaml: mappings[SEX_ACOSO].from: "SEX_ACOSO" is a current type'),
        ({"from": "BULLYING", "to": "ACO_FISICO", "from_version": "2025.1"},
         'catalog_mappings.yaml: mappings[BULLYING]: code "BULLYING" is used twice'),
        ({"from": "VIEJO", "to": "ACO_FISICO"},
         "catalog_mappings.yaml: mappings[VIEJO].from_version: missing"),
    ],
)  # fmt: skip
def test_a_broken_mapping_is_refused(catalog_dir, mapping, message):
    mappings = read(catalog_dir, MAPPINGS_FILE)
    mappings["mappings"].append(mapping)
    write(catalog_dir, MAPPINGS_FILE, mappings)
    errors = errors_of(catalog_dir)
    assert any(message in error for error in errors), errors


def test_a_loop_of_mappings_is_refused(catalog_dir):
    write(
        catalog_dir,
        MAPPINGS_FILE,
        {"mappings": [{"from": "A_1", "to": "B_1", "from_version": "1"},
                      {"from": "B_1", "to": "A_1", "from_version": "1"}]},
    )  # fmt: skip
    assert (
        "catalog_mappings.yaml: mappings[A_1].to: the chain of mappings loops back on itself"
        in (errors_of(catalog_dir))
    )


def test_a_yaml_syntax_error_names_file_and_line(catalog_dir):
    path = catalog_dir / INSTITUTIONS_FILE
    path.write_text("institutions:\n  - code: FGR\n    label: {es: sin cerrar\n", encoding="utf-8")
    [error] = errors_of(catalog_dir)
    assert error.startswith("institutions.yaml: line ")


def test_a_key_given_twice_is_refused_not_silently_overwritten(catalog_dir):
    path = catalog_dir / VIOLENCE_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    tier: III\n", "    tier: III\n    tier: I\n", 1), "utf-8")
    [error] = errors_of(catalog_dir)
    assert error.startswith("violence.yaml: line ")
    assert "'tier' is given twice" in error


def test_a_missing_file_is_named(catalog_dir):
    (catalog_dir / MAPPINGS_FILE).unlink()
    assert errors_of(catalog_dir) == [f"catalog_mappings.yaml: file not found in {catalog_dir}"]


def test_an_empty_file_is_refused(catalog_dir):
    (catalog_dir / VIOLENCE_FILE).write_text("", encoding="utf-8")
    errors = errors_of(catalog_dir)
    assert errors[0] == "violence.yaml: must be a mapping of sections, not empty"


def test_build_catalog_accepts_stored_content_and_gives_the_same_hash():
    catalog = load_catalog(SHIPPED)
    rebuilt = build_catalog(catalog.content)
    assert rebuilt.content_hash == catalog.content_hash
    assert rebuilt.valid_from == catalog.valid_from
    assert rebuilt.types == catalog.types


def test_comments_and_formatting_do_not_change_the_hash(catalog_dir):
    before = load_catalog(catalog_dir).content_hash
    path = catalog_dir / VIOLENCE_FILE
    path.write_text("# Revisado por la Dirección.\n" + path.read_text("utf-8"), "utf-8")
    assert load_catalog(catalog_dir).content_hash == before
    write(catalog_dir, VIOLENCE_FILE, read(catalog_dir, VIOLENCE_FILE))  # re-serialised
    assert load_catalog(catalog_dir).content_hash == before


def test_a_changed_label_changes_the_hash(catalog_dir):
    before = load_catalog(catalog_dir).content_hash
    content = read(catalog_dir, VIOLENCE_FILE)
    sex_acoso(content)["label"]["es"] = "Acoso sexual (revisado)"
    write(catalog_dir, VIOLENCE_FILE, content)
    assert load_catalog(catalog_dir).content_hash != before
