"""Alerts through the API: each case handler's own, explained, moved with who, when and why.

Alerts are raised here as in production: a report of sexual violence by docente_a raises the
immediate alerts of its victim, its aggressor and school_a, all assigned to gestor_06 (06's only
case handler). Every answer is also checked against the OpenAPI schema of its route.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from salve.alerts import operations as alerts
from salve.alerts.models import Alert
from salve.auth import roles as R
from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.i18n import LOCAL_TZ
from salve.incidents.operations import file_incident
from salve.schools.models import Student
from salve.scoring.operations import rescore
from tests.api.conftest import audit_actions, report
from tests.api.test_risk import MISMO_AGRESOR_ES
from tests.factories import make_user
from tests.scoring.test_persistence import _plant_bullying


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _raise(world, reporter: str = "docente_a") -> dict[str, Alert]:
    """Report sexual violence at the reporter's school; return its alerts by who they are about."""
    school, students = (
        (world.school_c, world.students_c)
        if reporter == "docente_c"
        else (world.school_a, world.students_a)
    )
    payload = report(
        world,
        school=school,
        types=["SEX_TOCAMIENTOS"],
        parties=[
            {"role": "victima", "kind": "estudiante", "nie": students[0]},
            {"role": "agresor", "kind": "estudiante", "nie": students[1]},
        ],
    )
    incident, _created = file_incident(_user(reporter), payload, current_catalog())
    ids = dict(
        db.session.execute(
            sa.select(Student.nie, Student.id).where(Student.nie.in_(students[:2]))
        ).all()
    )
    raised = {
        "victim": ("student", ids[students[0]]),
        "aggressor": ("student", ids[students[1]]),
        "school": ("school", incident.school_id),
    }
    found = {
        key: db.session.scalar(
            sa.select(Alert).where(Alert.entity_type == kind, Alert.entity_id == entity_id)
        )
        for key, (kind, entity_id) in raised.items()
    }
    db.session.commit()
    return found


@pytest.fixture
def raised(world) -> dict[str, Alert]:
    """The three alerts of a sexual-violence report at school_a, assigned to gestor_06."""
    return _raise(world)


@pytest.fixture
def gestor_05(app):
    """A case handler of La Libertad (05), a department the seeded world leaves without one."""
    user = make_user("gestor_05", R.GESTOR, department="05")
    db.session.commit()
    return user


def _escalate_nationally(alert: Alert) -> None:
    alerts.escalate_overdue(now=alert.opened_at + timedelta(days=3))
    db.session.commit()


def _move(api, alert: Alert, **body):
    return api.post(f"/api/v1/alerts/{alert.id}/transitions", json=body)


def _errors(response) -> list[tuple[str | None, str]]:
    return [(e["field"], e["message"]) for e in response.json["errors"]]


# --- The list ------------------------------------------------------------------------------------


def test_the_assigned_gestor_lists_their_alerts_another_department_does_not(
    api, world, raised, gestor_05
):
    theirs = _raise(world, "docente_c")["victim"]  # 05: assigned to gestor_05
    assert theirs.assignee_id == gestor_05.id
    response = api.as_user("gestor_06").get("/api/v1/alerts")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["total"] == 3 and body["page"] == 1 and body["per_page"] == 50
    item = next(i for i in body["items"] if i["id"] == raised["victim"].id)
    victim = db.session.scalar(sa.select(Student).where(Student.nie == world.students_a[0]))
    assert item == {
        "id": raised["victim"].id,
        "access": "full",
        # The assigned handler sees who the child is, as on the alert's page (audited).
        "student": {
            "nie": victim.nie,
            "given_names": victim.given_names,
            "family_names": victim.family_names,
            "grade": victim.grade,
            "section": victim.section,
        },
        "rule": "hecho_grave_estudiante",
        "entity_type": "student",
        "entity_ref": world.students_a[0],
        "school": world.school_a,
        "level": "critico",
        "status": "abierta",
        "assignee": "gestor_06",
        "opened_at": item["opened_at"],
        "due_at": item["due_at"],
        "overdue": False,
    }
    opened_at = datetime.fromisoformat(item["opened_at"])
    assert datetime.fromisoformat(item["due_at"]) - opened_at == timedelta(hours=24)
    school_item = next(i for i in body["items"] if i["id"] == raised["school"].id)
    assert school_item["entity_type"] == "school" and school_item["entity_ref"] == world.school_a
    assert theirs.id not in {i["id"] for i in body["items"]}
    assert world.students_c[0].encode() not in response.data
    event = audit_actions("alert.list")[-1]
    assert event.user_id == _user("gestor_06").id
    assert sorted(event.detail["shown"]) == sorted(a.id for a in raised.values())
    assert victim.id in event.detail["students"]

    other = api.as_user("gestor_05").get("/api/v1/alerts").json
    assert {i["id"] for i in other["items"]} == {a.id for a in _alerts_of(gestor_05)}
    assert raised["victim"].id not in {i["id"] for i in other["items"]}
    assert world.students_a[0] not in {i["entity_ref"] for i in other["items"]}


