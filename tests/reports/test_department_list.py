"""The department's schools ranked by risk: ranking, filters, sorting, search, paging, downloads.

Who may see it, that no student's name appears in the page or its files, and that a school
name a spreadsheet would run as a formula reaches the files as inert text.
"""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.extensions import db
from salve.schools.models import School, Student
from tests.reports.department_builders import FORMULA_NAME, LIST_URL, plant_department

HEADERS = [
    "Código", "Centro educativo", "Municipio", "Distrito", "Sector", "Zona", "Nivel", "Puntaje",
    "Tendencia", "Alertas abiertas", "Alertas vencidas", "Incidentes 30 días",
    "Incidentes 90 días", "Tasa por 100", "Último reporte", "Silencio",
]  # fmt: skip
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def dept(world):
    """Department 06 with five schools that differ in every figure."""
    return plant_department(world)


@pytest.fixture
def regional(login_as):
    """A client signed in as the 06 departmental office."""
    return login_as("departamental_06")


def listed(response) -> list[str]:
    """Return the school codes of a list page, in the order shown."""
    assert response.status_code == 200, response.status_code
    return re.findall(r'href="/riesgo/escuelas/(\d{5})"', response.get_data(as_text=True))


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list]:
    assert response.status_code == 200
    assert response.mimetype == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def student_names() -> set[str]:
    """Every given and family name on the rolls of the seeded world."""
    names = db.session.execute(sa.select(Student.given_names, Student.family_names)).all()
    return {name for pair in names for name in pair}


# --- Ranking, filters, sorting, search, paging --------------------------------------------------


def test_schools_are_ranked_most_at_risk_first(regional, dept):
    response = regional.get(LIST_URL)
    assert listed(response) == dept.ranked
    page = response.get_data(as_text=True)
    assert "Se encontraron 5 escuelas." in page
    assert 'aria-sort="descending"' in page  # the risk column, most at risk first
    # school_a: 40 now, 50 a month ago; arrow and words, not colour alone.
    assert "▼</span> baja 10" in page
    assert "▲</span> sube 90" in page
    assert "En silencio" in page


def test_a_row_shows_the_school_figures(regional, dept):
    page = regional.get(LIST_URL + f"?q={dept.medium}").get_data(as_text=True)
    row = re.search(r'<tr class="risk-row".*?</tr>', page, re.S).group(0)
    cells = [
        " ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td.*?</td>", row, re.S)
    ]
    # code, municipality, risk, trend, open, overdue, 30 days, 90 days, rate, last report
    assert cells[0] == dept.medium
    assert cells[2] == "Nivel de riesgo: Medio 40"
    assert cells[4:9] == ["0", "0", "3", "4", "2"]
    assert cells[9] != "Nunca"
    assert f'href="/reportes/escuelas/{dept.medium}/analisis"' in row


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (lambda d: f"municipio={d.municipality_id}", lambda d: [d.critical, d.high]),
        (lambda d: f"distrito={d.district_id}", lambda d: [d.critical]),
        (lambda d: "sector=privado", lambda d: [d.critical]),
        (lambda d: "zona=rural", lambda d: [d.high]),
        (lambda d: "nivel=alto", lambda d: [d.high]),
        (lambda d: "nivel=bajo", lambda d: [d.low, d.unscored]),
        (lambda d: "con_alertas=1", lambda d: [d.critical]),
        (lambda d: "silencio=1", lambda d: [d.high]),
        (lambda d: "zona=urbana&sector=publico", lambda d: [d.medium, d.low, d.unscored]),
        # An unknown value is dropped, so an edited link still shows the whole list.
        (lambda d: "nivel=altisimo&municipio=99999", lambda d: d.ranked),
    ],
    ids=[
        "municipality",
        "district",
        "sector",
        "zone",
        "level",
        "level-low",
        "open-alerts",
        "silent",
        "combined",
        "unknown-values",
    ],
)
def test_each_filter_cuts_the_list(regional, dept, query, expected):
    assert listed(regional.get(f"{LIST_URL}?{query(dept)}")) == expected(dept)


