"""The national view and the rule-quality report: hand-counted figures, downloads, who may see."""

from __future__ import annotations

import csv
import io
import math
from datetime import timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from salve.alerts import operations as alerts
from salve.alerts.models import Alert
from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.geography.models import Department
from salve.incidents import operations as incidents
from salve.reports import national
from salve.reports.queries import school_risk_frame
from salve.schools.models import School, Student
from salve.scoring.models import CurrentRiskScore
from tests import factories
from tests.factories import local_time, report_payload

SILENCE = [{"rule": "silencio_centro", "points": 30.0, "figures": {"days": 60}}]


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _school(code: str) -> School:
    return db.session.scalar(sa.select(School).where(School.code == code))


def _department_id(code: str) -> int:
    return db.session.scalar(sa.select(Department.id).where(Department.code == code))


def _file(world, *, school="a", days_ago: float = 0.05, types=("ACO_VERBAL",), parties=None):
    """File a report by the school's teacher ``days_ago`` days ago; return the incident."""
    code, nies, reporter = (
        (world.school_a, world.students_a, "docente_a") if school == "a" else
        (world.school_c, world.students_c, "docente_c")
    )  # fmt: skip
    payload = report_payload(
        world,
        school=code,
        occurred_at=local_time(timedelta(days=-days_ago)),
        types=list(types),
        parties=parties
        or [
            {"role": "victima", "kind": "estudiante", "nie": nies[0]},
            {"role": "agresor", "kind": "estudiante", "nie": nies[1]},
        ],
    )
    incident, _created = incidents.file_incident(_user(reporter), payload, current_catalog())
    return incident


def _score(school: School, level: str, contributions=()) -> None:
    db.session.merge(
        CurrentRiskScore(
            entity_type="school", entity_id=school.id, score=60.0, level=level,
            rules_version="test", computed_at=utcnow(), contributions=list(contributions),
        )
    )  # fmt: skip


def _row(frame, code: str) -> dict:
    return frame[frame["code"] == code].iloc[0].to_dict()


# --- The departments side by side -----------------------------------------------------------


@pytest.fixture
def national_world(world):
    """Reports, scores and alerts in San Salvador (06) and La Libertad (05), committed."""
    school_a, school_c = _school(world.school_a), _school(world.school_c)
    _file(world, days_ago=0.05)  # counts in 30 and 90 days
    _file(world, days_ago=40)  # 90 days only
    _file(world, days_ago=100)  # neither
    unfounded = _file(world, days_ago=2)
    incidents.close_unfounded(_user("director_a"), unfounded, "Se comprobó que no ocurrió.")
    _file(world, days_ago=0.1, types=("SEX_TOCAMIENTOS",))  # an immediate type: three alerts
    _file(world, school="c", days_ago=5)
    # An inactive school of 06 counts nowhere.
    factories.make_school("06", is_active=False, enrolment_female=150, enrolment_male=150)
    _score(school_a, "alto", SILENCE)
    _score(school_c, "critico")
    raised = db.session.scalars(
        sa.select(Alert).where(Alert.school_id == school_a.id).order_by(Alert.id)
    ).all()
    assert len(raised) == 3
    raised[0].due_at = utcnow() - timedelta(hours=1)  # overdue, never acknowledged
    alerts.transition(_user("supervisor_06"), raised[1], "reconocida")  # open, not overdue
    db.session.commit()
    return world