def _alerts_of(user: User) -> list[Alert]:
    return list(db.session.scalars(sa.select(Alert).where(Alert.assignee_id == user.id)))


def test_the_supervisor_lists_the_departments_alerts_only(api, world, raised, gestor_05):
    _raise(world, "docente_c")
    body = api.as_user("supervisor_06").get("/api/v1/alerts").json
    assert {i["id"] for i in body["items"]} == {a.id for a in raised.values()}
    assert all(i["access"] == "full" for i in body["items"])


def test_filters_by_status_level_rule_and_school(api, world, raised):
    gestor = _user("gestor_06")
    alerts.transition(gestor, raised["aggressor"], "reconocida")
    alerts.transition(gestor, raised["school"], "descartada", reason="duplicada")
    db.session.commit()
    api.as_user("gestor_06")

    def ids(query: str) -> set[int]:
        response = api.get(f"/api/v1/alerts?{query}")
        assert response.status_code == 200, response.json
        return {i["id"] for i in response.json["items"]}

    assert ids("status=open") == {raised["victim"].id, raised["aggressor"].id}
    assert ids("status=reconocida") == {raised["aggressor"].id}
    assert ids("status=descartada") == {raised["school"].id}
    assert ids("level=critico") == {a.id for a in raised.values()}
    assert ids("level=medio") == set()
    assert ids("rule=hecho_grave_centro") == {raised["school"].id}
    assert ids(f"school={world.school_a}&status=open&level=critico") == {
        raised["victim"].id,
        raised["aggressor"].id,
    }
    assert ids(f"school={world.school_b}") == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=cerrada", "status"), ("level=bajo", "level"), ("per_page=501", "per_page")],
)
def test_unknown_filters_are_refused_naming_the_parameter(api, raised, query, field):
    response = api.as_user("gestor_06").get(f"/api/v1/alerts?{query}")
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == field


def test_overdue_alerts_come_first_then_the_most_serious_then_the_oldest(api, raised):
    raised["school"].due_at = utcnow() - timedelta(minutes=5)
    raised["aggressor"].level = "medio"
    db.session.commit()
    items = api.as_user("gestor_06").get("/api/v1/alerts").json["items"]
    assert [i["id"] for i in items] == [
        raised["school"].id,
        raised["victim"].id,
        raised["aggressor"].id,
    ]
    assert [i["overdue"] for i in items] == [True, False, False]


def test_pages_run_in_the_same_order(api, raised):
    api.as_user("gestor_06")
    whole = [i["id"] for i in api.get("/api/v1/alerts").json["items"]]
    pages = [api.get(f"/api/v1/alerts?per_page=2&page={n}").json for n in (1, 2)]
    assert [i["id"] for page in pages for i in page["items"]] == whole
    assert pages[1]["total"] == 3 and len(pages[1]["items"]) == 1


# --- One alert ------------------------------------------------------------------------------------


