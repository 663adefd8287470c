"""Deliver the outbox by email: each message at most once, retried with backoff, every try logged.

``send_pending`` is the body of the ``send_mail`` job. For each due message it composes the mail,
claims the row (status ``enviando``) and commits *before* talking to the mail server. A sender
that dies while handing a message over thus leaves a claimed row, which a later run marks
``incierto`` and never sends again: a child-protection alert sent twice is better avoided than
risked, and the receiving server can also drop a duplicate by its stable ``Message-ID``.

Without ``MAIL_SERVER`` (development) messages are written to the log and marked sent. Logs name
the outbox row and the recipient's user id, never an address.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import smtplib
import ssl
import time
from datetime import datetime, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import sqlalchemy as sa
from flask import current_app

from salve.db import utcnow
from salve.extensions import db
from salve.notifications.messages import compose
from salve.notifications.models import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UNCERTAIN,
    Delivery,
    OutboxMessage,
)

log = logging.getLogger(__name__)

#: Attempts before a message is given up (``fallido``).
MAX_ATTEMPTS = 5
#: The wait after the 1st, 2nd, 3rd… failed attempt; the last value repeats.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
#: A row still ``enviando`` this long after it was claimed lost its sender.
STALE_AFTER = timedelta(minutes=10)
#: Seconds to wait for the mail server before calling it unreachable.
SMTP_TIMEOUT = 30

OUTCOMES = ("sent", "retried", "failed", "uncertain")


class _Refused(Exception):
    """The server said no to this message; the connection is still usable."""


class _Unreachable(Exception):
    """The server cannot be reached or dropped us before taking the message: try later."""


class _Uncertain(Exception):
    """The connection broke while the message itself was being handed over."""


def send_pending(now: datetime | None = None, batch: int = 50) -> dict[str, int]:
    """Email up to ``batch`` due outbox messages; return how many were sent, retried, failed…

    Commits after each claim and after each result. Stops early when the server is unreachable:
    the rest wait for the next run.
    """
    now = now or utcnow()
    started = time.monotonic()

    def clock() -> datetime:
        # ``now`` as the job saw it, moved on by the time this run has taken.
        return now + timedelta(seconds=time.monotonic() - started)

    counts = dict.fromkeys(OUTCOMES, 0)
    counts["uncertain"] += _give_up_stale_claims(now)
    due = list(
        db.session.scalars(
            sa.select(OutboxMessage.id)
            .where(
                OutboxMessage.status == PENDING,
                OutboxMessage.channel == "email",
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch)
        )
    )
    db.session.commit()  # no transaction stays open while the server is talked to
    with _mailer(current_app.config) as mailer:
        for outbox_id in due:
            outcome = _deliver(outbox_id, mailer, clock)
            if outcome is not None:
                counts[outcome] += 1
            if mailer.is_broken:
                break
    return counts


def _give_up_stale_claims(now: datetime) -> int:
    """Mark ``incierto`` the rows whose sender died after claiming them; commit."""
    stale = db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.status == SENDING, OutboxMessage.next_attempt_at < now - STALE_AFTER
        )
    ).all()
    for message in stale:
        detail = "the sender stopped while handing it over; it may have left, so not resent"
        message.status = UNCERTAIN
        message.last_error = detail
        db.session.add(Delivery(outbox_id=message.id, at=now, ok=False, detail=detail))
        log.warning("outbox %s: sender lost while sending; marked uncertain", message.id)
    db.session.commit()
    return len(stale)


def _deliver(outbox_id: int, mailer, clock) -> str | None:
    """Compose, claim, send and record one message; return its outcome (None: not ours)."""
    message = db.session.get(OutboxMessage, outbox_id)
    if message is None or message.status != PENDING:
        db.session.commit()
        return None
    recipient = message.recipient
    user_id, address = recipient.id, (recipient.email or "").strip()
    problem = _address_problem(address)
    if not recipient.is_enabled:
        problem = "the recipient's account is disabled"
    if problem:
        return _record(message, clock(), FAILED, detail=f"not sent: {problem}")
    try:
        mail = build_mail(message, address, clock())
    except Exception:  # a message that cannot be written must not hold up the others
        log.exception("outbox %s: could not compose a %s message", outbox_id, message.kind)
        return _record(message, clock(), FAILED, detail="not sent: could not compose it")
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == PENDING)
        .values(status=SENDING, next_attempt_at=clock())
    ).rowcount
    db.session.commit()  # claimed before the server hears of it: at most once
    if not claimed:
        return None
    # No database access until the server has answered: no transaction is held meanwhile.
    try:
        reply = mailer.send(outbox_id, user_id, address, mail)
    except _Uncertain as error:
        log.warning("outbox %s: connection lost while sending; marked uncertain", outbox_id)
        return _record(_reload(outbox_id), clock(), UNCERTAIN, detail=str(error))
    except _Refused as error:
        log.warning("outbox %s: refused by the mail server; will retry", outbox_id)
        return _retry(_reload(outbox_id), clock(), str(error))
    except _Unreachable as error:
        log.warning("outbox %s: mail server unreachable; will retry", outbox_id)
        return _retry(_reload(outbox_id), clock(), str(error))
    return _record(_reload(outbox_id), clock(), SENT, detail=reply)


def _reload(outbox_id: int) -> OutboxMessage:
    return db.session.get(OutboxMessage, outbox_id, populate_existing=True)


def _retry(message: OutboxMessage, at: datetime, detail: str) -> str:
    """Put a failed message back for later, or give it up after ``MAX_ATTEMPTS``; commit."""
    if message.attempts + 1 >= MAX_ATTEMPTS:
        return _record(message, at, FAILED, detail=detail)
    wait = BACKOFF[min(message.attempts, len(BACKOFF) - 1)]
    return _record(message, at, PENDING, detail=detail, retry_at=at + wait)


def _record(
    message: OutboxMessage,
    at: datetime,
    status: str,
    *,
    detail: str,
    retry_at: datetime | None = None,
) -> str:
    """Record an attempt's result on the row and in the delivery log; commit."""
    ok = status == SENT
    detail = detail[:300]
    message.status = status
    message.attempts += 1
    message.last_error = "" if ok else detail
    if ok:
        message.sent_at = at
    if retry_at is not None:
        message.next_attempt_at = retry_at
    db.session.add(Delivery(outbox_id=message.id, at=at, ok=ok, detail=detail))
    db.session.commit()
    return {SENT: "sent", FAILED: "failed", UNCERTAIN: "uncertain", PENDING: "retried"}[status]