def test_filters_are_kept_in_the_form_and_in_the_links(regional, dept):
    page = regional.get(f"{LIST_URL}?nivel=alto&silencio=1&orden=tasa").get_data(as_text=True)
    assert '<option value="alto" selected>' in page
    assert 'id="silencio" name="silencio" value="1" checked' in page
    # Headers, pages and downloads keep the filters; downloads keep the order too.
    assert "formato=csv" in page
    csv_link = re.search(r'href="([^"]*formato=csv[^"]*)"', page).group(1)
    assert "nivel=alto" in csv_link and "silencio=1" in csv_link and "orden=tasa" in csv_link


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("orden=nombre", lambda d: [d.critical, d.medium, d.low, d.high, d.unscored]),
        ("orden=nombre&dir=desc", lambda d: [d.unscored, d.high, d.low, d.medium, d.critical]),
        ("orden=riesgo&dir=asc", lambda d: [d.unscored, d.low, d.medium, d.high, d.critical]),
        ("orden=tendencia", lambda d: [d.critical, d.high, d.low, d.unscored, d.medium]),
        ("orden=alertas", lambda d: [d.critical, d.high, d.medium, d.low, d.unscored]),
        ("orden=incidentes_30", lambda d: [d.medium, d.critical, d.high, d.low, d.unscored]),
        ("orden=codigo", lambda d: sorted(d.ranked)),
    ],
)
def test_the_list_sorts_by_any_column(regional, dept, query, expected):
    assert listed(regional.get(f"{LIST_URL}?{query}")) == expected(dept)


def test_the_sorted_column_says_so_and_its_header_flips_the_order(regional, dept):
    page = regional.get(f"{LIST_URL}?orden=nombre").get_data(as_text=True)
    header = re.search(r'<th [^>]*class="sortable" aria-sort="ascending">.*?</th>', page, re.S)
    assert header is not None and "Centro educativo" in header.group(0)
    assert "orden=nombre&amp;dir=desc" in header.group(0)
    assert page.count("aria-sort=") == 1


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("hyperlink", lambda d: [d.critical]),
        ("PRUEBA DELTA", lambda d: [d.high]),
        ("prueba", lambda d: [d.high, d.medium, d.low, d.unscored]),
    ],
    ids=["name", "name-any-case", "many"],
)
def test_search_by_name(regional, dept, search, expected):
    assert listed(regional.get(LIST_URL, query_string={"q": search})) == expected(dept)


def test_search_by_code(regional, dept):
    assert listed(regional.get(LIST_URL, query_string={"q": dept.high})) == [dept.high]
    assert listed(regional.get(LIST_URL, query_string={"q": "00000"})) == []
    page = regional.get(LIST_URL, query_string={"q": "00000"}).get_data(as_text=True)
    assert "No hay escuelas que coincidan con los filtros." in page


def test_the_list_runs_over_pages(app, regional, dept, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    assert listed(regional.get(LIST_URL)) == dept.ranked[:2]
    second = regional.get(f"{LIST_URL}?pagina=2")
    assert listed(second) == dept.ranked[2:4]
    assert "página 2 de 3" in second.get_data(as_text=True)
    assert listed(regional.get(f"{LIST_URL}?pagina=3")) == dept.ranked[4:]
    assert listed(regional.get(f"{LIST_URL}?pagina=99")) == dept.ranked[4:]  # the last one
    # The next page keeps the filters.
    page = regional.get(f"{LIST_URL}?nivel=bajo&pagina=1").get_data(as_text=True)
    assert "Página" not in page  # two schools, one page
    page = regional.get(f"{LIST_URL}?orden=nombre").get_data(as_text=True)
    assert re.search(r'href="[^"]*orden=nombre[^"]*pagina=2"', page)


# --- Downloads ------------------------------------------------------------------------------------


def test_csv_has_spanish_headers_a_bom_and_every_filtered_row(app, regional, dept, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)  # a download is never one page
    response = regional.get(f"{LIST_URL}?formato=csv")
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="escuelas_riesgo_06_'
    )
    rows = csv_rows(response)
    assert rows[0] == HEADERS
    assert [row[0] for row in rows[1:]] == dept.ranked
    medium = dict(zip(HEADERS, rows[1 + dept.ranked.index(dept.medium)], strict=True))
    assert medium["Nivel"] == "Medio" and medium["Puntaje"] == "40.0"
    assert medium["Tendencia"] == "-10.0"
    assert medium["Incidentes 30 días"] == "3" and medium["Incidentes 90 días"] == "4"
    assert medium["Silencio"] == "No" and medium["Sector"] == "Público"
    high = dict(zip(HEADERS, rows[1 + dept.ranked.index(dept.high)], strict=True))
    assert high["Silencio"] == "Sí" and high["Zona"] == "Rural"
    filtered = csv_rows(regional.get(f"{LIST_URL}?formato=csv&nivel=bajo&orden=nombre&dir=desc"))
    assert [row[0] for row in filtered[1:]] == [dept.unscored, dept.low]


