"""``salve rules backtest``: the alerts each rule would have raised, per week and department."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pandas as pd
import pytest

from salve import create_app
from salve.db import utcnow
from salve.i18n import LOCAL_TZ
from salve.scoring.backtest import backtest, local_midnight, weeks_between
from tests.scoring.builders import ROOT, shipped_rules, tables
from tests.scoring.test_persistence import _plant_bullying

# --- The pure function, on hand-built tables -----------------------------------------------------

#: The tables are built as of the end of May 2026, Salvadoran time; May 4 is a Monday.
END = local_midnight(date(2026, 6, 1))
MAY = weeks_between(date(2026, 5, 4), date(2026, 5, 31))
VICTIM, AGGRESSOR, BYSTANDER = 101, 102, 201
BULLIED_SCHOOL, OTHER_SCHOOL = 1, 2
BULLIED_DEPARTMENT, OTHER_DEPARTMENT = 10, 20


def _days_before_end(day: str) -> float:
    """Return how long before ``END`` 10:00 local time on ``day`` is, in days."""
    when = local_midnight(date.fromisoformat(day)) + pd.Timedelta(hours=10)
    return (END - when) / pd.Timedelta(days=1)


def _bullying(incident_id: int, day: str) -> dict:
    return {
        "id": incident_id,
        "school": BULLIED_SCHOOL,
        "days_ago": _days_before_end(day),
        "types": ["ACO_FISICO"],
        "parties": [("victima", VICTIM), ("agresor", AGGRESSOR)],
    }


def _may(*incidents):
    return tables(
        schools=[(BULLIED_SCHOOL, BULLIED_DEPARTMENT, 500), (OTHER_SCHOOL, OTHER_DEPARTMENT, 300)],
        students=[(VICTIM, BULLIED_SCHOOL), (AGGRESSOR, BULLIED_SCHOOL), (BYSTANDER, OTHER_SCHOOL)],
        incidents=incidents,
        as_of=END,
    )


#: Four reports of the same pair: the third (May 13) completes the pattern, the fourth persists it.
BULLYING = [
    _bullying(1, "2026-05-06"),
    _bullying(2, "2026-05-09"),
    _bullying(3, "2026-05-13"),
    _bullying(4, "2026-05-20"),
]


def _alerts(counts: pd.DataFrame, rule: str) -> dict:
    """Return {(week, department_id): alerts} of ``rule``, the weeks with alerts only."""
    chosen = counts[(counts["rule"] == rule) & (counts["alerts"] > 0)]
    return {
        (week, int(department)): int(alerts)
        for week, department, alerts in zip(
            chosen["week"], chosen["department_id"], chosen["alerts"], strict=True
        )
    }


def test_weeks_are_iso_weeks_cut_at_salvadoran_midnight():
    weeks = weeks_between(date(2026, 5, 6), date(2026, 5, 20))
    assert weeks.mondays == (date(2026, 5, 4), date(2026, 5, 11), date(2026, 5, 18))
    # El Salvador is six hours behind UTC all year.
    assert weeks.starts_at == pd.Timestamp("2026-05-06 06:00", tz="UTC")
    assert weeks.ends_at == (
        pd.Timestamp("2026-05-11 06:00", tz="UTC"),
        pd.Timestamp("2026-05-18 06:00", tz="UTC"),
        pd.Timestamp("2026-05-21 06:00", tz="UTC"),
    )


def test_a_bullying_pattern_raises_one_alert_in_the_week_of_its_third_repeat():
    counts = backtest(_may(*BULLYING), shipped_rules(), MAY)
    assert list(counts.columns) == ["rule", "week", "department_id", "alerts"]
    # One row per rule, week and department, zeros included.
    assert len(counts) == len(shipped_rules().rules) * 4 * 2
    # Raised in the week of May 11, still standing on May 18 and 25: new only once.
    assert _alerts(counts, "mismo_agresor") == {(date(2026, 5, 11), BULLIED_DEPARTMENT): 1}
    # The aggressor's score reaches alto only with the fourth report.
    assert _alerts(counts, "misma_victima") == {(date(2026, 5, 18), BULLIED_DEPARTMENT): 1}


def test_alerts_standing_when_the_period_starts_are_not_counted():
    counts = backtest(
        _may(*BULLYING), shipped_rules(), weeks_between(date(2026, 5, 18), date(2026, 5, 31))
    )
    assert _alerts(counts, "mismo_agresor") == {}
    assert _alerts(counts, "misma_victima") == {(date(2026, 5, 18), BULLIED_DEPARTMENT): 1}


def test_a_school_alert_counts_under_the_schools_department():
    weapon = {
        "id": 9,
        "school": OTHER_SCHOOL,
        "days_ago": _days_before_end("2026-05-19"),
        "types": ["ARM_PORTACION_FUEGO"],
        "parties": [("testigo", None, "personal")],
    }
    counts = backtest(_may(*BULLYING, weapon), shipped_rules(), MAY)
    assert _alerts(counts, "hecho_grave_centro") == {(date(2026, 5, 18), OTHER_DEPARTMENT): 1}
    assert _alerts(counts, "mismo_agresor") == {(date(2026, 5, 11), BULLIED_DEPARTMENT): 1}


# --- The command, on the seeded world (SQLite and PostgreSQL) ------------------------------------


def _today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


def _backtest(runner, tmp_path, *options):
    """Backtest the last four weeks; return the result and the CSV's rows."""
    output = tmp_path / "backtest.csv"
    today = _today()
    result = runner.invoke(
        args=[
            "salve",
            "rules",
            "backtest",
            "--from",
            str(today - timedelta(days=27)),
            "--to",
            str(today),
            "--output",
            str(output),
            *options,
        ]
    )
    assert result.exit_code == 0, result.output
    with output.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    return result, rows