def test_department_figures_match_hand_counts(national_world):
    frame = national.department_frame()
    assert list(frame["code"]) == [f"{n:02d}" for n in range(1, 15)]
    san_salvador = _row(frame, "06")
    assert {k: san_salvador[k] for k in national.COUNTS} == {
        "schools": 2, "enrolment": 400, "incidents_30": 2, "incidents_90": 3,
        "level_bajo": 1, "level_medio": 0, "level_alto": 1, "level_critico": 0,
        "open_alerts": 3, "overdue_alerts": 1, "silent": 1,
    }  # fmt: skip
    assert san_salvador["rate_90"] == 0.75  # 3 incidents per 400 students
    la_libertad = _row(frame, "05")
    assert {k: la_libertad[k] for k in national.COUNTS} == {
        "schools": 1, "enrolment": 200, "incidents_30": 1, "incidents_90": 1,
        "level_bajo": 0, "level_medio": 0, "level_alto": 0, "level_critico": 1,
        "open_alerts": 0, "overdue_alerts": 0, "silent": 0,
    }  # fmt: skip
    assert la_libertad["rate_90"] == 0.5
    assert _row(frame, "01")["schools"] == 0 and _row(frame, "01")["rate_90"] == 0
    totals = national.national_totals(frame)
    assert (totals["schools"], totals["incidents_90"], totals["rate_90"]) == (3, 4, 0.67)


@pytest.mark.parametrize("code", ["06", "05"])
def test_department_figures_are_the_sums_of_the_department_list(national_world, code):
    schools = school_risk_frame(_department_id(code))
    row = _row(national.department_frame(), code)
    assert row["schools"] == len(schools)
    assert row["enrolment"] == schools["enrolment"].sum()
    for column in ("incidents_30", "incidents_90", "open_alerts", "overdue_alerts"):
        assert row[column] == schools[column].sum(), column
    assert row["silent"] == schools["silent"].sum()
    for level in national.LEVELS:
        assert row[f"level_{level}"] == (schools["level"] == level).sum(), level


def test_the_page_ranks_the_departments_and_links_their_lists(national_world, login_as):
    client = login_as("nacional")
    page = client.get("/reportes/nacional?orden=tasa&dir=desc")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index("San Salvador</a>") < html.index("La Libertad</a>")
    assert 'href="/reportes/departamentos/06/escuelas"' in html
    assert html.count('class="rank-bar"') == 14
    assert "no un mapa" in html
    assert 'aria-sort="descending"' in html
    by_name = client.get("/reportes/nacional?orden=departamento").get_data(as_text=True)
    assert by_name.index("Ahuachapán</a>") < by_name.index("Usulután</a>")
    # An unknown sort key falls back to the code order; it never reaches SQL.
    assert client.get("/reportes/nacional?orden=name;drop").status_code == 200


def test_the_department_table_downloads_as_csv_and_xlsx_audited(national_world, login_as):
    client = login_as("nacional")
    response = client.get("/reportes/nacional?formato=csv&orden=tasa")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.data.startswith(b"\xef\xbb\xbf")  # a BOM, so spreadsheets read accents
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(rows) == 14
    assert rows[0]["Departamento"] == "San Salvador"
    assert rows[0]["Tasa por 100 estudiantes (90 días)"] == "0.75"
    assert rows[0]["Alertas vencidas sin reconocer"] == "1"
    workbook = load_workbook(io.BytesIO(client.get("/reportes/nacional?formato=xlsx").data))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Código", "Departamento", "Escuelas activas"]
    assert sheet.max_row == 15
    assert sheet.cell(row=7, column=2).value == "San Salvador"  # code order: 06 is the 6th
    exports = db.session.scalars(
        sa.select(AuditEvent.detail).where(AuditEvent.action == "national_departments.export")
    ).all()
    assert [detail["format"] for detail in exports] == ["csv", "xlsx"]


# --- How well the rules work -------------------------------------------------------------------


def _student(nie: str) -> int:
    return db.session.scalar(sa.select(Student.id).where(Student.nie == nie))


def _alert(rule: str, entity_type: str, entity_id: int) -> Alert:
    return db.session.scalar(
        sa.select(Alert).where(
            Alert.rule_id == rule, Alert.entity_type == entity_type, Alert.entity_id == entity_id
        )
    )


