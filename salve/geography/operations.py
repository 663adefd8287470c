"""Load the territory from ``catalogs/geography.csv``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from salve.extensions import db
from salve.geography.models import Department, District, Municipality

COLUMNS = ["department_code", "department", "iso_3166_2", "municipality", "district"]


def load_geography(path: Path) -> dict[str, int]:
    """Insert the departments, municipalities and districts of ``path`` that are missing.

    Idempotent: running it twice adds nothing. Returns how many of each were added.
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: missing columns {', '.join(missing)}")
    added = {"departments": 0, "municipalities": 0, "districts": 0}
    departments = {d.code: d for d in db.session.scalars(sa.select(Department))}
    for row in (
        frame[["department_code", "department", "iso_3166_2"]].drop_duplicates().itertuples()
    ):
        if row.department_code not in departments:
            department = Department(
                code=row.department_code, name=row.department, iso_code=row.iso_3166_2
            )
            db.session.add(department)
            departments[row.department_code] = department
            added["departments"] += 1
    db.session.flush()
    municipalities = {
        (m.department_id, m.name): m for m in db.session.scalars(sa.select(Municipality))
    }
    for row in frame[["department_code", "municipality"]].drop_duplicates().itertuples():
        key = (departments[row.department_code].id, row.municipality)
        if key not in municipalities:
            municipality = Municipality(department_id=key[0], name=row.municipality)
            db.session.add(municipality)
            municipalities[key] = municipality
            added["municipalities"] += 1
    db.session.flush()
    districts = {(d.municipality_id, d.name) for d in db.session.scalars(sa.select(District))}
    for row in frame.itertuples():
        municipality = municipalities[(departments[row.department_code].id, row.municipality)]
        if (municipality.id, row.district) not in districts:
            db.session.add(District(municipality_id=municipality.id, name=row.district))
            districts.add((municipality.id, row.district))
            added["districts"] += 1
    db.session.flush()
    return added
