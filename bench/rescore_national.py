"""Time a national rescoring from the database: load, compute and write, split.

    .venv/bin/python bench/rescore_national.py [--database-url URL] [--runs 3]

Uses the database at URL (default: instance/bench-national.db, a SQLite file). When it holds no
demo yet, ``salve init`` and ``salve demo --scale national`` create one first (about a minute
on SQLite). Then ``salve.scoring.operations.rescore`` runs ``--runs`` times; the first run
writes every score that is not zero, later runs only what changed. Prints each part's median and
the whole rescoring as a multiple of the time it takes just to read the tables (issue 4:
at most 3 times),
and the peak memory (issue 4: ≤ 3 GB). Exits 1 when a budget is exceeded.
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

BUDGET_WALL_S, BUDGET_RATIO, BUDGET_PEAK_GB = 20.0, 3.0, 3.0


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
    over = wall > BUDGET_WALL_S or ratio > BUDGET_RATIO or peak_gb > BUDGET_PEAK_GB
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
