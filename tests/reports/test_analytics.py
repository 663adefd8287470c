"""A school seen from the region: each figure's numbers, its breakdowns, who may see it."""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from flask import g

from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents.operations import close_unfounded, file_incident
from salve.reports import analytics, charts
from salve.scoring.models import RiskScoreChange
from tests import factories

# --- Grades, levels and periods (no app) --------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "level"),
    [
        ("Parvularia 4", "parvularia"), ("parvularia 6", "parvularia"), ("Kinder", "parvularia"),
        ("1", "basica1"), ("3", "basica1"), ("4", "basica2"), ("6", "basica2"),
        ("7", "basica3"), ("9", "basica3"), ("7.º grado", "basica3"), ("Séptimo", "basica3"),
        ("segundo grado", "basica1"), ("1 bachillerato", "media"), ("3 bachillerato", "media"),
        ("Primer año", "media"), ("2.º año de bachillerato", "media"),
        ("10", "sin_dato"), ("", "sin_dato"), (None, "sin_dato"), ("aula B", "sin_dato"),
    ],
)  # fmt: skip
def test_a_grade_belongs_to_one_school_level(grade, level):
    assert analytics.grade_level(grade) == level


def test_levels_of_a_column_of_grades_and_their_school_order():
    import pandas as pd

    grades = pd.Series(["7", "Parvularia 5", "1 bachillerato", "7", None, "2"])
    assert analytics.grade_levels(grades).tolist() == [
        "basica3", "parvularia", "media", "basica3", "sin_dato", "basica1"
    ]  # fmt: skip
    ordered = sorted(
        ["9", "1 bachillerato", "10", "2", "Parvularia 4"], key=analytics.grade_sort_key
    )
    assert ordered == ["Parvularia 4", "2", "9", "1 bachillerato", "10"]


