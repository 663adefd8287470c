"""Each rule kind on small hand-built tables, and the engine's promises."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from salve.scoring.engine import RULE_KINDS, ScoreTables, explain, score
from salve.scoring.rules import FORBIDDEN_INPUTS, KINDS, RuleSet
from tests.scoring.builders import AS_OF, shipped_rules, tables


def only(rule_id: str) -> RuleSet:
    rules = shipped_rules()
    return dataclasses.replace(rules, rules=(rules.rule(rule_id),))


def contributions(result, rule_id):
    found = result.contributions[result.contributions["rule_id"] == rule_id]
    return {row["entity_id"]: row for row in found.to_dict("records")}


def student_score(result, student_id):
    rows = result.scores[
        (result.scores["entity_type"] == "student") & (result.scores["entity_id"] == student_id)
    ]
    return rows.iloc[0]


def incident(id_, days_ago, parties, types=("PSI_INSULTOS",), school=1, status="validado"):
    return {"id": id_, "school": school, "days_ago": days_ago, "types": list(types),
            "parties": parties, "status": status}  # fmt: skip


SCHOOL = [(1, 1, 400)]
PUPILS = [(10, 1), (11, 1), (12, 1), (13, 1)]


def test_the_registry_has_a_function_for_every_kind():
    assert set(RULE_KINDS) == set(KINDS)


def test_planted_pattern_four_times_in_three_weeks_by_the_same_classmate():
    data = tables(
        SCHOOL,
        PUPILS,
        [incident(n, days, [("victima", 10), ("agresor", 11)]) for n, days in
         enumerate([1, 7, 14, 20], start=1)],
    )  # fmt: skip
    result = score(data, shipped_rules(), AS_OF)
    victim = student_score(result, 10)
    assert victim["level"] in ("alto", "critico")
    repeat = contributions(result, "mismo_agresor")[10]
    assert repeat["figures"]["count"] == 4
    text = explain(repeat, shipped_rules().rule("mismo_agresor"), "es")
    assert "4 veces" in text and "patrón de acoso" in text
    assert "bullying pattern" in explain(repeat, shipped_rules().rule("mismo_agresor"), "en")
    assert repeat["alert"]
    # The classmate is flagged too, by the aggressor side of the pattern.
    assert 11 in contributions(result, "misma_victima")


def test_victim_count_weights_by_the_most_severe_type_and_respects_window_and_minimum():
    data = tables(
        SCHOOL,
        PUPILS,
        [
            incident(1, 5, [("victima", 10)], types=["PSI_INSULTOS", "FIS_LESIONES"]),  # III: 4
            incident(2, 40, [("victima", 10), ("victima", 10)]),  # named twice: counts once
            incident(3, 95, [("victima", 10)]),  # outside 90 days
            incident(4, 5, [("victima", 12)]),  # only one: below min_count 2
            incident(5, 6, [("victima", 12)], status="infundado"),
        ],
    )
    found = contributions(score(data, only("victima_reiterada"), AS_OF), "victima_reiterada")
    assert set(found) == {10}
    assert found[10]["figures"] == {"count": 2, "weighted": 5.0, "days": 90}
    assert found[10]["points"] == 25.0


def test_aggressor_count_is_capped():
    data = tables(
        SCHOOL,
        PUPILS,
        [incident(n, n, [("agresor", 13)], types=["FIS_LESIONES"]) for n in range(1, 6)],
    )
    found = contributions(score(data, only("agresion_reiterada"), AS_OF), "agresion_reiterada")
    assert found[13]["points"] == 35.0  # 5 x weight 4 x 4 points = 80, capped at 35
    assert found[13]["figures"]["count"] == 5


def test_repeat_pair_needs_the_same_aggressor():
    data = tables(
        SCHOOL,
        PUPILS,
        [
            incident(1, 1, [("victima", 10), ("agresor", 11)]),
            incident(2, 2, [("victima", 10), ("agresor", 12)]),
            incident(3, 3, [("victima", 10), ("agresor", 13)]),
            incident(4, 4, [("victima", 10), ("agresor", 11)]),
        ],
    )
    assert contributions(score(data, only("mismo_agresor"), AS_OF), "mismo_agresor") == {}


def test_immediate_for_students_and_schools():
    data = tables(
        [(1, 1, 400), (2, 1, 400)],
        PUPILS,
        [
            incident(1, 3, [("victima", 10), ("agresor", 11)], types=["ARM_USO"]),
            incident(2, 3, [("testigo", 12)], types=["SEX_ACOSO"]),
            incident(3, 3, [("victima", 13)], types=["ARM_PORTACION_BLANCA"]),  # not immediate
            incident(4, 40, [("victima", 13)], types=["PAN_EXTORSION"]),  # outside 30 days
        ],
    )
    rules = shipped_rules()
    result = score(data, rules, AS_OF)
    students = contributions(result, "hecho_grave_estudiante")
    assert set(students) == {10, 11}  # witnesses do not count with roles [victima, agresor]
    assert all(row["immediate"] and row["alert"] for row in students.values())
    schools = contributions(result, "hecho_grave_centro")
    assert set(schools) == {1}
    assert schools[1]["figures"]["count"] == 2


def test_school_rate_ranks_forty_incidents_in_1500_above_one_in_20():
    small, big = 1, 2
    schools = [(small, 1, 20), (big, 1, 1500)] + [(100 + n, 1, 500) for n in range(10)]
    incidents = [incident(1, 10, [], types=["FIS_PELEA"], school=small)]
    incidents += [
        incident(100 + n, 10 + n % 60, [], types=["FIS_PELEA"], school=big) for n in range(40)
    ]
    incidents += [
        incident(1000 + n, 20, [], types=["FIS_PELEA"], school=100 + n % 10) for n in range(20)
    ]
    rules = only("tasa_centro")
    # Without the minimum count, so the shrinkage alone has to do it.
    rule = dataclasses.replace(rules.rules[0], params={**rules.rules[0].params, "min_count": 1,
                                                        "min_ratio": 0.01})  # fmt: skip
    result = score(tables(schools, [], incidents), dataclasses.replace(rules, rules=(rule,)), AS_OF)
    found = contributions(result, "tasa_centro")
    assert found[big]["figures"]["rate"] > found[small]["figures"]["rate"]
    assert found[big]["points"] > found[small]["points"]
    # Raw rates would have ranked them the other way round.
    assert found[small]["figures"]["raw_rate"] > found[big]["figures"]["raw_rate"]
    # With the shipped minimum of 3 incidents, the small school gets nothing at all.
    shipped = contributions(score(tables(schools, [], incidents), rules, AS_OF), "tasa_centro")
    assert small not in shipped and big in shipped


def test_school_spike_against_its_own_baseline():
    usual = [incident(n, 31 + n * 10, [], school=1) for n in range(12)]  # 12 in 180 days: 2/month
    spike = [incident(100 + n, n + 1, [], school=1) for n in range(8)]
    steady = [incident(200 + n, 31 + n * 10, [], school=2) for n in range(12)]
    steady += [incident(300 + n, n + 1, [], school=2) for n in range(3)]
    data = tables([(1, 1, 300), (2, 1, 300)], [], usual + spike + steady)
    found = contributions(score(data, only("repunte_centro"), AS_OF), "repunte_centro")
    assert set(found) == {1}
    assert found[1]["figures"] == {"recent": 8, "expected": 2.0, "ratio": 4.0, "days": 30,
                                   "baseline_days": 180}  # fmt: skip


def test_silence_when_peers_keep_reporting():
    # Department 1: six schools of the same size band; school 1 went quiet, the others report.
    schools = (
        [(n, 1, 200) for n in range(1, 7)] + [(7, 1, 1200)] + [(n, 2, 200) for n in range(8, 14)]
    )
    incidents = [incident(n, 100, [], school=1) for n in range(1, 4)]  # it reported before
    incidents += [incident(10 + n, 10, [], school=n) for n in range(2, 7)]  # peers report now
    incidents += [incident(30 + n, 100, [], school=n) for n in range(8, 14)]  # dept 2: all quiet
    data = tables(schools, [], incidents)
    found = contributions(score(data, only("silencio_centro"), AS_OF), "silencio_centro")
    assert set(found) == {1}
    assert found[1]["figures"] == {"days": 60, "peers": 5, "peer_share": 100, "baseline": 3}


def test_unfounded_incidents_never_count():
    data = tables(
        SCHOOL,
        PUPILS,
        [incident(n, n, [("victima", 10), ("agresor", 11)], types=["ARM_USO"], status="infundado")
         for n in range(1, 6)],
    )  # fmt: skip
    result = score(data, shipped_rules(), AS_OF)
    assert result.contributions.empty
    assert set(result.scores["level"]) == {"bajo"}


def test_every_entity_gets_a_score_capped_at_100_with_the_rules_version():
    data = tables(
        SCHOOL,
        PUPILS,
        [
            incident(n, n, [("victima", 10), ("agresor", 11)], types=["ARM_USO"])
            for n in range(1, 8)
        ],
    )
    result = score(data, shipped_rules(), AS_OF)
    assert len(result.scores) == len(PUPILS) + 1
    assert student_score(result, 10)["score"] == 100.0
    assert student_score(result, 10)["level"] == "critico"
    assert student_score(result, 12)["level"] == "bajo"
    assert result.rules_version == "2026.1"


def test_rescoring_a_few_entities_matches_the_full_run():
    schools = [(1, 1, 300), (2, 1, 300), (3, 2, 50)]
    pupils = [(10, 1), (11, 1), (12, 2), (13, 2), (14, 3)]
    incidents = [incident(n, n * 3, [("victima", 10 + n % 5), ("agresor", 10 + (n + 1) % 5)],
                          school=1 + n % 3) for n in range(1, 30)]  # fmt: skip
    data = tables(schools, pupils, incidents)
    full = score(data, shipped_rules(), AS_OF)
    part = score(data, shipped_rules(), AS_OF, only_students=[12], only_schools=[2])
    assert set(zip(part.scores["entity_type"], part.scores["entity_id"], strict=True)) == {
        ("student", 12),
        ("school", 2),
    }
    merged = part.scores.merge(full.scores, on=["entity_type", "entity_id"])
    assert (merged["score_x"] == merged["score_y"]).all()
    none = score(data, shipped_rules(), AS_OF, only_students=[], only_schools=[])
    assert none.scores.empty


def test_inputs_carry_no_protected_traits():
    data = tables(SCHOOL, PUPILS, [])
    columns = {column for names in data.columns().values() for column in names}
    assert not columns & FORBIDDEN_INPUTS
    for forbidden in ("sexo", "etnia", "discapacidad", "ingreso_familiar", "sex"):
        students = data.students.assign(**{forbidden: 1})
        with pytest.raises(ValueError, match="protected traits"):
            ScoreTables(data.incidents, data.incident_types, data.parties, students, data.schools)


def test_naive_timestamps_are_read_as_utc():
    data = tables(SCHOOL, PUPILS, [incident(1, 1, [("victima", 10)], types=["ARM_USO"])])
    result = score(data, shipped_rules(), pd.Timestamp("2026-06-30 12:00"))
    assert 10 in contributions(result, "hecho_grave_estudiante")
