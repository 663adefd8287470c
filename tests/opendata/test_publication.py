"""The day's publication: built once, kept in a snapshot every worker reads, checked settings."""

from __future__ import annotations

import pytest

from salve.opendata import publication
from salve.opendata.publication import Thresholds, current_publication
from tests.opendata.conftest import file_reports, students


def statuses(pub) -> dict:
    """Return every table's counts and statuses, to compare two publications."""
    return {
        key: table[["count", "status"]].to_dict(orient="list")
        for key, table in pub.lattice.tables.items()
    }


def test_every_worker_publishes_the_snapshot_of_the_day(app, world, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN_DATA_DIR", str(tmp_path))
    girls = students(world.school_a, "F", "2", 3)
    file_reports(world, girls * 3)
    first = current_publication()
    [snapshot] = tmp_path.glob("incidentes-*.csv")
    # A report arrives, then another worker process (nothing in memory) starts.
    file_reports(world, girls)
    publication.forget()
    second = current_publication()
    assert statuses(second) == statuses(first)
    assert second.table(["sex"])["shown"].tolist() == first.table(["sex"])["shown"].tolist()
    assert list(tmp_path.glob("incidentes-*.csv")) == [snapshot]


def test_a_process_keeps_the_day_in_memory(app, world):
    first = current_publication()
    file_reports(world, students(world.school_a, "F", "2", 1))
    assert current_publication() is first


def test_snapshots_of_past_days_are_removed(app, world, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN_DATA_DIR", str(tmp_path))
    old = tmp_path / "incidentes-2020-01-01-u5-10-abcdef012345.csv"
    old.write_text("by,count\n")
    current_publication()
    assert not old.exists()
    assert len(list(tmp_path.glob("incidentes-*.csv"))) == 1


@pytest.mark.parametrize(("default", "sensitive"), [(1, 10), (5, 4)])
def test_thresholds_that_would_not_protect_are_refused(default, sensitive):
    with pytest.raises(ValueError, match="SALVE_OPEN_DATA_THRESHOLD"):
        Thresholds(default, sensitive)


def test_the_command_line_publishes_ahead_of_visitors(app, world, runner, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN_DATA_DIR", str(tmp_path))
    result = runner.invoke(args=["salve", "opendata", "publish"])
    assert result.exit_code == 0, result.output
    assert "Datos abiertos del" in result.output
    assert len(list(tmp_path.glob("incidentes-*.csv"))) == 1


def test_an_unreadable_snapshot_is_built_again(app, world, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "OPEN_DATA_DIR", str(tmp_path))
    path = publication.snapshot_path()
    path.write_text("not,a\nsnapshot\n")
    assert current_publication().table([])["shown"].tolist() == [0]
    assert path.read_text().startswith("by,")