def test_a_period_is_whole_local_months_up_to_the_current_one():
    # 05:00 UTC on 1 March is still 28 February in El Salvador (UTC-6).
    period = analytics.period_ending(datetime(2026, 3, 1, 5, 0, tzinfo=UTC), 3)
    assert period.month_starts == (date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1))
    assert period.start == datetime(2025, 12, 1, 6, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    assert analytics.period_ending(datetime(2026, 3, 1, 7, 0, tzinfo=UTC), 99).months == 12
    assert len(analytics.period_ending(datetime(2026, 1, 15, tzinfo=UTC), 12).month_starts) == 12


def test_hour_bands_cover_the_day():
    import pandas as pd

    bands = analytics.hour_band(pd.Series([0, 6, 7, 8, 9, 12, 13, 18, 19, 23])).tolist()
    assert bands == [0, 0, 1, 1, 2, 3, 4, 6, 7, 7]


def test_bars_share_one_scale_and_normalised_bars_fill_the_width():
    chart = charts.horizontal_bars(["A", "B"], [[3, 1], [2, 0]], ["Niñas", "Niños"])
    a, b = chart.rows
    assert a.segments[0].width == pytest.approx(a.segments[1].width * 3, abs=0.2)
    assert sum(s.width for s in b.segments) == pytest.approx(sum(s.width for s in a.segments) / 2)
    assert [s.title for s in a.segments] == ["Niñas: 3", "Niños: 1"]
    assert (a.value, b.value) == ("4", "2")
    shares = charts.horizontal_bars(["A", "B"], [[3, 1], [1, 1]], ["x", "y"], normalise=True)
    widths = [sum(s.width for s in row.segments) for row in shares.rows]
    assert widths[0] == pytest.approx(widths[1], abs=0.2)
    assert max(s.x + s.width for row in chart.rows for s in row.segments) <= chart.width


def test_columns_stack_and_ticks_are_round():
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(130) == [0, 50, 100, 150]
    chart = charts.stacked_columns(
        [("ene", "2026"), ("feb",), ("mar",)], [[2, 1], [1, 0], [0, 0]], ["a", "b"]
    )
    first, second, third = chart.columns
    height = chart.bottom - chart.top  # the axis ends at 3, the tallest column
    assert [s.height for s in first.segments] == pytest.approx(
        [height * 2 / 3, height / 3], abs=0.2
    )
    assert first.segments[0].y + first.segments[0].height == pytest.approx(chart.bottom)
    assert sum(s.height for s in second.segments) == pytest.approx(height / 3, abs=0.2)
    assert not third.segments and third.value == ""
    assert [t.text for t in chart.ticks] == ["0", "1", "2", "3"]


def test_long_labels_wrap_on_two_lines_at_most():
    lines = charts.wrap("Producción o difusión de imágenes sexuales de niñas, niños o adolescentes")
    assert len(lines) == 2 and all(len(line) <= charts.LABEL_CHARS for line in lines)
    assert charts.wrap("Patio") == ("Patio",)


# --- A school with known reports ------------------------------------------------------------


@dataclass
class Scene:
    """A school of department 06 with five active students, one former, and known reports."""

    code: str
    school_id: int
    names: list[str]
    nies: list[str]
    last_month: date
    #: Local datetimes of the six reports of last month, in filing order.
    when: list[datetime]
    four_months_ago: date


def _month_start(months_back: int) -> date:
    today = datetime.now(LOCAL_TZ).date()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


@pytest.fixture
def scene(app, world) -> Scene:
    """File seven counted reports, one unfounded and one too old, with known parties."""
    school = factories.make_school(
        "06", name="Centro Escolar Analítica", levels="basica1,basica2,basica3,media"
    )
    students = {
        "g1": factories.make_student(school, sex="F", grade="7"),
        "g2": factories.make_student(school, sex="F", grade="2"),
        "b1": factories.make_student(school, sex="M", grade="7"),
        "b2": factories.make_student(school, sex="M", grade="1 bachillerato"),
        "b3": factories.make_student(school, sex="M", grade="Parvularia 5"),
    }
    former = factories.make_student(school, sex="F", grade="8")
    teacher = factories.make_user("docente_analitica", R.DOCENTE, school=school)
    principal = factories.make_user("director_analitica", R.DIRECTOR, school=school)
    catalog = current_catalog()

    def student(role, key):
        nie = former.nie if key == "former" else students[key].nie
        return {"role": role, "kind": "estudiante", "nie": nie}

    def file(when, location, types, parties, relationship="estudiante_estudiante"):
        payload = factories.report_payload(
            world, school=school.code, occurred_at=when.isoformat(timespec="minutes"),
            location=location, types=types, parties=parties, relationship=relationship,
            repetition="primera_vez", measures=[],
        )  # fmt: skip
        return file_incident(teacher, payload, catalog)[0]

    last_month = _month_start(1)
    day = datetime.combine(last_month, time())
    when = [
        day + timedelta(days=2, hours=7, minutes=30),
        day + timedelta(days=3, hours=10, minutes=15),
        day + timedelta(days=4, hours=13, minutes=5),
        day + timedelta(days=5, hours=9),
        day + timedelta(days=6, hours=11),
        day + timedelta(days=7, hours=12, minutes=59),
    ]
    file(when[0], "patio", ["ACO_VERBAL"], [student("victima", "g1"), student("agresor", "b1")])
    file(
        when[1], "aula", ["FIS_PELEA", "PSI_INSULTOS"],
        [student("victima", "b1"), student("agresor", "b2")],
    )  # fmt: skip
    file(
        when[2], "patio", ["PSI_INSULTOS"],
        [student("victima", "g2"), student("agresor", "b1"), student("testigo", "g1")],
    )  # fmt: skip
    for moment in when[3:]:
        file(moment, "banos", ["ACO_VERBAL"], [student("victima", "g2"), student("agresor", "b1")])
    four_months_ago = _month_start(4)
    file(
        datetime.combine(four_months_ago, time(16)) + timedelta(days=5),
        "oficinas", ["ROB_HURTO"], [{"role": "victima", "kind": "desconocido"}], "desconocido",
    )  # fmt: skip
    # Not counted: closed as unfounded, and older than twelve months (a former student's).
    unfounded = file(
        day + timedelta(days=8, hours=8), "patio", ["FIS_LEVE"],
        [student("victima", "g1"), student("agresor", "b2")],
    )  # fmt: skip
    close_unfounded(principal, unfounded, "No ocurrió.")
    file(
        datetime.combine(_month_start(13), time(8)) + timedelta(days=3), "patio", ["FIS_LEVE"],
        [student("victima", "former"), student("agresor", "b1")],
    )  # fmt: skip
    former.is_active = False  # she has left the school since
    db.session.commit()
    everyone = [*students.values(), former]
    return Scene(
        code=school.code,
        school_id=school.id,
        names=[n for s in everyone for n in (s.given_names, s.family_names)],
        nies=[s.nie for s in everyone],
        last_month=last_month,
        when=when,
        four_months_ago=four_months_ago,
    )


def _figures(scene: Scene, months: int = 12) -> analytics.SchoolFigures:
    period = analytics.period_ending(datetime.now(UTC), months)
    rows = analytics.load_rows(scene.school_id, period)
    return analytics.figures(rows, period, current_catalog())


def _row(frame, key) -> dict:
    found = frame[frame["key"] == key]
    assert len(found) == 1, f"no single row {key!r} in {frame['key'].tolist()}"
    return {k: int(v) for k, v in found.iloc[0].items() if k != "key"}


def _counts(incidents, students, f, m, **levels) -> dict:
    wanted = {"incidents": incidents, "students": students, "F": f, "M": m}
    wanted.update({level: levels.get(level, 0) for level in analytics.LEVEL_COLUMNS})
    return wanted


def test_totals_count_incidents_and_student_involvements(scene):
    figures = _figures(scene)
    # Seven reports (the unfounded and the old one left out); twelve (report, student) pairs as
    # victim or aggressor (the witness left out), by sex and by level.
    assert dict(figures.total.astype(int)) == _counts(7, 12, 5, 7, basica1=4, basica3=7, media=1)


def test_incidents_by_month_and_category(scene):
    figures = _figures(scene)
    months = figures.months.set_index("key")
    assert months.loc[scene.last_month, "incidents"] == 6
    assert months.loc[scene.four_months_ago, "incidents"] == 1
    assert months["incidents"].sum() == 7 and len(months) == 12
    # One category per report, its most serious type's: the fight (tier II) over the insult (I).
    assert months.loc[scene.last_month, ["acoso_escolar", "fisica", "psicologica"]].tolist() == [
        4, 1, 1
    ]  # fmt: skip
    assert months.loc[scene.four_months_ago, "robo_danos"] == 1
    assert dict(zip(figures.categories["key"], figures.categories["incidents"], strict=True)) == {
        "acoso_escolar": 4, "fisica": 1, "psicologica": 1, "robo_danos": 1
    }  # fmt: skip
    assert _row(figures.categories, "acoso_escolar") == _counts(4, 8, 4, 4, basica1=3, basica3=5)


def test_the_big_five(scene):
    figures = _figures(scene)
    assert _row(figures.types, "ACO_VERBAL") == _counts(4, 8, 4, 4, basica1=3, basica3=5)
    assert _row(figures.types, "PSI_INSULTOS") == _counts(2, 4, 1, 3, basica1=1, basica3=2, media=1)
    assert _row(figures.types, "ROB_HURTO") == _counts(1, 0, 0, 0)
    assert _row(figures.locations, "patio") == _counts(2, 4, 2, 2, basica1=1, basica3=3)
    assert _row(figures.locations, "banos") == _counts(3, 6, 3, 3, basica1=3, basica3=3)
    assert _row(figures.locations, "aula") == _counts(1, 2, 0, 2, basica3=1, media=1)
    assert figures.locations["key"].tolist()[0] == "banos"  # most incidents first
    hours = dict(zip(figures.hours["key"], figures.hours["incidents"], strict=True))
    assert hours == {0: 0, 1: 1, 2: 2, 3: 2, 4: 1, 5: 1, 6: 0, 7: 0}
    assert _row(figures.hours, 3) == _counts(2, 4, 2, 2, basica1=2, basica3=2)
    weekdays = [0] * 7
    for moment in scene.when:
        weekdays[moment.weekday()] += 1
    four_months = datetime.combine(scene.four_months_ago, time()) + timedelta(days=5)
    weekdays[four_months.weekday()] += 1
    assert figures.weekdays["incidents"].tolist() == weekdays
    # By the grade of each student involved: 7th (g1 once, b1 six times), 2nd, 1st bachillerato.
    assert _row(figures.grades, "7") == _counts(6, 7, 1, 6, basica3=7)
    assert _row(figures.grades, "2") == _counts(4, 4, 4, 0, basica1=4)
    assert _row(figures.grades, "1 bachillerato") == _counts(1, 1, 0, 1, media=1)
    assert _row(figures.grades, "Parvularia 5") == _counts(0, 0, 0, 0)  # on the roll, no reports
    assert figures.grades["key"].tolist() == ["Parvularia 5", "2", "7", "1 bachillerato"]


def test_every_breakdown_adds_up_to_its_total(scene):
    figures = _figures(scene)
    partitions = [figures.months, figures.categories, figures.locations, figures.hours]
    partitions += [figures.weekdays, figures.grades, figures.types]
    for frame in partitions:
        sexes = frame[list(analytics.SEX_COLUMNS)].sum(axis=1)
        levels = frame[list(analytics.LEVEL_COLUMNS)].sum(axis=1)
        assert (sexes == frame["students"]).all() and (levels == frame["students"]).all()
    # Cuts where each report (or involvement) falls in one row add up to the totals.
    for frame in [figures.months, figures.categories, figures.locations, figures.hours]:
        assert frame["incidents"].sum() == figures.total["incidents"]
        assert frame[list(analytics.COUNT_COLUMNS[1:])].sum().tolist() == [
            figures.total[c] for c in analytics.COUNT_COLUMNS[1:]
        ]
    assert figures.grades["students"].sum() == figures.total["students"]
    assert figures.types["incidents"].sum() == 8  # the report with two types counts in each


def test_students_with_zero_to_one_two_to_five_and_six_or_more_incidents(scene):
    figures = _figures(scene)
    frequency = figures.frequency.set_index("key")
    # Active roll: g1 (1 report), g2 (4), b1 (6), b2 (1), b3 (0); the former student is not on it.
    assert frequency["total"].tolist() == [3, 1, 1]
    assert frequency["F"].tolist() == [1, 1, 0]
    assert frequency["M"].tolist() == [2, 0, 1]
    assert frequency["basica3"].tolist() == [1, 0, 1]
    assert frequency["parvularia"].tolist() == [1, 0, 0]
    shares = analytics.shares(figures.frequency, ["total", "F", "M"])
    assert shares["total"].tolist() == pytest.approx([60.0, 20.0, 20.0])
    assert shares["F"].tolist() == pytest.approx([50.0, 50.0, 0.0])
    assert shares["M"].tolist() == pytest.approx([200 / 3, 0.0, 100 / 3])
    assert frequency[list(analytics.SEX_COLUMNS)].sum(axis=1).tolist() == [3, 1, 1]
    assert frequency[list(analytics.LEVEL_COLUMNS)].sum(axis=1).tolist() == [3, 1, 1]


def test_a_shorter_period_leaves_older_reports_out(scene):
    figures = _figures(scene, months=3)
    assert figures.total["incidents"] == 6
    assert len(figures.months) == 3
    assert figures.frequency.set_index("key")["total"].tolist() == [3, 1, 1]


# --- The page ---------------------------------------------------------------------------------


def _page(client, url: str, status: int = 200) -> str:
    g.pop("_flask_babel", None)  # the test's app context outlives requests; the locale must not
    response = client.get(url)
    assert response.status_code == status
    return response.get_data(as_text=True)


def _cells(fragment: str, tag: str) -> list[str]:
    found = re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", fragment, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in found]


def _table(page: str, slug: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """Return a figure table's headers, its rows by label, and its total row."""
    table = page.split(f'id="tabla-{slug}"', 1)[1].split("</table>", 1)[0]
    head = table.split("<thead>", 1)[1].split("</thead>", 1)[0]
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        label, *cells = _cells(row, "th") + _cells(row, "td")
        rows[label] = cells
    foot = table.split("<tfoot>", 1)[1] if "<tfoot>" in table else ""
    return _cells(head, "th"), rows, _cells(foot, "td")


def test_the_regional_office_sees_every_figure_without_names(client, login_as, scene):
    login_as("departamental_06")
    page = _page(client, f"/reportes/escuelas/{scene.code}/analisis")
    headers, rows, total = _table(page, "lugares")
    assert headers == ["Lugar", "Incidentes", "Estudiantes involucrados", "Niñas", "Niños"]
    assert rows["Baños"] == ["3", "6", "3", "3"]
    assert rows["Patio"] == ["2", "4", "2", "2"]
    assert total == ["7", "12", "5", "7"]
    _headers, rows, total = _table(page, "frecuencia")
    assert rows["0 o 1 incidentes"] == ["3", "60.0 %", "1", "50.0 %", "2", "66.7 %"]
    assert rows["6 incidentes o más"] == ["1", "20.0 %", "0", "0.0 %", "1", "33.3 %"]
    assert total[0] == "5"
    _headers, rows, _total = _table(page, "meses")
    assert len(rows) == 12
    for slug in ("meses", "categorias", "tipos", "lugares", "horas", "dias", "grados"):
        assert f'id="tabla-{slug}"' in page and f'id="grafico-{slug}-1"' in page
    assert page.count('class="analytics-chart ') >= 9  # two month charts, seven bars
    assert "menores que 5 no deben compartirse fuera del Ministerio" in page
    assert f'href="/riesgo/escuelas/{scene.code}"' in page
    assert "/reportes/departamentos/06/escuelas" in page
    for private in [*scene.names, *scene.nies]:
        assert private not in page
    assert "style=" not in page and "<script" not in page  # the CSP allows neither


def test_the_breakdown_by_level_shows_the_levels_in_tables(client, login_as, scene):
    login_as("departamental_06")
    page = _page(client, f"/reportes/escuelas/{scene.code}/analisis?por=nivel&meses=6")
    headers, rows, total = _table(page, "lugares")
    # The levels the school offers, and parvularia: a student on the roll is in it.
    assert headers[3:] == [
        "Educación parvularia", "Básica, I ciclo", "Básica, II ciclo", "Básica, III ciclo",
        "Educación media",
    ]  # fmt: skip
    assert rows["Baños"] == ["3", "6", "0", "3", "0", "3", "0"]
    assert total == ["7", "12", "0", "4", "0", "7", "1"]
    assert 'aria-current="page">6 meses' in page


def test_the_department_supervisor_and_national_analysts_see_it_too(client, login_as, scene):
    for username in ("supervisor_06", "nacional"):
        login_as(username)
        assert "Centro Escolar Analítica" in _page(
            client, f"/reportes/escuelas/{scene.code}/analisis"
        )
        client.post("/salir")


@pytest.mark.parametrize(
    ("username", "status"),
    [("departamental_05", 404), ("docente_a", 403), ("director_a", 403), ("gestor_06", 403),
     ("admin", 403)],
)  # fmt: skip
def test_others_are_refused(client, login_as, scene, username, status):
    login_as(username)
    response = client.get(f"/reportes/escuelas/{scene.code}/analisis")
    assert response.status_code == status
    assert "Analítica" not in response.get_data(as_text=True)
    export = client.get(f"/reportes/escuelas/{scene.code}/analisis/exportar?tabla=lugares")
    assert export.status_code == status


def test_another_department_is_an_audited_not_found(client, login_as, world):
    login_as("departamental_06")
    _page(client, f"/reportes/escuelas/{world.school_c}/analisis", 404)
    _page(client, "/reportes/escuelas/00000/analisis", 404)
    refused = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "access.refused")
    ).all()
    assert any(world.school_c in event.object_id for event in refused)


