"""The scoring engine: incident tables in, risk scores with each rule's contribution out.

Pure and vectorised: every rule kind works on whole tables at once (merge, groupby, bincount);
there is no Python loop over students or schools, only over the list of rules.

Semantics shared by every kind (and by the test suite's reference implementation):
- an incident counts when its status is not ``infundado`` and ``as_of - days < occurred_at <=
  as_of`` for the rule's window of ``days``;
- an incident's tier weight is the largest weight among its types;
- a student takes part in an incident through a party row with ``kind == "estudiante"``; the same
  student named twice in one role of one incident counts once.

Rescoring a few entities: ``score(..., only_students=ids, only_schools=ids)`` (``None``: all; an
empty list: none). Student rules look only at the incidents of those students, so the parties
table is cut to them before any work. School rules compare a school with its department (the
shrinkage prior, silence peers) and the nation (the reference rate). With the whole incidents
table they aggregate it (one ``bincount`` per window); rescoring after one saved report instead
passes only the school's own incidents and a ``Reference``: the department and national figures
of the last national pass (``ScoreResult.reference``), a slowly moving prior.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from salve.scoring.rules import ENTITIES, KINDS, Rule, RuleSet, forbidden_words, lookback_days

DAY_NS = 86_400 * 10**9

#: The columns each input table must have; others are dropped before scoring.
COLUMNS: dict[str, tuple[str, ...]] = {
    "incidents": ("id", "school_id", "occurred_at", "status"),
    "incident_types": ("incident_id", "type_code", "tier", "is_immediate", "category"),
    "parties": ("incident_id", "role", "kind", "student_id"),
    "students": ("id", "school_id"),
    "schools": ("id", "department_id", "enrolment"),
}


@dataclass(frozen=True)
class ScoreTables:
    """The engine's inputs: behaviour and incidents only.

    A column naming a protected trait (sex, ethnicity, disability, income…) is refused, even if
    unused: the engine must not be handed one.
    """

    incidents: pd.DataFrame
    incident_types: pd.DataFrame
    parties: pd.DataFrame
    students: pd.DataFrame
    schools: pd.DataFrame

    def __post_init__(self):
        for name, columns in COLUMNS.items():
            frame = getattr(self, name)
            missing = [column for column in columns if column not in frame.columns]
            if missing:
                raise ValueError(f"{name} lacks the columns {', '.join(missing)}")
            named = [c for c in frame.columns if forbidden_words(str(c))]
            if named:
                raise ValueError(
                    f"{name} has columns naming protected traits ({', '.join(map(str, named))}): "
                    "scores may use only behaviour and incidents"
                )

    def columns(self) -> dict[str, list[str]]:
        """Return the columns of every table (for tests and logs)."""
        return {name: list(getattr(self, name).columns) for name in COLUMNS}


@dataclass(frozen=True)
class ScoreResult:
    """Scores of every entity scored, and the contributions that make them up."""

    #: entity_type, entity_id, score (0-100, one decimal), level.
    scores: pd.DataFrame
    #: entity_type, entity_id, rule_id, points, immediate, alert, figures (a dict per row).
    contributions: pd.DataFrame
    rules_version: str
    #: The department and national figures of this pass (only when every school was scored).
    reference: dict | None = None


# A reference is plain JSON, stored with the scores:
#   {"rules_version": "2026.1",
#    "rates": {rule_id: {"departments": {"<department_id>": [count, enrolment]},
#                        "national": [count, enrolment]}},
#    "peers": {rule_id: {"<department_id>:<band>": [schools, reporting]}}}


# --- Preparation ---------------------------------------------------------------------------------


class Context:
    """The input tables cut to what the rules need, with lazily computed shared pieces."""

    def __init__(
        self,
        tables: ScoreTables,
        rules: RuleSet,
        as_of,
        only_students,
        only_schools,
        reference: dict | None = None,
    ):
        self.as_of = _utc(as_of)
        self.rules = rules
        if reference is not None and reference.get("rules_version") != rules.version:
            raise ValueError("the reference was computed with another rules version")
        #: Department and national figures given from outside (None: aggregate the tables).
        self.reference = reference
        #: Figures of this pass for a reference, filled by the school rules.
        self.collected: dict = {"rules_version": rules.version, "rates": {}, "peers": {}}
        self.only_students = (
            None
            if only_students is None
            else np.unique(np.asarray(list(only_students), dtype=np.int64))
        )
        self.only_schools = (
            None
            if only_schools is None
            else np.unique(np.asarray(list(only_schools), dtype=np.int64))
        )
        horizon = max((lookback_days(rule) for rule in rules.rules), default=0)
        self.horizon = horizon
        as_of_ns = self.as_of.value
        incidents = tables.incidents
        occurred = _utc_ns(incidents["occurred_at"])
        age = as_of_ns - occurred
        keep = (
            (incidents["status"].to_numpy() != "infundado") & (age >= 0) & (age < horizon * DAY_NS)
        )
        #: Counted incidents within the longest window: id, school_id, age (ns before as_of).
        self.incidents = pd.DataFrame(
            {
                "id": incidents["id"].to_numpy()[keep],
                "school_id": incidents["school_id"].to_numpy()[keep],
                "age": age[keep],
            }
        )
        self.incident_types = tables.incident_types
        self.schools = tables.schools
        self.students = tables.students
        self._parties_source = tables.parties
        self._student_parties: pd.DataFrame | None = None

    @property
    def student_parties(self) -> pd.DataFrame:
        """Student parties of counted incidents: incident_id, role, student_id, age."""
        if self._student_parties is None:
            parties = self._parties_source
            if self.only_students is not None:
                # Only the incidents of the students asked for (with all their parties, for pairs).
                student = parties["student_id"].to_numpy(dtype=float, na_value=np.nan)
                incident = parties["incident_id"].to_numpy(dtype=np.int64)
                touching = incident[np.isin(student, self.only_students)]
                parties = parties[np.isin(incident, touching)]
            parties = parties[(parties["kind"] == "estudiante") & parties["student_id"].notna()]
            parties = pd.DataFrame(
                {
                    "incident_id": parties["incident_id"].to_numpy(dtype=np.int64),
                    "role": parties["role"].to_numpy(),
                    "student_id": parties["student_id"].to_numpy(dtype=np.int64),
                }
            )
            incidents = self.incidents
            if self.only_students is not None:
                incidents = incidents[np.isin(incidents["id"].to_numpy(), parties["incident_id"])]
            parties = parties.merge(
                incidents[["id", "age"]].rename(columns={"id": "incident_id"}),
                on="incident_id",
            )
            self._student_parties = parties.drop_duplicates(["incident_id", "role", "student_id"])
        return self._student_parties

    def incident_weight(self, weights: Mapping[str, float], incident_ids) -> np.ndarray:
        """Return the tier weight of each incident in ``incident_ids`` (max over its types)."""
        incident_ids = np.asarray(incident_ids, dtype=np.int64)
        types = self.incident_types
        types = types[types["incident_id"].isin(incident_ids)]
        tier = types["tier"].to_numpy()
        per_type = np.select(
            [tier == name for name in weights], [float(w) for w in weights.values()], 0.0
        )
        by_incident = pd.Series(per_type, index=types["incident_id"].to_numpy(dtype=np.int64))
        by_incident = by_incident.groupby(level=0).max()
        return by_incident.reindex(incident_ids).fillna(0.0).to_numpy()

    def immediate_incidents(self, params: Mapping[str, Any], among) -> np.ndarray:
        """Return the ids among ``among`` of incidents with a type the rule treats as immediate."""
        types = self.incident_types
        types = types[types["incident_id"].isin(np.asarray(among, dtype=np.int64))]
        hit = np.zeros(len(types), dtype=bool)
        if params["use_immediate_flag"]:
            hit |= types["is_immediate"].fillna(False).to_numpy(dtype=bool)
        if params["categories"]:
            hit |= types["category"].isin(params["categories"]).to_numpy()
        if params["types"]:
            hit |= types["type_code"].isin(params["types"]).to_numpy()
        return np.unique(types["incident_id"].to_numpy()[hit])

    def school_counts(self, start_days: int, end_days: int) -> np.ndarray:
        """Return, aligned with ``self.schools``, incidents with start <= age (days) < end."""
        cumulative = self._school_days
        return cumulative[:, end_days] - cumulative[:, start_days]

    @cached_property
    def department_codes(self) -> np.ndarray:
        """The schools' departments as codes 0…n-1, aligned with ``self.schools``."""
        codes, _ = pd.factorize(self.schools["department_id"].to_numpy())
        return codes.astype(np.int64)

    @cached_property
    def _school_days(self) -> np.ndarray:
        """Incidents per school (rows, as ``self.schools``) before each whole day of age.

        ``age < n days`` is ``age // 1 day < n`` for whole ``n``, so one bincount over (school,
        day) and a cumulative sum answer every window of every school rule.
        """
        schools = len(self.schools)
        position = pd.Index(self.schools["id"].to_numpy()).get_indexer(
            self.incidents["school_id"].to_numpy()
        )
        day = self.incidents["age"].to_numpy() // DAY_NS
        known = position >= 0
        per_day = np.bincount(
            position[known] * self.horizon + day[known], minlength=schools * self.horizon
        ).reshape(schools, self.horizon)
        cumulative = np.zeros((schools, self.horizon + 1), dtype=np.int64)
        np.cumsum(per_day, axis=1, out=cumulative[:, 1:])
        return cumulative

    def students_in_scope(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.only_students is None:
            return frame
        return frame[frame["entity_id"].isin(self.only_students)]

    def schools_in_scope(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.only_schools is None:
            return frame
        return frame[frame["entity_id"].isin(self.only_schools)]


def _utc(moment) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _utc_ns(column: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("ns").asi8


def _group_sum(codes: np.ndarray, values) -> np.ndarray:
    """Return, for each row, the sum of ``values`` over the rows with the same code (0…n-1).

    Whole numbers are added as floats, which is exact below 2**53, and given back whole.
    """
    values = np.asarray(values)
    size = int(codes.max()) + 1 if len(codes) else 0
    sums = np.bincount(codes, weights=values.astype(float), minlength=size)[codes]
    return sums.astype(values.dtype) if values.dtype.kind in "iub" else sums


def _window(rule: Rule) -> int:
    return rule.params["window_days"]


def _per_unit_points(rule: Rule, units) -> np.ndarray:
    return np.minimum(rule.cap, np.asarray(units, dtype=float) * rule.per_unit)


# --- Rule kinds: each returns entity_id, points and the kind's figures, one row per entity --------


def _role_count(role: str) -> Callable[[Context, Rule], pd.DataFrame]:
    def count(ctx: Context, rule: Rule) -> pd.DataFrame:
        days = _window(rule)
        parties = ctx.student_parties
        chosen = parties[(parties["role"] == role) & (parties["age"] < days * DAY_NS)]
        weight = ctx.incident_weight(rule.params["tier_weights"], chosen["incident_id"])
        grouped = (
            pd.DataFrame({"entity_id": chosen["student_id"].to_numpy(), "weight": weight})
            .groupby("entity_id", sort=True)
            .agg(count=("weight", "size"), weighted=("weight", "sum"))
            .reset_index()
        )
        grouped = grouped[grouped["count"] >= rule.params["min_count"]]
        return grouped.assign(
            points=_per_unit_points(rule, grouped["weighted"]),
            weighted=grouped["weighted"].round(2),
            days=days,
        )

    return count


def _repeat_pair(ctx: Context, rule: Rule) -> pd.DataFrame:
    days = _window(rule)
    parties = ctx.student_parties
    recent = parties[parties["age"] < days * DAY_NS]
    victims = recent.loc[recent["role"] == "victima", ["incident_id", "student_id"]]
    aggressors = recent.loc[recent["role"] == "agresor", ["incident_id", "student_id"]]
    pairs = victims.merge(aggressors, on="incident_id", suffixes=("_victim", "_aggressor"))
    pairs = pairs[pairs["student_id_victim"] != pairs["student_id_aggressor"]]
    repeats = pairs.groupby(["student_id_victim", "student_id_aggressor"]).size().rename("count")
    repeats = repeats[repeats >= rule.params["min_repeats"]].reset_index()
    side = "student_id_victim" if rule.params["role"] == "victima" else "student_id_aggressor"
    grouped = (
        repeats.groupby(side, sort=True)
        .agg(count=("count", "max"), partners=("count", "size"))
        .reset_index()
        .rename(columns={side: "entity_id"})
    )
    return grouped.assign(points=rule.points, days=days)


def _immediate(ctx: Context, rule: Rule) -> pd.DataFrame:
    days = _window(rule)
    if rule.entity == "student":
        parties = ctx.student_parties
        chosen = parties[
            parties["role"].isin(rule.params["roles"]) & (parties["age"] < days * DAY_NS)
        ]
        flagged = ctx.immediate_incidents(rule.params, chosen["incident_id"].unique())
        chosen = chosen[chosen["incident_id"].isin(flagged)]
        # One incident counts once per student, whatever roles they had in it.
        chosen = chosen.drop_duplicates(["incident_id", "student_id"])
        ids = chosen["student_id"]
    else:
        incidents = ctx.incidents
        if ctx.only_schools is not None:
            incidents = incidents[np.isin(incidents["school_id"].to_numpy(), ctx.only_schools)]
        chosen = incidents[incidents["age"] < days * DAY_NS]
        chosen = chosen[chosen["id"].isin(ctx.immediate_incidents(rule.params, chosen["id"]))]
        ids = chosen["school_id"]
    counts = ids.value_counts().sort_index()
    return pd.DataFrame(
        {"entity_id": counts.index.to_numpy(dtype=np.int64), "count": counts.to_numpy()}
    ).assign(points=rule.points, days=days)


def _school_rate(ctx: Context, rule: Rule) -> pd.DataFrame:
    days, params = _window(rule), rule.params
    schools = ctx.schools
    count = ctx.school_counts(0, days).astype(float)
    enrolment = schools["enrolment"].to_numpy(dtype=np.int64)
    hundreds = enrolment / 100
    if ctx.reference is None:
        department = ctx.department_codes
        # Department sums over whole numbers, then one division: the same floats as a plain loop.
        department_count = _group_sum(department, count)
        department_enrolment = _group_sum(department, enrolment)
        national_count, national_enrolment = count.sum(), enrolment.sum()
        departments = schools["department_id"].to_numpy()
        first = np.unique(department, return_index=True)[1]
        ctx.collected["rates"][rule.id] = {
            "departments": {
                str(int(departments[i])): [int(department_count[i]), int(department_enrolment[i])]
                for i in first
            },  # one entry per department: fourteen, not a loop over schools
            "national": [int(national_count), int(national_enrolment)],
        }
    else:
        given = ctx.reference["rates"][rule.id]
        figures = [
            given["departments"].get(str(int(d)), [0, 0]) for d in schools["department_id"]
        ]  # the few schools being rescored
        department_count = np.array([f[0] for f in figures], dtype=float).reshape(-1)
        department_enrolment = np.array([f[1] for f in figures], dtype=np.int64).reshape(-1)
        national_count, national_enrolment = given["national"]
    department_hundreds = department_enrolment / 100
    department_rate = np.divide(
        department_count,
        department_hundreds,
        out=np.zeros(len(schools)),
        where=department_hundreds > 0,
    )
    k = params["prior_strength"]
    shrunk = (count + k * department_rate) / (hundreds + k)
    total_hundreds = national_enrolment / 100
    national = national_count / total_hundreds if total_hundreds > 0 else 0.0
    ratio = shrunk / national if national > 0 else np.zeros(len(schools))
    raw = np.divide(count, hundreds, out=np.zeros(len(schools)), where=hundreds > 0)
    hit = (count >= params["min_count"]) & (ratio >= params["min_ratio"]) & (national > 0)
    return pd.DataFrame(
        {
            "entity_id": schools["id"].to_numpy()[hit],
            "points": _per_unit_points(rule, ratio[hit]),
            "count": count[hit].astype(np.int64),
            "enrolment": schools["enrolment"].to_numpy()[hit],
            "rate": np.round(shrunk[hit], 2),
            "raw_rate": np.round(raw[hit], 2),
            "national_rate": round(national, 2),
            "ratio": np.round(ratio[hit], 1),
            "days": days,
        }
    )


def _school_spike(ctx: Context, rule: Rule) -> pd.DataFrame:
    params = rule.params
    recent_days, baseline_days = params["recent_days"], params["baseline_days"]
    recent = ctx.school_counts(0, recent_days)
    baseline = ctx.school_counts(recent_days, recent_days + baseline_days)
    expected = baseline * (recent_days / baseline_days)
    ratio = recent / np.maximum(expected, params["min_expected"])
    hit = (recent >= params["min_count"]) & (ratio >= params["min_ratio"])
    return pd.DataFrame(
        {
            "entity_id": ctx.schools["id"].to_numpy()[hit],
            "points": rule.points,
            "recent": recent[hit],
            "expected": np.round(expected[hit], 1),
            "ratio": np.round(ratio[hit], 1),
            "days": recent_days,
            "baseline_days": baseline_days,
        }
    )


def _silence(ctx: Context, rule: Rule) -> pd.DataFrame:
    params = rule.params
    silent_days = params["silent_days"]
    recent = ctx.school_counts(0, silent_days)
    baseline = ctx.school_counts(silent_days, silent_days + params["baseline_days"])
    schools = ctx.schools
    band = np.searchsorted(
        np.asarray(params["size_bands"], dtype=float),
        schools["enrolment"].to_numpy(dtype=float),
        side="left",
    )
    reported = (recent > 0).astype(np.int64)
    bands = len(params["size_bands"]) + 1
    if ctx.reference is None:
        group = ctx.department_codes * bands + band
        members = _group_sum(group, np.ones(len(schools), dtype=np.int64))
        reporting = _group_sum(group, reported)
        departments = schools["department_id"].to_numpy()
        first = np.unique(group, return_index=True)[1]
        ctx.collected["peers"][rule.id] = {
            f"{int(departments[i])}:{int(band[i])}": [int(members[i]), int(reporting[i])]
            for i in first
        }  # one entry per department and size band
    else:
        given = ctx.reference["peers"][rule.id]
        figures = [
            given.get(f"{int(d)}:{int(b)}", [1, 0])
            for d, b in zip(schools["department_id"], band, strict=True)
        ]  # the few schools being rescored
        members = np.array([max(f[0], 1) for f in figures], dtype=np.int64).reshape(-1)
        # The reference counted the school itself as it was then; count it as it is now.
        reporting = np.maximum(
            np.array([f[1] for f in figures], dtype=np.int64).reshape(-1), reported
        )
    peers = members - 1
    peers_reporting = reporting - reported
    share = np.divide(peers_reporting, peers, out=np.zeros(len(schools)), where=peers > 0)
    hit = (
        (recent == 0)
        & (baseline >= params["min_baseline_count"])
        & (peers >= params["min_peers"])
        & (share >= params["peer_share"])
    )
    return pd.DataFrame(
        {
            "entity_id": schools["id"].to_numpy()[hit],
            "points": rule.points,
            "days": silent_days,
            "peers": peers[hit],
            "peer_share": np.round(share[hit] * 100).astype(np.int64),
            "baseline": baseline[hit],
        }
    )


#: Kind name → function(context, rule) returning one row per entity the rule contributes to.
RULE_KINDS: dict[str, Callable[[Context, Rule], pd.DataFrame]] = {
    "victim_count": _role_count("victima"),
    "aggressor_count": _role_count("agresor"),
    "repeat_pair": _repeat_pair,
    "immediate": _immediate,
    "school_rate": _school_rate,
    "school_spike": _school_spike,
    "silence": _silence,
}
assert set(RULE_KINDS) == set(KINDS), "every kind in rules.KINDS needs an engine function"


# --- Scoring ------------------------------------------------------------------------------------


def evaluate(ctx: Context, rule: Rule) -> pd.DataFrame:
    """Return one rule's contributions: entity_id, points and its figures (positive points only)."""
    frame = RULE_KINDS[rule.kind](ctx, rule)
    frame = frame[frame["points"] > 0]
    frame = (
        ctx.students_in_scope(frame) if rule.entity == "student" else ctx.schools_in_scope(frame)
    )
    figures = list(KINDS[rule.kind].figures)
    return frame[["entity_id", "points", *figures]].reset_index(drop=True)


def score(
    tables: ScoreTables,
    rules: RuleSet,
    as_of: datetime | pd.Timestamp,
    *,
    only_students: Iterable[int] | None = None,
    only_schools: Iterable[int] | None = None,
    reference: dict | None = None,
) -> ScoreResult:
    """Score every student and school of ``tables`` (or only those listed) as of ``as_of`` (UTC).

    ``reference``: department and national figures to compare schools with, instead of
    aggregating ``tables`` (which then need hold only the listed schools' incidents).
    """
    ctx = Context(tables, rules, as_of, only_students, only_schools, reference)
    parts = []
    for rule in rules.rules:
        if (
            rule.entity == "student"
            and ctx.only_students is not None
            and not len(ctx.only_students)
        ):
            continue
        if rule.entity == "school" and ctx.only_schools is not None and not len(ctx.only_schools):
            continue
        frame = evaluate(ctx, rule)
        figure_columns = list(KINDS[rule.kind].figures)
        parts.append(
            pd.DataFrame(
                {
                    "entity_type": rule.entity,
                    "entity_id": frame["entity_id"].to_numpy(dtype=np.int64),
                    "rule_id": rule.id,
                    "points": frame["points"].to_numpy(dtype=float).round(2),
                    "immediate": rule.immediate,
                    "alert_level": rule.alert_level,
                    "figures": frame[figure_columns].to_dict("records") if len(frame) else [],
                }
            )
        )
    empty = pd.DataFrame(
        {
            "entity_type": pd.Series(dtype=object),
            "entity_id": pd.Series(dtype=np.int64),
            "rule_id": pd.Series(dtype=object),
            "points": pd.Series(dtype=float),
            "immediate": pd.Series(dtype=bool),
            "alert_level": pd.Series(dtype=object),
            "figures": pd.Series(dtype=object),
        }
    )
    contributions = pd.concat([empty, *[p for p in parts if len(p)]], ignore_index=True)

    entities = []
    for entity_type, ids in (("student", ctx.students["id"]), ("school", ctx.schools["id"])):
        only = ctx.only_students if entity_type == "student" else ctx.only_schools
        ids = ids.to_numpy(dtype=np.int64)
        if only is not None:
            ids = ids[np.isin(ids, only)]
        entities.append(pd.DataFrame({"entity_type": entity_type, "entity_id": ids}))
    scores = pd.concat(entities, ignore_index=True)
    totals = contributions.groupby(["entity_type", "entity_id"])["points"].sum()
    summed = pd.MultiIndex.from_frame(scores[["entity_type", "entity_id"]])
    total = totals.reindex(summed).fillna(0.0).to_numpy()
    scores["score"] = np.minimum(100.0, total).round(1)
    scores["level"] = rules.level_of(scores["score"].to_numpy())

    # A contribution raises an alert when its rule is immediate, or when its entity's level has
    # reached the rule's alert level.
    rank = {name: position for position, name in enumerate(("bajo", "medio", "alto", "critico"))}
    level_by_entity = pd.Series(scores["level"].to_numpy(), index=summed)
    entity_level = level_by_entity.reindex(
        pd.MultiIndex.from_frame(contributions[["entity_type", "entity_id"]])
    ).to_numpy()
    entity_rank = pd.Series(entity_level, dtype=object).map(rank).fillna(-1).to_numpy()
    alert_rank = contributions["alert_level"].map(rank).fillna(99).to_numpy()
    contributions["alert"] = contributions["immediate"].to_numpy(dtype=bool) | (
        entity_rank >= alert_rank
    )
    whole_nation = ctx.reference is None and ctx.only_schools is None
    return ScoreResult(
        scores=scores,
        contributions=contributions,
        rules_version=rules.version,
        reference=ctx.collected if whole_nation else None,
    )


def explain(contribution: Mapping[str, Any], rule: Rule, language: str = "es") -> str:
    """Return the plain-language explanation of one contribution (a row of ``contributions``)."""
    return rule.explain(contribution["figures"], language)


__all__ = ["ENTITIES", "RULE_KINDS", "ScoreResult", "ScoreTables", "explain", "score"]
