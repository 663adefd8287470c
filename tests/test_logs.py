"""Access logs never carry what users typed into a URL (names, NIEs)."""

from __future__ import annotations

import logging

from salve.logs import DropQueryStrings


def test_query_strings_are_dropped_from_access_log_records():
    request_line = '"GET /incidentes/estudiantes?q=Garc%C3%ADa+L HTTP/1.1" 200 -'
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, "%s - - [%s] %s",
        ("127.0.0.1", "24/Nov/2026", request_line), None,
    )  # fmt: skip
    assert DropQueryStrings().filter(record)
    line = record.getMessage()
    assert "Garc" not in line
    assert "/incidentes/estudiantes?…" in line


def test_the_app_installs_the_filter(app):
    assert any(isinstance(f, DropQueryStrings) for f in logging.getLogger("werkzeug").filters)


def test_database_errors_do_not_carry_the_values(app):
    import pytest
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    from salve.extensions import db

    with pytest.raises(DBAPIError) as error, db.session.begin_nested():
        db.session.execute(
            sa.text("INSERT INTO schools (code) VALUES (:code)"), {"code": "Relato secreto"}
        )
    assert "Relato secreto" not in str(error.value)
