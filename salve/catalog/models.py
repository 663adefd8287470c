"""Stored catalog versions, so an incident keeps the catalog it was filed under."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from salve.db import utcnow
from salve.extensions import db


class CatalogVersion(db.Model):
    """One version of the violence catalog as loaded. Never changed once stored."""

    __tablename__ = "catalog_versions"
    __table_args__ = (
        sa.CheckConstraint("length(version) > 0", name="version_not_empty"),
        sa.CheckConstraint("length(content_hash) = 64", name="content_hash_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The ministry's version string from violence.yaml, e.g. "2026.1".
    version: Mapped[str] = mapped_column(sa.String(20), unique=True)
    #: The date from which the ministry applies this version.
    valid_from: Mapped[date] = mapped_column()
    #: When this version was first loaded into the database (UTC).
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: SHA-256 (hex) of the canonical JSON of ``content``; a different hash is a different catalog.
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    #: The parsed catalog files (file name → content), enough to rebuild the catalog.
    content: Mapped[dict] = mapped_column(sa.JSON)

    def __repr__(self) -> str:
        return f"<CatalogVersion {self.version}>"
