"""The send_mail job against a real SMTP server: once each, in the reader's language, no names."""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.alerts import operations as alerts
from salve.alerts.models import Alert
from salve.auth import roles as R
from salve.auth.models import RoleAssignment
from salve.db import utcnow
from salve.extensions import db
from salve.notifications.models import Delivery, OutboxMessage
from salve.notifications.operations import notify
from salve.notifications.sending import MAX_ATTEMPTS, message_id, send_pending
from tests.notifications.conftest import (
    ADDRESSES,
    file_sexual_violence,
    students_of_the_report,
    user_named,
)

GESTOR = ADDRESSES["gestor_06"]
SUPERVISOR = ADDRESSES["supervisor_06"]


def _outbox(*where) -> list[OutboxMessage]:
    return list(
        db.session.scalars(sa.select(OutboxMessage).where(*where).order_by(OutboxMessage.id))
    )


def _deliveries(message: OutboxMessage) -> list[Delivery]:
    return list(
        db.session.scalars(
            sa.select(Delivery).where(Delivery.outbox_id == message.id).order_by(Delivery.id)
        )
    )


def _queue_one(key: str = "test:1", username: str = "gestor_06") -> OutboxMessage:
    """Queue one alert email for ``username`` and return its outbox row."""
    notify(
        [user_named(username)], "alert_raised", key,
        {"alert_id": 7, "level": "alto", "rule": "victima_reiterada", "school_code": "90001",
         "entity_type": "student"},
        "/alertas/7",
    )  # fmt: skip
    db.session.flush()
    return _outbox(OutboxMessage.key == f"{key}:email:{user_named(username).id}")[0]


def test_each_queued_email_is_delivered_exactly_once(smtp_server, addresses, world):
    file_sexual_violence(world)
    queued = _outbox(OutboxMessage.status == "pendiente")
    # Three critico alerts, each to the assigned handler and the department's supervisor.
    assert len(queued) == 6
    counts = send_pending()
    assert counts["sent"] == 6
    assert len(smtp_server.received) == 6
    assert sorted(r.to for r in smtp_server.received) == sorted([GESTOR] * 3 + [SUPERVISOR] * 3)
    assert {r.message["Message-ID"].strip() for r in smtp_server.received} == {
        message_id(m.key, "alertas@salve.example.test") for m in queued
    }
    for message in queued:
        db.session.refresh(message)
        assert message.status == "enviado"
        assert message.sent_at is not None
        assert message.attempts == 1
        [delivery] = _deliveries(message)
        assert delivery.ok and delivery.detail.startswith("250")
    assert send_pending() == {"sent": 0, "retried": 0, "failed": 0, "uncertain": 0}
    assert len(smtp_server.received) == 6


def test_emails_carry_a_reference_and_a_link_never_a_name_or_the_narrative(
    smtp_server, addresses, world
):
    incident = file_sexual_violence(world)
    send_pending()
    alert_ids = set(db.session.scalars(sa.select(Alert.id)))
    assert len(alert_ids) == 3
    texts = [r.text for r in smtp_server.to(GESTOR)]
    for alert_id in alert_ids:
        reference = f"A-{alert_id:06d}"
        [text] = [t for t in texts if reference in t]
        assert f"https://salve.example.test/alertas/{alert_id}" in text
        assert "hecho_grave" in text
        assert world.school_a in text  # the school's code, not its name
    forbidden = [incident.narrative, "Centro Escolar Prueba Alfa"]
    for student in students_of_the_report(world):
        forbidden += [student.given_names, student.family_names, student.nie]
    for received in smtp_server.received:
        raw = received.message.as_string()
        for word in forbidden:
            assert word not in received.text and word not in raw


def test_an_email_is_written_in_its_recipients_language(smtp_server, addresses, world):
    addresses["gestor_06"].language = "en"
    file_sexual_violence(world)
    send_pending()
    english = smtp_server.to(GESTOR)[0]
    spanish = smtp_server.to(SUPERVISOR)[0]
    assert english.message["Content-Language"] == "en"
    assert spanish.message["Content-Language"] == "es"
    assert "critical" in english.text and "crítico" not in english.text
    assert "crítico" in spanish.text and "critical" not in spanish.text
    assert spanish.message["Subject"].startswith("SALVE: Nueva alerta A-")


def test_the_person_who_acted_is_never_emailed(smtp_server, addresses, world):
    file_sexual_violence(world)
    send_pending()
    smtp_server.received.clear()
    supervisor, gestor = addresses["supervisor_06"], addresses["gestor_06"]
    alert = db.session.scalar(sa.select(Alert).where(Alert.entity_type == "school"))
    alerts.reassign(supervisor, alert, gestor, note="Reparto de carga.")
    # The supervisor, also a case handler, takes the alert: nobody needs telling.
    db.session.add(
        RoleAssignment(user_id=supervisor.id, role=R.GESTOR, department_id=alert.department_id)
    )
    db.session.flush()
    db.session.refresh(supervisor)
    alerts.reassign(supervisor, alert, supervisor, note="La tomo yo.")
    assert send_pending()["sent"] == 1
    [received] = smtp_server.received
    assert received.to == GESTOR
    assert f"A-{alert.id:06d}" in received.text


