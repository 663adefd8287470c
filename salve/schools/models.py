"""Schools (centros educativos) and their students."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from salve.db import TimestampMixin
from salve.extensions import db
from salve.geography.models import Department, District

SECTORS = ("publico", "privado")
ZONES = ("urbana", "rural")
SEXES = ("F", "M")
#: Education levels a school may offer, in the ministry's order.
LEVELS = ("parvularia", "basica1", "basica2", "basica3", "media")


class School(TimestampMixin, db.Model):
    """A school, identified by its five-digit infrastructure code."""

    __tablename__ = "schools"
    __table_args__ = (
        sa.CheckConstraint(f"sector IN {SECTORS}", name="sector"),
        sa.CheckConstraint(f"zone IN {ZONES}", name="zone"),
        sa.CheckConstraint("enrolment_female >= 0 AND enrolment_male >= 0", name="enrolment"),
        sa.CheckConstraint("length(code) = 5", name="code_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The ministry's five-digit infrastructure code, e.g. "10234".
    code: Mapped[str] = mapped_column(sa.String(5), unique=True)
    #: Official name, e.g. "Centro Escolar Católico San José".
    name: Mapped[str] = mapped_column(sa.String(200))
    #: "publico" or "privado".
    sector: Mapped[str] = mapped_column(sa.String(8))
    #: "urbana" or "rural".
    zone: Mapped[str] = mapped_column(sa.String(6))
    #: The district the school stands in.
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    #: The district's department, kept on the row because every scope check filters on it.
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    #: Levels offered, comma-separated codes from ``LEVELS`` ("" when unknown).
    levels: Mapped[str] = mapped_column(sa.String(60), default="")
    #: Girls enrolled this school year.
    enrolment_female: Mapped[int] = mapped_column(default=0)
    #: Boys enrolled this school year.
    enrolment_male: Mapped[int] = mapped_column(default=0)
    #: False once the school is closed; its records stay.
    is_active: Mapped[bool] = mapped_column(default=True)

    district: Mapped[District] = relationship()
    department: Mapped[Department] = relationship()

    @property
    def enrolment(self) -> int:
        """Return the total enrolment."""
        return self.enrolment_female + self.enrolment_male

    @property
    def level_list(self) -> list[str]:
        """Return the levels offered as a list of codes."""
        return [level for level in self.levels.split(",") if level]

    def __repr__(self) -> str:
        return f"<School {self.code}>"


class Student(TimestampMixin, db.Model):
    """A student on a school's roll. Only the personal data the protocols need."""

    __tablename__ = "students"
    __table_args__ = (
        sa.CheckConstraint(f"sex IN {SEXES}", name="sex"),
        sa.Index("ix_students_school_id_family_names", "school_id", "family_names"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Número de Identificación del Estudiante, unique in the country.
    nie: Mapped[str] = mapped_column(sa.String(20), unique=True)
    #: The school the student is enrolled in.
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("schools.id"))
    #: Given names ("nombres").
    given_names: Mapped[str] = mapped_column(sa.String(120))
    #: Family names ("apellidos").
    family_names: Mapped[str] = mapped_column(sa.String(120))
    #: "F" or "M", as on the roll; never an input to risk scores.
    sex: Mapped[str] = mapped_column(sa.String(1))
    #: Date of birth.
    birth_date: Mapped[date] = mapped_column()
    #: Grade, e.g. "7" or "1 bachillerato".
    grade: Mapped[str] = mapped_column(sa.String(20))
    #: Section, e.g. "A".
    section: Mapped[str] = mapped_column(sa.String(10))
    #: False when the student has left the school's roll.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: When retention replaced names, NIE and birth date (salve.maintenance.retention).
    anonymised_at: Mapped[datetime | None] = mapped_column()

    school: Mapped[School] = relationship()

    @property
    def full_name(self) -> str:
        """Return given and family names together."""
        return f"{self.given_names} {self.family_names}"

    def __repr__(self) -> str:
        # No names in reprs: they end up in logs and tracebacks.
        return f"<Student {self.id}>"
