"""Time ``salve import-students`` on a national roll: checking and writing, separately.

    .venv/bin/python bench/import_students.py [--rows 1300000] [--database-url URL]
                                              [--start-postgres] [--runs 3]

Builds the 6,000 schools of a national demo in a fresh SQLite database (and in PostgreSQL when
a URL is given or ``--start-postgres`` starts a throwaway server), writes a students CSV of
``--rows`` rows for them, and imports it through the functions the CLI command calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from flask_migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from salve import create_app  # noqa: E402 -- after the path is set
from salve.bulk import bulk_upsert  # noqa: E402
from salve.demo.generate import generate_schools, generate_students  # noqa: E402
from salve.extensions import db  # noqa: E402
from salve.geography.operations import load_geography  # noqa: E402
from salve.schools import importing  # noqa: E402
from salve.schools.models import School, Student  # noqa: E402

NATIONAL_SCHOOLS = 6_000


def build_files(directory: Path, rows: int, seed: int) -> tuple[object, Path]:
    """Return the national schools frame and the path of a students CSV of ``rows`` rows."""
    app = create_app({"DATABASE_URL": f"sqlite:///{directory / 'geography.db'}"})
    with app.app_context():
        upgrade()
        load_geography(ROOT / "catalogs" / "geography.csv")
        db.session.commit()
        geography = importing.geography_frame()
    rng = np.random.default_rng(seed)
    # Ask for a little more: rounding school sizes falls a few students short of ``rows``.
    schools = generate_schools(rng, geography, NATIONAL_SCHOOLS, int(rows * 1.01) + 100)
    # The generator sizes schools to about ``rows`` students; the CSV is cut to exactly that.
    students = generate_students(
        rng, schools.assign(id=np.arange(len(schools))), 10_000_000, time.localtime().tm_year
    )
    students = students.iloc[:rows].assign(
        codigo_escuela=lambda s: schools["code"].to_numpy()[s["school_id"]]
    )
    path = directory / "estudiantes.csv"
    started = time.perf_counter()
    students.rename(
        columns={
            "given_names": "nombres",
            "family_names": "apellidos",
            "sex": "sexo",
            "birth_date": "fecha_nacimiento",
            "grade": "grado",
            "section": "seccion",
        }
    )[importing.STUDENT_COLUMNS].to_csv(path, index=False)
    print(
        f"CSV: {len(students):,} students in {len(schools):,} schools, "
        f"{path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.1f} s"
    )
    return schools, path


def bench(label: str, url: str, schools, path: Path, runs: int) -> None:
    """Import ``path`` into the database at ``url`` and print the timings."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        upgrade()
        load_geography(ROOT / "catalogs" / "geography.csv")
        ids = importing.geography_frame()[["district_id", "department_id"]]
        assert set(schools["district_id"]) <= set(ids["district_id"])
        bulk_upsert(School.__table__, schools, ["code"], [])
        db.session.commit()

        checks = []
        for _ in range(runs):
            started = time.perf_counter()
            result = importing.validate_students(path)
            checks.append(time.perf_counter() - started)
        assert not result.problems, result.problems[:5]

        writes = []
        for _ in range(runs):
            db.session.execute(sa.delete(Student))
            db.session.commit()
            started = time.perf_counter()
            counts = importing.write_students(result)
            db.session.commit()
            writes.append(time.perf_counter() - started)
            assert counts.inserted == len(result.valid), counts

        started = time.perf_counter()
        counts = importing.write_students(result)
        db.session.commit()
        again = time.perf_counter() - started
        assert counts.unchanged == len(result.valid), counts
        db.session.remove()
        db.engine.dispose()

    rows = len(result.valid)
    print(f"\n{label}: {rows:,} students, median of {runs} runs")
    print(f"  validation          {statistics.median(checks):7.1f} s   {_all(checks)}")
    print(f"  writing (new rows)  {statistics.median(writes):7.1f} s   {_all(writes)}")
    print(f"  re-import unchanged {again:7.1f} s")
    total = statistics.median(checks) + statistics.median(writes)
    print(f"  total first import  {total:7.1f} s   ({rows / total:,.0f} rows/s)")


def _all(times: list[float]) -> str:
    return "(" + ", ".join(f"{t:.1f}" for t in times) + ")"


def main() -> None:
    """Parse the arguments and run the benchmark on each database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_300_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", help="An empty PostgreSQL database to import into.")
    parser.add_argument(
        "--start-postgres", action="store_true", help="Start a throwaway PostgreSQL server."
    )
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="salve-bench-") as directory:
        directory = Path(directory)
        schools, path = build_files(directory, arguments.rows, arguments.seed)
        bench("SQLite", f"sqlite:///{directory / 'salve.db'}", schools, path, arguments.runs)
        server = None
        url = arguments.database_url
        if arguments.start_postgres and not url:
            from tests.support.postgres import PostgresServer, find_bindir

            server = PostgresServer(find_bindir()).start()
            url = server.create_database("bench")
        try:
            if url:
                bench("PostgreSQL", url, schools, path, arguments.runs)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
