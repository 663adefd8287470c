"""Rate limits (SECURITY.md items 6 and 26): counted in the database, shared by every worker.

Clocks are moved, never slept on: ``now=`` for the functions, a patched ``salve.ratelimit.utcnow``
for requests. The tests on the ``app`` fixture run in its rolled-back transaction; those that
need what several processes see use databases of their own (``shared``), really committed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from salve import create_app, ratelimit
from salve.config import ConfigurationError, rate_limits
from salve.db import set_write_intent
from salve.extensions import db
from salve.ratelimit import RateLimitCounter, check, hit
from tests.api.conftest import Api, token_for
from tests.conftest import count
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
#: The start of a minute (and of a five-minute window): windows are aligned on the epoch.
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- The counting itself ----------------------------------------------------------------------


def test_a_key_is_refused_past_its_limit_and_others_are_not(app):
    assert [hit("test:a", 3, 60, now=at(s)) for s in (0, 1, 2, 3)] == [True, True, True, False]
    assert hit("test:b", 3, 60, now=at(4))  # another key counts apart
    assert not hit("test:a", 3, 60, now=at(59))


def test_two_windows_later_nothing_is_remembered(app):
    for s in range(5):
        assert hit("test:a", 5, 60, now=at(s))
    assert not hit("test:a", 5, 60, now=at(30))
    # A window later the previous one still weighs in; two windows later it does not.
    assert [hit("test:a", 5, 60, now=at(120 + s)) for s in range(6)] == [True] * 5 + [False]


def test_no_burst_of_twice_the_limit_at_a_window_edge(app):
    for s in range(50, 60):
        assert hit("test:edge", 10, 60, now=at(s))
    # A fixed window would allow ten more at once here: the ten of a second ago still count.
    assert not hit("test:edge", 10, 60, now=at(60))
    # Halfway through the next window half of them still weigh: five more, not ten.
    allowed = [hit("test:edge", 10, 60, now=at(90)) for _ in range(10)]
    assert allowed == [True] * 5 + [False] * 5


def test_retry_after_says_when_the_next_request_goes_through(app):
    for s in range(3):
        assert hit("test:retry", 3, 60, now=at(10 + s))
    refused = check("test:retry", 3, 60, now=at(20))
    assert not refused.allowed
    assert 0 < refused.retry_after <= 120
    later = at(20 + refused.retry_after)
    assert not hit("test:retry", 3, 60, now=later - timedelta(seconds=1))
    assert hit("test:retry", 3, 60, now=later)


def test_refused_requests_write_nothing(app):
    for _ in range(2):
        assert hit("test:flood", 2, 60, now=at(1))
    before = db.session.scalars(sa.select(RateLimitCounter.hits)).all()
    for _ in range(20):
        assert not hit("test:flood", 2, 60, now=at(2))
    assert db.session.scalars(sa.select(RateLimitCounter.hits)).all() == before == [2]


def test_windows_nobody_needs_are_pruned(app):
    assert hit("test:old-1", 5, 60, now=at(0))
    assert hit("test:old-2", 5, 60, now=at(0))
    assert hit("test:old-1", 5, 60, now=at(61))
    assert count(RateLimitCounter) == 3
    assert hit("test:new", 5, 60, now=at(200))  # a new window: anything past its use goes
    keys = db.session.scalars(sa.select(RateLimitCounter.key)).all()
    assert keys == ["test:new"]


def test_nothing_is_kept_in_memory(app):
    for _ in range(2):
        assert hit("test:memory", 2, 60, now=at(1))
    assert not hit("test:memory", 2, 60, now=at(2))
    db.session.execute(sa.delete(RateLimitCounter))  # what the database forgets, nobody knows
    assert hit("test:memory", 2, 60, now=at(3))


def test_a_count_outlives_the_request_that_fails_after_it(app):
    assert hit("test:failing", 1, 60, now=at(1))
    db.session.rollback()  # what the end of a request answering 4xx or 5xx does
    assert not hit("test:failing", 1, 60, now=at(2))


def test_limits_come_from_the_configuration_over_the_defaults():
    limits = rate_limits({"sign-in": [5, 120]})
    assert limits["sign-in"] == (5, 120)
    assert limits["api"] == (600, 60)
    with pytest.raises(ConfigurationError, match="sign-in"):
        rate_limits({"sign-in": "lots"})
    with pytest.raises(ConfigurationError, match="api"):
        rate_limits({"api": [0, 60]})


def test_the_environment_overrides_one_limit(monkeypatch, tmp_path):
    monkeypatch.setenv("SALVE_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SALVE_RATE_LIMITS", '{"open-data": [10, 60]}')
    app = create_app()
    assert app.config["RATE_LIMITS"]["open-data"] == (10, 60)
    assert app.config["RATE_LIMITS"]["sign-in"] == (30, 60)


# --- Requests ---------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """Return a function that sets the limiter's clock (seconds after T0)."""

    def _set(seconds: float) -> None:
        monkeypatch.setattr(ratelimit, "utcnow", lambda: at(seconds))

    _set(0)
    return _set