def _total(rows, rule: str | None = None) -> int:
    return sum(int(row[3]) for row in rows[1:] if rule is None or row[0] == rule)


def test_the_command_summarises_and_writes_the_alerts_per_week_and_department(
    runner, world, tmp_path
):
    _plant_bullying(world)
    result, rows = _backtest(runner, tmp_path)
    assert "Simulación de las reglas 2026.1 (rules.yaml)" in result.output
    assert "mismo_agresor" in result.output
    assert "Tiempo:" in result.output
    # Fits a terminal 100 columns wide, but for the path given to --output.
    assert all(
        len(line) <= 100 for line in result.output.splitlines() if "backtest.csv" not in line
    )
    assert rows[0] == ["regla", "semana", "departamento", "alertas"]
    # The third report, eight days ago, completes the pattern: one new alert, that week.
    third = (utcnow() - timedelta(days=8)).astimezone(LOCAL_TZ).date()
    monday = third - timedelta(days=third.weekday())
    raised = [row for row in rows[1:] if row[0] == "mismo_agresor" and row[3] != "0"]
    assert raised == [["mismo_agresor", str(monday), "San Salvador", "1"]]


def test_stricter_rules_raise_fewer_alerts(runner, world, tmp_path):
    _plant_bullying(world)
    _shipped, shipped = _backtest(runner, tmp_path)
    stricter = tmp_path / "rules.yaml"
    text = (ROOT / "catalogs" / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace('version: "2026.1"', 'version: "2026.1-estricta"').replace(
        "min_repeats: 3", "min_repeats: 5"
    )
    stricter.write_text(text, encoding="utf-8")
    result, tried = _backtest(runner, tmp_path, "--rules", str(stricter))
    assert "Simulación de las reglas 2026.1-estricta" in result.output
    assert _total(shipped, "mismo_agresor") == 1
    assert _total(tried, "mismo_agresor") == 0
    assert _total(tried) < _total(shipped)


# --- Mistakes a user can make (no database needed) -----------------------------------------------


@pytest.fixture
def bare_runner():
    return create_app().test_cli_runner()


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ((), "Indique el período con --from AAAA-MM-DD y --to AAAA-MM-DD"),
        (("--from", "2026-02-30", "--to", "2026-03-10"), "--from debe ser una fecha válida"),
        (("--from", "2026-02-01", "--to", "10/03/2026"), "--to debe ser una fecha válida"),
        (("--from", "2026-03-10", "--to", "2026-03-01"), "--to debe ser igual o posterior"),
        (("--from", "2024-01-01", "--to", "2025-01-01"), "abarca 367 días; el máximo es 366"),
    ],
)
def test_a_bad_period_is_refused_with_a_clear_message(bare_runner, period, message):
    result = bare_runner.invoke(args=["salve", "rules", "backtest", *period])
    assert result.exit_code == 1
    assert message in result.output


def test_a_period_ending_in_the_future_is_refused(bare_runner):
    today = _today()
    result = bare_runner.invoke(
        args=[
            "salve",
            "rules",
            "backtest",
            "--from",
            str(today),
            "--to",
            str(today + timedelta(days=1)),
        ]
    )
    assert result.exit_code == 1
    assert "es posterior a hoy" in result.output


def test_a_broken_rules_file_lists_its_errors(bare_runner, tmp_path):
    broken = tmp_path / "rules.yaml"
    text = (ROOT / "catalogs" / "rules.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("min_repeats: 3", "min_repeats: cero", 1), encoding="utf-8")
    today = _today()
    result = bare_runner.invoke(
        args=[
            "salve",
            "rules",
            "backtest",
            "--from",
            str(today - timedelta(days=7)),
            "--to",
            str(today),
            "--rules",
            str(broken),
        ]
    )
    assert result.exit_code == 1
    assert "tienen 1 errores" in result.output
    assert "rules[mismo_agresor].params.min_repeats: must be a whole number" in result.output
