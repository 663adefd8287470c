"""The leader lease: one holder at a time, renewed by it, taken by another only once expired."""

from __future__ import annotations

from datetime import timedelta

from salve.db import utcnow
from salve.jobs.lease import current_lease, holder_process, release_lease, take_lease

A, B = "maquina-a:101:aaaa", "maquina-b:202:bbbb"


def test_one_holder_at_a_time_until_the_lease_expires(app):
    start = utcnow()
    assert take_lease(A, 60, now=start)
    assert not take_lease(B, 60, now=start)
    assert take_lease(A, 60, now=start + timedelta(seconds=20))  # renewed
    lease = current_lease()
    assert (lease.holder, lease.acquired_at) == (A, start)
    assert lease.expires_at == start + timedelta(seconds=80)
    assert not take_lease(B, 60, now=start + timedelta(seconds=79))
    # A stopped renewing: once its lease runs out, B takes it, and A is the one refused.
    assert take_lease(B, 60, now=start + timedelta(seconds=81))
    assert not take_lease(A, 60, now=start + timedelta(seconds=82))
    lease = current_lease()
    assert (lease.holder, lease.acquired_at) == (B, start + timedelta(seconds=81))


def test_a_released_lease_is_free_at_once(app):
    start = utcnow()
    assert take_lease(A, 60, now=start)
    assert not release_lease(B)  # only the holder lets it go
    assert release_lease(A)
    assert take_lease(B, 60, now=utcnow() + timedelta(milliseconds=1))


def test_holder_names_carry_their_process():
    assert holder_process("vm-01.minedu.gob.sv:4321:9f8e7d6c") == ("vm-01.minedu.gob.sv", 4321)
    assert holder_process("sin-proceso") is None
