"""An attacker with every published table recovers no hidden count: the real tables, via the API.

Unlike tests/reports/test_suppression.py, which attacks ``build_lattice`` on synthetic counts,
this files reports, publishes them, downloads all 32 groupings anonymously through
``/api/v1/open/incidents`` and attacks what came back: interval propagation over every line of
every table (cells that differ in one dimension add up to the coarser table's cell), run until
nothing moves.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from salve.opendata.publication import current_publication
from salve.reports.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    _equations,
    propagate,
    published_bounds,
)
from tests.opendata.conftest import GROUPINGS, file_reports, students

#: (category's type, school) → how many reports; chosen so that counts of every size occur.
SIZES = [0, 1, 2, 3, 4, 6, 9, 13]


@pytest.fixture
def varied(world):
    """About a hundred reports over three schools, two months, four categories, both sexes."""
    chance = random.Random(20261124)  # noqa: S311 - reproducible test data, not a secret
    groups = {}
    for code in (world.school_a, world.school_b, world.school_c):
        for sex in ("F", "M"):
            for grade in ("2", "5", "8", "1 bachillerato"):
                groups[(code, sex, grade)] = students(code, sex, grade, 2)
    filed = 0
    for (code, _sex, _grade), nies in groups.items():
        for types in (("ACO_VERBAL",), ("FIS_PELEA",), ("SEX_TOCAMIENTOS",), ("PSI_INSULTOS",)):
            for days_ago in (2, 40):
                if chance.random() < 0.7:
                    continue
                size = chance.choice(SIZES)
                victims = [nies[i % 2] for i in range(size)]
                file_reports(world, victims, at=code, types=types, days_ago=days_ago)
                filed += size
    assert filed > 50
    return filed


def published_tables(client) -> tuple[dict, dict]:
    """Download every grouping; return the tables (codes and true counts) and what was shown."""
    truth = current_publication().lattice
    tables, shown = {}, {}
    for by in GROUPINGS:
        answer = client.get(f"/api/v1/open/incidents?by={','.join(by)}")
        assert answer.status_code == 200
        items = answer.json["items"]
        frame = pd.DataFrame({dim: [item[dim]["code"] for item in items] for dim in by})
        frame["shown"] = [item["count"] for item in items]
        # The true counts, from the server's side, only to judge the attack.
        real = truth.table(by)
        frame = frame.merge(real[[*by, "count"]], on=list(by), how="left") if by else frame
        if not by:
            frame["count"] = int(real["count"].iloc[0])
        assert frame["count"].notna().all() and len(frame) == len(real)
        tables[frozenset(by)] = frame[[*by, "count"]]
        shown[frozenset(by)] = frame["shown"].tolist()
    return tables, shown


def knowledge(shown: list) -> tuple[np.ndarray, np.ndarray]:
    """Return each shown value's status and threshold as a reader understands it."""
    status, threshold = [], []
    for value in shown:
        if isinstance(value, int):
            status.append(PUBLISHED)
            threshold.append(0)
        elif value == "s":
            status.append(SECONDARY)
            threshold.append(0)
        else:
            assert value.startswith("<"), value
            status.append(PRIMARY)
            threshold.append(int(value[1:]))
    return np.array(status, dtype=object), np.array(threshold, dtype=float)


def test_no_hidden_count_can_be_recovered_from_the_published_tables(client, varied):
    tables, shown = published_tables(client)
    dims = current_publication().lattice.dims
    eqs = _equations(tables, dims)
    parts = [knowledge(shown[key]) for key in tables]
    status = np.concatenate([part[0] for part in parts])
    thresholds = np.concatenate([part[1] for part in parts])
    counts = eqs.counts
    published = status == PUBLISHED
    hidden = ~published
    # What is published is true, and never small.
    values = np.array([v for key in tables for v in shown[key]], dtype=object)
    assert np.array_equal(values[published].astype(float), counts[published])
    assert not np.any(published & (counts >= 1) & (counts <= 4))
    assert hidden.any() and (status == SECONDARY).any()  # the attack has something to attack
    # Sexual violence from 1 to 9 is never shown as a number, in any table.
    publication = current_publication()
    for key in tables:
        if "category" in key:
            frame = publication.table([d for d in dims if d in key])
            small = (frame["category"] == "sexual") & frame["count"].between(1, 9)
            assert set(frame.loc[small, "shown"]) <= {"<10", "s"}
            assert set(frame.loc[small, "shown"]) == set(np.array(shown[key], dtype=object)[small])

    low, high = propagate(eqs, *published_bounds(counts, status, thresholds), rounds=5000)
    # The attack is sound: every interval holds the truth…
    assert np.all(low[hidden] <= counts[hidden]) and np.all(counts[hidden] <= high[hidden])
    # …and pins no hidden count to a single value.
    pinned = hidden & (counts > 0) & (high - low < 1)
    assert not pinned.any(), f"{pinned.sum()} hidden counts recovered"