def test_sign_in_is_limited_per_address_before_any_password_is_hashed(
    app, client, world, clock, monkeypatch
):
    import salve.auth.operations as operations

    monkeypatch.setitem(app.config["RATE_LIMITS"], "sign-in", (3, 60))
    verified = []
    real_verify = operations.verify_password
    monkeypatch.setattr(
        operations, "verify_password", lambda *a: verified.append(1) or real_verify(*a)
    )
    for _ in range(3):
        response = client.post("/ingresar", data={"username": "docente_a", "password": "mala"})
        assert response.status_code == 200
    assert len(verified) == 3
    refused = client.post("/ingresar", data={"username": "docente_a", "password": PASSWORD})
    assert refused.status_code == 429
    assert len(verified) == 3  # refused before argon2 ran
    assert "Demasiadas solicitudes" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert client.get("/ingresar").status_code == 200  # showing the form is not counted
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    signed_in = other.post("/ingresar", data={"username": "docente_a", "password": PASSWORD})
    assert signed_in.status_code == 302
    clock(200)  # later on, the first address may try again
    again = client.post("/ingresar", data={"username": "docente_a", "password": "mala"})
    assert again.status_code == 200


def test_the_api_is_limited_per_token(app, client, world, clock, monkeypatch):
    monkeypatch.setitem(app.config["RATE_LIMITS"], "api", (3, 60))
    api = Api(app, client)  # checks each answer, the 429 included, against the OpenAPI
    first, second = token_for("nacional"), token_for("nacional")
    for _ in range(3):
        assert api.get("/api/v1/catalog", token=first).status_code == 200
    refused = api.get("/api/v1/catalog", token=first)
    assert refused.status_code == 429
    assert refused.json["errors"][0]["message"].startswith("Demasiadas solicitudes")
    assert int(refused.headers["Retry-After"]) > 0
    assert api.get("/api/v1/catalog", token=second).status_code == 200
    clock(200)
    assert api.get("/api/v1/catalog", token=first).status_code == 200


def test_open_data_is_limited_per_address_page_and_api_alike(
    app, client, world, clock, monkeypatch
):
    monkeypatch.setitem(app.config["RATE_LIMITS"], "open-data", (2, 60))
    api = Api(app, client)
    assert api.get("/api/v1/open/incidents").status_code == 200
    assert client.get("/datos-abiertos/").status_code == 200
    refused = api.get("/api/v1/open/incidents")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    page = client.get("/datos-abiertos/")
    assert page.status_code == 429
    assert "Demasiadas solicitudes" in page.get_data(as_text=True)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.8"
    assert other.get("/api/v1/open/incidents").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200  # the document is not limited


def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(shared):
    limits = {"sign-in": (1, 60)}
    direct = shared.make_app(RATE_LIMITS=limits)
    proxied = shared.make_app(RATE_LIMITS=limits, PROXY_COUNT=1)

    def sign_in(app, forwarded_for):
        headers = {"X-Forwarded-For": forwarded_for}
        data = {"username": "nadie", "password": "x" * 12}
        return app.test_client().post("/ingresar", data=data, headers=headers).status_code

    assert sign_in(direct, "203.0.113.1") == 200
    assert sign_in(direct, "203.0.113.2") == 429  # a forged header changes nothing
    assert sign_in(proxied, "203.0.113.3") == 200
    assert sign_in(proxied, "203.0.113.4") == 200  # each client behind the proxy counts apart
    assert sign_in(proxied, "203.0.113.4") == 429


