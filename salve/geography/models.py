"""El Salvador's territory after the 2024 reform: departments, municipalities, districts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.extensions import db


class Department(db.Model):
    """One of the 14 departments, each with a departmental education office."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: DIGESTYC two-digit code, "01" (Ahuachapán) to "14" (La Unión).
    code: Mapped[str] = mapped_column(sa.String(2), unique=True)
    #: Official name, e.g. "San Salvador".
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    #: ISO 3166-2 subdivision code, e.g. "SV-SS".
    iso_code: Mapped[str] = mapped_column(sa.String(6), unique=True)

    municipalities: Mapped[list[Municipality]] = relationship(
        back_populates="department", order_by="Municipality.name"
    )

    def __repr__(self) -> str:
        return f"<Department {self.code} {self.name}>"


class Municipality(db.Model):
    """One of the 44 municipalities created by the 2024 reform."""

    __tablename__ = "municipalities"
    __table_args__ = (sa.UniqueConstraint("department_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The department the municipality belongs to.
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    #: Official name, e.g. "San Salvador Centro".
    name: Mapped[str] = mapped_column(sa.String(80))

    department: Mapped[Department] = relationship(back_populates="municipalities")
    districts: Mapped[list[District]] = relationship(
        back_populates="municipality", order_by="District.name"
    )

    def __repr__(self) -> str:
        return f"<Municipality {self.name}>"


class District(db.Model):
    """One of the 262 districts (the former municipalities)."""

    __tablename__ = "districts"
    __table_args__ = (sa.UniqueConstraint("municipality_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The municipality the district belongs to.
    municipality_id: Mapped[int] = mapped_column(sa.ForeignKey("municipalities.id"), index=True)
    #: Official name, e.g. "Mejicanos".
    name: Mapped[str] = mapped_column(sa.String(80))

    municipality: Mapped[Municipality] = relationship(back_populates="districts")

    def __repr__(self) -> str:
        return f"<District {self.name}>"
