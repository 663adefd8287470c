"""Small-cell suppression for open data: no published figure can identify a child.

The public may ask for incident counts grouped by any subset of a few dimensions (department,
month, category, sex, school level). Every such table is cut from the same counts, so one
table's cells are another's totals: a single hidden cell in a row could be recovered by
subtracting the published cells from the row's total, fetched as a coarser table.

So suppression is decided once for the whole lattice of tables (every subset of the
dimensions), and checked the way an attacker would work:

1. **Primary**: a count from 1 to ``threshold - 1`` is published as ``<threshold`` (threshold 5,
   higher for sensitive categories such as sexual violence), and so is a zero in the same line
   as one, so that ``<threshold`` means 0 to ``threshold - 1`` and a hidden cell is never known
   to be at least 1.
2. **Attack**: every table line (cells that differ in one dimension only) must add up to its
   total in the coarser table. Starting from what is published, interval propagation over all those
   equations narrows each hidden cell as far as sums allow (``<threshold`` lies in
   ``[0, threshold - 1]``, a secondary cell in ``[0, ∞)``).
3. **Secondary**: while some hidden count is pinned to a single value, or any hidden cell of a
   line would be the only one hidden there, one more cell of that line is hidden: the smallest
   published non-zero member, and the line's total only when no member can be (a total hidden
   forces a hidden cell into every line of the coarser table, and so on up to the national
   figures). Repeat until nothing is pinned.

The result is conservative: it publishes fewer cells than an optimal solver would, never more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np
import pandas as pd

PUBLISHED = "publicado"
PRIMARY = "primaria"
SECONDARY = "secundaria"
#: The marker of a secondary suppression (a primary one shows ``<threshold``).
SECONDARY_MARK = "s"
INF = np.inf


@dataclass(frozen=True)
class Lattice:
    """Every table over a subset of ``dims``, each with count, status and threshold per cell."""

    dims: tuple[str, ...]
    tables: dict[frozenset, pd.DataFrame]

    def table(self, by: Sequence[str]) -> pd.DataFrame:
        """The table grouped by ``by`` (any subset of the dimensions, in any order)."""
        key = frozenset(by)
        if not key <= set(self.dims):
            raise KeyError(f"unknown dimensions: {sorted(key - set(self.dims))}")
        frame = self.tables[key]
        ordered = [d for d in by]
        return frame[[*ordered, "count", "status", "threshold"]].sort_values(ordered or ["count"])


def _cells(base: pd.DataFrame, dims: tuple[str, ...], subset: tuple[str, ...]) -> pd.DataFrame:
    if subset:
        frame = base.groupby(list(subset), observed=True, as_index=False)["count"].sum()
    else:
        frame = pd.DataFrame({"count": [int(base["count"].sum())]})
    return frame


def build_lattice(
    base: pd.DataFrame,
    dims: Sequence[str],
    threshold: Callable[[pd.DataFrame], np.ndarray] | int = 5,
    *,
    max_rounds: int = 200,
) -> Lattice:
    """Suppress ``base`` (one row per finest cell: ``dims`` + ``count``) for every grouping.

    ``threshold``: a number, or a function of a table's frame returning each cell's threshold
    (it may read the dimension columns the table has, e.g. a higher threshold for a category).
    Every combination of the dimensions' observed values appears in the finest table, zeros
    included, so that a zero is published as a zero and never hides anything.
    """
    dims = tuple(dims)
    levels = [pd.Index(sorted(base[d].dropna().unique())) for d in dims]
    full = pd.MultiIndex.from_product(levels, names=list(dims)) if dims else None
    if dims:
        base = (
            base.groupby(list(dims), observed=True)["count"]
            .sum()
            .reindex(full, fill_value=0)
            .reset_index()
        )
    subsets = [s for size in range(len(dims) + 1) for s in combinations(dims, size)]
    tables: dict[frozenset, pd.DataFrame] = {}
    for subset in subsets:
        frame = _cells(base, dims, subset).reset_index(drop=True)
        limits = (
            np.full(len(frame), int(threshold))
            if isinstance(threshold, int | np.integer)
            else np.asarray(threshold(frame), dtype=np.int64)
        )
        frame["threshold"] = limits
        counts = frame["count"].to_numpy()
        frame["status"] = np.where((counts >= 1) & (counts < limits), PRIMARY, PUBLISHED)
        tables[frozenset(subset)] = frame
    _secondary(tables, dims, max_rounds)
    return Lattice(dims, tables)


# --- The attack, and secondary suppression ------------------------------------------------------


@dataclass
class _Equations:
    """Every line equation: total cell = sum of member cells, over a flat array of all cells."""

    offsets: dict[frozenset, int]
    counts: np.ndarray
    #: Parallel arrays: equation id of each (equation, member) pair and the member's cell index.
    eq_of_member: np.ndarray
    member: np.ndarray
    #: The total cell of each equation.
    total: np.ndarray

    @cached_property
    def _members_by_equation(self) -> tuple[np.ndarray, np.ndarray]:
        # Pair positions grouped by equation (stable: each group keeps the pairs' order).
        order = np.argsort(self.eq_of_member, kind="stable")
        bounds = np.searchsorted(self.eq_of_member[order], np.arange(len(self.total) + 1))
        return order, bounds

    @cached_property
    def _pairs_by_cell(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.member, kind="stable")
        bounds = np.searchsorted(self.member[order], np.arange(len(self.counts) + 1))
        return order, bounds

    @cached_property
    def _totals_by_cell(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self.total, kind="stable")
        bounds = np.searchsorted(self.total[order], np.arange(len(self.counts) + 1))
        return order, bounds

    def members_of(self, equation: int) -> np.ndarray:
        """The member cells of ``equation``, without scanning every pair."""
        order, bounds = self._members_by_equation
        return self.member[order[bounds[equation] : bounds[equation + 1]]]

    def equations_of(self, cell: int) -> list[int]:
        """The equations ``cell`` is a member of, then those it is the total of."""
        order, bounds = self._pairs_by_cell
        as_member = self.eq_of_member[order[bounds[cell] : bounds[cell + 1]]]
        order, bounds = self._totals_by_cell
        as_total = order[bounds[cell] : bounds[cell + 1]]
        return [int(e) for e in (*as_member, *as_total)]


def _equations(tables: dict[frozenset, pd.DataFrame], dims: tuple[str, ...]) -> _Equations:
    offsets, position = {}, 0
    for key, frame in tables.items():
        offsets[key] = position
        position += len(frame)
    counts = np.concatenate([tables[k]["count"].to_numpy() for k in tables]).astype(float)
    eq_parts, member_parts, totals = [], [], []
    equation = 0
    for key, frame in tables.items():
        if not key:
            continue
        # In the dimensions' order, not the frozenset's: that one follows string hashes, which
        # differ between processes, and so would the cells chosen for secondary suppression.
        for dim in (d for d in dims if d in key):
            coarser = key - {dim}
            parent = tables[coarser]
            cols = [d for d in dims if d in coarser]
            if cols:
                index = pd.MultiIndex.from_frame(parent[cols])
                lookup = pd.Series(np.arange(len(parent)), index=index)
                parent_row = lookup.reindex(pd.MultiIndex.from_frame(frame[cols])).to_numpy()
            else:
                parent_row = np.zeros(len(frame), dtype=np.int64)
            eq_parts.append(equation + parent_row.astype(np.int64))
            member_parts.append(offsets[key] + np.arange(len(frame)))
            totals.append(offsets[coarser] + np.arange(len(parent)))
            equation += len(parent)
    return _Equations(
        offsets=offsets,
        counts=counts,
        eq_of_member=np.concatenate(eq_parts) if eq_parts else np.zeros(0, dtype=np.int64),
        member=np.concatenate(member_parts) if member_parts else np.zeros(0, dtype=np.int64),
        total=np.concatenate(totals) if totals else np.zeros(0, dtype=np.int64),
    )


def propagate(
    eqs: _Equations, low: np.ndarray, high: np.ndarray, rounds: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """Narrow every cell's interval with every line equation until nothing moves (the attack)."""
    low, high = low.copy(), high.copy()
    n_eq = len(eqs.total)
    eq, member = eqs.eq_of_member, eqs.member
    for _ in range(rounds):
        before_low, before_high = low.copy(), high.copy()
        # Upper bounds may be infinite: sum the finite ones and count the others.
        member_high = high[member]
        unbounded = np.isinf(member_high)
        sum_low = np.bincount(eq, weights=low[member], minlength=n_eq)
        finite_high = np.bincount(eq, weights=np.where(unbounded, 0.0, member_high), minlength=n_eq)
        open_count = np.bincount(eq, weights=unbounded.astype(float), minlength=n_eq)
        sum_high = np.where(open_count > 0, INF, finite_high)
        # The total lies within the sums of its members' bounds.
        np.maximum.at(low, eqs.total, sum_low)
        np.minimum.at(high, eqs.total, sum_high)
        # Each member is the total minus the others.
        t_low, t_high = low[eqs.total][eq], high[eqs.total][eq]
        others_open = open_count[eq] - unbounded
        others_high = np.where(
            others_open > 0, INF, finite_high[eq] - np.where(unbounded, 0.0, member_high)
        )
        others_low = sum_low[eq] - low[member]
        new_low = np.where(
            np.isinf(others_high) | np.isinf(t_low),
            -INF,
            t_low - np.where(np.isinf(others_high), 0.0, others_high),
        )
        new_high = np.where(np.isinf(t_high), INF, t_high - others_low)
        np.maximum.at(low, member, new_low)
        np.minimum.at(high, member, new_high)
        if np.array_equal(low, before_low) and np.array_equal(high, before_high):
            break
    return low, high


