"""Write to the audit log.

``record`` keeps the event with the session and inserts it only when the transaction commits,
after the rest of the work: linking it into the hash chain (``salve.audit.chain``) makes
writers take turns from the insert until the commit, so that stretch is kept as short as it can
be. A read of the audit log in the same transaction inserts the pending events first, so it sees
them; a rollback (of the transaction, or of a savepoint they were recorded in) drops them.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import g, has_request_context, request
from flask_login import current_user
from sqlalchemy import orm
from sqlalchemy.sql.util import find_tables

from salve.audit import chain
from salve.audit.models import AuditEvent
from salve.db import set_write_intent, utcnow
from salve.extensions import db

#: The columns a recorded event brings (those its hash covers); ``chain.link`` adds seq,
#: prev_hash and row_hash.
INSERTED = tuple(name for name in chain.FIELDS if name != "seq")
#: session.info key of the events recorded and not yet inserted: [(event, savepoint or None)].
PENDING = "salve.audit.pending"


def _request_facts() -> tuple[int | None, str]:
    if not has_request_context():
        return None, ""
    user_id = current_user.id if current_user and current_user.is_authenticated else None
    return user_id, (request.remote_addr or "")[:45]


def record(
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    *,
    outcome: str = "ok",
    user_id: int | None = None,
    **detail,
) -> AuditEvent:
    """Add an audit event to the current transaction; it commits with the work it describes."""
    request_user_id, ip_address = _request_facts()
    event = AuditEvent(
        occurred_at=utcnow(),
        user_id=user_id if user_id is not None else request_user_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        outcome=outcome,
        ip_address=ip_address,
        # As it will read back (tuples become lists…), so its hash is the one verify computes.
        detail=json.loads(json.dumps(detail)),
    )
    session = db.session()
    session.info.setdefault(PENDING, []).append((event, session.get_nested_transaction()))
    return event


def record_now(
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    *,
    outcome: str = "ok",
    user_id: int | None = None,
    **detail,
) -> None:
    """Abandon the request's pending work, then store an audit event and commit it.

    For refusals and failed sign-ins: whatever the request had begun is not kept, the fact is.
    """
    db.session.rollback()
    if has_request_context():
        g.pop("audit_reads", None)  # rolled back with the rest: what was refused was not shown
    set_write_intent(True)
    record(action, object_type, object_id, outcome=outcome, user_id=user_id, **detail)
    db.session.commit()


def record_read(
    action: str, object_type: str = "", object_id: str | int = "", **detail
) -> AuditEvent:
    """Record that the answer shows a child's record; kept even when the answer is a refusal.

    A form refused with 4xx shows the record again while the request's work is rolled back
    (``salve.web``): ``replay_reads`` then stores the read on its own.
    """
    if has_request_context():
        g.setdefault("audit_reads", []).append((action, object_type, object_id, detail))
    return record(action, object_type, object_id, **detail)


def replay_reads(status: int) -> bool:
    """After a rollback, record again the reads the refused answer still shows; say if any."""
    reads = g.pop("audit_reads", None) if has_request_context() else None
    if not reads:
        return False
    set_write_intent(True)
    for action, object_type, object_id, detail in reads:
        record(action, object_type, object_id, **{**detail, "status": status})
    return True


def write_pending(session: orm.Session) -> None:
    """Insert the session's recorded events now, linked into the chain (last, before commit)."""
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    session.flush()  # the work they describe first (accounts they name, …)
    events = [event for event, _savepoint in pending]
    rows = [{column: getattr(event, column) for column in INSERTED} for event in events]
    connection = session.connection()
    chain.link(connection, rows)
    # One statement for all of them, straight to the connection: the turn is short. The
    # objects ``record`` returned are told their id and place in the chain.
    table = AuditEvent.__table__
    inserted = connection.execute(
        sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    for event, row, event_id in zip(events, rows, inserted.scalars(), strict=True):
        event.id, event.seq = event_id, row["seq"]
        event.prev_hash, event.row_hash = row["prev_hash"], row["row_hash"]


@sa.event.listens_for(orm.Session, "before_commit")
def _insert_at_commit(session: orm.Session) -> None:
    write_pending(session)


@sa.event.listens_for(orm.Session, "after_soft_rollback")
def _drop_rolled_back(session: orm.Session, previous: orm.SessionTransaction) -> None:
    pending = session.info.get(PENDING)
    if not pending:
        return
    if not previous.nested:
        session.info.pop(PENDING, None)
        return

    def inside(savepoint) -> bool:
        while savepoint is not None:
            if savepoint is previous:
                return True
            savepoint = savepoint.parent
        return False

    session.info[PENDING] = [entry for entry in pending if not inside(entry[1])]


@sa.event.listens_for(orm.Session, "after_transaction_end")
def _forget_at_the_end(session: orm.Session, transaction: orm.SessionTransaction) -> None:
    if transaction.parent is None:  # committed (written already) or rolled back, or closed
        session.info.pop(PENDING, None)


@sa.event.listens_for(orm.Session, "do_orm_execute")
def _reads_see_pending(state: orm.ORMExecuteState) -> None:
    if (
        state.is_select
        and state.session.info.get(PENDING)
        and AuditEvent.__table__ in find_tables(state.statement, include_joins=True)
    ):
        write_pending(state.session)


def chain_verdict() -> chain.Verdict:
    """Walk the audit log's chain as the session sees it (after inserting what it recorded)."""
    write_pending(db.session())
    return chain.verify(db.session.connection())
