"""Browser fixtures: Debian's Chromium driven by Playwright against a live server per backend.

Each backend gets its own server in a subprocess: SQLite behind Flask's development server (the
embedded default of ``make run``) and PostgreSQL behind gunicorn with several workers (the
production shape). Playwright cannot download browsers here, so it drives /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer

CHROMIUM = Path(os.environ.get("SALVE_TEST_CHROMIUM", "/usr/bin/chromium"))
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

#: Flags for a headless Chromium as root on a machine with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--disable-sync",
]

#: The phone screen every page must fit (a common low-end Android size).
PHONE = {"width": 360, "height": 740}

#: How long a single browser action may take before the test fails (ms).
ACTION_TIMEOUT_MS = 15_000

BROWSER_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Mark every test in this folder as a browser test."""
    for item in items:
        if BROWSER_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the live server's log to the report of a failed browser test."""
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("live_server") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, LiveServer):
        report.sections.append((f"live server log ({server.log_path})", server.log()[-20_000:]))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """Yield the app running in a subprocess on a fresh, seeded database of each backend."""
    workdir = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        server = LiveServer(f"sqlite:///{workdir / 'salve.db'}", workdir, server="flask")
    else:
        postgres = request.getfixturevalue("postgres_server")
        url = postgres.create_database("salve_live")
        server = LiveServer(url, workdir, server="gunicorn")
    try:
        server.start()
    except Exception:
        server.stop()
        print(server.log())  # shown by pytest under the setup error
        raise
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Yield a headless Chromium for the session (skipped locally when it is not installed)."""
    if not CHROMIUM.exists():
        if ON_CI:
            pytest.fail(f"Chromium is required on CI but {CHROMIUM} does not exist")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser, live_server):
    """Return a function opening a fresh browser context (no cookies) on a phone screen."""
    contexts = []

    def _new_context(**options):
        options.setdefault("viewport", PHONE)
        options.setdefault("base_url", live_server.url)
        options.setdefault("locale", "es-SV")
        context = browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield _new_context
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context):
    """Return a fresh browser context on a phone screen."""
    return new_context()


@pytest.fixture
def page(context):
    """Return a page in a fresh browser context."""
    return context.new_page()
