"""The hostile corpus (tests/fuzz/hostile.py) in the query strings of every list and search.

On both backends: every query parameter that any page or the API reads (search, sort, page,
filters, formats) gets each entry at once, on every page that lists or searches, and the API's
lists. No server error; markup escaped; a NUL refused with the 400 page; bytes that are not
UTF-8 read as replacement characters. Hostile path segments name nothing (404).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from tests.api.conftest import token_for
from tests.fuzz import hostile
from tests.fuzz.support import assert_inert, is_error_page

#: Every query parameter a page or the API reads, anywhere (grep request.args).
QUERY_PARAMS = (
    "q", "pagina", "estado", "tipo", "desde", "hasta", "nivel", "escuela", "regla", "orden",
    "dir", "formato", "tabla", "por", "meses", "periodo", "departamento", "municipio", "distrito",
    "sector", "zona", "con_alertas", "silencio", "usuario", "accion", "objeto", "borrador",
    "next", "page", "per_page", "status", "school", "level", "rule", "sort", "direction",
    "municipality", "district", "zone", "open_alerts", "silent", "format", "by",
)  # fmt: skip

#: (account, page) for every page that lists or searches; None: anonymous.
LIST_PAGES = (
    ("docente_a", "/incidentes/"),
    ("docente_a", "/incidentes/estudiantes"),
    ("docente_a", "/incidentes/borradores"),
    ("docente_a", "/escuelas/"),
    ("docente_a", "/escuelas/{school_a}/estudiantes"),
    ("docente_a", "/avisos"),
    ("gestor_06", "/alertas/"),
    ("gestor_06", "/casos/"),
    ("admin", "/admin/usuarios"),
    ("admin", "/admin/auditoria"),
    ("supervisor_06", "/vidrio/"),
    ("departamental_06", "/reportes/escuelas"),
    ("departamental_06", "/reportes/departamentos/06/escuelas"),
    ("departamental_06", "/reportes/escuelas/{school_a}/analisis"),
    ("nacional", "/reportes/nacional"),
    ("nacional", "/reportes/reglas"),
    (None, "/datos-abiertos/"),
    (None, "/ingresar"),
)
API_LISTS = (
    ("docente_a", "/api/v1/schools"),
    ("docente_a", "/api/v1/incidents"),
    ("docente_a", "/api/v1/schools/{school_a}/students"),
    ("gestor_06", "/api/v1/alerts"),
    ("departamental_06", "/api/v1/departments/06/schools/risk"),
    (None, "/api/v1/open/incidents"),
)
#: Numbers that overflow an integer column, or int() itself (over 4,300 digits).
NUMBERS = ("0", "-1", "99999999999999999999", "2147483648", "1" * 5000)
QUERY_ENTRIES = (*hostile.CORPUS, *NUMBERS)
#: On PostgreSQL, the entries that reach its SQL differently from SQLite's: quotes, numbers,
#: non-ASCII text (ILIKE, collations). Markup, formulas and paths come back from the same
#: templates on both backends; sending them twice would only cost the suite time.
POSTGRES_QUERY_ENTRIES = (
    *hostile.SQL,
    *hostile.LOOKALIKES,
    *hostile.UNICODE,
    *hostile.SPANISH,
    *NUMBERS,
)


def _entries(app) -> tuple[str, ...]:
    on_postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    return POSTGRES_QUERY_ENTRIES if on_postgres else QUERY_ENTRIES


def _with_every_param(path: str, entry: str) -> str:
    return f"{path}?{urlencode(dict.fromkeys(QUERY_PARAMS, entry))}"


@pytest.mark.slow
@pytest.mark.parametrize(("account", "path"), LIST_PAGES, ids=[p for _a, p in LIST_PAGES])
def test_the_corpus_in_the_query_string_of_every_list_page(
    app, client, login_as, world, account, path
):
    if account:
        login_as(account)
    path = path.format(school_a=world.school_a)
    for entry in _entries(app):
        response = client.get(_with_every_param(path, entry))
        assert response.status_code < 500
        assert response.status_code in (200, 302, 400, 401, 404, 429), (entry, response.status_code)
        if response.status_code == 200 and response.mimetype == "text/html":
            assert_inert(response, entry)
    for raw in ("%00", "%ff%fe", "%ED%A0%80"):  # NUL, bytes that are not UTF-8, a surrogate
        query = "&".join(f"{name}={raw}" for name in QUERY_PARAMS)
        response = client.get(f"{path}?{query}")
        assert response.status_code < 500
        if raw == "%00":
            assert response.status_code == 400
            assert is_error_page(response, "Solicitud no válida")


@pytest.mark.slow
@pytest.mark.parametrize(("account", "path"), API_LISTS, ids=[p for _a, p in API_LISTS])
def test_the_corpus_in_the_query_string_of_every_api_list(app, client, world, account, path):
    headers = {"Authorization": f"Bearer {token_for(account)}"} if account else {}
    path = path.format(school_a=world.school_a)
    for entry in (*_entries(app), "\x00"):
        response = client.get(_with_every_param(path, entry), headers=headers)
        assert response.status_code in (200, 400, 404, 429), (entry, response.status_code)
        if response.status_code != 200:
            assert response.is_json and response.json["errors"]


@pytest.mark.parametrize("segment", ["%00", quote(hostile.MARKUP[0]), "..%2f..%2fetc%2fpasswd"])
def test_hostile_path_segments_name_nothing(app, client, login_as, world, segment):
    login_as("director_a")
    for path in ("/escuelas/{}", "/riesgo/estudiantes/{}", "/riesgo/escuelas/{}"):
        response = client.get(path.format(segment))
        assert response.status_code == 404
        assert is_error_page(response, "Página no encontrada")
    token = token_for("director_a")
    response = client.get(
        f"/api/v1/schools/{segment}/risk", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 404 and response.json["errors"]
