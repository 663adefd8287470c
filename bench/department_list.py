"""Time San Salvador's ranked list of schools at national size, as the departmental office gets it.

    .venv/bin/python bench/department_list.py [--database-url URL] [--runs 10]

Uses the database at URL (default: instance/bench-national.db, a SQLite file). When it holds no
demo yet, ``salve init`` and ``salve demo --scale national`` create one first (about a minute
on SQLite). Signs in as the demo ``departamental`` (San Salvador, about a fifth of the nation's
schools) through the Flask test client and times the whole request for the list page —
session, scope, query, template, audit record and commit — ``--runs`` times after one warm-up;
then the data alone (``salve.reports.queries.department_risk_list``) and a CSV download of the
whole list. Prints the medians; exits 1 when the page's median passes the budget (issue 6:
300 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUDGET_PAGE_MS = 300.0
DEPARTMENT = "06"
PAGE_URL = f"/reportes/departamentos/{DEPARTMENT}/escuelas"


def _prepare(url: str) -> None:
    env = {**os.environ, "SALVE_DATABASE_URL": url}
    flask = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", "salve"]
    # The project's own flask command with fixed arguments.
    subprocess.run([*flask, "init"], cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: S603
    subprocess.run([*flask, "demo", "--scale", "national"], cwd=ROOT, env=env, check=True)  # noqa: S603


def _median_ms(action, runs: int) -> tuple[float, float]:
    """Run ``action`` ``runs`` times; return the median and the slowest, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    """Prepare the national demo if needed, time the list page and its data, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=f"sqlite:///{ROOT / 'instance' / 'bench-national.db'}"
    )
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    (ROOT / "instance").mkdir(exist_ok=True)
    os.environ["SALVE_DATABASE_URL"] = options.database_url

    import sqlalchemy as sa

    from salve import create_app
    from salve.demo import DEMO_PASSWORD
    from salve.demo.operations import demo_present
    from salve.extensions import db
    from salve.geography.models import Department
    from salve.reports.queries import department_risk_list

    # The test client posts the sign-in form without a CSRF token; nothing else changes.
    app = create_app({"WTF_CSRF_ENABLED": False})
    with app.app_context():
        has_demo = False
        try:
            has_demo = demo_present()
        except Exception:  # no schema yet: prepared below
            db.session.rollback()
        db.session.remove()
    if not has_demo:
        _prepare(options.database_url)

    client = app.test_client()
    signed_in = client.post(
        "/ingresar", data={"username": "departamental", "password": DEMO_PASSWORD}
    )
    if signed_in.status_code != 302 or "/ingresar" in signed_in.location:
        sys.exit("could not sign in as the demo departamental")

    def page():
        response = client.get(PAGE_URL)
        assert response.status_code == 200, response.status_code
        return response

    def download():
        response = client.get(f"{PAGE_URL}?formato=csv")
        assert response.status_code == 200, response.status_code

    first = page()  # warm-up: templates compiled, caches filled
    shown = first.get_data(as_text=True).count('class="risk-row"')
    page_ms, page_max = _median_ms(page, options.runs)
    csv_ms, _csv_max = _median_ms(download, max(3, options.runs // 3))
    with app.app_context():
        department_id = db.session.scalar(
            sa.select(Department.id).where(Department.code == DEPARTMENT)
        )
        total = department_risk_list(department_id).total
        data_ms, data_max = _median_ms(lambda: department_risk_list(department_id), options.runs)
        db.session.remove()
    print(
        f"San Salvador's risk list ({total:,} schools, {shown} on the page), median of "
        f"{options.runs}: page {page_ms:.1f} ms (slowest {page_max:.1f}; budget "
        f"{BUDGET_PAGE_MS:.0f}), data only {data_ms:.1f} ms (slowest {data_max:.1f}); "
        f"CSV of the whole list {csv_ms:.1f} ms"
    )
    sys.exit(1 if page_ms > BUDGET_PAGE_MS else 0)


if __name__ == "__main__":
    main()