@pytest.fixture
def bullying_alert(world) -> Alert:
    """The alert the planted bullying pattern raises from the scores (mismo_agresor)."""
    victim_id, _filed = _plant_bullying(world)
    rescore(current_catalog())
    alerts.raise_from_scores()
    db.session.commit()
    return db.session.scalar(
        sa.select(Alert).where(
            Alert.rule_id == "mismo_agresor",
            Alert.entity_type == "student",
            Alert.entity_id == victim_id,
        )
    )


def test_the_detail_explains_the_rule_with_its_evidence_and_timeline(api, world, bullying_alert):
    response = api.as_user("gestor_06").get(f"/api/v1/alerts/{bullying_alert.id}")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["rule"] == "mismo_agresor" and body["entity_ref"] == world.students_a[0]
    assert body["level"] in ("alto", "critico") and body["escalation"] == 0
    explained = {c["rule"]: c for c in body["explanation"]}
    assert explained["mismo_agresor"]["explanation"] == MISMO_AGRESOR_ES
    assert explained["mismo_agresor"]["points"] == 35
    assert sorted(body["evidence"]) == sorted(e.incident_id for e in bullying_alert.evidence)
    assert len(body["evidence"]) == 4
    assert [e["kind"] for e in body["events"]] == ["raised", "assigned", "evidence"]
    assert body["events"][0]["to"] == "abierta" and body["events"][0]["actor"] is None
    # The assigned handler sees who the child is, as on the alert's page; the audit names them.
    student = db.session.get(Student, bullying_alert.entity_id)
    assert body["student"]["given_names"] == student.given_names
    assert body["student"]["family_names"] == student.family_names
    event = audit_actions("alert.view")[-1]
    assert (event.object_type, event.object_id) == ("alert", str(bullying_alert.id))
    assert event.detail == {"level": "full", "channel": "api", "students": [student.id]}


def test_the_explanation_follows_the_token_accounts_language(api, bullying_alert):
    _user("gestor_06").language = "en"
    db.session.commit()
    body = api.as_user("gestor_06").get(f"/api/v1/alerts/{bullying_alert.id}").json
    explained = {c["rule"]: c["explanation"] for c in body["explanation"]}
    assert explained["mismo_agresor"] == (
        "The same student attacked them 4 times in the last 30 days (bullying pattern)."
    )


def test_national_analysts_see_only_escalated_alerts_in_summary(api, world, raised):
    api.as_user("nacional")
    assert api.get("/api/v1/alerts").json["items"] == []
    assert api.get(f"/api/v1/alerts/{raised['victim'].id}").status_code == 404
    alerts.transition(_user("supervisor_06"), raised["victim"], "reconocida")
    alerts.transition(
        _user("supervisor_06"),
        raised["victim"],
        "descartada",
        reason="falso_positivo",
        note=f"Hablé con {world.students_a[0]} y su familia.",
    )
    alerts.transition(_user("gestor_06"), raised["victim"], "abierta", note="Nueva información.")
    db.session.commit()
    _escalate_nationally(raised["victim"])

    listed = api.get("/api/v1/alerts").json["items"]
    assert {i["id"]: (i["access"], i["entity_ref"]) for i in listed} == {
        raised["victim"].id: ("summary", None),
        raised["aggressor"].id: ("summary", None),
        raised["school"].id: ("summary", world.school_a),
    }
    response = api.get(f"/api/v1/alerts/{raised['victim'].id}")
    assert response.status_code == 200
    body = response.json
    assert body["access"] == "summary" and body["entity_ref"] is None
    assert body["escalation"] == 2
    assert {e["note"] for e in body["events"]} == {None}
    assert world.students_a[0].encode() not in response.data
    assert b"familia" not in response.data
    assert audit_actions("alert.view")[-1].detail["level"] == "summary"
    # In full, the supervisor reads the notes as typed.
    notes = [
        e["note"]
        for e in api.as_user("supervisor_06")
        .get(f"/api/v1/alerts/{raised['victim'].id}")
        .json["events"]
    ]
    assert f"Hablé con {world.students_a[0]} y su familia." in notes


