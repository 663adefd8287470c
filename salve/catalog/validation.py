"""Validate the parsed catalog files, collecting every problem with its file, entry and field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from salve.catalog.entries import (
    Entry,
    Label,
    Motivation,
    Protocol,
    ProtocolStep,
    Repetition,
    ViolenceType,
)

TIERS = ("I", "II", "III")

TYPE_CODE = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")
INSTITUTION_CODE = re.compile(r"[A-Z][A-Z0-9_]*")
SNAKE_CODE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")
ANY_CODE = re.compile(r"\S+")


def _known(code, known: Mapping) -> bool:
    return isinstance(code, str) and code in known


def _show(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return "empty" if value is None else repr(value)


class Reader:
    """Read one file's sections, appending a message per problem to ``errors``."""

    def __init__(self, file_name: str, document, errors: list[str]):
        self.file_name = file_name
        self.errors = errors
        self.document = document if isinstance(document, dict) else {}
        if not isinstance(document, dict):
            self.error("", f"must be a mapping of sections, not {_show(document)}")

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.file_name}: {where + ': ' if where else ''}{message}")

    def top_level(self, allowed: set[str]) -> None:
        for key in self.document:
            if key not in allowed:
                self.error(key, "unknown section")

    # Fields ---------------------------------------------------------------------------------

    def fields(self, item: dict, where: str, required: set[str], optional: set[str]) -> bool:
        """Report missing and unknown fields; return whether the entry may be read further."""
        for key in item:
            if key not in required | optional:
                self.error(where, f'unknown field "{key}"')
        for key in sorted(required - item.keys()):
            self.error(f"{where}.{key}", "missing")
        return required <= item.keys()

    def text(self, value, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.error(where, f"must be a non-empty text, not {_show(value)}")
            return ""
        return value.strip()

    def label(self, value, where: str) -> Label:
        if not isinstance(value, dict):
            self.error(where, f"must have es and en, not {_show(value)}")
            return Label("", "")
        for key in value:
            if key not in {"es", "en"}:
                self.error(where, f'unknown language "{key}" (use es and en)')
        for language in ("es", "en"):
            if language not in value:
                self.error(f"{where}.{language}", "missing")
        return Label(
            self.text(value.get("es"), f"{where}.es") if "es" in value else "",
            self.text(value.get("en"), f"{where}.en") if "en" in value else "",
        )

    def flag(self, value, where: str) -> bool:
        if not isinstance(value, bool):
            self.error(where, f"must be true or false, not {_show(value)}")
            return False
        return value

    def count(self, value, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.error(where, f"must be a whole number above 0, not {_show(value)}")
            return 0
        return value

    def codes(self, value, where: str, known: Mapping[str, Any], kind: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.error(where, f"must be a list of {kind} codes, not {_show(value)}")
            return ()
        for code in value:
            if not _known(code, known):
                self.error(where, f"unknown {kind} {_show(code)}")
        for code in {c for c in value if isinstance(c, str) and value.count(c) > 1}:
            self.error(where, f"lists {_show(code)} twice")
        return tuple(code for code in value if _known(code, known))

    # Sections -------------------------------------------------------------------------------

    def items(self, section: str, pattern: re.Pattern, parent=None, *, key="code", empty=False):
        """Yield (code, where, item) for each entry of a list section with a usable code.

        ``parent`` is (where, entry) for a list inside an entry, e.g. a protocol's steps.
        """
        prefix, document = (f"{parent[0]}.", parent[1]) if parent else ("", self.document)
        value = document.get(section)
        if not isinstance(value, list) or not (value or empty):
            self.error(
                f"{prefix}{section}",
                f"must be a {'' if empty else 'non-empty '}list, not {_show(value)}",
            )
            return
        seen = set()
        for position, item in enumerate(value, start=1):
            code = item.get(key) if isinstance(item, dict) else None
            usable = isinstance(code, str) and pattern.fullmatch(code)
            where = f"{prefix}{section}[{code if usable else f'#{position}'}]"
            if not isinstance(item, dict):
                self.error(where, f"must be a mapping of fields, not {_show(item)}")
            elif not usable:
                self.error(f"{where}.{key}", f"{_show(code)} is not a valid code")
            elif code in seen:
                self.error(where, f"code {_show(code)} is used twice")
            else:
                seen.add(code)
                yield code, where, item

    def entries(self, section: str, pattern: re.Pattern) -> dict[str, Entry]:
        result = {}
        for code, where, item in self.items(section, pattern):
            if self.fields(item, where, {"code", "label"}, {"description"}):
                result[code] = Entry(code, *self.labels(item, where))
        return result

    def labels(self, item: dict, where: str) -> tuple[Label, Label | None]:
        description = item.get("description")
        return (
            self.label(item["label"], f"{where}.label"),
            None if description is None else self.label(description, f"{where}.description"),
        )

    def version(self) -> str:
        value = self.document.get("version")
        if not isinstance(value, str) or not ANY_CODE.fullmatch(value):
            self.error("version", f'must be a text in quotes such as "2026.1", not {_show(value)}')
            return ""
        return value

    def valid_from(self) -> date:
        value = self.document.get("valid_from")
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.error("valid_from", f"must be a date such as 2026-02-01, not {_show(value)}")
        return date.min

    def repetition(self) -> dict[str, Repetition]:
        result = {}
        for code, where, item in self.items("repetition", SNAKE_CODE):
            if not self.fields(item, where, {"code", "label", "min_times", "max_times"}, set()):
                continue
            low = self.count(item["min_times"], f"{where}.min_times")
            high = item["max_times"]
            if high is not None and self.count(high, f"{where}.max_times") and high < low:
                self.error(f"{where}.max_times", f"must be at least min_times ({low}), not {high}")
            result[code] = Repetition(code, *self.labels(item, where), low, high)
        return result

    def motivations(self) -> dict[str, Motivation]:
        result = {}
        for code, where, item in self.items("motivations", SNAKE_CODE):
            required = {"code", "label", "is_discrimination"}
            if self.fields(item, where, required, {"description"}):
                is_factor = self.flag(item["is_discrimination"], f"{where}.is_discrimination")
                result[code] = Motivation(code, *self.labels(item, where), is_factor)
        return result

    def protocols(self) -> dict[str, Protocol]:
        result = {}
        for code, where, item in self.items("protocols", SNAKE_CODE):
            if not self.fields(item, where, {"code", "label", "steps"}, set()):
                continue
            steps = []
            for step_code, step_where, step in self.items("steps", SNAKE_CODE, (where, item)):
                required = {"code", "label", "deadline_hours"}
                if self.fields(step, step_where, required, {"report"}):
                    steps.append(
                        ProtocolStep(
                            step_code,
                            self.label(step["label"], f"{step_where}.label"),
                            self.count(step["deadline_hours"], f"{step_where}.deadline_hours"),
                            self.flag(step.get("report", False), f"{step_where}.report"),
                        )
                    )
            if sum(step.is_report for step in steps) > 1:
                self.error(f"{where}.steps", "only one step may have report: true")
            result[code] = Protocol(code, self.label(item["label"], f"{where}.label"), tuple(steps))
        return result

    def types(self, *, categories, institutions, protocols, relationships, has_factors):
        result = {}
        required = {"code", "category", "label", "description", "tier", "mandatory_report",
                    "immediate", "protocol"}  # fmt: skip
        optional = {"report_to", "refer_to", "relationships", "requires_factor"}
        for code, where, item in self.items("types", TYPE_CODE):
            if not self.fields(item, where, required, optional):
                continue
            category, tier, protocol = item["category"], item["tier"], item["protocol"]
            if not _known(category, categories):
                self.error(f"{where}.category", f"unknown category {_show(category)}")
            if tier not in TIERS:
                self.error(f"{where}.tier", f"must be I, II or III, not {_show(tier)}")
            is_mandatory = self.flag(item["mandatory_report"], f"{where}.mandatory_report")
            is_immediate = self.flag(item["immediate"], f"{where}.immediate")
            report_to = self.codes(
                item.get("report_to", []), f"{where}.report_to", institutions, "institution"
            )
            if not _known(protocol, protocols):
                self.error(f"{where}.protocol", f"unknown protocol {_show(protocol)}")
            protocol = protocols.get(protocol) if _known(protocol, protocols) else None
            self.check_report(item, where, tier, protocol)
            if is_mandatory and not item.get("report_to"):
                self.error(
                    f"{where}.report_to", "a mandatory report needs at least one institution"
                )
            requires_factor = self.flag(
                item.get("requires_factor", False), f"{where}.requires_factor"
            )
            if requires_factor and not has_factors:
                self.error(f"{where}.requires_factor", "no motivation is a discrimination factor")
            result[code] = ViolenceType(
                code=code,
                category=category,
                label=self.label(item["label"], f"{where}.label"),
                description=self.label(item["description"], f"{where}.description"),
                tier=tier,
                is_mandatory_report=is_mandatory,
                report_to=report_to,
                refer_to=self.codes(
                    item.get("refer_to", []), f"{where}.refer_to", institutions, "institution"
                ),
                is_immediate=is_immediate,
                protocol=protocol or Protocol("", Label("", ""), ()),
                relationships=self.codes(
                    item.get("relationships", []),
                    f"{where}.relationships",
                    relationships,
                    "relationship",
                ),
                requires_factor=requires_factor,
            )
        for category in categories.keys() - {t.category for t in result.values()}:
            self.error(f"categories[{category}]", "has no types")
        return result

    def check_report(self, item: dict, where: str, tier, protocol: Protocol | None) -> None:
        """Hold the ministry's reporting rules: presumed crimes and immediate triggers report."""
        is_mandatory = item["mandatory_report"] is True
        if tier == "III" and not is_mandatory:
            self.error(f"{where}.mandatory_report", "must be true for a tier III type")
        if item["immediate"] is True and not is_mandatory:
            self.error(f"{where}.mandatory_report", "must be true for an immediate type")
        if not is_mandatory and item.get("report_to"):
            self.error(f"{where}.report_to", "only for mandatory reports; use refer_to")
        if is_mandatory and protocol is not None and protocol.report_step is None:
            self.error(
                f"{where}.protocol",
                f'protocol "{protocol.code}" has no step with report: true',
            )

    def mappings(self, types: dict[str, ViolenceType]) -> dict[str, str]:
        result, places = {}, {}
        for code, where, item in self.items("mappings", ANY_CODE, key="from", empty=True):
            if not self.fields(item, where, {"from", "to", "from_version"}, {"note"}):
                continue
            if code in types:
                self.error(f"{where}.from", f'"{code}" is a current type; only retired codes map')
            self.text(item["from_version"], f"{where}.from_version")
            if "note" in item:
                self.text(item["note"], f"{where}.note")
            result[code] = self.text(item["to"], f"{where}.to")
            places[code] = where
        for code, target in result.items():
            seen = {code}
            while target in result and target not in seen:
                seen.add(target)
                target = result[target]
            if target in seen:
                self.error(f"{places[code]}.to", "the chain of mappings loops back on itself")
            elif target and target not in types:
                self.error(
                    f"{places[code]}.to", f"{_show(target)} is neither a current type nor mapped"
                )
        return result