def published_bounds(
    counts: np.ndarray, status: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What a reader knows of each cell from the published tables alone."""
    low = np.where(status == PUBLISHED, counts, 0.0)
    high = np.where(status == PUBLISHED, counts, np.where(status == PRIMARY, thresholds - 1.0, INF))
    return low.astype(float), high.astype(float)


def _secondary(tables: dict[frozenset, pd.DataFrame], dims: tuple[str, ...], max_rounds: int):
    keys = list(tables)
    eqs = _equations(tables, dims)
    thresholds = np.concatenate([tables[k]["threshold"].to_numpy() for k in keys]).astype(float)
    status = np.concatenate([tables[k]["status"].to_numpy() for k in keys]).astype(object)
    counts = eqs.counts
    # A zero beside a small count is shown as "<threshold" too: a reader can never tell a
    # hidden 0 from a hidden 1, so a hidden cell's known range always starts at 0.
    primary = status == PRIMARY
    has_primary = (
        np.bincount(eqs.eq_of_member, weights=primary[eqs.member], minlength=len(eqs.total))
        + primary[eqs.total]
    ) > 0
    zero_members = eqs.member[(counts[eqs.member] == 0) & has_primary[eqs.eq_of_member]]
    zero_totals = eqs.total[(counts[eqs.total] == 0) & has_primary]
    status[zero_members] = PRIMARY
    status[zero_totals] = PRIMARY
    for _ in range(max_rounds):
        hidden = status != PUBLISHED
        # Lines (with their total) holding exactly one hidden cell give it away by subtraction.
        members_hidden = (
            np.bincount(eqs.eq_of_member, weights=hidden[eqs.member], minlength=len(eqs.total))
            + hidden[eqs.total]
        )
        lonely = np.flatnonzero(members_hidden == 1)
        low, high = propagate(eqs, *published_bounds(counts, status, thresholds))
        # A hidden zero may come out as zero (a total of 0 says as much); a count may not.
        pinned = np.flatnonzero(hidden & (counts > 0) & (high - low < 1))
        if not len(lonely) and not len(pinned):
            break
        to_hide = set()
        for equation in lonely:
            choice = _complement(eqs, equation, status, counts)
            if choice is not None:
                to_hide.add(choice)
        for cell in pinned:
            choice = _unpinning(eqs, cell, status, counts)
            if choice is not None:
                to_hide.add(choice)
        if not to_hide:
            break
        status[list(to_hide)] = SECONDARY
    else:  # pragma: no cover - a safety net: hide everything that is not a zero
        status[(status == PUBLISHED) & (counts > 0)] = SECONDARY
    for key in keys:
        start = eqs.offsets[key]
        tables[key]["status"] = status[start : start + len(tables[key])]


def _complement(eqs: _Equations, equation: int, status: np.ndarray, counts: np.ndarray):
    """The cell to hide with the others of ``equation``: its smallest published non-zero member,
    or its total when no member can be hidden (totals are what readers use most)."""
    for cells in (eqs.members_of(equation), eqs.total[equation : equation + 1]):
        candidates = cells[(status[cells] == PUBLISHED) & (counts[cells] > 0)]
        if len(candidates):
            return int(candidates[np.argmin(counts[candidates])])
    return None


def _unpinning(eqs: _Equations, cell: int, status: np.ndarray, counts: np.ndarray):
    """The cell to hide so that ``cell`` is no longer pinned: the smallest published non-zero
    member of any line through it, a total only when there is none."""
    equations = eqs.equations_of(cell)
    members = np.concatenate([eqs.members_of(e) for e in reversed(equations)])
    for cells in (members, eqs.total[equations]):
        candidates = cells[(status[cells] == PUBLISHED) & (counts[cells] > 0)]
        if len(candidates):
            return int(candidates[np.argmin(counts[candidates])])
    return None


def display(frame: pd.DataFrame) -> pd.Series:
    """The published value of each cell: the count, ``<threshold`` or ``s``."""
    values = frame["count"].astype(int).astype(str)
    primary = frame["status"] == PRIMARY
    values = values.where(~primary, "<" + frame["threshold"].astype(str))
    return values.where(frame["status"] != SECONDARY, SECONDARY_MARK)
