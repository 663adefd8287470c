"""tamper-evident audit log: hash chain, no TRUNCATE, no REPLACE

Revision ID: c12a0001audt
Revises: ad4f5b2a7e43
Create Date: 2026-12-08 01:40:00

Every audit row gets ``seq``, ``prev_hash`` and ``row_hash`` (salve.audit.chain); the rows
already stored are linked here, in id order. PostgreSQL also refuses TRUNCATE (a statement
trigger: row triggers do not fire on it). SQLite refuses an INSERT whose id or seq is already
taken, so ``INSERT OR REPLACE`` / ``REPLACE INTO`` cannot rewrite a row (REPLACE deletes the old
row without firing the DELETE trigger while ``recursive_triggers`` is off, its default).
"""
from alembic import op
import sqlalchemy as sa

import salve.db


# revision identifiers, used by Alembic.
revision = 'c12a0001audt'
down_revision = 'ad4f5b2a7e43'
branch_labels = None
depends_on = None

#: How many existing rows are linked per round trip.
BATCH = 2000

SQLITE_APPEND_ONLY = ("UPDATE", "DELETE")
SQLITE_NO_REPLACE = (
    "CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events"
    " WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id OR seq = NEW.seq)"
    " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)

#: Wait for the chain's turn (salve.audit.chain.LOCK_KEY, until the transaction ends), then
#: read its head: one round trip. The SELECT sees what the previous holder committed, for in a
#: volatile function each statement takes a new snapshot.
CHAIN_TURN = """
CREATE FUNCTION audit_chain_turn(OUT last_seq bigint, OUT last_hash varchar) AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(5999160112047019332);
    SELECT seq, row_hash INTO last_seq, last_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
END;
$$ LANGUAGE plpgsql VOLATILE
"""


def _audit_table() -> sa.Table:
    # The columns as this revision knows them (not the live model, which may change later).
    return sa.Table(
        "audit_events",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("occurred_at", salve.db.UTCDateTime(timezone=True)),
        sa.Column("user_id", sa.Integer),
        sa.Column("action", sa.String(60)),
        sa.Column("object_type", sa.String(40)),
        sa.Column("object_id", sa.String(64)),
        sa.Column("outcome", sa.String(8)),
        sa.Column("ip_address", sa.String(45)),
        sa.Column("detail", sa.JSON),
        sa.Column("seq", sa.BigInteger),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("row_hash", sa.String(64)),
    )


def _link_existing_rows() -> None:
    from salve.audit.chain import GENESIS, row_hash

    bind = op.get_bind()
    table = _audit_table()
    previous, seq, last_id = GENESIS, 0, None
    while True:
        query = sa.select(table).order_by(table.c.id).limit(BATCH)
        if last_id is not None:
            query = query.where(table.c.id > last_id)
        rows = bind.execute(query).all()
        if not rows:
            return
        links = []
        for row in rows:
            seq += 1
            values = {**row._mapping, "seq": seq}
            current = row_hash(previous, values)
            links.append({"row_id": row.id, "seq": seq, "prev": previous, "hash": current})
            previous = current
        bind.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values(seq=sa.bindparam("seq"), prev_hash=sa.bindparam("prev"),
                    row_hash=sa.bindparam("hash")),
            links,
        )
        last_id = rows[-1].id


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        for verb in SQLITE_APPEND_ONLY:
            op.execute(f"DROP TRIGGER audit_events_no_{verb.lower()}")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))
    _link_existing_rows()
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('row_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_seq'), ['seq'])
    if postgresql:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        op.execute(CHAIN_TURN)
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in SQLITE_APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events"
                " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
        op.execute(SQLITE_NO_REPLACE)


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP FUNCTION audit_chain_turn()")
    else:
        op.execute("DROP TRIGGER audit_events_no_replace")
        for verb in SQLITE_APPEND_ONLY:
            op.execute(f"DROP TRIGGER audit_events_no_{verb.lower()}")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_seq'), type_='unique')
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
    if not postgresql:
        for verb in SQLITE_APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events"
                " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
