"""Open data suppression: an attacker with every published table recovers no hidden cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salve.reports.suppression import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    _equations,
    build_lattice,
    display,
    propagate,
    published_bounds,
)


def _attack(lattice):
    """Interval propagation over every line of every table, from the published values only."""
    tables = lattice.tables
    eqs = _equations(tables, lattice.dims)
    keys = list(tables)
    status = np.concatenate([tables[k]["status"].to_numpy() for k in keys]).astype(object)
    limits = np.concatenate([tables[k]["threshold"].to_numpy() for k in keys]).astype(float)
    low, high = propagate(eqs, *published_bounds(eqs.counts, status, limits))
    return eqs.counts, status, low, high


@st.composite
def small_counts(draw):
    dims = {"department": draw(st.integers(1, 4)), "month": draw(st.integers(1, 4)),
            "sex": draw(st.integers(1, 2))}  # fmt: skip
    cells = [
        (d, m, s) for d in range(dims["department"]) for m in range(dims["month"])
        for s in range(dims["sex"])
    ]  # fmt: skip
    values = draw(
        st.lists(
            st.one_of(st.integers(0, 6), st.integers(0, 40)), min_size=len(cells),
            max_size=len(cells),
        )
    )  # fmt: skip
    return pd.DataFrame(
        [{"department": d, "month": m, "sex": s, "count": v}
         for (d, m, s), v in zip(cells, values, strict=True)]
    )  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=small_counts())
def test_no_hidden_cell_can_be_recovered_from_the_published_tables(base):
    lattice = build_lattice(base, ["department", "month", "sex"], 5)
    counts, status, low, high = _attack(lattice)
    hidden = status != PUBLISHED
    # The attacker's interval always holds the truth (the attack is sound)…
    assert np.all(low[hidden] <= counts[hidden]) and np.all(counts[hidden] <= high[hidden])
    # …and never pins a hidden count to one value (a hidden zero under a total of 0 may show).
    hidden_counts = hidden & (counts > 0)
    assert np.all(high[hidden_counts] - low[hidden_counts] >= 1)
    # No count from 1 to 4 is ever published.
    published = status == PUBLISHED
    assert not np.any(published & (counts >= 1) & (counts <= 4))


def test_a_single_small_cell_in_a_row_takes_a_partner_with_it():
    base = pd.DataFrame(
        {"department": ["A", "A", "B", "B"], "month": [1, 2, 1, 2], "count": [3, 20, 30, 40]}
    )
    lattice = build_lattice(base, ["department", "month"], 5)
    table = lattice.table(["department", "month"])
    pairs = zip(table["department"], table["month"], strict=True)
    status = dict(zip(pairs, table["status"], strict=True))
    assert status[("A", 1)] == PRIMARY
    assert sum(s != PUBLISHED for s in status.values()) >= 2  # never alone in its row
    shown = display(table).tolist()
    assert "3" not in shown and "<5" in shown


def test_sensitive_categories_get_a_higher_threshold():
    base = pd.DataFrame({"category": ["sexual", "fisica"], "count": [7, 7]})
    lattice = build_lattice(
        base, ["category"], lambda f: np.where(f.get("category", "") == "sexual", 10, 5)
    )
    table = lattice.table(["category"]).set_index("category")
    assert table.loc["sexual", "status"] != PUBLISHED
    assert table.loc["fisica", "status"] in (PUBLISHED, SECONDARY)
    assert display(lattice.table(["category"])).tolist()[1] in ("<10", "s")


def test_zeros_are_published_as_zeros():
    base = pd.DataFrame({"department": ["A", "B"], "count": [0, 50]})
    table = build_lattice(base, ["department"], 5).table(["department"])
    assert display(table).tolist() == ["0", "50"]  # no small count: the zero shows


def _probe(lattice):
    """A stronger attack: try each value a hidden cell could take; keep those that fit."""
    tables = lattice.tables
    eqs = _equations(tables, lattice.dims)
    keys = list(tables)
    status = np.concatenate([tables[k]["status"].to_numpy() for k in keys]).astype(object)
    limits = np.concatenate([tables[k]["threshold"].to_numpy() for k in keys]).astype(float)
    low, high = propagate(eqs, *published_bounds(eqs.counts, status, limits))
    hidden = np.flatnonzero(status != PUBLISHED)
    for cell in hidden:
        top = min(high[cell], low[cell] + 60)
        fitting = []
        for value in range(int(low[cell]), int(top) + 1):
            trial_low, trial_high = low.copy(), high.copy()
            trial_low[cell] = trial_high[cell] = value
            tl, th = propagate(eqs, trial_low, trial_high)
            if np.all(tl <= th):
                fitting.append(value)
            if len(fitting) >= 2:
                break
        yield cell, eqs.counts[cell], fitting


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=small_counts())
def test_probing_each_value_of_a_hidden_cell_leaves_at_least_two(base):
    lattice = build_lattice(base, ["department", "month", "sex"], 5)
    for _cell, truth, fitting in _probe(lattice):
        if truth > 0:  # at least two values fit every hidden count (the probe stops at two)
            assert len(fitting) >= 2
