"""The daily digest of medio alerts: one email per person per day, references only."""

from __future__ import annotations

from datetime import UTC, timedelta

import sqlalchemy as sa

from salve.alerts import operations as alerts
from salve.alerts.models import Alert, AlertEvent
from salve.db import utcnow
from salve.extensions import db
from salve.notifications.digest import send_digest
from salve.notifications.models import InboxMessage, OutboxMessage
from salve.notifications.sending import send_pending
from salve.schools.models import School, Student
from tests.notifications.conftest import ADDRESSES, user_named


def _raise(nie: str, level: str = "medio", rule: str = "victima_reiterada", now=None) -> Alert:
    """Raise a level alert for the student with ``nie``, as the raise_alerts job would."""
    student = db.session.scalar(sa.select(Student).where(Student.nie == nie))
    school = db.session.get(School, student.school_id)
    candidate = alerts.Candidate(
        rule_id=rule, rules_version="2026.1", entity_type="student", entity_id=student.id,
        school_id=school.id, department_id=school.department_id, level=level, immediate=False,
    )  # fmt: skip
    alert, created = alerts.raise_alert(candidate, [], now=now or utcnow())
    assert created
    return alert


def _digests(username: str | None = None) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).where(OutboxMessage.kind == "digest")
    if username:
        query = query.where(OutboxMessage.recipient_id == user_named(username).id)
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


def test_medio_alerts_reach_the_inbox_but_not_one_email_each(addresses, world):
    alert = _raise(world.students_a[0])
    gestor = addresses["gestor_06"]
    assert alert.assignee_id == gestor.id
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(InboxMessage)
            .where(InboxMessage.user_id == gestor.id)
        )
        == 1
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def _last_local_noon():
    """Return the latest local noon not after now: three hours later is still the same day.

    (With plain ``utcnow()`` the test failed when run between 21:00 and midnight local time, 03:00
    to 06:00 UTC: "three hours later, the same day" was the next day.)
    """
    local_now = utcnow().astimezone(alerts_local_tz())
    noon = local_now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > local_now:
        noon -= timedelta(days=1)
    return noon.astimezone(UTC)


def test_one_digest_per_person_per_day(addresses, world):
    now = _last_local_noon()
    first = _raise(world.students_a[0], now=now - timedelta(hours=2))
    second = _raise(world.students_a[1], rule="agresion_reiterada", now=now - timedelta(hours=1))
    _raise(world.students_a[2], level="alto", now=now)  # not the digest's level
    _raise(world.students_c[0], now=now)  # another department
    counts = send_digest(now=now)
    assert counts == {"alerts": 3, "recipients": 2, "queued": 2}
    [for_gestor] = _digests("gestor_06")
    [for_supervisor] = _digests("supervisor_06")
    assert _digests("nacional") == []
    for digest in (for_gestor, for_supervisor):
        assert {a["alert_id"] for a in digest.payload["alerts"]} == {first.id, second.id}
        assert digest.status == "pendiente"
    day = now.astimezone(alerts_local_tz()).date().isoformat()
    assert for_gestor.key == f"digest:{day}:{addresses['gestor_06'].id}"
    # A second run the same day queues nothing more.
    assert send_digest(now=now + timedelta(hours=3))["queued"] == 0
    assert len(_digests()) == 2
    # The next day, alerts untouched for 24 hours are not repeated; a new one is.
    tomorrow = now + timedelta(days=1, minutes=5)
    assert send_digest(now=tomorrow)["queued"] == 0
    third = _raise(world.students_a[3], now=tomorrow)
    assert send_digest(now=tomorrow + timedelta(minutes=5))["queued"] == 2
    [later] = _digests("gestor_06")[1:]
    assert [a["alert_id"] for a in later.payload["alerts"]] == [third.id]


def test_an_alert_updated_in_the_last_24_hours_is_in_the_digest(addresses, world):
    now = utcnow()
    alert = _raise(world.students_a[0], now=now - timedelta(days=3))
    later = now + timedelta(days=2)  # nothing happened to it in the day before
    assert send_digest(now=later)["alerts"] == 0
    alert.events.append(AlertEvent(kind="evidence", at=later - timedelta(hours=1)))
    db.session.flush()
    assert send_digest(now=later + timedelta(minutes=1))["alerts"] == 1


def test_the_digest_email_lists_references_in_the_readers_language(smtp_server, addresses, world):
    addresses["gestor_06"].language = "en"
    now = utcnow()
    first = _raise(world.students_a[0], now=now)
    second = _raise(world.students_a[1], now=now)
    send_digest(now=now)
    assert send_pending(now=now + timedelta(seconds=1))["sent"] == 2
    [english] = smtp_server.to(ADDRESSES["gestor_06"])
    [spanish] = smtp_server.to(ADDRESSES["supervisor_06"])
    for received in (english, spanish):
        assert f"A-{first.id:06d}" in received.text and f"A-{second.id:06d}" in received.text
        assert "victima_reiterada: 2" in received.text
        assert "https://salve.example.test/avisos" in received.text
        for nie in world.students_a[:2]:
            student = db.session.scalar(sa.select(Student).where(Student.nie == nie))
            assert student.given_names not in received.text
            assert student.family_names not in received.text
    local_day = now.astimezone(alerts_local_tz()).date()
    assert english.message["Content-Language"] == "en"
    assert local_day.strftime("%B") in english.text  # the month's name in English
    assert local_day.strftime("%B") not in spanish.text


def alerts_local_tz():
    from salve.i18n import LOCAL_TZ

    return LOCAL_TZ


def test_the_scheduled_jobs_queue_and_send_the_digest(smtp_server, addresses, world):
    from salve.jobs.runner import run_job

    now = utcnow()
    alert = _raise(world.students_a[0], now=now)
    assert run_job("digest", now=now).counts["queued"] == 2
    assert run_job("digest", now=now + timedelta(minutes=1)).counts["queued"] == 0
    assert run_job("send_mail", now=now + timedelta(minutes=2)).counts["sent"] == 2
    assert all(f"A-{alert.id:06d}" in r.text for r in smtp_server.received)
    assert len(smtp_server.received) == 2
