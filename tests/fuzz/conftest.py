"""Fixtures of the fuzz tests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from salve.auth import operations as auth_operations
from salve.auth import passwords


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    """Hash cheaply: what is under test is the forms, not argon2's cost (~0.1 s a hash here).

    Sign-ins of unknown users verify a dummy hash to cost the same as real ones; cheap too.
    """
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(auth_operations, "DUMMY_HASH", hasher.hash("dummy"))
