"""Spanish by default, English on request, and an English catalog that is complete and compiled."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import g
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "salve" / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
ENGLISH_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
ENGLISH_MO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo"
#: The keywords `make translations` passes to pybabel extract.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
UPDATE_HINT = "run `make translations`, translate the new msgids in the .po, and run it again"


class _FreshLocaleClient(FlaskClient):
    """A test client whose every request chooses its language anew.

    The ``app`` fixture keeps one app context open for the whole test, so ``g`` (where
    Flask-Babel caches the request's locale) outlives each request; in production it does not.
    """

    def open(self, *args, **kwargs):
        g.pop("_flask_babel", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    """Return a test client that picks the language on every request, as in production."""
    return _FreshLocaleClient(app, app.response_class, use_cookies=True)


def _read_po(path: Path):
    with path.open("rb") as file:
        return read_po(file, locale="en")


def _key(msgid) -> str:
    """The singular msgid of an entry (plural entries carry a (singular, plural) pair)."""
    return msgid if isinstance(msgid, str) else msgid[0]


def _forms(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _translations(catalog) -> dict[str, tuple[str, ...]]:
    """Return msgid → its translated forms, for the entries gettext would use (all forms filled,
    not fuzzy)."""
    return {
        _key(message.id): _forms(message.string)
        for message in catalog
        if message.id and all(_forms(message.string)) and not message.fuzzy
    }


def _source_msgids() -> set[str]:
    """Extract the msgids of the Python and Jinja sources, as pybabel extract does."""
    with (ROOT / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)

    def include_directory(path: str) -> bool:
        name = os.path.basename(path)
        # pybabel's default also skips "_*" folders, which would hide templates/_macros.
        return not name.startswith(".") and name not in {"__pycache__", "node_modules"}

    return {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS,
            directory_filter=include_directory,
        )
    }  # fmt: skip


def test_pages_are_in_spanish_by_default(client):
    page = client.get("/ingresar").get_data(as_text=True)
    assert 'lang="es"' in page
    assert "<title>Ingresar · SALVE</title>" in page
    assert "Contraseña" in page


def test_switching_to_english_translates_the_page(client):
    response = client.post("/idioma", data={"lang": "en", "next": "/ingresar?"})
    assert response.status_code == 302
    assert response.headers["Location"].split("?")[0].endswith("/ingresar")
    page = client.get("/ingresar").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<title>Sign in · SALVE</title>" in page
    assert "Early Warning System for Violence in Education" in page
    assert ">Password" in page
    assert "Contraseña" not in page


def test_english_applies_to_signed_in_pages(client, login_as, world):
    login_as("director_a")
    client.post("/idioma", data={"lang": "en", "next": "/inicio"})
    page = client.get("/inicio").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "School principal home" in page
    assert "Sign out" in page
    page = client.get(f"/escuelas/{world.school_a}/estudiantes").get_data(as_text=True)
    assert "Family names" in page and "Apellidos" not in page


def test_switching_back_to_spanish(client, login_as):
    login_as("nacional")
    client.post("/idioma", data={"lang": "en", "next": "/inicio"})
    assert "National analysis home" in client.get("/inicio").get_data(as_text=True)
    client.post("/idioma", data={"lang": "es_SV", "next": "/inicio"})
    page = client.get("/inicio").get_data(as_text=True)
    assert 'lang="es"' in page
    assert "Inicio del análisis nacional" in page


def test_unknown_language_is_ignored(client):
    client.post("/idioma", data={"lang": "xx", "next": "/ingresar"})
    assert 'lang="es"' in client.get("/ingresar").get_data(as_text=True)


def test_error_page_is_translated(client):
    client.post("/idioma", data={"lang": "en", "next": "/"})
    page = client.get("/no-existe").get_data(as_text=True)
    assert "Page not found" in page


def test_every_msgid_has_an_english_translation():
    template = _read_po(TEMPLATE)
    english = _translations(_read_po(ENGLISH_PO))
    missing = sorted(
        _key(message.id) for message in template if message.id and _key(message.id) not in english
    )
    assert not missing, f"msgids without an English translation ({UPDATE_HINT}):\n" + "\n".join(
        missing
    )


def test_the_template_holds_every_msgid_of_the_sources():
    template_ids = {_key(message.id) for message in _read_po(TEMPLATE) if message.id}
    new = sorted(_source_msgids() - template_ids)
    assert not new, f"msgids missing from messages.pot ({UPDATE_HINT}):\n" + "\n".join(new)


def test_translations_keep_the_placeholders():
    wrong = [
        msgid
        for msgid, forms in _translations(_read_po(ENGLISH_PO)).items()
        for string in forms
        if sorted(set(PLACEHOLDER.findall(msgid))) != sorted(set(PLACEHOLDER.findall(string)))
    ]
    assert not wrong, "translations whose %(name)s placeholders differ:\n" + "\n".join(wrong)


def test_compiled_catalog_matches_the_po():
    with ENGLISH_MO.open("rb") as file:
        compiled = {
            _key(message.id): _forms(message.string) for message in read_mo(file) if message.id
        }
    expected = _translations(_read_po(ENGLISH_PO))
    stale = sorted(set(expected.items()) ^ set(compiled.items()))
    assert not stale, (
        "messages.mo differs from messages.po; run `make translations` (pybabel compile):\n"
        + "\n".join(msgid for msgid, _string in stale)
    )


@pytest.mark.parametrize("language", ["es_SV", "en"])
def test_configured_languages_are_served(app, language):
    assert language in app.config["LANGUAGES"]
    if language != app.config["BABEL_DEFAULT_LOCALE"]:
        assert (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").exists()


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "https:evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        " /inicio",
        "/ /evil.example",
        "/%09/evil.example",
    ],
)
def test_the_language_switch_never_sends_the_browser_off_site(app, client, target):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get("/ingresar").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        response = client.post(
            "/idioma", data={"lang": "en", "next": target, "csrf_token": token.group(1)}
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//"), location
    assert "evil" not in location.split("?")[0].lstrip("/").split("/")[0], location
    assert "\\" not in location and not any(ch.isspace() for ch in location)


def test_the_language_switch_goes_back_to_the_page_it_came_from(client):
    response = client.post("/idioma", data={"lang": "en", "next": "/datos-abiertos?anio=2026"})
    assert response.headers["Location"] == "/datos-abiertos?anio=2026"
