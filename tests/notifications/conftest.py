"""A real SMTP server on localhost that keeps what it receives, and accounts with addresses."""

from __future__ import annotations

import email
import socket
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.schools.models import Student
from tests.factories import report_payload

#: The seeded accounts that get an address (department 06's case team and the national level).
ADDRESSES = {
    "gestor_06": "gestor06@example.test",
    "supervisor_06": "supervisor06@example.test",
    "nacional": "nacional@example.test",
}


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def to(self) -> str:
        return self.rcpt_tos[0]

    @property
    def text(self) -> str:
        """The whole message as a reader sees it: headers and decoded body."""
        body = self.message.get_body(("plain",)).get_content()
        return f"{self.message['Subject']}\n{body}"


class Collector:
    """An aiosmtpd handler that accepts every message and keeps it."""

    def __init__(self):
        self.received: list[Received] = []
        #: The answer to each message; a test sets a 4xx one to have messages refused.
        self.reply = "250 2.0.0 Accepted"

    async def handle_DATA(self, server, session, envelope):
        if not self.reply.startswith("250"):
            return self.reply
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return self.reply

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def free_port() -> int:
    """Return a TCP port nothing listens on (closed again at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(app, monkeypatch):
    """Run an SMTP server on a free local port and point the app's mail settings at it."""
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    monkeypatch.setitem(app.config, "MAIL_USE_TLS", False)
    monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", "SALVE <alertas@salve.example.test>")
    monkeypatch.setitem(app.config, "BASE_URL", "https://salve.example.test")
    try:
        yield collector
    finally:
        controller.stop()


@pytest.fixture
def smtp_down(app, monkeypatch):
    """Point the app's mail settings at a local port where no server listens."""
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", free_port())
    monkeypatch.setitem(app.config, "BASE_URL", "https://salve.example.test")


@pytest.fixture
def addresses(world) -> dict[str, User]:
    """Give department 06's case team and the national account an email address."""
    users = {}
    for username, address in ADDRESSES.items():
        user = user_named(username)
        user.email = address
        users[username] = user
    db.session.flush()
    return users


def user_named(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def file_sexual_violence(world, **overrides):
    """File docente_a's report of sexual violence between two students of school_a.

    It raises three immediate (critico) alerts: the victim's, the aggressor's and the school's.
    """
    payload = report_payload(
        world, types=["SEX_TOCAMIENTOS"], relationship="estudiante_estudiante", **overrides
    )
    incident, _created = incidents.file_incident(
        user_named("docente_a"), payload, current_catalog()
    )
    return incident


def students_of_the_report(world) -> list[Student]:
    """The two students named in ``report_payload``'s report."""
    return list(db.session.scalars(sa.select(Student).where(Student.nie.in_(world.students_a[:2]))))