def _address_problem(address: str) -> str:
    """Say why an address cannot be written to, or return "" when it can."""
    if not address:
        return "the recipient has no email address"
    if "\r" in address or "\n" in address:
        return "the address contains a line break"
    if not address.isascii() or any(ch.isspace() or ch in '<>,;"' for ch in address):
        return "the address is not a plain email address"
    local, _at, domain = address.rpartition("@")
    if not local or "." not in domain:
        return "the address is not a plain email address"
    return ""


def message_id(key: str, sender: str) -> str:
    """Return the Message-ID of the outbox message ``key``: the same on every attempt."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "salve.localhost"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<salve.{digest}@{domain}>"


def build_mail(message: OutboxMessage, address: str, at: datetime) -> EmailMessage:
    """Write the email of an outbox message, in its recipient's language."""
    sender = str(current_app.config["MAIL_DEFAULT_SENDER"])
    composed = compose(message.kind, message.payload or {}, message.recipient.language)
    mail = EmailMessage()
    mail["Subject"] = composed.subject
    mail["From"] = sender
    mail["To"] = address
    mail["Date"] = format_datetime(at)
    mail["Message-ID"] = message_id(message.key, sender)
    # RFC 3834: an automatic message; out-of-office replies are not sent back to it.
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(composed.body, cte="quoted-printable")
    mail["Content-Language"] = composed.language  # after set_content, which clears Content-*
    return mail


