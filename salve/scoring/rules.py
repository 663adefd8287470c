"""Read and validate ``catalogs/rules.yaml``: the risk rules as data.

``load_rules(path, catalog=None)`` returns a ``RuleSet`` or raises ``RulesError`` listing every
problem, each naming the file, rule and field, e.g.
``rules.yaml: rules[victima_reiterada].params.window_days: must be a whole number above 0, not 0``.
Rules are named by their id, or by their position (``rules[#3]``) when the id is unusable.

``KINDS`` describes each kind of rule: the entity it may score, its parameters (with their
checks), whether its points are fixed or per unit, and the figures its explanation may use. The
engine's ``RULE_KINDS`` registry has the same keys.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

RULES_FILE = "rules.yaml"
ENTITIES = ("student", "school")
#: Levels from lowest to highest; ``bajo`` starts at 0, the others at ``RuleSet.levels``.
LEVELS = ("bajo", "medio", "alto", "critico")
LANGUAGES = ("es", "en")
TIERS = ("I", "II", "III")
RULE_ID = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")

#: Words that name protected traits. No parameter (key or value) and no engine input column may
#: use them: scores rest on behaviour and incidents only.
FORBIDDEN_INPUTS = frozenset(
    {
        "sex",
        "sexo",
        "gender",
        "genero",
        "género",
        "female",
        "male",
        "femenino",
        "masculino",
        "ethnicity",
        "ethnic",
        "etnia",
        "etnico",
        "étnico",
        "race",
        "raza",
        "indigena",
        "indígena",
        "disability",
        "disabled",
        "discapacidad",
        "income",
        "ingreso",
        "ingresos",
        "poverty",
        "pobreza",
        "salary",
        "salario",
        "religion",
        "religión",
    }
)


def forbidden_words(name: str) -> set[str]:
    """Return the protected-trait words in ``name`` (split on anything but letters and digits).

    Whole words only: ``sex_weight`` is refused, the ``sexual`` category is not.
    """
    return {word for word in re.split(r"[^\wáéíóúñ]+|_", name.lower()) if word in FORBIDDEN_INPUTS}


class RulesError(Exception):
    """The rules file cannot be used; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    """One rule: what it scores, how, and how it explains itself."""

    id: str
    entity: str
    kind: str
    params: Mapping[str, Any]
    #: Fixed points (``per_unit`` None), or points per unit of the kind's measure up to ``cap``.
    points: float
    per_unit: float | None
    cap: float | None
    #: The level from which the rule's contribution raises an alert (None: never, by level).
    alert_level: str | None
    #: True when the rule raises an alert as soon as it contributes.
    immediate: bool
    #: Plain-language text per language, with ``{figure}`` placeholders.
    explanation: Mapping[str, str]

    def explain(self, figures: Mapping[str, Any], language: str = "es") -> str:
        """Fill the explanation in ``language`` ("es", "es_SV", "en"…; Spanish by default)."""
        text = self.explanation["en" if language.startswith("en") else "es"]
        return text.format(**figures)


@dataclass(frozen=True)
class RuleSet:
    """A version of the rules and the score thresholds of each level."""

    version: str
    #: Lowest score of medio, alto and critico (bajo starts at 0).
    levels: Mapping[str, float]
    rules: tuple[Rule, ...]
    source: str = field(default=RULES_FILE, compare=False)

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.id == rule_id)

    def level_of(self, scores) -> np.ndarray:
        """Return the level of each score in ``scores`` (array-like) as an array of strings."""
        bounds = np.array([self.levels[name] for name in LEVELS[1:]], dtype=float)
        index = np.searchsorted(bounds, np.asarray(scores, dtype=float), side="right")
        return np.asarray(LEVELS, dtype=object)[index]


# --- Parameter checks: each returns (value, error message or None) ----------------------------

Check = Callable[[Any, Any], tuple[Any, str | None]]


