"""Which cells secondary suppression hides: the same in every process, and totals last.

Two regressions found while publishing open data (salve/opendata):

- The lines of the lattice were numbered in the iteration order of a ``frozenset`` of dimension
  names, which follows string hashes and so changes from one Python process to another: two
  gunicorn workers hid different cells for the same counts, and a reader combining their answers
  recovered a hidden count (in ``EXAMPLE``: the total of D0, 84).
- A complement was the smallest published cell of a line *including its total*, so totals were
  hidden, which forces a hidden cell into every line of the coarser table, up to the national
  figures: in ``EXAMPLE`` the national total, both departments and both months were hidden.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from salve.reports.suppression import PUBLISHED, build_lattice

ROOT = Path(__file__).resolve().parents[2]
#: Department, month and sex; a sex ("X") found in D0 only: structural zeros in D1.
EXAMPLE = pd.DataFrame(
    {
        "department": ["D0"] * 6 + ["D1"] * 6,
        "month": ["M0", "M0", "M0", "M1", "M1", "M1"] * 2,
        "sex": ["F", "M", "X"] * 4,
        "count": [40, 5, 3, 8, 8, 20, 40, 1, 0, 8, 40, 0],
    }
)
DIMS = ["department", "month", "sex"]

SCRIPT = """
import json, sys
import pandas as pd
from salve.reports.suppression import build_lattice
base = pd.DataFrame(json.loads(sys.stdin.read()))
lattice = build_lattice(base, ["department", "month", "sex"], 5)
print(json.dumps({",".join(sorted(k)): t["status"].tolist() for k, t in lattice.tables.items()}))
"""


def _statuses_in_a_process(hash_seed: int) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=json.dumps(EXAMPLE.to_dict(orient="list")),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout)


def test_every_process_hides_the_same_cells():
    patterns = [_statuses_in_a_process(seed) for seed in (1, 2, 3, 4)]
    assert all(pattern == patterns[0] for pattern in patterns[1:])


def test_totals_are_hidden_only_when_nothing_finer_can_be():
    lattice = build_lattice(EXAMPLE, DIMS, 5)
    for by in ([], ["department"], ["month"], ["sex"]):
        assert set(lattice.table(by)["status"]) == {PUBLISHED}, by
    # The small counts themselves stay hidden.
    finest = lattice.table(DIMS)
    assert not (finest["count"].between(1, 4) & (finest["status"] == PUBLISHED)).any()