def test_xlsx_holds_the_same_rows_as_the_csv(regional, dept):
    query = "orden=tasa&con_alertas=&sector="
    from_csv = csv_rows(regional.get(f"{LIST_URL}?formato=csv&{query}"))
    from_xlsx = xlsx_rows(regional.get(f"{LIST_URL}?formato=xlsx&{query}"))
    assert from_xlsx[0] == HEADERS
    assert len(from_xlsx) == len(from_csv) == 6
    assert [row[0] for row in from_xlsx] == [row[0] for row in from_csv]
    medium = dict(
        zip(HEADERS, from_xlsx[[r[0] for r in from_xlsx].index(dept.medium)], strict=True)
    )
    assert medium["Puntaje"] == 40 and medium["Tasa por 100"] == 2
    assert medium["Último reporte"].tzinfo is None  # local time, as spreadsheets show it


def test_a_formula_in_a_school_name_is_exported_as_text(regional, dept):
    rows = csv_rows(regional.get(f"{LIST_URL}?formato=csv"))
    assert rows[1][1] == "'" + FORMULA_NAME
    sheet = openpyxl.load_workbook(io.BytesIO(regional.get(f"{LIST_URL}?formato=xlsx").data))
    cell = sheet.active["B2"]
    assert cell.value == "'" + FORMULA_NAME
    assert cell.data_type == "s"  # a string, not a formula


def test_no_student_name_appears_in_the_page_or_the_files(regional, dept):
    names = student_names()
    assert names
    page = regional.get(LIST_URL).get_data(as_text=True)
    as_csv = regional.get(f"{LIST_URL}?formato=csv").data.decode("utf-8-sig")
    as_xlsx = " ".join(
        str(value) for row in xlsx_rows(regional.get(f"{LIST_URL}?formato=xlsx")) for value in row
    )
    for name in names:
        assert name not in page
        assert name not in as_csv
        assert name not in as_xlsx


def test_views_and_downloads_are_audited(regional, dept):
    regional.get(f"{LIST_URL}?nivel=alto")
    regional.get(f"{LIST_URL}?formato=xlsx&nivel=bajo")
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action.like("department_list.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("department_list.view", "department", "06"),
        ("department_list.export", "department", "06"),
    ]
    assert events[0].detail["params"] == {"level": "alto"}
    assert events[0].detail["total"] == 1
    assert events[1].detail["format"] == "xlsx" and events[1].detail["rows"] == 2


# --- Who may see it -----------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["departamental_06", "supervisor_06", "nacional"])
def test_the_department_and_the_nation_see_the_list(login_as, dept, username):
    client = login_as(username)
    assert listed(client.get(LIST_URL)) == dept.ranked
    assert csv_rows(client.get(f"{LIST_URL}?formato=csv"))[0] == HEADERS


@pytest.mark.parametrize("suffix", ["", "?formato=csv", "?formato=xlsx"])
def test_another_departments_office_gets_404(login_as, dept, suffix):
    response = login_as("departamental_05").get(LIST_URL + suffix)
    assert response.status_code == 404
    assert dept.high.encode() not in response.data


@pytest.mark.parametrize("username", ["docente_a", "director_a", "gestor_06", "admin"])
def test_other_roles_are_refused(login_as, dept, username):
    response = login_as(username).get(f"{LIST_URL}?formato=csv")
    assert response.status_code == 403
    assert dept.high.encode() not in response.data


def test_an_unknown_department_is_404(login_as):
    assert login_as("nacional").get("/reportes/departamentos/99/escuelas").status_code == 404


def test_the_entry_sends_an_office_to_its_department(login_as):
    response = login_as("departamental_05").get("/reportes/escuelas")
    assert response.status_code == 302
    assert response.location == "/reportes/departamentos/05/escuelas"


def test_national_analysts_choose_a_department(login_as, dept):
    page = login_as("nacional").get("/reportes/escuelas").get_data(as_text=True)
    assert page.count('href="/reportes/departamentos/') == 14
    assert 'href="/reportes/departamentos/06/escuelas">San Salvador</a>' in page
    # The list shows where it came from.
    page = login_as("nacional").get(LIST_URL).get_data(as_text=True)
    assert 'href="/reportes/escuelas"' in page


def test_closed_schools_are_not_listed(regional, dept):
    db.session.execute(sa.update(School).where(School.code == dept.low).values(is_active=False))
    db.session.commit()
    assert listed(regional.get(LIST_URL)) == [c for c in dept.ranked if c != dept.low]