def _mailer(config):
    if config.get("MAIL_SERVER"):
        return _SMTPMailer(config)
    return _LogMailer()


class _LogMailer:
    """Development: write each message to the log instead of sending it."""

    is_broken = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def send(self, outbox_id: int, user_id: int, address: str, mail: EmailMessage) -> str:
        log.info(
            "mail not sent (no SALVE_MAIL_SERVER): outbox %s to user %s\nSubject: %s\n\n%s",
            outbox_id, user_id, mail["Subject"], mail.get_content(),
        )  # fmt: skip
        return "development: written to the log, not sent"


class _SMTPMailer:
    """One SMTP connection, opened on the first message and reused for the run."""

    def __init__(self, config):
        self.host = str(config["MAIL_SERVER"])
        self.port = int(config["MAIL_PORT"])
        # From the environment a numeric value arrives as a number: make it text again.
        self.username = str(config.get("MAIL_USERNAME") or "")
        self.password = str(config.get("MAIL_PASSWORD") or "")
        self.use_tls = bool(config.get("MAIL_USE_TLS"))
        self.envelope_sender = parseaddr(str(config["MAIL_DEFAULT_SENDER"]))[1]
        self.smtp: smtplib.SMTP | None = None
        self.is_broken = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._close(polite=True)
        return False

    def send(self, outbox_id: int, user_id: int, address: str, mail: EmailMessage) -> str:
        """Hand ``mail`` to the server; return its answer or raise what went wrong."""
        if self.smtp is None:
            self._connect()
        smtp = self.smtp
        try:
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(self.envelope_sender)
            if code != 250:
                smtp.rset()
                raise _Refused(f"sender refused: {code} {_text(reply)}")
            code, reply = smtp.rcpt(address)
            if code not in (250, 251):
                smtp.rset()
                raise _Refused(f"recipient refused: {code} {_text(reply)}")
        except OSError as error:  # smtplib's errors are OSErrors too
            self._close(polite=False)
            raise _Unreachable(f"connection lost: {_describe(error)}") from error
        # From here the server may take the message even if its answer never reaches us.
        try:
            code, reply = smtp.data(mail.as_bytes(policy=email_policy.SMTP))
        except smtplib.SMTPDataError as error:  # a clear refusal: nothing was taken
            _reset(smtp)
            raise _Refused(_describe(error)) from error
        except OSError as error:
            self._close(polite=False)
            raise _Uncertain(
                f"connection lost while handing the message over: {_describe(error)}"
            ) from error
        if code != 250:  # smtplib returns the final answer to DATA instead of raising
            _reset(smtp)
            raise _Refused(f"message refused: {code} {_text(reply)}")
        return f"{code} {_text(reply)}"

    def _connect(self) -> None:
        smtp = None
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
            if self.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
        except OSError as error:
            if smtp is not None:
                smtp.close()
            self.is_broken = True
            raise _Unreachable(f"cannot reach the mail server: {_describe(error)}") from error
        self.smtp = smtp

    def _close(self, polite: bool) -> None:
        """Close the connection; ``polite`` says goodbye first, otherwise the run stops here."""
        if self.smtp is None:
            return
        if polite:
            with contextlib.suppress(OSError):  # closing anyway
                self.smtp.quit()
        else:
            self.is_broken = True
        self.smtp.close()
        self.smtp = None


def _reset(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):  # a broken connection shows on the next message
        smtp.rset()


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _describe(error: Exception) -> str:
    """Name an error and the server's code, without the message it was about."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__}: {error.smtp_code} {_text(error.smtp_error)}"[:300]
    return f"{type(error).__name__}: {error}"[:300]
