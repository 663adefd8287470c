"""Bearer tokens for the JSON API."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.extensions import db


class ApiToken(db.Model):
    """A bearer token acting as one user. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The account the token acts as; its roles and scope apply.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 (hex) of the token.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: What the token is for, e.g. "app móvil".
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    #: When it was created (UTC).
    created_at: Mapped[datetime] = mapped_column()
    #: Last request made with it (updated at most once a minute).
    last_used_at: Mapped[datetime | None] = mapped_column()
    #: When it was revoked; a revoked token is refused.
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id}>"
