"""Access logs never carry what users typed into a URL (names, NIEs)."""

from __future__ import annotations

import logging

from cryptography.fernet import Fernet

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


#: gunicorn's default access-log format, then every atom that can hold a URL or its query string.
EVERY_URL_ATOM = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    " U=%(U)s q=%(q)s referer=%({referer}i)s raw_uri=%({raw_uri}e)s"
    " query_string=%({query_string}e)s location=%({location}o)s"
)


def test_gunicorns_access_log_keeps_the_path_and_drops_the_query(tmp_path):
    """Serve the app with gunicorn as in production, with an access log, and read that log."""
    import json
    import urllib.error
    import urllib.request

    from tests.support.live_server import LiveServer

    access_log = tmp_path / "access.log"
    server = LiveServer(
        f"sqlite:///{tmp_path / 'salve.db'}",
        tmp_path,
        server="gunicorn",
        seed="seed",
        gunicorn_options=("--access-logfile", str(access_log),
                          "--access-logformat", EVERY_URL_ATOM),
        # Production refuses to start without the key of the TOTP secrets.
        extra_env={"SALVE_ENV": "production", "SALVE_TOTP_KEY": Fernet.generate_key().decode()},
    )  # fmt: skip
    try:
        server.start()
        token = server.flask("salve", "token", "create", "docente_a").split()[-1]

        def get(path: str, **headers: str):
            request = urllib.request.Request(server.url + path, headers=headers)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    return response.read()
            except urllib.error.HTTPError as error:
                error.close()

        bearer = {"Authorization": f"Bearer {token}"}
        school = json.loads(get("/api/v1/schools", **bearer))["items"][0]["code"]
        api_search = f"/api/v1/schools/{school}/students?q=Rebeca%20Melissa"
        get(api_search, **bearer, Referer=f"{server.url}/incidentes/estudiantes?q=Rebeca+Melissa")
        # Anonymous: redirected to sign in, with the search in the next= of the Location.
        get("/incidentes/estudiantes?q=Rebeca+Melissa&escuela=" + school)
    finally:
        server.stop()
    log = access_log.read_text()
    assert f"GET /api/v1/schools/{school}/students?… HTTP/1.1" in log
    assert "GET /incidentes/estudiantes?… HTTP/1.1" in log
    assert f"U=/api/v1/schools/{school}/students q=… " in log
    assert "referer=http://127.0.0.1" in log and "location=/ingresar?…" in log
    for typed in ("Rebeca", "Melissa", "q=R", "next=", "escuela="):
        assert typed not in log, f"{typed!r} in the access log:\n{log}"
