"""The catalog as Python values: labels, entries, types, protocols and the ``Catalog``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


class CatalogError(Exception):
    """The catalog files cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class CatalogVersionConflict(CatalogError):
    """A stored version arrived again with different content."""


@dataclass(frozen=True)
class Label:
    """A text in Spanish and English."""

    es: str
    en: str

    def in_language(self, language: str) -> str:
        """Return the text in ``language`` ("es", "es_SV", "en"…), Spanish by default."""
        return self.en if language.startswith("en") else self.es


@dataclass(frozen=True)
class Entry:
    """A coded choice: a category, location, relationship, measure or institution."""

    code: str
    label: Label
    description: Label | None


@dataclass(frozen=True)
class Repetition(Entry):
    """How many times it has happened, as a range (``max_times`` None: no upper bound)."""

    min_times: int
    max_times: int | None


@dataclass(frozen=True)
class Motivation(Entry):
    """A perceived motivation; some are discrimination factors."""

    is_discrimination: bool


@dataclass(frozen=True)
class ProtocolStep:
    """One step of a protocol, due ``deadline_hours`` after the incident is reported."""

    code: str
    label: Label
    deadline_hours: int
    #: True for the step that makes the type's mandatory report.
    is_report: bool


@dataclass(frozen=True)
class Protocol:
    """A named sequence of steps that types share."""

    code: str
    label: Label
    steps: tuple[ProtocolStep, ...]

    @property
    def report_step(self) -> ProtocolStep | None:
        """Return the step that makes the mandatory report, if any."""
        return next((step for step in self.steps if step.is_report), None)


@dataclass(frozen=True)
class ViolenceType:
    """A type of violence: what happened, how serious, whom to tell and by when."""

    code: str
    category: str
    label: Label
    description: Label
    tier: str
    is_mandatory_report: bool
    report_to: tuple[str, ...]
    refer_to: tuple[str, ...]
    is_immediate: bool
    protocol: Protocol
    #: Relationships this type may be filed with; empty means any.
    relationships: tuple[str, ...]
    #: True when a report must name at least one discrimination factor.
    requires_factor: bool


@dataclass(frozen=True)
class Catalog:
    """One validated catalog version with lookups by code."""

    version: str
    valid_from: date
    #: The files' parsed content, JSON-ready: what is stored and hashed.
    content: dict
    #: SHA-256 of ``content`` (formatting and comments in the files do not count).
    content_hash: str
    categories: dict[str, Entry]
    types: dict[str, ViolenceType]
    types_by_category: dict[str, tuple[ViolenceType, ...]]
    relationships: dict[str, Entry]
    locations: dict[str, Entry]
    repetition: dict[str, Repetition]
    motivations: dict[str, Motivation]
    measures: dict[str, Entry]
    institutions: dict[str, Entry]
    protocols: dict[str, Protocol]
    #: Retired type code → the code that replaced it (maybe itself retired).
    mappings: dict[str, str]

    def resolve(self, code: str) -> ViolenceType:
        """Return the current type for ``code``, following mappings for retired codes."""
        seen = set()
        while code not in self.types:
            if code not in self.mappings or code in seen:
                raise KeyError(f"unknown violence type code {code!r}")
            seen.add(code)
            code = self.mappings[code]
        return self.types[code]
