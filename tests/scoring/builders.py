"""Build the engine's small input tables by hand, in a few readable lines."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from salve.catalog.loading import load_catalog
from salve.scoring.engine import ScoreTables
from salve.scoring.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
AS_OF = pd.Timestamp("2026-06-30 12:00", tz="UTC")


@cache
def catalog():
    return load_catalog(ROOT / "catalogs")


@cache
def shipped_rules():
    return load_rules(ROOT / "catalogs" / "rules.yaml", catalog())


def tables(schools=(), students=(), incidents=(), as_of=AS_OF) -> ScoreTables:
    """Make ``ScoreTables``.

    ``schools``: (id, department_id, enrolment); ``students``: (id, school_id); ``incidents``:
    dicts with id, school, days_ago, status (default "validado"), types (type codes) and
    parties ((role, student_id) for students, (role, None, kind) for others).
    """
    types_info = catalog().types
    incident_rows, type_rows, party_rows = [], [], []
    for incident in incidents:
        incident_rows.append(
            {
                "id": incident["id"],
                "school_id": incident["school"],
                "occurred_at": as_of - pd.Timedelta(days=incident["days_ago"]),
                "status": incident.get("status", "validado"),
            }
        )
        for code in incident.get("types", ["PSI_INSULTOS"]):
            info = types_info[code]
            type_rows.append(
                {
                    "incident_id": incident["id"],
                    "type_code": code,
                    "tier": info.tier,
                    "is_immediate": info.is_immediate,
                    "category": info.category,
                }
            )
        for party in incident.get("parties", []):
            role, student_id, *kind = party
            party_rows.append(
                {
                    "incident_id": incident["id"],
                    "role": role,
                    "kind": kind[0] if kind else "estudiante",
                    "student_id": student_id,
                }
            )
    return make_tables(schools, students, incident_rows, type_rows, party_rows)


def make_tables(schools, students, incident_rows, type_rows, party_rows) -> ScoreTables:
    def frame(rows, columns, dtypes):
        data = pd.DataFrame(list(rows), columns=columns)
        return (
            data.astype(dtypes)
            if len(data)
            else pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in columns})
        )

    return ScoreTables(
        incidents=frame(
            incident_rows,
            ["id", "school_id", "occurred_at", "status"],
            {"id": "int64", "school_id": "int64", "occurred_at": "datetime64[ns, UTC]"},
        ),
        incident_types=frame(
            type_rows,
            ["incident_id", "type_code", "tier", "is_immediate", "category"],
            {"incident_id": "int64", "is_immediate": "bool"},
        ),
        parties=frame(
            party_rows,
            ["incident_id", "role", "kind", "student_id"],
            {"incident_id": "int64", "student_id": "Int64"},
        ),
        students=frame(
            [{"id": s, "school_id": c} for s, c in students],
            ["id", "school_id"],
            {"id": "int64", "school_id": "int64"},
        ),
        schools=frame(
            [{"id": s, "department_id": d, "enrolment": e} for s, d, e in schools],
            ["id", "department_id", "enrolment"],
            {"id": "int64", "department_id": "int64", "enrolment": "int64"},
        ),
    )