def test_the_page_renders_in_english(client, login_as, scene):
    login_as("departamental_06")
    client.post("/idioma", data={"lang": "en", "next": "/inicio"})
    page = _page(client, f"/reportes/escuelas/{scene.code}/analisis")
    assert '<html lang="en">' in page
    _headers, rows, _total = _table(page, "lugares")
    assert rows["Toilets"][:2] == ["3", "6"]  # catalog labels follow the language
    assert "Monday" in page


def test_an_empty_school_says_so(client, login_as, world):
    school = factories.make_school("06", name="Centro Escolar Vacío")
    db.session.commit()
    login_as("departamental_06")
    page = _page(client, f"/reportes/escuelas/{school.code}/analisis?meses=3&por=nivel")
    assert "Sin datos en este período." in page
    assert 'id="tabla-lugares"' not in page


def test_a_table_downloads_as_csv_and_xlsx_in_spanish_and_audited(client, login_as, scene):
    login_as("departamental_06")
    client.post("/idioma", data={"lang": "en", "next": "/inicio"})
    g.pop("_flask_babel", None)
    url = f"/reportes/escuelas/{scene.code}/analisis/exportar?tabla=lugares&formato=csv"
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    banos = next(row for row in rows if row["Lugar"] == "Baños")
    assert (banos["Incidentes"], banos["Niñas"], banos["Niños"]) == ("3", "3", "3")
    assert banos["Básica, I ciclo"] == "3" and banos["Básica, III ciclo"] == "3"
    for private in scene.names:
        assert private not in response.data.decode("utf-8-sig")
    g.pop("_flask_babel", None)
    xlsx = client.get(url.replace("formato=csv", "formato=xlsx") + "&meses=3")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    g.pop("_flask_babel", None)
    assert client.get(url.replace("lugares", "nombres")).status_code == 404
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "reports.school_analytics.export")
    ).all()
    assert len(events) == 2
    assert {e.detail["format"] for e in events} == {"csv", "xlsx"}
    assert all(e.object_id == str(scene.school_id) for e in events)


def test_the_score_history_is_drawn_for_the_period(client, login_as, scene):
    now = datetime.now(UTC)
    changes = [(400, 12.0, "bajo"), (300, 35.0, "medio"), (20, 61.0, "alto")]
    for days_ago, score, level in changes:
        db.session.add(
            RiskScoreChange(
                entity_type="school", entity_id=scene.school_id, score=score, level=level,
                rules_version="2026.1", computed_at=now - timedelta(days=days_ago),
            )
        )  # fmt: skip
    db.session.commit()
    login_as("departamental_06")
    page = _page(client, f"/reportes/escuelas/{scene.code}/analisis?meses=3")
    assert '<polyline class="chart-line"' in page
    history = page.split('id="historial"', 1)[1].split("</table>", 1)[0]
    # The change in force when the period starts (35, medio) and the one within it (61, alto);
    # the oldest one is left out.
    assert history.count('class="history-row"') == 2
    assert ">61<" in history and ">35<" in history and ">12<" not in history
