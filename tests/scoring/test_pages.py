"""The risk pages: who sees a student's or a school's score, and what the score says."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import g

from salve.audit.models import AuditEvent
from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.schools.models import School, Student
from salve.scoring import presenting
from salve.scoring.models import RiskScoreChange
from salve.scoring.operations import rescore
from salve.scoring.queries import current_risk, risk_history


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _student(nie: str) -> Student:
    return db.session.scalar(sa.select(Student).where(Student.nie == nie))


def _plant_bullying(world, times: int = 4) -> list:
    """File ``times`` reports of the same classmate hurting students_a[0] in three weeks."""
    victim, aggressor = world.students_a[0], world.students_a[1]
    filed = []
    for n in range(times):
        incident, _created = incidents.file_incident(
            _user("docente_a"),
            {
                "school": world.school_a,
                "occurred_at": (utcnow() - timedelta(days=20 - 6 * n)).isoformat(),
                "location": "patio",
                "types": ["ACO_FISICO"],
                "relationship": "estudiante_estudiante",
                "parties": [
                    {"role": "victima", "kind": "estudiante", "nie": victim},
                    {"role": "agresor", "kind": "estudiante", "nie": aggressor},
                ],
                "repetition": "2_3" if n else "primera_vez",
                "narrative": "Le empujó y le quitó sus útiles en el recreo.",
                "idempotency_key": f"acoso-pagina-{n:04d}",
            },
            current_catalog(),
        )
        filed.append(incident)
    rescore(current_catalog())
    return filed


def _page(client, url: str, status: int = 200) -> str:
    g.pop("_flask_babel", None)  # the test's app context outlives requests; the locale must not
    response = client.get(url)
    assert response.status_code == status
    return response.get_data(as_text=True)


def _level_shown(page: str) -> str:
    summary = page.split('class="risk-summary"', 1)[1].split("</section>", 1)[0]
    return re.search(r'class="badge risk-(\w+)"', summary).group(1)


BULLYING_ES = (
    "La misma persona estudiante le agredió 4 veces en los últimos 30 días (patrón de acoso)."
)
BULLYING_EN = "The same student attacked them 4 times in the last 30 days (bullying pattern)."


def test_the_principal_sees_a_bullying_pattern_with_the_name(client, login_as, world):
    filed = _plant_bullying(world)
    student = _student(world.students_a[0])
    login_as("director_a")
    page = _page(client, f"/riesgo/estudiantes/{student.nie}")
    assert _level_shown(page) in ("alto", "critico")
    assert BULLYING_ES in page
    assert "Genera una alerta" in page
    assert student.given_names in page and student.family_names in page
    assert "nunca un veredicto" in page
    assert "Reglas versión" in page or "reglas versión" in page
    for incident in filed:
        assert f'href="/incidentes/{incident.id}"' in page
    assert "Participó como: Víctima" in page
    changes = risk_history("student", student.id)
    assert changes and page.count('class="history-row"') == len(changes)
    assert student.given_names not in page.split("<title>", 1)[1].split("</title>", 1)[0]

    events = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "student_risk.view", AuditEvent.object_id == str(student.id)
        )
    ).all()
    assert len(events) == 1
    assert events[0].detail["channel"] == "web"
    assert student.given_names not in str(events[0].detail)


def test_a_case_handler_sees_the_nie_but_not_the_name(client, login_as, world):
    filed = _plant_bullying(world)
    student = _student(world.students_a[0])
    login_as("gestor_06")
    page = _page(client, f"/riesgo/estudiantes/{student.nie}")
    assert _level_shown(page) in ("alto", "critico")
    assert BULLYING_ES in page
    assert student.nie in page
    assert f"Grado {student.grade}, sección {student.section}" in page
    assert student.given_names not in page and student.family_names not in page
    assert f'href="/incidentes/{filed[0].id}"' in page  # their department's reports, in summary
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "student_risk.view", AuditEvent.object_id == str(student.id))
    )


def test_teachers_administrators_and_analysts_never_see_a_students_risk(client, login_as, world):
    for username in ("docente_a", "admin", "departamental_06", "nacional"):
        login_as(username)
        _page(client, f"/riesgo/estudiantes/{world.students_a[0]}", 403)
        client.post("/salir")
    for username in ("docente_a", "admin"):
        login_as(username)
        _page(client, f"/riesgo/escuelas/{world.school_a}", 403)
        client.post("/salir")


def test_another_departments_principal_gets_404_and_the_attempt_is_audited(client, login_as, world):
    _plant_bullying(world)
    student = _student(world.students_a[0])
    login_as("director_c")
    url = f"/riesgo/estudiantes/{student.nie}"
    page = _page(client, url, 404)
    assert BULLYING_ES not in page and student.given_names not in page
    refused = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "access.refused",
            AuditEvent.object_id == url,
            AuditEvent.outcome == "refused",
        )
    )
    assert refused is not None
    _page(client, f"/riesgo/escuelas/{world.school_a}", 404)
    _page(client, "/riesgo/estudiantes/0000000", 404)  # unknown and out of scope look alike


def test_a_student_never_scored_is_bajo_with_zero(client, login_as, world):
    login_as("director_a")
    page = _page(client, f"/riesgo/estudiantes/{world.students_a[4]}")
    assert _level_shown(page) == "bajo"
    assert '<span class="risk-score-value">0</span>' in page
    assert "no tiene puntaje" in page
    assert "Sin historial" in page
    assert "No participa en ningún reporte" in page


def test_the_school_page_explains_its_contributions_and_history(client, login_as, world):
    filed = _plant_bullying(world)
    school = db.session.scalar(sa.select(School).where(School.code == world.school_a))
    incidents.close_unfounded(_user("director_a"), filed[0], "Se verificó que no ocurrió.")
    rescore(current_catalog())
    risk = current_risk("school", school.id, "es")
    assert risk.contributions, "the planted reports should score the school"

    login_as("departamental_06")
    page = _page(client, f"/riesgo/escuelas/{world.school_a}")
    assert _level_shown(page) == risk.level
    for contribution in risk.contributions:
        assert contribution.explanation in page
    changes = risk_history("school", school.id)
    assert len(changes) >= 2 and page.count('class="history-row"') == len(changes)
    assert '<polyline class="chart-line"' in page
    assert "3 reportes." in page  # the unfounded one does not count
    assert f"/incidentes/{filed[1].id}" not in page  # no access to reports: dates and types only
    assert page.count("Acoso escolar físico") == 3
    assert _student(world.students_a[0]).nie not in page


def test_english_shows_english_explanations(client, login_as, world):
    _plant_bullying(world)
    login_as("director_a")
    client.post("/idioma", data={"lang": "en", "next": "/inicio"})
    page = _page(client, f"/riesgo/estudiantes/{world.students_a[0]}")
    assert '<html lang="en">' in page
    assert BULLYING_EN in page and BULLYING_ES not in page


def test_pages_link_to_the_risk_pages_for_those_who_may_see_them(client, login_as, world):
    filed = _plant_bullying(world)
    login_as("director_a")
    school_page = _page(client, f"/escuelas/{world.school_a}")
    assert f'href="/riesgo/escuelas/{world.school_a}"' in school_page
    incident_page = _page(client, f"/incidentes/{filed[0].id}")
    for nie in world.students_a[:2]:
        assert f'href="/riesgo/estudiantes/{nie}"' in incident_page
    client.post("/salir")

    login_as("docente_a")
    assert "/riesgo/" not in _page(client, f"/escuelas/{world.school_a}")
    assert "/riesgo/" not in _page(client, f"/incidentes/{filed[0].id}")


def test_the_history_chart_holds_each_score_until_the_next_change(app):
    start = utcnow() - timedelta(days=60)
    history = [
        RiskScoreChange(score=score, level=level, computed_at=start + timedelta(days=days))
        for score, level, days in ((20.0, "bajo", 0), (80.0, "critico", 30), (40.0, "medio", 45))
    ]
    chart = presenting.history_chart(history, {"medio": 25, "alto": 50, "critico": 75}, utcnow())
    steps = [tuple(map(float, pair.split(","))) for pair in chart.line.split()]
    y = {score: presenting._y(score) for score in (20, 40, 80)}
    middle = chart.left + (chart.right - chart.left) / 2
    assert steps == [
        (chart.left, y[20]),
        (middle, y[20]),  # 20 holds for 30 of the 60 days
        (middle, y[80]),
        (pytest.approx(chart.left + (chart.right - chart.left) * 0.75, abs=0.1), y[80]),
        (pytest.approx(chart.left + (chart.right - chart.left) * 0.75, abs=0.1), y[40]),
        (chart.right, y[40]),  # and the last score holds until now
    ]
    assert [guide.level for guide in chart.guides] == ["medio", "alto", "critico"]
    assert [band.level for band in chart.bands] == ["bajo", "medio", "alto", "critico"]
    assert chart.guides[1].y == pytest.approx((chart.top + chart.bottom) / 2, abs=0.1)
    assert presenting.history_chart([], {}, utcnow()) is None
