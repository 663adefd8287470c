"""Time the audit log's hash chain: what linking a row costs, alone and with writers at once.

    .venv/bin/python bench/audit_chain.py [--rows 500] [--writers 4]

On a throwaway PostgreSQL (and a SQLite file), migrated, each transaction records one audit
event and commits, as a request does. Compared with the same row inserted into a copy of the
table that has no chain (no lock, no hash, no ``seq``): the median commit, one writer; and the
rows per second with ``--writers`` processes at once (as gunicorn's workers are), where the
chain makes writers take turns from the audit insert to the commit. Also the median time a
writer holds the chain's turn (the insert and the commit, taken last in the transaction).

Exits 1 when linking costs more than 5 ms a row (median, one writer) or the writers at once
store fewer than 200 chained rows a second (20 times what ``bench/load.py``'s 50 users ask).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from _loadlib import postgres_or_none, salve_app  # noqa: E402

BUDGET_MS, BUDGET_RATE = 5.0, 200
PLAIN = "audit_bench_plain"


def _plain_insert(session) -> None:
    session.execute(
        sa.text(
            f"INSERT INTO {PLAIN} (occurred_at, action, object_type, object_id, outcome,"  # noqa: S608 - a fixed name
            " ip_address, detail) VALUES (CURRENT_TIMESTAMP, 'bench.plain', 'bench', '1', 'ok',"
            " '127.0.0.1', '{}')"
        )
    )


def _chained_insert(session) -> None:
    from salve.audit.operations import record

    record("bench.chained", "bench", 1, n=1)


def _run(app, write, rows: int, writers: int) -> list[float]:
    """Commit ``rows`` transactions in each of ``writers`` processes; return each one's seconds.

    Processes, like gunicorn's workers (threads would queue on Python's lock instead).
    """
    if writers == 1:
        return _work(app.config["DATABASE_URL"], write, rows, None)
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(writers), context.Queue()
    url = app.config["DATABASE_URL"]

    def child() -> None:
        results.put(_work(url, write, rows, start))

    processes = [context.Process(target=child) for _ in range(writers)]
    for process in processes:
        process.start()
    timings = [seconds for _ in processes for seconds in results.get(timeout=600)]
    for process in processes:
        process.join()
    return timings


def _work(url: str, write, rows: int, start) -> list[float]:
    from salve import create_app
    from salve.extensions import db

    app = create_app({"DATABASE_URL": url, "ENV": "development", "SECRET_KEY": "b" * 32})
    timings = []
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.commit()
        if start is not None:
            start.wait()
        for _ in range(rows):
            started = time.perf_counter()
            db.session.execute(sa.text("SELECT count(*) FROM users"))  # the request's work
            write(db.session)
            db.session.commit()
            timings.append(time.perf_counter() - started)
        db.session.remove()
        db.engine.dispose()
    return timings


def _held_turns(app, rows: int) -> list[float]:
    """Seconds from taking the chain's turn to the end of the commit, one writer."""
    from salve.audit import operations
    from salve.extensions import db

    turns = []
    with app.app_context():
        for _ in range(rows):
            operations.record("bench.turn", "bench", 1)
            db.session.execute(sa.text("SELECT count(*) FROM users"))
            started = time.perf_counter()
            operations.write_pending(db.session())  # takes the turn (lock, head, insert)
            db.session.commit()
            turns.append(time.perf_counter() - started)
        db.session.remove()
    return turns


def measure(url: str, label: str, rows: int, writers: int) -> bool:
    from flask_migrate import upgrade

    from salve.extensions import db

    with salve_app(url, SECRET_KEY="b" * 32) as app:
        upgrade()
        db.session.execute(
            sa.text(
                f"CREATE TABLE {PLAIN} AS SELECT id, occurred_at, action, object_type, object_id,"  # noqa: S608 - a fixed name
                " outcome, ip_address, detail FROM audit_events WHERE 1 = 0"
            )
        )
        db.session.commit()
        ok = True
        plain = statistics.median(_run(app, _plain_insert, rows, 1)) * 1000
        chained = statistics.median(_run(app, _chained_insert, rows, 1)) * 1000
        turn = statistics.median(_held_turns(app, rows)) * 1000
        print(
            f"{label}: one writer, median commit {plain:.2f} ms unchained, {chained:.2f} ms "
            f"chained (+{chained - plain:.2f} ms); chain's turn held {turn:.2f} ms (median)"
        )
        if chained - plain > BUDGET_MS:
            ok = False
            print(f"  over budget: linking costs more than {BUDGET_MS} ms a row")
        if writers > 1:
            rates = {}
            for name, write in (("unchained", _plain_insert), ("chained", _chained_insert)):
                timings = _run(app, write, rows, writers)
                rates[name] = len(timings) / (sum(timings) / writers)
            print(
                f"{label}: {writers} writers at once, {rates['unchained']:.0f} rows/s unchained, "
                f"{rates['chained']:.0f} rows/s chained "
                f"({rates['chained'] / rates['unchained']:.0%})"
            )
            if rates["chained"] < BUDGET_RATE:
                ok = False
                print(f"  over budget: fewer than {BUDGET_RATE} chained rows a second")
        from salve.audit.operations import chain_verdict

        verdict = chain_verdict()
        print(f"{label}: chain of {verdict.rows} rows verifies: {verdict.broken is None}")
        ok = ok and verdict.broken is None
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500, help="transactions per writer")
    parser.add_argument("--writers", type=int, default=4, help="concurrent writers")
    options = parser.parse_args()
    ok = True
    server = postgres_or_none()
    try:
        if server is None:
            print("PostgreSQL not installed: SQLite only")
        else:
            url = server.create_database("salve_bench_audit")
            ok = measure(url, "PostgreSQL", options.rows, options.writers) and ok
    finally:
        if server is not None:
            server.stop()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        ok = measure(url, "SQLite", options.rows, 1) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