def test_an_unreachable_server_means_retries_with_backoff_then_failure(smtp_down, addresses):
    message = _queue_one()
    now = utcnow()
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        counts = send_pending(now=now)
        db.session.refresh(message)
        assert message.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert counts["retried"] == 1 and message.status == "pendiente"
            waits.append(message.next_attempt_at - now)
            # Not due yet: a run before the wait is over leaves it alone.
            assert send_pending(now=message.next_attempt_at - timedelta(seconds=5))["retried"] == 0
            now = message.next_attempt_at + timedelta(seconds=1)
        else:
            assert counts["failed"] == 1 and message.status == "fallido"
    assert [round(w.total_seconds() / 60) for w in waits] == [1, 5, 30, 120]
    deliveries = _deliveries(message)
    assert len(deliveries) == MAX_ATTEMPTS
    assert not any(d.ok for d in deliveries)
    assert "ConnectionRefusedError" in deliveries[0].detail
    assert message.last_error
    assert send_pending(now=now + timedelta(days=1))["failed"] == 0


def test_a_message_that_failed_once_is_delivered_once_when_the_server_is_back(
    app, smtp_down, addresses, monkeypatch
):
    message = _queue_one()
    now = utcnow()
    assert send_pending(now=now)["retried"] == 1
    # The server comes back.
    from aiosmtpd.controller import Controller

    from tests.notifications.conftest import Collector

    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=app.config["MAIL_PORT"])
    controller.start()
    try:
        later = now + timedelta(minutes=2)
        assert send_pending(now=later)["sent"] == 1
        assert send_pending(now=later + timedelta(hours=3))["sent"] == 0
    finally:
        controller.stop()
    assert len(collector.received) == 1
    db.session.refresh(message)
    assert (message.status, message.attempts) == ("enviado", 2)
    assert [d.ok for d in _deliveries(message)] == [False, True]


def test_a_refusal_by_the_server_is_retried(smtp_server, addresses):
    message = _queue_one()

    smtp_server.reply, keep = "451 4.3.0 Try again later", smtp_server.reply
    assert send_pending()["retried"] == 1
    db.session.refresh(message)
    assert message.status == "pendiente"
    assert "451" in _deliveries(message)[0].detail
    smtp_server.reply = keep
    assert send_pending(now=message.next_attempt_at + timedelta(seconds=1))["sent"] == 1
    assert len(smtp_server.received) == 1


def test_a_claim_left_by_a_dead_sender_becomes_uncertain_and_is_never_sent(smtp_server, addresses):
    now = utcnow()
    stale = _queue_one("test:stale")
    fresh = _queue_one("test:fresh")
    # Two senders died after claiming; one 11 minutes ago, the other is maybe still at it.
    stale.status, stale.next_attempt_at = "enviando", now - timedelta(minutes=11)
    fresh.status, fresh.next_attempt_at = "enviando", now - timedelta(minutes=3)
    db.session.flush()
    counts = send_pending(now=now)
    assert counts == {"sent": 0, "retried": 0, "failed": 0, "uncertain": 1}
    db.session.refresh(stale)
    db.session.refresh(fresh)
    assert stale.status == "incierto"
    assert fresh.status == "enviando"
    [delivery] = _deliveries(stale)
    assert not delivery.ok and "not resent" in delivery.detail
    assert send_pending(now=now + timedelta(hours=1))["uncertain"] == 1  # the other one, later
    assert send_pending(now=now + timedelta(days=1))["sent"] == 0
    assert smtp_server.received == []


def test_a_connection_lost_while_handing_over_the_message_is_not_resent(
    smtp_server, addresses, monkeypatch
):
    message = _queue_one()

    def drop(self, msg):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr(smtplib.SMTP, "data", drop)
    assert send_pending()["uncertain"] == 1
    monkeypatch.undo()
    db.session.refresh(message)
    assert message.status == "incierto"
    assert send_pending(now=utcnow() + timedelta(days=1))["sent"] == 0


def test_an_address_with_a_line_break_is_refused(smtp_server, addresses):
    addresses["gestor_06"].email = "gestor06@example.test\r\nBcc: otro@example.test"
    message = _queue_one()
    assert send_pending()["failed"] == 1
    db.session.refresh(message)
    assert message.status == "fallido"
    assert "line break" in _deliveries(message)[0].detail
    assert smtp_server.received == []


def test_a_disabled_account_gets_no_email(smtp_server, addresses):
    message = _queue_one()
    addresses["gestor_06"].is_enabled = False
    assert send_pending()["failed"] == 1
    db.session.refresh(message)
    assert message.status == "fallido"
    assert smtp_server.received == []


def test_the_message_id_is_stable_per_outbox_message():
    first = message_id("alert:1:raised:email:7", "SALVE <alertas@salve.example.test>")
    assert first == message_id("alert:1:raised:email:7", "alertas@salve.example.test")
    assert first != message_id("alert:1:raised:email:8", "alertas@salve.example.test")
    assert first.startswith("<") and first.endswith("@salve.example.test>")


def test_without_a_mail_server_messages_go_to_the_log(app, addresses, world, caplog):
    assert not app.config["MAIL_SERVER"]
    incident = file_sexual_violence(world)
    with caplog.at_level(logging.INFO, logger="salve.notifications.sending"):
        counts = send_pending()
    assert counts["sent"] == 6
    assert "Nueva alerta A-" in caplog.text
    assert "http://127.0.0.1:5000/alertas/" in caplog.text
    assert GESTOR not in caplog.text  # the log names user ids, not addresses
    assert incident.narrative not in caplog.text
    for student in students_of_the_report(world):
        assert student.family_names not in caplog.text
    assert {m.status for m in _outbox()} == {"enviado"}
    assert all("development" in d.detail for d in db.session.scalars(sa.select(Delivery)))


@pytest.mark.parametrize("batch", [2])
def test_a_run_sends_at_most_a_batch(smtp_server, addresses, world, batch):
    file_sexual_violence(world)
    assert send_pending(batch=batch)["sent"] == batch
    assert send_pending(batch=50)["sent"] == 6 - batch
