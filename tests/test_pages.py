"""The pages each role sees: what they say, what they list, and how they are built."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from salve.auth import roles as R
from salve.extensions import db
from salve.schools.models import School
from tests.conftest import ACCOUNTS, ROLE_ACCOUNTS

#: A phrase only each role's home page carries (the one-line summary of what it can do).
HOME_PHRASES = {
    R.DOCENTE: "Inicio del personal docente",
    R.DIRECTOR: "Inicio de la dirección escolar",
    R.GESTOR: "Inicio de gestión de casos",
    R.SUPERVISOR: "Inicio de supervisión de casos",
    R.DEPARTAMENTAL: "Inicio de la dirección departamental",
    R.NACIONAL: "Inicio del análisis nacional",
    R.ADMIN: "Inicio de la administración del sistema",
}

#: Pages that every signed-in role reaches, by role, to check their markup.
PAGES_BY_ROLE = {
    R.DOCENTE: ["/inicio", "/escuelas/", "/cuenta/contrasena"],
    R.DIRECTOR: ["/inicio", "/escuelas/"],
    R.DEPARTAMENTAL: ["/inicio", "/escuelas/", "/escuelas/?departamento=06&q=Prueba"],
    R.ADMIN: [
        "/inicio",
        "/escuelas/",
        "/admin/usuarios",
        "/admin/usuarios/nuevo",
        "/admin/auditoria",
    ],
}


def _school_name(code: str) -> str:
    return db.session.scalar(sa.select(School.name).where(School.code == code))


class _Markup(HTMLParser):
    """Collect what the checks need: scripts, inline styles and handlers, labels, inputs."""

    def __init__(self):
        super().__init__()
        self.inline_scripts = 0
        self.inline_styles: list[str] = []
        self.handlers: list[str] = []
        self.labels_for: set[str] = set()
        self.inputs: dict[str, dict] = {}
        self.html_lang: str | None = None
        self.landmarks: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        if tag in {"header", "nav", "main", "footer"}:
            self.landmarks.add(tag)
        if tag == "script" and not attributes.get("src"):
            self.inline_scripts += 1
        if tag == "style" or "style" in attributes:
            self.inline_styles.append(tag)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "label" and attributes.get("for"):
            self.labels_for.add(attributes["for"])
        if tag in {"input", "select", "textarea"} and attributes.get("type") != "hidden":
            self.inputs[attributes.get("id") or attributes.get("name", "?")] = attributes


def parse(html: str) -> _Markup:
    """Return what the markup checks need from ``html``."""
    parser = _Markup()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("role", R.ROLES)
def test_each_role_home_page_says_what_the_role_can_do_in_spanish(client, login_as, role):
    login_as(ROLE_ACCOUNTS[role])
    response = client.get("/inicio")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert HOME_PHRASES[role] in page
    for other_role, phrase in HOME_PHRASES.items():
        if other_role != role:
            assert phrase not in page
    assert 'lang="es"' in page
    assert "Sistema de Alerta de Violencia en Educación" in page
    assert "Escuelas" in page and "Salir" in page


def test_school_staff_home_shows_their_school_and_roll_links(client, login_as, world):
    login_as("director_a")
    page = client.get("/inicio").get_data(as_text=True)
    assert _school_name(world.school_a) in page
    assert _school_name(world.school_c) not in page
    assert f'href="/escuelas/{world.school_a}/estudiantes"' in page
    assert f'href="/escuelas/{world.school_a}"' in page
    assert '<span class="figure-value">5</span>' in page  # five students on school_a's roll


def test_departmental_home_lists_only_its_department_with_filtered_links(client, login_as):
    login_as("departamental_05")
    page = client.get("/inicio").get_data(as_text=True)
    assert 'href="/escuelas/?departamento=05"' in page
    assert "La Libertad" in page
    assert "departamento=06" not in page


def test_national_and_admin_homes_show_every_department_and_totals(client, login_as):
    login_as("admin")
    page = client.get("/inicio").get_data(as_text=True)
    assert page.count("departamento=") == 14
    assert "Total nacional" in page
    for link in ("/admin/usuarios", "/admin/usuarios/nuevo", "/admin/auditoria"):
        assert f'href="{link}"' in page


def test_admin_links_are_shown_to_admins_only(client, login_as):
    login_as("nacional")
    page = client.get("/inicio").get_data(as_text=True)
    assert "/admin/usuarios" not in page
    assert "/admin/auditoria" not in page


def test_homes_offer_no_link_to_features_that_do_not_exist_yet(client, login_as, app):
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    for username in ROLE_ACCOUNTS.values():
        login_as(username)
        page = client.get("/inicio").get_data(as_text=True)
        for href in re.findall(r'href="(/[^"?#]*)', page):
            if href.startswith("/static/"):
                continue
            assert any(re.fullmatch(re.sub(r"<[^>]+>", "[^/]+", rule), href) for rule in routes), (
                f"{username}'s home links to {href}, which is no route"
            )
        client.post("/salir")


def test_school_list_shows_only_schools_in_scope(client, login_as, world):
    login_as("departamental_05")
    page = client.get("/escuelas/").get_data(as_text=True)
    assert _school_name(world.school_c) in page
    assert _school_name(world.school_a) not in page
    assert _school_name(world.school_b) not in page


def test_school_list_search_and_department_filter_keep_their_values(client, login_as, world):
    login_as("nacional")
    page = client.get("/escuelas/?q=Alfa&departamento=06").get_data(as_text=True)
    assert _school_name(world.school_a) in page
    assert _school_name(world.school_b) not in page
    assert 'value="Alfa"' in page
    assert '<option value="06" selected>' in page


def test_school_page_shows_roll_figures_and_roll_link_to_staff_only(client, login_as, world):
    login_as("director_a")
    page = client.get(f"/escuelas/{world.school_a}").get_data(as_text=True)
    assert "Nómina por grado y sexo" in page
    assert f'href="/escuelas/{world.school_a}/estudiantes"' in page
    client.post("/salir")
    login_as("departamental_06")
    page = client.get(f"/escuelas/{world.school_a}").get_data(as_text=True)
    assert "Nómina por grado y sexo" in page
    assert "/estudiantes" not in page


def test_student_roll_lists_names_with_spanish_headers(client, login_as, world):
    login_as("docente_a")
    response = client.get(f"/escuelas/{world.school_a}/estudiantes")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for header in ("NIE", "Apellidos", "Nombres", "Fecha de nacimiento"):
        assert header in page
    for nie in world.students_a:
        assert nie in page
    for nie in world.students_c:
        assert nie not in page


def test_admin_user_list_has_enable_forms_but_not_for_oneself(client, login_as):
    login_as("admin")
    page = client.get("/admin/usuarios").get_data(as_text=True)
    assert "docente_a" in page
    # Every seeded account is enabled; the admin's own row has no switch.
    assert page.count('name="enabled" value="0"') == len(ACCOUNTS) - 1
    assert "Su cuenta" in page
    assert "Desactivar" in page


def test_audit_page_keeps_its_filters(client, login_as):
    login_as("admin")
    response = client.get("/admin/auditoria?usuario=admin&accion=login")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="admin"' in page
    assert 'value="login"' in page
    assert "Registro de auditoría" in page


@pytest.mark.parametrize("role", sorted(PAGES_BY_ROLE))
def test_pages_have_landmarks_and_no_inline_script_or_style(client, login_as, role):
    login_as(ROLE_ACCOUNTS[role])
    for url in PAGES_BY_ROLE[role]:
        response = client.get(url)
        assert response.status_code == 200, url
        markup = parse(response.get_data(as_text=True))
        assert markup.inline_scripts == 0, url
        assert markup.inline_styles == [], url
        assert markup.handlers == [], url
        assert {"header", "nav", "main", "footer"} <= markup.landmarks, url
        assert markup.html_lang == "es", url


def test_login_page_has_labelled_inputs_and_title(client):
    response = client.get("/ingresar")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<title>Ingresar · SALVE</title>" in page
    markup = parse(page)
    assert {"username", "password"} <= set(markup.inputs)
    for input_id in markup.inputs:
        assert input_id in markup.labels_for, f"input {input_id} has no label"
    assert markup.inline_scripts == 0 and markup.inline_styles == []
    assert markup.inputs["password"].get("type") == "password"


def test_login_errors_are_announced_and_tied_to_the_field(client):
    page = client.post("/ingresar", data={"username": "", "password": ""}).get_data(as_text=True)
    assert 'role="alert"' in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="username-error"' in page
    assert "Escriba su usuario." in page


def test_missing_school_is_a_friendly_404_without_navigation(client, login_as):
    login_as("nacional")
    response = client.get("/escuelas/00000")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Página no encontrada" in page
    assert 'href="/"' in page
    assert "Traceback" not in page
    assert "Salir" not in page  # the error page does not build the user's navigation


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (400, "Solicitud no válida"),
        (403, "No tiene permiso"),
        (405, "Acción no permitida"),
        (413, "demasiado grande"),
        (429, "Demasiadas solicitudes"),
        (500, "error inesperado"),
        (503, "Inténtelo de nuevo en unos minutos"),
    ],
)
def test_error_page_explains_each_status_in_spanish(app, status, phrase):
    from flask import render_template

    with app.test_request_context("/"):
        page = render_template("errors/error.html", status=status)
    assert phrase in page
    assert f"Error {status}" in page
    assert 'lang="es"' in page


def test_flashed_errors_use_role_alert(client):
    page = client.post("/ingresar", data={"username": "nadie", "password": "equivocada"}).get_data(
        as_text=True
    )
    assert re.search(r'class="flash flash-error" role="alert"', page)
    assert "Usuario o contraseña incorrectos." in page


def test_open_data_is_linked_from_every_page(client):
    page = client.get("/ingresar").get_data(as_text=True)
    assert 'href="/datos-abiertos/"' in page


def test_a_database_that_is_down_gives_the_plain_503_page_never_a_traceback(tmp_path):
    """SECURITY.md item 17: PostgreSQL unreachable (nothing listens on the port) → 503 page."""
    from salve import create_app
    from tests.support.live_server import free_port

    app = create_app(
        {
            "ENV": "testing",
            "TESTING": False,  # errors go through the app's handlers, as in production
            "SECRET_KEY": "test-secret-key",
            "WTF_CSRF_ENABLED": False,
            "DATABASE_URL": f"postgresql://salve@127.0.0.1:{free_port()}/salve?connect_timeout=2",
        }
    )
    client = app.test_client()
    response = client.post("/ingresar", data={"username": "docente", "password": "frase-larga"})
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "Inténtelo de nuevo en unos minutos" in page
    assert "Traceback" not in page and "psycopg" not in page and "OperationalError" not in page
    assert "frase-larga" not in page
