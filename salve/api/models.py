"""Bearer tokens for the JSON API."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.auth.models import User
from salve.extensions import db

#: What a token may do: ``read`` answers GET only; ``read-write`` may also file and change.
SCOPES = ("read", "read-write")
#: How long a token lives unless its creator says otherwise (``salve token create --days``).
DEFAULT_LIFETIME = timedelta(days=90)


class ApiToken(db.Model):
    """A bearer token acting as one user. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.CheckConstraint(f"scope IN {SCOPES}", name="scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The account the token acts as; its roles and scope apply.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 (hex) of the token.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: What the token is for, e.g. "app móvil".
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    #: When it was created (UTC).
    created_at: Mapped[datetime] = mapped_column()
    #: When it stops working (UTC): from then on it is refused like a revoked one.
    expires_at: Mapped[datetime] = mapped_column()
    #: "read" (GET only) or "read-write" (also POST and any other write).
    scope: Mapped[str] = mapped_column(sa.String(10), default="read")
    #: Last request made with it (updated at most once a minute).
    last_used_at: Mapped[datetime | None] = mapped_column()
    #: When it was revoked; a revoked token is refused.
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} user={self.user_id} scope={self.scope}>"

    @property
    def may_write(self) -> bool:
        """Tell whether the token may make requests that change something."""
        return self.scope == "read-write"
