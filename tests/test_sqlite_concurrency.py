"""SQLite as a server database: concurrent read-then-write transactions never fail."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from salve.db import configure_sqlite


def test_concurrent_read_then_write_transactions_all_succeed(tmp_path):
    engine = sa.create_engine(
        f"sqlite:///{tmp_path / 'concurrency.db'}", connect_args={"check_same_thread": False}
    )
    configure_sqlite(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (1, 0)")
    failures: list[Exception] = []
    threads, increments = 8, 25

    def worker():
        for _ in range(increments):
            try:
                with engine.begin() as connection:
                    value = connection.exec_driver_sql(
                        "SELECT value FROM counter WHERE id = 1"
                    ).scalar()
                    connection.exec_driver_sql(
                        "UPDATE counter SET value = ? WHERE id = 1", (value + 1,)
                    )
            except Exception as error:
                failures.append(error)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    with engine.connect() as connection:
        final = connection.exec_driver_sql("SELECT value FROM counter").scalar()
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    engine.dispose()
    assert failures == []
    assert final == threads * increments  # no lost update either
    assert journal == "wal"
    assert foreign_keys == 1


def test_the_apps_sqlite_engine_is_tuned(app):
    from salve.extensions import db

    if db.engine.dialect.name != "sqlite":
        return  # the PostgreSQL run has nothing to check here
    connection = db.session.connection()
    assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
