"""Break the glass as verbs: a reason, a few hours, an early end, the audit and the supervision."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.audit.models import AuditEvent
from salve.auth import roles as R
from salve.auth.models import RoleAssignment, User
from salve.auth.scope import active_grant, can_list_students, student_identities
from salve.breakglass import queries
from salve.breakglass.models import BreakGlassGrant
from salve.breakglass.operations import BreakGlassError, end_grant, grant_access
from salve.db import utcnow
from salve.extensions import db
from salve.notifications.messages import compose, summary
from salve.notifications.models import InboxMessage, OutboxMessage
from salve.schools.models import School, Student
from tests.conftest import count
from tests.factories import make_user

REASON = "Alerta A-000042: la familia pide apoyo y la escuela no contesta."


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _school(code: str) -> School:
    return db.session.scalar(sa.select(School).where(School.code == code))


def _grant(world, username: str = "gestor_06", school: str | None = None, **kwargs):
    return grant_access(
        _user(username), _school(school or world.school_a), "caso", REASON, **kwargs
    )


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


@pytest.mark.parametrize(
    ("category", "text", "field"),
    [
        ("", REASON, "reason_category"),
        ("curiosidad", REASON, "reason_category"),
        ("caso", "", "reason_text"),
        ("caso", "Lo necesito ya.", "reason_text"),
        ("caso", "   corto    con     espacios   ", "reason_text"),  # spaces do not count
        ("caso", "x" * 1001, "reason_text"),
    ],
)
def test_a_grant_needs_a_listed_category_and_a_reason_in_words(world, category, text, field):
    with pytest.raises(BreakGlassError) as refused:
        grant_access(_user("gestor_06"), _school(world.school_a), category, text)
    assert refused.value.field == field
    assert refused.value.message  # said in words, for the form
    assert count(BreakGlassGrant) == 0
    assert _events("breakglass.grant") == []


def test_a_grant_lasts_four_hours_unless_configured(app, world):
    grant = _grant(world)
    assert grant.expires_at - grant.granted_at == timedelta(hours=4)
    assert grant.department_id == _school(world.school_a).department_id
    app.config["BREAK_GLASS_DURATION"] = 3600  # seconds, as SALVE_BREAK_GLASS_DURATION gives it
    try:
        other = _grant(world, "supervisor_06")
    finally:
        app.config["BREAK_GLASS_DURATION"] = timedelta(hours=4)
    assert other.expires_at - other.granted_at == timedelta(hours=1)


def test_a_grant_stops_by_itself_when_its_period_ends(world, monkeypatch):
    gestor, school = _user("gestor_06"), _school(world.school_a)
    now = utcnow()
    grant = _grant(world, now=now)
    assert queries.live_grant(gestor.id, school.id, now + timedelta(hours=3, minutes=59)) == grant
    assert queries.live_grant(gestor.id, school.id, now + timedelta(hours=4)) is None
    assert active_grant(gestor, school) == grant
    assert student_identities(gestor, school).is_shown

    monkeypatch.setattr(queries, "utcnow", lambda: now + timedelta(hours=4, minutes=1))
    assert active_grant(gestor, school) is None
    shown = student_identities(gestor, school)
    assert not shown.is_shown and shown.may_ask
    # Once expired, asking again gives a fresh grant with its own period.
    again = grant_access(gestor, school, "caso", REASON, now=now + timedelta(hours=4, minutes=1))
    assert again.id != grant.id


def test_the_holder_ends_a_grant_early_and_nobody_else_can(world):
    gestor, school = _user("gestor_06"), _school(world.school_a)
    grant = _grant(world)
    with pytest.raises(BreakGlassError) as refused:
        end_grant(_user("supervisor_06"), grant)
    assert refused.value.status == 403
    assert active_grant(gestor, school) == grant

    assert end_grant(gestor, grant) is True
    assert grant.ended_at is not None
    assert active_grant(gestor, school) is None
    assert end_grant(gestor, grant) is False  # already over: nothing more to record
    ends = _events("breakglass.end")
    assert len(ends) == 1
    assert ends[0].detail["grant"] == grant.id and ends[0].object_id == school.code


def test_asking_again_while_a_grant_runs_does_not_stretch_it(world):
    first = _grant(world)
    second = _grant(world)
    assert second.id == first.id
    assert count(BreakGlassGrant) == 1
    assert len(_events("breakglass.grant")) == 1


def test_the_grant_is_audited_with_its_category_never_its_words(world, caplog):
    caplog.set_level(logging.DEBUG)
    grant = _grant(world)
    db.session.flush()
    [event] = _events("breakglass.grant")
    assert event.user_id == _user("gestor_06").id
    assert event.object_type == "school" and event.object_id == world.school_a
    assert event.detail["grant"] == grant.id
    assert event.detail["reason"] == "caso"
    assert REASON not in json.dumps(event.detail)
    assert "familia" not in json.dumps(event.detail)
    assert not any("familia" in record.getMessage() for record in caplog.records)
    assert grant.reason_text == REASON  # kept for the supervision's list


def test_the_departments_supervisor_is_told_in_app_and_by_mail(world):
    supervisor = _user("supervisor_06")
    supervisor.email = "supervisor06@example.test"
    grant = _grant(world)
    notices = list(
        db.session.scalars(sa.select(InboxMessage).where(InboxMessage.kind == "break_glass"))
    )
    assert [n.user_id for n in notices] == [supervisor.id]
    assert notices[0].link == f"/vidrio/#permiso-{grant.id}"
    [mail] = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "break_glass"))
    assert mail.recipient_id == supervisor.id and mail.channel == "email"
    assert set(mail.payload) == {"school_code", "due_at", "link"}

    message = compose("break_glass", mail.payload, "es_SV")
    assert world.school_a in message.subject
    assert "romper el vidrio" in message.body
    assert f"/vidrio/#permiso-{grant.id}" in message.body
    assert REASON not in message.body and "gestor_06" not in message.body
    for student in db.session.scalars(sa.select(Student)):
        assert student.given_names not in message.body
    english = compose("break_glass", mail.payload, "en")
    assert english.language == "en"
    assert world.school_a in summary("break_glass", notices[0].payload)


def test_a_supervisors_grant_is_told_to_the_national_level(world):
    grant = _grant(world, "supervisor_06")
    told = set(
        db.session.scalars(
            sa.select(InboxMessage.user_id).where(
                InboxMessage.key.startswith(f"breakglass:{grant.id}:")
            )
        )
    )
    assert told == {_user("nacional").id}


def test_without_a_supervisor_in_the_department_the_national_level_is_told(world):
    make_user("gestor_05", R.GESTOR, department="05")
    _grant(world, "gestor_05", world.school_c)
    told = set(db.session.scalars(sa.select(InboxMessage.user_id)))
    assert told == {_user("nacional").id}


@pytest.mark.parametrize("username", ["admin", "docente_a", "director_a", "docente_c"])
def test_administrators_and_school_staff_cannot_break_the_glass(world, username):
    with pytest.raises(BreakGlassError) as refused:
        _grant(world, username)
    assert refused.value.status == 403
    assert count(BreakGlassGrant) == 0
    assert count(InboxMessage) == 0


def test_an_administrator_with_another_role_still_cannot(world):
    admin = _user("admin")
    department = _user("gestor_06").role_assignments[0].department_id
    admin.role_assignments.append(RoleAssignment(role=R.GESTOR, department_id=department))
    db.session.flush()
    with pytest.raises(BreakGlassError):
        _grant(world, "admin")


@pytest.mark.parametrize("username", ["gestor_06", "supervisor_06", "departamental_06"])
def test_department_roles_break_the_glass_only_in_their_department(world, username):
    with pytest.raises(BreakGlassError):
        _grant(world, username, world.school_c)
    assert _grant(world, username, world.school_b).school_id == _school(world.school_b).id


def test_national_analysts_may_break_the_glass_anywhere(world):
    assert _grant(world, "nacional", world.school_c).school_id == _school(world.school_c).id


def test_a_grant_shows_only_its_own_school(world):
    gestor = _user("gestor_06")
    _grant(world)
    assert student_identities(gestor, _school(world.school_a)).is_shown
    other = student_identities(gestor, _school(world.school_b))
    assert not other.is_shown and other.grant is None and other.may_ask
    # Another person's grant shows them nothing.
    supervisor = student_identities(_user("supervisor_06"), _school(world.school_a))
    assert not supervisor.is_shown


def test_losing_the_role_ends_what_a_grant_shows(world):
    gestor, school_b = _user("gestor_06"), _school(world.school_b)
    _grant(world)
    assert active_grant(gestor, _school(world.school_a)) is not None
    assignment = gestor.role_assignments[0]
    assignment.role, assignment.school_id, assignment.department_id = R.DOCENTE, school_b.id, None
    db.session.flush()
    assert active_grant(gestor, _school(world.school_a)) is None


def test_the_api_keeps_the_strict_scope(world):
    nacional, school = _user("nacional"), _school(world.school_a)
    _grant(world, "nacional")
    assert student_identities(nacional, school).is_shown
    assert not can_list_students(nacional, school)


def test_the_record_asked_from_is_kept_only_when_it_belongs_to_the_school(world):
    student_a = db.session.scalar(sa.select(Student).where(Student.nie == world.students_a[0]))
    student_c = db.session.scalar(sa.select(Student).where(Student.nie == world.students_c[0]))
    grant = _grant(world, record_type="student", record_id=student_a.id)
    assert (grant.record_type, grant.record_id) == ("student", student_a.id)
    other = _grant(world, "supervisor_06", record_type="student", record_id=student_c.id)
    assert (other.record_type, other.record_id) == ("", None)
