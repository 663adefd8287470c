"""The catalog the ministry ships: valid, complete, and strict where children's safety needs it."""

from __future__ import annotations

import pytest

from salve.catalog.loading import load_catalog
from tests.catalog.conftest import SHIPPED

#: Every category the incident-reporting issue asks for.
CATEGORIES = [
    "fisica", "psicologica", "acoso_escolar", "ciberacoso", "sexual", "discriminacion",
    "armas", "pandillas", "drogas", "autolesion", "maltrato_hogar", "contra_personal",
    "robo_danos",
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(SHIPPED)


def test_the_shipped_catalog_validates(catalog):
    assert catalog.version == "2026.1"
    assert len(catalog.content_hash) == 64


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_has_types(catalog, category):
    assert catalog.types_by_category[category]


def test_sexual_violence_types_are_all_listed(catalog):
    assert {t.code for t in catalog.types_by_category["sexual"]} >= {
        "SEX_ACOSO", "SEX_TOCAMIENTOS", "SEX_VIOLACION", "SEX_EXPLOTACION", "SEX_GROOMING",
    }  # fmt: skip


@pytest.mark.parametrize(
    "code",
    ["SEX_ACOSO", "SEX_TOCAMIENTOS", "SEX_VIOLACION", "SEX_EXPLOTACION", "SEX_GROOMING",
     "ARM_AMENAZA", "ARM_USO", "AUT_AUTOLESION", "AUT_INTENTO", "PAN_AMENAZAS", "PAN_EXTORSION"],
)  # fmt: skip
def test_the_issue_s_immediate_triggers_are_immediate(catalog, code):
    assert catalog.types[code].is_immediate


def test_every_sexual_violence_type_is_a_presumed_crime_and_immediate(catalog):
    for violence_type in catalog.types_by_category["sexual"]:
        assert violence_type.tier == "III", violence_type.code
        assert violence_type.is_immediate, violence_type.code


def test_immediate_and_tier_iii_types_have_a_mandatory_report_with_a_deadline(catalog):
    urgent = [t for t in catalog.types.values() if t.is_immediate or t.tier == "III"]
    assert len(urgent) > 15
    for violence_type in urgent:
        assert violence_type.is_mandatory_report, violence_type.code
        assert violence_type.report_to, violence_type.code
        report = violence_type.protocol.report_step
        assert report is not None, violence_type.code
        assert 0 < report.deadline_hours <= 24, violence_type.code
        assert all(step.deadline_hours > 0 for step in violence_type.protocol.steps)


def test_presumed_crimes_are_reported_to_the_prosecutor_or_the_police(catalog):
    for violence_type in catalog.types.values():
        if violence_type.tier == "III":
            assert {"FGR", "PNC"} & set(violence_type.report_to), violence_type.code


def test_tier_iii_protocols_intervene_within_a_week_and_follow_up(catalog):
    for violence_type in catalog.types.values():
        if violence_type.tier != "III":
            continue
        steps = {step.code: step for step in violence_type.protocol.steps}
        assert steps["intervencion_centro"].deadline_hours <= 168, violence_type.code
        follow_ups = [code for code in steps if code.startswith("seguimiento")]
        assert len(follow_ups) >= 2, violence_type.code


def test_institutions_are_the_salvadoran_ones(catalog):
    assert {"FGR", "PNC", "CONAPINA", "MINSAL", "PGR", "ISDEMU"} <= catalog.institutions.keys()
    assert "Fiscalía General" in catalog.institutions["FGR"].label.es


def test_relationships_cover_who_to_whom(catalog):
    assert {
        "estudiante_estudiante", "personal_estudiante", "familiar_externo_estudiante",
        "estudiante_personal", "desconocido",
    } <= catalog.relationships.keys()  # fmt: skip


def test_repetition_ranges_are_the_four_of_the_report_form(catalog):
    assert [(r.code, r.min_times, r.max_times) for r in catalog.repetition.values()] == [
        ("primera_vez", 1, 1), ("2_3", 2, 3), ("4_5", 4, 5), ("6_mas", 6, None),
    ]  # fmt: skip


def test_discrimination_types_ask_for_a_factor_and_factors_exist(catalog):
    assert all(t.requires_factor for t in catalog.types_by_category["discriminacion"])
    factors = {m.code for m in catalog.motivations.values() if m.is_discrimination}
    assert {
        "genero", "orientacion_sexual", "discapacidad", "etnia", "nacionalidad_migracion",
        "embarazo", "apariencia", "otro_factor",
    } <= factors  # fmt: skip


def test_locations_and_measures_include_the_usual_choices(catalog):
    assert {"aula", "patio", "banos", "pasillos", "cancha", "alrededores", "transporte",
            "en_linea", "hogar", "otro"} <= catalog.locations.keys()  # fmt: skip
    assert {"separacion", "atencion_medica", "contencion_emocional", "aviso_familia",
            "aviso_autoridades"} <= catalog.measures.keys()  # fmt: skip


def test_every_text_has_spanish_and_english(catalog):
    entries = [
        *catalog.categories.values(), *catalog.types.values(), *catalog.locations.values(),
        *catalog.relationships.values(), *catalog.measures.values(),
        *catalog.motivations.values(), *catalog.institutions.values(),
    ]  # fmt: skip
    for item in entries:
        assert item.label.es and item.label.en, item.code
        assert item.label.in_language("en") == item.label.en
        assert item.label.in_language("es_SV") == item.label.es


def test_types_limited_to_staff_as_aggressor_say_so(catalog):
    assert catalog.types["FIS_CASTIGO"].relationships == ("personal_estudiante",)
    assert catalog.types["AUT_INTENTO"].relationships == ("autoinfligida",)
    assert catalog.types["FIS_LEVE"].relationships == ()  # any
