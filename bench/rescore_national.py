"""Time a national rescoring from the database: load, compute and write, split.

    .venv/bin/python bench/rescore_national.py [--database-url URL] [--runs 3]

Uses the database at URL (default: instance/bench-national.db, a SQLite file). When it holds no
demo yet, ``salve init`` and ``salve demo --scale national`` create one first (about a minute
on SQLite). Then ``salve.scoring.operations.rescore`` runs ``--runs`` times; the first run
writes every score that is not zero, later runs only what changed. Prints each part's median and
the whole rescoring as a multiple of the time it takes just to read the tables (issue 4:
at most 3 times),
and the peak memory (issue 4: ≤ 3 GB). Then times rescoring after one saved report (issue 4:
≤ 100 ms): the save hook on ``--saves`` recent reports, and the filing of as many new reports by the
demo teacher, hook included, each rolled back. Exits 1 when a budget is exceeded.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_WALL_S, BUDGET_RATIO, BUDGET_PEAK_GB, BUDGET_SAVE_MS = 20.0, 3.0, 3.0, 100.0


def _prepare(url: str) -> None:
    env = {**os.environ, "SALVE_DATABASE_URL": url}
    flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", "salve"]
    # The project's own flask command with fixed arguments.
    subprocess.run([*flask, "init"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
    subprocess.run([*flask, "demo", "--scale", "national"], cwd=ROOT, env=env, check=True)  # noqa: S603


def main() -> None:
    """Prepare the national demo if needed, rescore it several times and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=f"sqlite:///{ROOT / 'instance' / 'bench-national.db'}"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--saves", type=int, default=30, help="saved reports to time")
    options = parser.parse_args()
    (ROOT / "instance").mkdir(exist_ok=True)
    os.environ["SALVE_DATABASE_URL"] = options.database_url

    from salve import create_app
    from salve.catalog.queries import current_catalog
    from salve.demo.operations import demo_present
    from salve.extensions import db
    from salve.scoring.operations import rescore

    app = create_app()
    with app.app_context():
        has_demo = False
        try:
            has_demo = demo_present()
        except Exception:  # no schema yet: prepared below
            db.session.rollback()
        db.session.remove()
    if not has_demo:
        _prepare(options.database_url)

    runs = []
    with app.app_context():
        catalog = current_catalog()
        for _ in range(options.runs):
            started = time.perf_counter()
            report = rescore(catalog)
            db.session.commit()
            wall = time.perf_counter() - started
            runs.append((wall, report))
            print(
                f"  run: {wall:.2f} s (load {report.timings['load']:.2f}, compute "
                f"{report.timings['compute']:.2f}, write {report.timings['write']:.2f}); "
                f"{report.scored:,} scored, {report.changed:,} changed"
            )
    median = {
        part: statistics.median(r.timings[part] for _w, r in runs)
        for part in ("load", "compute", "write")
    }
    wall = statistics.median(w for w, _r in runs)
    ratio = wall / median["load"]
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(
        f"national rescoring, median of {len(runs)}: {wall:.2f} s wall "
        f"(load {median['load']:.2f} s, compute {median['compute']:.2f} s, "
        f"write {median['write']:.2f} s); "
        f"{ratio:.2f}x the time to read the tables; peak memory {peak_gb:.2f} GB"
    )
    with app.app_context():
        hook_ms, filing_ms = _one_saved_report(options.saves)
    print(
        f"rescoring after one saved report, median of {len(hook_ms)}: "
        f"{statistics.median(hook_ms):.1f} ms (max {max(hook_ms):.1f} ms); the whole filing of a "
        f"new report with it, median of {len(filing_ms)}: {statistics.median(filing_ms):.1f} ms"
    )
    over = (
        wall > BUDGET_WALL_S
        or ratio > BUDGET_RATIO
        or peak_gb > BUDGET_PEAK_GB
        or statistics.median(hook_ms) > BUDGET_SAVE_MS
    )
    sys.exit(1 if over else 0)


def _one_saved_report(runs: int) -> tuple[list[float], list[float]]:
    """Time the save hook on recent reports, and the filing of new ones; roll everything back."""
    import random
    import secrets
    from datetime import timedelta

    import sqlalchemy as sa

    from salve.auth.models import RoleAssignment, User
    from salve.catalog.queries import current_catalog
    from salve.db import utcnow
    from salve.extensions import db
    from salve.incidents.models import Incident
    from salve.incidents.operations import file_incident
    from salve.schools.models import School, Student
    from salve.scoring.operations import rescore_entities, touched_students

    catalog = current_catalog()
    chooser = random.Random(7)  # noqa: S311 - picking benchmark samples
    recent = db.session.scalars(
        sa.select(Incident.id).where(Incident.occurred_at >= utcnow() - timedelta(days=30))
    ).all()
    hook_ms = []
    for incident_id in chooser.sample(recent, min(runs, len(recent))):
        incident = db.session.get(Incident, incident_id)
        students, school = touched_students(incident), {incident.school_id}
        savepoint = db.session.begin_nested()
        started = time.perf_counter()
        rescore_entities(catalog, students, school)
        hook_ms.append((time.perf_counter() - started) * 1000)
        savepoint.rollback()
    teacher = db.session.scalar(sa.select(User).where(User.username == "docente"))
    school = db.session.scalar(
        sa.select(School)
        .join(RoleAssignment, RoleAssignment.school_id == School.id)
        .where(RoleAssignment.user_id == teacher.id)
    )
    nies = db.session.scalars(
        sa.select(Student.nie).where(Student.school_id == school.id, Student.is_active).limit(60)
    ).all()
    filing_ms = []
    for _ in range(runs):
        victim, aggressor = chooser.sample(nies, 2)
        payload = {
            "school": school.code,
            "occurred_at": (utcnow() - timedelta(hours=1)).isoformat(),
            "location": "patio",
            "types": ["ACO_VERBAL"],
            "relationship": "estudiante_estudiante",
            "parties": [
                {"role": "victima", "kind": "estudiante", "nie": victim},
                {"role": "agresor", "kind": "estudiante", "nie": aggressor},
            ],
            "repetition": "2_3",
            "narrative": "Relato de prueba del banco de medidas.",
            "idempotency_key": secrets.token_urlsafe(16),
        }
        savepoint = db.session.begin_nested()
        started = time.perf_counter()
        file_incident(teacher, payload, catalog)
        filing_ms.append((time.perf_counter() - started) * 1000)
        savepoint.rollback()
    db.session.rollback()
    return hook_ms, filing_ms


if __name__ == "__main__":
    main()