@pytest.fixture
def rule_world(world):
    """Sexual-violence reports in 06 and 05, their alerts handled at known times, committed.

    Everything happens from ``start`` (ten days ago); one student alert opened 200 days ago.
    """
    factories.make_user("supervisor_05", R.SUPERVISOR, department="05")
    sv = ("SEX_TOCAMIENTOS",)
    a, c = world.students_a, world.students_c
    _file(world, types=sv)  # a[0] victim, a[1] aggressor
    pair = [
        {"role": "victima", "kind": "estudiante", "nie": a[2]},
        {"role": "agresor", "kind": "estudiante", "nie": a[3]},
    ]
    _file(world, types=sv, parties=pair)
    _file(world, types=sv, parties=[{"role": "victima", "kind": "estudiante", "nie": a[4]}])
    _file(world, school="c", types=sv)  # c[0] victim, c[1] aggressor
    start = utcnow() - timedelta(days=10)
    every = db.session.scalars(sa.select(Alert)).all()
    assert len(every) == 9  # 5 + 2 students, 2 schools
    for alert in every:
        alert.opened_at, alert.due_at = start, start + timedelta(hours=24)
    old = _alert("hecho_grave_estudiante", "student", _student(a[4]))
    old.opened_at = utcnow() - timedelta(days=200)
    old.due_at = old.opened_at + timedelta(hours=24)

    def at(hours: float):
        return start + timedelta(hours=hours)

    s06, s05 = _user("supervisor_06"), _user("supervisor_05")
    a1, a2, a3, _a4 = (_alert("hecho_grave_estudiante", "student", _student(nie)) for nie in a[:4])
    alerts.transition(s06, a1, "reconocida", now=at(2))
    alerts.transition(s06, a1, "descartada", reason="falso_positivo", now=at(3))
    alerts.transition(s06, a2, "reconocida", now=at(4))
    alerts.transition(s06, a2, "descartada", reason="duplicada", now=at(5))
    alerts.transition(s06, a3, "reconocida", now=at(6))
    alerts.transition(s06, a3, "en_seguimiento", review_at=at(24 * 20), now=at(7))
    alerts.transition(s06, a3, "resuelta", note="Atendida por la escuela.", now=at(30))
    b1 = _alert("hecho_grave_estudiante", "student", _student(c[0]))
    b2 = _alert("hecho_grave_estudiante", "student", _student(c[1]))
    alerts.transition(s05, b1, "reconocida", now=at(10))
    b2.due_at = utcnow() + timedelta(days=1)  # open, still within its deadline
    school_c = _alert("hecho_grave_centro", "school", _school(world.school_c).id)
    alerts.transition(s05, school_c, "reconocida", now=at(1))
    alerts.transition(s05, school_c, "descartada", reason="falso_positivo", now=at(1.5))
    db.session.commit()
    return world


def _quality(days: int = 90):
    frame = national.rule_quality_frame(["hecho_grave_estudiante", "hecho_grave_centro"], days)
    return {(row["rule_id"], row["department_code"]): row for row in frame.to_dict("records")}


def test_rule_quality_counts_shares_and_medians(rule_world):
    rows = _quality()
    student = rows[("hecho_grave_estudiante", "")]  # the national total
    assert {k: student[k] for k in ("raised", "closed", "false_positive", "dismissed_other",
                                    "resolved", "open_now", "overdue_now")} == {
        "raised": 6, "closed": 3, "false_positive": 1, "dismissed_other": 1, "resolved": 1,
        "open_now": 4, "overdue_now": 2,
    }  # fmt: skip
    assert student["false_positive_share"] == pytest.approx(1 / 3)
    assert student["dismissed_other_share"] == pytest.approx(1 / 3)
    assert student["median_ack_hours"] == 5.0  # 2, 4, 6 and 10 hours
    assert student["median_resolve_hours"] == 30.0
    san_salvador = rows[("hecho_grave_estudiante", "06")]
    assert (san_salvador["raised"], san_salvador["median_ack_hours"]) == (4, 4.0)
    assert (san_salvador["open_now"], san_salvador["overdue_now"]) == (2, 2)
    la_libertad = rows[("hecho_grave_estudiante", "05")]
    assert (la_libertad["raised"], la_libertad["closed"], la_libertad["open_now"]) == (2, 0, 2)
    assert math.isnan(la_libertad["false_positive_share"])  # nothing closed: no share
    assert math.isnan(la_libertad["median_resolve_hours"])
    school = rows[("hecho_grave_centro", "")]
    assert (school["raised"], school["false_positive_share"], school["overdue_now"]) == (2, 1, 1)
    assert school["median_ack_hours"] == 1.0
    overall = rows[("", "")]
    assert (overall["raised"], overall["closed"], overall["false_positive_share"]) == (8, 4, 0.5)
    assert overall["median_ack_hours"] == 4.0  # 1, 2, 4, 6 and 10 hours