# --- Several workers, several processes, one database -----------------------------------------


class Shared:
    """A database of its own, really committed, and apps on it as separate workers would be."""

    def __init__(self, url: str):
        self.url = url
        self.apps = []

    def make_app(self, **config):
        app = create_app(
            {
                "ENV": "testing",
                "TESTING": True,
                "SECRET_KEY": "test-secret-key",
                "DATABASE_URL": self.url,
                "WTF_CSRF_ENABLED": False,
                **config,
            }
        )
        self.apps.append(app)
        return app

    def clear(self) -> None:
        app = self.apps[0]
        with app.app_context():
            db.session.execute(sa.delete(RateLimitCounter))
            db.session.commit()

    def close(self) -> None:
        for app in self.apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_database(request, tmp_path_factory):
    """Yield a migrated database of each backend, apart from the per-test transactions."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ratelimit') / 'salve.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("salve_ratelimit")
    shared = Shared(url)
    with shared.make_app().app_context():
        upgrade()
    yield shared
    shared.close()


@pytest.fixture
def shared(shared_database):
    """Return the shared database, its counters emptied."""
    shared_database.clear()
    return shared_database


def _hits(app, key: str, times: int, limit: int = 5) -> list[bool]:
    """Try ``key`` ``times`` times from ``app``, all at T0 (no window edge in between)."""
    with app.app_context():
        results = [hit(key, limit, 60, now=T0) for _ in range(times)]
        db.session.remove()
    return results


def test_two_app_instances_share_their_counts(shared):
    first, second = shared.make_app(), shared.make_app()
    assert _hits(first, "shared:a", 3) == [True] * 3
    assert _hits(second, "shared:a", 3) == [True, True, False]
    assert _hits(first, "shared:a", 1) == [False]


def test_another_process_sees_the_same_counts(shared):
    """What a second gunicorn worker would see: nothing in one process's memory decides."""
    app = shared.make_app()
    assert _hits(app, "shared:process", 4) == [True] * 4
    script = (
        "import json, sys\n"
        "from salve import create_app\n"
        "from salve.ratelimit import hit\n"
        "from datetime import datetime\n"
        "app = create_app({'ENV': 'testing', 'SECRET_KEY': 'k', 'DATABASE_URL': sys.argv[1]})\n"
        "now = datetime.fromisoformat(sys.argv[2])\n"
        "with app.app_context():\n"
        "    print(json.dumps([hit('shared:process', 5, 60, now=now) for _ in range(2)]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, shared.url, T0.isoformat()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert json.loads(output.strip().splitlines()[-1]) == [True, False]
    assert _hits(app, "shared:process", 1) == [False]


def test_concurrent_workers_never_exceed_the_limit(shared):
    apps = [shared.make_app(), shared.make_app()]
    allowed, errors = [], []

    def worker(app):
        try:
            allowed.extend(r for r in _hits(app, "shared:race", 12, limit=30) if r)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(apps[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(allowed) == 30  # 72 tried: exactly the limit went through


def test_a_get_requests_limit_neither_fails_nor_keeps_the_sqlite_write_lock(shared):
    if not shared.url.startswith("sqlite"):
        pytest.skip("SQLite's locking only")
    app = shared.make_app()
    path = shared.url.removeprefix("sqlite:///")
    with app.test_request_context("/datos-abiertos/"):
        set_write_intent(False)  # what a GET declares: deferred, read-only
        try:
            db.session.execute(sa.select(sa.func.count()).select_from(RateLimitCounter))
            # Another worker writes after this request began reading: a read transaction
            # upgraded to a write now would fail at once with "database is locked".
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            other.execute(
                "INSERT INTO rate_limit_counters VALUES ('shared:other', '2026-01-01', 1, "
                "'2026-01-01')"
            )
            other.execute("COMMIT")
            assert hit("shared:get", 5, 60)
            db.session.execute(sa.select(sa.func.count()).select_from(RateLimitCounter))
            # The request goes on reading; nobody waits for a write lock it no longer needs.
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            other.close()
        finally:
            db.session.remove()
            set_write_intent(True)
