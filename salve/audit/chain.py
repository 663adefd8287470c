"""The audit log's hash chain: each row carries a hash of its content and of the row before it.

Row ``seq`` (1, 2, 3 … with no gap) stores ``prev_hash``, the ``row_hash`` of row ``seq - 1``
(``GENESIS`` for the first), and ``row_hash = sha256(prev_hash + "\\n" + canonical(row))``. A row
changed, removed or slipped in between breaks the chain at that row; ``verify`` names it.

Linking needs the previous row, so writers take turns: on PostgreSQL a transaction-level
advisory lock, taken just before the audit rows are inserted and released by the commit that
follows (``salve.audit.operations`` inserts a transaction's audit rows last, at commit); on
SQLite the database's single write lock already orders writers. ``seq`` is unique as well, so
two writers that skipped the lock could never both store the same link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from salve.audit.models import AuditEvent

#: The ``prev_hash`` of the first row.
GENESIS = "0" * 64
#: PostgreSQL advisory lock key of the chain's turn ("SALVEAUD" in ASCII), taken by the
#: database function ``audit_chain_turn()`` (migration c12a0001audt).
LOCK_KEY = 0x53414C5645415544
#: The fields a row's hash covers, in order (``id`` is left out: it is assigned by the insert).
FIELDS = (
    "seq",
    "occurred_at",
    "user_id",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "ip_address",
    "detail",
)

_table = AuditEvent.__table__


def _moment(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row) -> str:
    """Return the one serialisation of ``row``'s hashed fields (an object or a mapping)."""
    if isinstance(row, Mapping):
        values = [row.get(name) for name in FIELDS]
    else:
        values = [getattr(row, name) for name in FIELDS]
    values[1] = _moment(values[1])
    values[8] = values[8] or {}
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row) -> str:
    """Return the hash of ``row`` chained to ``prev_hash``."""
    return hashlib.sha256(f"{prev_hash}\n{canonical(row)}".encode()).hexdigest()


def lock_head(connection: sa.Connection) -> tuple[int, str]:
    """Take the chain's turn for this transaction; return the last (seq, row_hash)."""
    if connection.dialect.name == "postgresql":
        # pg_advisory_xact_lock(LOCK_KEY), then the head, in one round trip (the migration).
        seq, head = connection.execute(sa.text("SELECT * FROM audit_chain_turn()")).one()
        return (seq, head) if seq is not None else (0, GENESIS)
    last = connection.execute(
        sa.select(_table.c.seq, _table.c.row_hash).order_by(_table.c.seq.desc()).limit(1)
    ).first()
    return (last.seq, last.row_hash) if last is not None else (0, GENESIS)


def link(connection: sa.Connection, rows: Iterable) -> None:
    """Give ``rows`` (AuditEvent objects or dicts of column values) their place in the chain.

    Call in the transaction that inserts them, right before the insert: the lock it takes on
    PostgreSQL lasts until that transaction ends.
    """
    seq, previous = lock_head(connection)
    for row in rows:
        seq += 1
        values = {"seq": seq, "prev_hash": previous}
        if isinstance(row, dict):
            row.update(values)
        else:
            for name, value in values.items():
                setattr(row, name, value)
        previous = row_hash(previous, row)
        if isinstance(row, dict):
            row["row_hash"] = previous
        else:
            row.row_hash = previous


def append(connection: sa.Connection, **values) -> None:
    """Insert one audit row through ``connection``, linked (for scripts and tests)."""
    row = {"object_type": "", "object_id": "", "outcome": "ok", "ip_address": "", "detail": {}}
    row |= {"user_id": None, **values}
    link(connection, [row])
    connection.execute(sa.insert(_table).values(**row))


# --- Verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first place where the chain does not hold."""

    #: The row's id and seq (None for a row missing from the chain).
    id: int | None
    seq: int | None
    #: "changed", "removed" or "inserted".
    kind: str
    #: What was found, in Spanish.
    message: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of walking the chain."""

    rows: int
    broken: Break | None = None
    #: The last row's seq and row_hash when the chain holds: kept elsewhere, they show later
    #: whether rows were removed from the end, which the chain alone cannot.
    head: tuple[int, str] = (0, GENESIS)


def _rows(connection: sa.Connection, batch: int) -> Iterator[sa.Row]:
    last = None
    while True:
        query = sa.select(_table).order_by(_table.c.seq).limit(batch)
        if last is not None:
            query = query.where(_table.c.seq > last)
        page = connection.execute(query).all()
        yield from page
        if len(page) < batch:
            return
        last = page[-1].seq


def verify(connection: sa.Connection, batch: int = 5000) -> Verdict:
    """Walk the chain in ``seq`` order; return the count, or the first row that breaks it."""
    expected_seq, previous, count = 1, GENESIS, 0
    for row in _rows(connection, batch):
        count += 1
        name = f"la fila id={row.id} (seq={row.seq})"
        if row.seq < expected_seq:
            return Verdict(count, Break(row.id, row.seq, "inserted", f"{name} repite un número."))
        if row.seq > expected_seq or row.prev_hash != previous:
            if row.seq > expected_seq:
                missing = (
                    f"seq={expected_seq}"
                    if row.seq == expected_seq + 1
                    else f"seq={expected_seq} a {row.seq - 1}"
                )
                message = f"falta(n) la(s) fila(s) {missing}, antes de {name}: se borraron."
                return Verdict(count, Break(row.id, expected_seq, "removed", message))
            message = (
                f"{name} no enlaza con la fila anterior: se insertó fuera de orden "
                "(o la anterior fue reemplazada)."
            )
            return Verdict(count, Break(row.id, row.seq, "inserted", message))
        if row_hash(previous, row._mapping) != row.row_hash:
            message = f"{name} fue modificada: su contenido no coincide con su huella."
            return Verdict(count, Break(row.id, row.seq, "changed", message))
        expected_seq, previous = row.seq + 1, row.row_hash
    return Verdict(count, head=(expected_seq - 1, previous))