def test_another_departments_alert_is_not_confirmed(api, world, raised, gestor_05):
    theirs = _raise(world, "docente_c")["victim"]
    for username in ("gestor_06", "supervisor_06"):
        api.as_user(username)
        for response in (
            api.get(f"/api/v1/alerts/{theirs.id}"),
            _move(api, theirs, to="reconocida"),
        ):
            assert response.status_code == 404
            assert response.json["errors"][0]["message"] == "No existe o no tiene acceso."
    assert api.get(f"/api/v1/alerts/{2**40}").status_code == 404
    db.session.refresh(theirs)
    assert theirs.status == "abierta"
    assert not audit_actions("alert.view")


@pytest.mark.parametrize("username", ["docente_a", "director_a", "departamental_06", "admin"])
def test_other_roles_are_refused_before_any_lookup(api, raised, username):
    api.as_user(username)
    for response in (
        api.get("/api/v1/alerts"),
        api.get(f"/api/v1/alerts/{raised['victim'].id}"),
        api.get("/api/v1/alerts/999999"),
        _move(api, raised["victim"], to="reconocida"),
    ):
        assert response.status_code == 403
        assert _errors(response) == [
            (
                None,
                "Solo los gestores de casos, la supervisión y el nivel nacional ven las alertas.",
            )
        ]
    assert raised["victim"].status == "abierta"


# --- Transitions ----------------------------------------------------------------------------------


def test_acknowledge_then_dismiss_records_who_when_and_why(api, raised):
    alert = raised["victim"]
    api.as_user("gestor_06")
    acknowledged = _move(api, alert, to="reconocida")
    assert acknowledged.status_code == 201, acknowledged.json
    assert acknowledged.headers["Location"] == f"/api/v1/alerts/{alert.id}"
    assert acknowledged.json["status"] == "reconocida"
    assert acknowledged.json["acknowledged_at"] is not None
    dismissed = _move(
        api, alert, to="descartada", reason="falso_positivo", note="  Revisado con la dirección. "
    )
    assert dismissed.status_code == 201, dismissed.json
    body = dismissed.json
    assert (body["status"], body["dismiss_reason"]) == ("descartada", "falso_positivo")
    assert body["closed_at"] is not None
    moves = [
        (e["actor"], e["kind"], e["from"], e["to"], e["reason"], e["note"])
        for e in body["events"]
        if e["kind"] == "transition"
    ]
    assert moves == [
        ("gestor_06", "transition", "abierta", "reconocida", None, ""),
        ("gestor_06", "transition", "reconocida", "descartada", "falso_positivo",
         "Revisado con la dirección."),
    ]  # fmt: skip
    times = [datetime.fromisoformat(e["at"]) for e in body["events"]]
    assert times == sorted(times) and abs(datetime.now(UTC) - times[-1]) < timedelta(minutes=5)
    assert api.get(f"/api/v1/alerts/{alert.id}").json["events"] == body["events"]
    assert [e.detail["to"] for e in audit_actions("alert.transition")] == [
        "reconocida",
        "descartada",
    ]
    assert "Revisado" not in str([e.detail for e in audit_actions("alert.transition")])


def test_the_supervisor_moves_the_departments_alerts(api, raised):
    response = api.as_user("supervisor_06").post(
        f"/api/v1/alerts/{raised['school'].id}/transitions", json={"to": "reconocida"}
    )
    assert response.status_code == 201
    assert response.json["events"][-1]["actor"] == "supervisor_06"


def test_a_review_date_without_an_offset_is_el_salvadors_time(api, raised):
    alert = raised["victim"]
    api.as_user("gestor_06")
    _move(api, alert, to="reconocida")
    day = (datetime.now(LOCAL_TZ) + timedelta(days=7)).date()
    response = _move(api, alert, to="en_seguimiento", review_at=f"{day.isoformat()}T08:00")
    assert response.status_code == 201, response.json
    review_at = datetime.fromisoformat(response.json["review_at"])
    assert review_at == datetime(day.year, day.month, day.day, 14, 0, tzinfo=UTC)  # UTC-6