def _show(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return "empty" if value is None else repr(value)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive_int(value, _catalog):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None, f"must be a whole number above 0, not {_show(value)}"
    return value, None


def positive_number(value, _catalog):
    if not _is_number(value) or value <= 0:
        return None, f"must be a number above 0, not {_show(value)}"
    return float(value), None


def fraction(value, _catalog):
    if not _is_number(value) or not 0 < value <= 1:
        return None, f"must be a number above 0 and at most 1, not {_show(value)}"
    return float(value), None


def flag(value, _catalog):
    if not isinstance(value, bool):
        return None, f"must be true or false, not {_show(value)}"
    return value, None


def tier_weights(value, _catalog):
    if not isinstance(value, dict) or set(value) != set(TIERS):
        return None, f"must give a weight to each tier I, II and III, not {_show(value)}"
    if not all(_is_number(weight) and weight >= 0 for weight in value.values()):
        return None, f"weights must be numbers of 0 or more, not {_show(value)}"
    return MappingProxyType({tier: float(value[tier]) for tier in TIERS}), None


def one_of(*choices: str) -> Check:
    def check(value, _catalog):
        if value not in choices:
            return None, f"must be one of {', '.join(choices)}, not {_show(value)}"
        return value, None

    return check


def roles(value, _catalog):
    if (
        not isinstance(value, list)
        or not value
        or any(r not in ("victima", "agresor", "testigo") for r in value)
    ):
        return None, f"must be a list of victima, agresor, testigo, not {_show(value)}"
    return tuple(dict.fromkeys(value)), None


def categories(value, catalog):
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        return None, f"must be a list of category codes, not {_show(value)}"
    if catalog is not None:
        unknown = [code for code in value if code not in catalog.categories]
        if unknown:
            return None, f"unknown category {', '.join(_show(c) for c in unknown)}"
    return tuple(value), None


def types(value, catalog):
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        return None, f"must be a list of type codes, not {_show(value)}"
    if catalog is not None:
        unknown = [code for code in value if code not in catalog.types]
        if unknown:
            return None, f"unknown type {', '.join(_show(c) for c in unknown)}"
    return tuple(value), None


def size_bands(value, _catalog):
    if (
        not isinstance(value, list)
        or not all(_is_number(bound) and bound > 0 for bound in value)
        or any(b >= a for a, b in zip(value[1:], value, strict=False))
    ):
        return None, f"must be a list of increasing enrolments above 0, not {_show(value)}"
    return tuple(float(bound) for bound in value), None


@dataclass(frozen=True)
class KindSpec:
    """What a kind of rule accepts and produces."""

    entities: tuple[str, ...]
    #: "fixed" (``points: 30``) or "per_unit" (``points: {per_unit: 5, cap: 40}``).
    points: str
    required: Mapping[str, Check]
    optional: Mapping[str, tuple[Check, Any]]
    #: The figures the engine computes, usable as ``{placeholders}`` in the explanation.
    figures: tuple[str, ...]
    #: The window, in days, shown as ``{days}``: the name of the parameter that holds it.
    days_param: str = "window_days"


_COUNT = KindSpec(
    entities=("student",),
    points="per_unit",
    required={"window_days": positive_int, "tier_weights": tier_weights},
    optional={"min_count": (positive_int, 1)},
    figures=("count", "weighted", "days"),
)

KINDS: dict[str, KindSpec] = {
    "victim_count": _COUNT,
    "aggressor_count": _COUNT,
    "repeat_pair": KindSpec(
        entities=("student",),
        points="fixed",
        required={"window_days": positive_int, "min_repeats": positive_int},
        optional={"role": (one_of("victima", "agresor"), "victima")},
        figures=("count", "partners", "days"),
    ),
    "immediate": KindSpec(
        entities=("student", "school"),
        points="fixed",
        required={"window_days": positive_int},
        optional={
            "use_immediate_flag": (flag, True),
            "categories": (categories, ()),
            "types": (types, ()),
            "roles": (roles, ("victima", "agresor")),
        },
        figures=("count", "days"),
    ),
    "school_rate": KindSpec(
        entities=("school",),
        points="per_unit",
        required={"window_days": positive_int, "prior_strength": positive_number},
        optional={"min_count": (positive_int, 1), "min_ratio": (positive_number, 1.0)},
        figures=("count", "enrolment", "rate", "raw_rate", "national_rate", "ratio", "days"),
    ),
    "school_spike": KindSpec(
        entities=("school",),
        points="fixed",
        required={"recent_days": positive_int, "baseline_days": positive_int},
        optional={
            "min_count": (positive_int, 1),
            "min_ratio": (positive_number, 2.0),
            "min_expected": (positive_number, 1.0),
        },
        figures=("recent", "expected", "ratio", "days", "baseline_days"),
        days_param="recent_days",
    ),
    "silence": KindSpec(
        entities=("school",),
        points="fixed",
        required={"silent_days": positive_int, "baseline_days": positive_int},
        optional={
            "min_baseline_count": (positive_int, 1),
            "peer_share": (fraction, 0.5),
            "min_peers": (positive_int, 3),
            "size_bands": (size_bands, ()),
        },
        figures=("days", "peers", "peer_share", "baseline"),
        days_param="silent_days",
    ),
}


def lookback_days(rule: Rule) -> int:
    """Return how many days before the as-of date ``rule`` looks at."""
    params = rule.params
    if rule.kind == "school_spike":
        return params["recent_days"] + params["baseline_days"]
    if rule.kind == "silence":
        return params["silent_days"] + params["baseline_days"]
    return params["window_days"]


# --- Reading ------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, file_name: str, catalog, errors: list[str]):
        self.file_name, self.catalog, self.errors = file_name, catalog, errors

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{self.file_name}: {where + ': ' if where else ''}{message}")

    def levels(self, value) -> dict[str, float]:
        if not isinstance(value, dict):
            self.error("levels", f"must map medio, alto and critico to scores, not {_show(value)}")
            return {}
        for key in value:
            if key not in LEVELS[1:]:
                self.error("levels", f'unknown level "{key}" (use medio, alto, critico)')
        result = {}
        for name in LEVELS[1:]:
            if name not in value:
                self.error(f"levels.{name}", "missing")
            elif not _is_number(value[name]) or not 0 < value[name] <= 100:
                self.error(
                    f"levels.{name}",
                    f"must be a score above 0 and at most 100, not {_show(value[name])}",
                )
            else:
                result[name] = float(value[name])
        if len(result) == 3 and not result["medio"] < result["alto"] < result["critico"]:
            self.error("levels", "must rise: medio < alto < critico")
        return result

    def rules(self, value) -> tuple[Rule, ...]:
        if not isinstance(value, list) or not value:
            self.error("rules", f"must be a non-empty list of rules, not {_show(value)}")
            return ()
        seen: set[str] = set()
        rules = []
        for position, item in enumerate(value, start=1):
            rule_id = item.get("id") if isinstance(item, dict) else None
            usable = isinstance(rule_id, str) and RULE_ID.fullmatch(rule_id)
            where = f"rules[{rule_id}]" if usable else f"rules[#{position}]"
            if not isinstance(item, dict):
                self.error(where, f"must be a mapping, not {_show(item)}")
                continue
            if not usable:
                self.error(f"{where}.id", f"must be lower_snake_case, not {_show(rule_id)}")
            elif rule_id in seen:
                self.error(f"{where}.id", "is used by an earlier rule")
            seen.add(rule_id)
            rule = self.rule(item, where)
            if rule is not None and usable:
                rules.append(rule)
        return tuple(rules)

    def rule(self, item: dict, where: str) -> Rule | None:
        required = {"id", "entity", "kind", "params", "points", "explanation"}
        for key in item:
            if key not in required | {"alert"}:
                self.error(where, f'unknown field "{key}"')
        for key in sorted(required - item.keys()):
            self.error(f"{where}.{key}", "missing")
        errors_before = len(self.errors)
        kind = item.get("kind")
        spec = KINDS.get(kind) if isinstance(kind, str) else None
        if "kind" in item and spec is None:
            self.error(f"{where}.kind", f"unknown kind {_show(kind)} (use {', '.join(KINDS)})")
        entity = item.get("entity")
        if "entity" in item and entity not in ENTITIES:
            self.error(f"{where}.entity", f"must be student or school, not {_show(entity)}")
        elif spec is not None and entity is not None and entity not in spec.entities:
            self.error(
                f"{where}.entity",
                f"a {kind} rule scores {' or '.join(spec.entities)}, not {entity}",
            )
        params = self.params(item.get("params"), f"{where}.params", spec) if spec else {}
        points, per_unit, cap = self.points(item.get("points"), f"{where}.points", spec)
        alert_level, immediate = self.alert(item.get("alert"), f"{where}.alert")
        explanation = self.explanation(item.get("explanation"), f"{where}.explanation", spec)
        if len(self.errors) > errors_before or not required <= item.keys():
            return None
        return Rule(
            id=item["id"],
            entity=entity,
            kind=kind,
            params=MappingProxyType(params),
            points=points,
            per_unit=per_unit,
            cap=cap,
            alert_level=alert_level,
            immediate=immediate,
            explanation=MappingProxyType(explanation),
        )

    def params(self, value, where: str, spec: KindSpec) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(where, f"must be a mapping, not {_show(value)}")
            return {}
        for key, given in value.items():
            named = forbidden_words(str(key)) | set().union(
                *(forbidden_words(v) for v in _strings(given))
            )
            if named:
                self.error(
                    f"{where}.{key}",
                    f"names a protected trait ({', '.join(sorted(named))}): scores may use only "
                    "behaviour and incidents",
                )
            elif key not in spec.required and key not in spec.optional:
                known = ", ".join([*spec.required, *spec.optional])
                self.error(f"{where}.{key}", f"unknown parameter (use {known})")
        result = {}
        for key, check in spec.required.items():
            if key not in value:
                self.error(f"{where}.{key}", "missing")
                continue
            result[key] = self.checked(check, value[key], f"{where}.{key}")
        for key, (check, default) in spec.optional.items():
            result[key] = (
                self.checked(check, value[key], f"{where}.{key}") if key in value else default
            )
        return result

    def checked(self, check: Check, value, where: str):
        result, message = check(value, self.catalog)
        if message:
            self.error(where, message)
        return result

    def points(self, value, where: str, spec: KindSpec | None):
        if spec is None or value is None:
            return 0.0, None, None
        if spec.points == "fixed":
            if not _is_number(value) or not 0 < value <= 100:
                self.error(
                    where, f"must be a number of points above 0 and at most 100, not {_show(value)}"
                )
                return 0.0, None, None
            return float(value), None, None
        if not isinstance(value, dict) or set(value) != {"per_unit", "cap"}:
            self.error(where, f"must be {{per_unit: …, cap: …}}, not {_show(value)}")
            return 0.0, None, None
        per_unit, cap = value["per_unit"], value["cap"]
        if not _is_number(per_unit) or per_unit <= 0:
            self.error(f"{where}.per_unit", f"must be a number above 0, not {_show(per_unit)}")
        if not _is_number(cap) or not 0 < cap <= 100:
            self.error(
                f"{where}.cap", f"must be a number above 0 and at most 100, not {_show(cap)}"
            )
        if _is_number(per_unit) and _is_number(cap):
            return float(cap), float(per_unit), float(cap)
        return 0.0, None, None

    def alert(self, value, where: str) -> tuple[str | None, bool]:
        if value is None:
            return None, False
        if value == {"immediate": True}:
            return None, True
        if isinstance(value, dict) and set(value) == {"level"} and value["level"] in LEVELS[1:]:
            return value["level"], False
        self.error(
            where,
            f"must be {{level: medio|alto|critico}} or {{immediate: true}}, not {_show(value)}",
        )
        return None, False

    def explanation(self, value, where: str, spec: KindSpec | None) -> dict[str, str]:
        if not isinstance(value, dict):
            self.error(where, f"must have es and en, not {_show(value)}")
            return {}
        for key in value:
            if key not in LANGUAGES:
                self.error(where, f'unknown language "{key}" (use es and en)')
        result = {}
        for language in LANGUAGES:
            text = value.get(language)
            if language not in value:
                self.error(f"{where}.{language}", "missing")
            elif not isinstance(text, str) or not text.strip():
                self.error(f"{where}.{language}", f"must be a non-empty text, not {_show(text)}")
            else:
                result[language] = text.strip()
                if spec is not None:
                    self.placeholders(text, f"{where}.{language}", spec)
        return result

    def placeholders(self, text: str, where: str, spec: KindSpec) -> None:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as error:
            self.error(where, f"has a broken placeholder ({error})")
            return
        for name in names:
            if name not in spec.figures:
                self.error(where, f'unknown figure "{{{name}}}" (use {", ".join(spec.figures)})')


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def parse_rules(document, file_name: str = RULES_FILE, catalog=None) -> RuleSet:
    """Validate a parsed rules document; ``catalog`` (optional) checks category and type codes."""
    errors: list[str] = []
    reader = _Reader(file_name, catalog, errors)
    if not isinstance(document, dict):
        reader.error("", f"must be a mapping with version, levels and rules, not {_show(document)}")
        raise RulesError(errors)
    for key in document:
        if key not in {"version", "levels", "rules"}:
            reader.error(str(key), "unknown section")
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        reader.error("version", f'must be a text such as "2026.1", not {_show(version)}')
    levels = reader.levels(document.get("levels"))
    rules = reader.rules(document.get("rules"))
    if errors:
        raise RulesError(errors)
    return RuleSet(
        version=version.strip(), levels=MappingProxyType(levels), rules=rules, source=file_name
    )


def load_rules(path: str | Path, catalog=None) -> RuleSet:
    """Read and validate the rules file at ``path``."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise RulesError([f"{path.name}: cannot be read ({error.strerror})"]) from error
    except yaml.YAMLError as error:
        raise RulesError([f"{path.name}: is not valid YAML ({error})"]) from error
    return parse_rules(document, path.name, catalog)