def test_rule_quality_follows_the_period(rule_world):
    assert _quality(365)[("hecho_grave_estudiante", "06")]["raised"] == 5
    assert _quality(30)[("hecho_grave_estudiante", "06")]["raised"] == 4


def test_every_rule_that_alerts_is_listed_even_without_alerts(rule_world, login_as):
    html = login_as("nacional").get("/reportes/reglas").get_data(as_text=True)
    assert "Víctima en varios incidentes" in html  # victima_reiterada: no alert yet
    assert "Paso del protocolo vencido" in html
    assert "flask --app app salve rules backtest" in html
    assert "ajuste las reglas con evidencia" in html


def test_the_rule_page_shows_the_figures(rule_world, login_as):
    client = login_as("nacional")
    html = client.get("/reportes/reglas").get_data(as_text=True)
    assert "Hecho grave (alerta inmediata)" in html
    assert "33 %" in html and "5 h" in html and "30 h" in html
    assert 'aria-current="page">90 días' in html
    year = client.get("/reportes/reglas?periodo=365").get_data(as_text=True)
    assert 'aria-current="page">365 días' in year
    assert client.get("/reportes/reglas?periodo=7").status_code == 200  # falls back to 90


def test_the_rule_table_downloads_as_csv_and_xlsx_audited(rule_world, login_as):
    client = login_as("nacional")
    response = client.get("/reportes/reglas?formato=csv&periodo=365")
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    total = next(
        r for r in rows
        if r["Código de la regla"] == "hecho_grave_estudiante"
        and r["Departamento"] == "Total nacional"
    )  # fmt: skip
    assert total["Alertas generadas en el período"] == "7"
    assert total["Falsos positivos (porcentaje de las cerradas)"] == "33.3"
    assert total["Mediana para reconocer (horas)"] == "5.0"
    assert total["Período (días)"] == "365"
    assert rows[-1]["Regla"] == "Todas las reglas"
    workbook = load_workbook(io.BytesIO(client.get("/reportes/reglas?formato=xlsx").data))
    header = [cell.value for cell in workbook.active[1]]
    assert header[:4] == ["Código de la regla", "Regla", "Código de departamento", "Departamento"]
    exports = db.session.scalars(
        sa.select(AuditEvent.detail).where(AuditEvent.action == "rule_quality.export")
    ).all()
    assert [(d["format"], d["days"]) for d in exports] == [("csv", 365), ("xlsx", 90)]


# --- Who may see them ----------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["departamental_06", "gestor_06", "docente_a", "admin"])
@pytest.mark.parametrize(
    "url", ["/reportes/nacional", "/reportes/nacional?formato=csv", "/reportes/reglas",
            "/reportes/reglas?formato=xlsx"],
)  # fmt: skip
def test_only_national_analysts_see_them(world, login_as, username, url):
    response = login_as(username).get(url)
    assert response.status_code == 403
    assert b"San Salvador" not in response.data
    assert not response.headers.get("Content-Disposition")