@pytest.mark.parametrize(
    ("first", "body", "status", "error"),
    [
        (
            None,
            {"to": "resuelta", "note": "Listo."},
            409,
            ("to", "Una alerta «abierta» no puede pasar a «resuelta»."),
        ),
        (
            "reconocida",
            {"to": "descartada"},
            422,
            ("reason", "Indique el motivo para descartar la alerta."),
        ),
        (
            "reconocida",
            {"to": "descartada", "reason": "me_cae_mal"},
            422,
            ("reason", "Indique el motivo para descartar la alerta."),
        ),
        (
            "reconocida",
            {"to": "en_atencion"},
            409,
            ("to", "Una alerta pasa a «en atención» al abrir un caso para ella."),
        ),
        (
            "reconocida",
            {"to": "en_seguimiento"},
            422,
            ("review_at", "Indique una fecha futura para revisar la alerta."),
        ),
        (
            "reconocida",
            {"to": "en_seguimiento", "review_at": "2020-01-01"},
            422,
            ("review_at", "Indique una fecha futura para revisar la alerta."),
        ),
        (None, {"to": "cerrada"}, 400, ("to", "Estado desconocido: «cerrada».")),
    ],
)
def test_a_refused_transition_says_why_and_changes_nothing(api, raised, first, body, status, error):
    alert = raised["victim"]
    if first:
        alerts.transition(_user("gestor_06"), alert, first)
        db.session.commit()
    before = (alert.status, len(alert.events))
    response = _move(api.as_user("gestor_06"), alert, **body)
    assert response.status_code == status
    assert _errors(response) == [error]
    db.session.refresh(alert)
    assert (alert.status, len(alert.events)) == before


def test_national_analysts_see_an_escalated_alert_but_may_not_move_it(api, raised):
    alert = raised["victim"]
    _escalate_nationally(alert)
    response = _move(api.as_user("nacional"), alert, to="reconocida")
    assert response.status_code == 403
    assert _errors(response) == [(None, "Solo la persona asignada y la supervisión pueden actuar.")]
    assert audit_actions("access.refused")[-1].object_id.endswith("/transitions")
    db.session.refresh(alert)
    assert alert.status == "abierta"


def test_another_gestor_of_the_department_neither_sees_nor_moves_it(api, raised):
    make_user("gestor_06b", R.GESTOR, department="06")
    db.session.commit()
    api.as_user("gestor_06b")
    assert api.get(f"/api/v1/alerts/{raised['victim'].id}").status_code == 404
    assert _move(api, raised["victim"], to="reconocida").status_code == 404
    assert api.get("/api/v1/alerts").json["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "to"),
        ({"to": 3}, "to"),
        ({"to": "reconocida", "assignee": "gestor_05"}, "assignee"),
        ({"to": "reconocida", "status": "resuelta"}, "status"),
        ({"to": "reconocida", "note": "x" * 5001}, "note"),
        ({"to": "descartada", "reason": "r" * 41}, "reason"),
        ({"to": "reconocida", "note": ["una", "lista"]}, "note"),
        ({"to": "reconocida", "review_at": "2099-01-01"}, "review_at"),
        ({"to": "en_seguimiento", "review_at": "mañana"}, "review_at"),
        ({"to": "en_seguimiento", "review_at": "2099-01-01"}, "review_at"),
        ({"to": "en_seguimiento", "review_at": "2" * 41}, "review_at"),
    ],
)
def test_malformed_transitions_are_refused_naming_the_field(api, raised, body, field):
    response = _move(api.as_user("gestor_06"), raised["victim"], **body)
    assert response.status_code == 422
    assert field in {f for f, _message in _errors(response)}
    assert raised["victim"].status == "abierta"


def test_a_transition_must_be_a_small_json_object(api, raised):
    url = f"/api/v1/alerts/{raised['victim'].id}/transitions"
    api.as_user("gestor_06")
    assert api.post(url, data="to=reconocida").status_code == 400
    assert api.post(url, json=["reconocida"]).status_code == 400
    assert api.post(url, data="{", content_type="application/json").status_code == 400
    huge = api.post(url, json={"to": "reconocida", "note": "x" * 20_000})
    assert huge.status_code == 413
    assert "16 KB" in huge.json["errors"][0]["message"]
    assert raised["victim"].status == "abierta"
