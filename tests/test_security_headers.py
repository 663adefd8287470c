"""Security headers (SECURITY.md item 18) on every page, API answer, export and error.

Every GET route of the route matrices (tests/test_route_matrix.py for pages,
tests/api/test_api_matrix.py for the API) is requested by a role that reaches it, so a route
added to the app is checked here as soon as the matrix names it (and the matrices fail when a
route is missing from them). Each answer must carry a CSP that forbids plugins, ``<base>``
and framing, ``nosniff`` and a Referrer-Policy; whatever a signed-in user or a token holder
gets must not be stored by browsers or proxies (``Cache-Control: no-store``); HSTS appears only
in production, where SALVE is served over HTTPS.
"""

from __future__ import annotations

import pytest

from salve import create_app
from salve.auth import roles as R
from tests.api import test_api_matrix as api_matrix
from tests.api.conftest import token_for
from tests.conftest import ROLE_ACCOUNTS
from tests.test_route_matrix import MATRIX, PUBLIC

#: Referrer policies that never send a page's path (which may hold a NIE) to another site.
SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}

PAGES = sorted(endpoint for endpoint, route in MATRIX.items() if route.method == "GET")
API_ROUTES = sorted(
    endpoint for endpoint, call in api_matrix.MATRIX.items() if call.method == "GET"
)
#: Downloads of lists and figures: each as the first role allowed by its endpoint.
EXPORTS = {
    "reports.department_list": [
        "/reportes/departamentos/06/escuelas?formato=csv",
        "/reportes/departamentos/06/escuelas?formato=xlsx",
    ],
    "reports.national": ["/reportes/nacional?formato=csv", "/reportes/nacional?formato=xlsx"],
    "reports.rule_quality": ["/reportes/reglas?formato=csv"],
}
API_EXPORTS = [
    "/api/v1/departments/06/schools/risk?format=csv",
    "/api/v1/departments/06/schools/risk?format=xlsx",
]


def csp_directives(header: str) -> dict[str, str]:
    """Return a Content-Security-Policy as {directive: sources}."""
    directives = {}
    for part in header.split(";"):
        name, _sep, sources = part.strip().partition(" ")
        if name:
            directives[name.lower()] = sources.strip()
    return directives


def assert_protective_headers(response) -> None:
    """Check the headers every answer carries, whatever its status or type."""
    headers = response.headers
    csp = csp_directives(headers.get("Content-Security-Policy", ""))
    assert csp.get("object-src") == "'none'", csp
    assert csp.get("base-uri") == "'none'", csp
    assert csp.get("frame-ancestors") == "'none'", csp
    assert "'unsafe-inline'" not in csp.get("script-src", csp.get("default-src", "")), csp
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") in SAFE_REFERRER_POLICIES
    assert "Strict-Transport-Security" not in headers  # only production (below)


def assert_not_stored(response) -> None:
    """Check that browsers and proxies keep no copy of the answer."""
    directives = {d.strip().lower() for d in response.headers.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, response.headers.get("Cache-Control")


def first_allowed(allowed) -> str | None:
    """Return the first role (in ROLES order) that ``allowed`` admits; None when public."""
    if allowed == PUBLIC:
        return None
    return next(role for role in R.ROLES if role in allowed)


@pytest.mark.parametrize("endpoint", PAGES)
def test_every_page_carries_the_headers_for_the_role_that_reaches_it(
    client, login_as, world, endpoint
):
    route = MATRIX[endpoint]
    role = first_allowed(route.allowed)
    if role is not None:
        login_as(ROLE_ACCOUNTS[role])
    response = client.get(route.url(world))
    assert response.status_code in (200, 302), response.status_code
    assert_protective_headers(response)
    if role is not None:
        assert_not_stored(response)


@pytest.mark.parametrize("endpoint", sorted(e for e in PAGES if MATRIX[e].allowed == PUBLIC))
def test_public_pages_seen_signed_in_are_not_stored(client, login_as, world, endpoint):
    """Signed in, even a public page names the user in its menu."""
    login_as(ROLE_ACCOUNTS[R.DOCENTE])
    response = client.get(MATRIX[endpoint].url(world))
    assert_protective_headers(response)
    if endpoint != "static":  # the app's own CSS and scripts: the same for everyone
        assert_not_stored(response)


@pytest.mark.parametrize("endpoint", API_ROUTES)
def test_every_api_answer_carries_the_headers(client, world, endpoint):
    call = api_matrix.MATRIX[endpoint]
    role = first_allowed(call.allowed)
    headers = {}
    if role is not None:
        headers["Authorization"] = f"Bearer {token_for(ROLE_ACCOUNTS[role])}"
    response = client.get(call.url(world), headers=headers)
    assert 200 <= response.status_code < 300, response.status_code
    assert_protective_headers(response)
    if role is not None:
        assert_not_stored(response)


@pytest.mark.parametrize(
    ("endpoint", "url"), [(endpoint, url) for endpoint, urls in EXPORTS.items() for url in urls]
)
def test_exports_are_never_stored(client, login_as, world, endpoint, url):
    login_as(ROLE_ACCOUNTS[first_allowed(MATRIX[endpoint].allowed)])
    response = client.get(url)
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:  # not sent to confirm the password first
        assert response.headers["Content-Disposition"].startswith("attachment")
    assert_protective_headers(response)
    assert_not_stored(response)


@pytest.mark.parametrize("url", API_EXPORTS)
def test_api_exports_are_never_stored(client, world, url):
    token = token_for(ROLE_ACCOUNTS[R.DEPARTAMENTAL])
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:  # not sent to confirm the password first
        assert response.headers["Content-Disposition"].startswith("attachment")
    assert_protective_headers(response)
    assert_not_stored(response)


def test_error_answers_carry_the_headers_too(app, client, login_as, world, monkeypatch):
    answers = {
        "404 page": client.get("/no-existe"),
        "405 page": client.post("/salud"),
        "401 api": client.get("/api/v1/catalog"),
        "404 api": client.get("/api/v1/no-existe"),
    }
    login_as(ROLE_ACCOUNTS[R.DOCENTE])
    answers["403 page"] = client.get("/admin/usuarios")
    monkeypatch.setitem(app.config["RATE_LIMITS"], "sign-in", (1, 60))
    stranger = app.test_client()
    for _ in range(2):
        answers["429 page"] = stranger.post("/ingresar", data={"username": "x", "password": "y"})
    for name, response in answers.items():
        assert response.status_code == int(name[:3]), name
        assert_protective_headers(response)
        assert_not_stored(response)


def _app_for(env: str, tmp_path):
    return create_app(
        {
            "ENV": env,
            "SECRET_KEY": "a-long-random-secret-only-for-this-test",
            "TOTP_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",  # a fixed test key
            "DATABASE_URL": f"sqlite:///{tmp_path / 'headers.db'}",
        }
    )


@pytest.mark.parametrize("env", ["production", "development"])
def test_hsts_is_sent_in_production_only(tmp_path, env):
    app = _app_for(env, tmp_path)
    for url in ("/ingresar", "/static/css/salve.css", "/no-existe"):
        response = app.test_client().get(url)
        hsts = response.headers.get("Strict-Transport-Security")
        if env == "production":
            assert hsts is not None, url
            directives = {part.strip().split("=")[0]: part for part in hsts.split(";")}
            max_age = int(directives["max-age"].split("=")[1])
            assert max_age >= 365 * 24 * 3600  # a year at least: the HSTS preload list's floor
            assert "includeSubDomains" in directives
        else:
            assert hsts is None, url
