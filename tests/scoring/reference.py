"""A plain, row-by-row reference implementation of every rule kind, for tests only.

Written for obviousness, not speed: Python loops over plain lists of dicts, one entity at a time.
It must agree with ``salve.scoring.engine`` rule by rule (``test_property.py``).
"""

from __future__ import annotations

import math

import pandas as pd

DAY_NS = 86_400 * 10**9


def _rows(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class Reference:
    def __init__(self, tables, as_of):
        self.as_of = pd.Timestamp(as_of)
        self.incidents = _rows(tables.incidents)
        self.types = _rows(tables.incident_types)
        self.parties = _rows(tables.parties)
        self.students = _rows(tables.students)
        self.schools = _rows(tables.schools)

    def age(self, incident) -> int:
        return (self.as_of - pd.Timestamp(incident["occurred_at"])).value

    def counted(self, incident, start_days, end_days) -> bool:
        """Not unfounded, and start <= days before as_of < end."""
        if incident["status"] == "infundado":
            return False
        age = self.age(incident)
        return start_days * DAY_NS <= age < end_days * DAY_NS

    def incidents_in_window(self, days) -> list[dict]:
        return [i for i in self.incidents if self.counted(i, 0, days)]

    def weight(self, incident_id, weights) -> float:
        found = [weights[t["tier"]] for t in self.types if t["incident_id"] == incident_id]
        return max(found) if found else 0.0

    def is_immediate(self, incident_id, params) -> bool:
        for t in self.types:
            if t["incident_id"] != incident_id:
                continue
            if params["use_immediate_flag"] and t["is_immediate"] is True:
                return True
            if t["category"] in params["categories"] or t["type_code"] in params["types"]:
                return True
        return False

    def student_roles(self, incident_id) -> list[tuple[str, int]]:
        """(role, student_id) of the students in an incident."""
        found = []
        for p in self.parties:
            if (
                p["incident_id"] == incident_id
                and p["kind"] == "estudiante"
                and not _missing(p["student_id"])
            ):
                found.append((p["role"], int(p["student_id"])))
        return found

    # --- Kinds: each returns {entity_id: {"points": …, figure: …}} ---------------------------

    def victim_count(self, rule):
        return self._role_count(rule, "victima")

    def aggressor_count(self, rule):
        return self._role_count(rule, "agresor")

    def _role_count(self, rule, role):
        days = rule.params["window_days"]
        result = {}
        for student in self.students:
            count, weighted = 0, 0.0
            for incident in self.incidents_in_window(days):
                if (role, student["id"]) in self.student_roles(incident["id"]):
                    count += 1
                    weighted += self.weight(incident["id"], rule.params["tier_weights"])
            if count >= rule.params["min_count"]:
                points = min(rule.cap, weighted * rule.per_unit)
                if points > 0:
                    result[student["id"]] = {
                        "points": points,
                        "count": count,
                        "weighted": round(weighted, 2),
                        "days": days,
                    }
        return result

    def repeat_pair(self, rule):
        days = rule.params["window_days"]
        pair_counts: dict[tuple[int, int], int] = {}
        for incident in self.incidents_in_window(days):
            roles = set(self.student_roles(incident["id"]))
            victims = {s for r, s in roles if r == "victima"}
            aggressors = {s for r, s in roles if r == "agresor"}
            for victim in victims:
                for aggressor in aggressors:
                    if victim != aggressor:
                        key = (victim, aggressor)
                        pair_counts[key] = pair_counts.get(key, 0) + 1
        result = {}
        for student in self.students:
            repeats = []
            for (victim, aggressor), n in pair_counts.items():
                mine = victim if rule.params["role"] == "victima" else aggressor
                if mine == student["id"] and n >= rule.params["min_repeats"]:
                    repeats.append(n)
            if repeats:
                result[student["id"]] = {
                    "points": rule.points,
                    "count": max(repeats),
                    "partners": len(repeats),
                    "days": days,
                }
        return result

    def immediate(self, rule):
        days = rule.params["window_days"]
        result = {}
        if rule.entity == "student":
            for student in self.students:
                count = 0
                for incident in self.incidents_in_window(days):
                    if not self.is_immediate(incident["id"], rule.params):
                        continue
                    roles = {r for r, s in self.student_roles(incident["id"]) if s == student["id"]}
                    if roles & set(rule.params["roles"]):
                        count += 1
                if count:
                    result[student["id"]] = {"points": rule.points, "count": count, "days": days}
        else:
            for school in self.schools:
                count = 0
                for incident in self.incidents_in_window(days):
                    if incident["school_id"] == school["id"] and self.is_immediate(
                        incident["id"], rule.params
                    ):
                        count += 1
                if count:
                    result[school["id"]] = {"points": rule.points, "count": count, "days": days}
        return result

    def school_count(self, school_id, start_days, end_days) -> int:
        return sum(
            1
            for i in self.incidents
            if i["school_id"] == school_id and self.counted(i, start_days, end_days)
        )

    def school_rate(self, rule):
        p, days = rule.params, rule.params["window_days"]
        counts = {s["id"]: self.school_count(s["id"], 0, days) for s in self.schools}
        national_count = sum(counts.values())
        national_enrolment = sum(s["enrolment"] for s in self.schools)
        national = national_count / (national_enrolment / 100) if national_enrolment else 0.0
        result = {}
        for school in self.schools:
            dept = [s for s in self.schools if s["department_id"] == school["department_id"]]
            dept_count = sum(counts[s["id"]] for s in dept)
            dept_enrolment = sum(s["enrolment"] for s in dept)
            dept_rate = dept_count / (dept_enrolment / 100) if dept_enrolment else 0.0
            count = counts[school["id"]]
            hundreds = school["enrolment"] / 100
            shrunk = (count + p["prior_strength"] * dept_rate) / (hundreds + p["prior_strength"])
            ratio = shrunk / national if national > 0 else 0.0
            if national > 0 and count >= p["min_count"] and ratio >= p["min_ratio"]:
                result[school["id"]] = {
                    "points": min(rule.cap, ratio * rule.per_unit),
                    "count": count,
                    "enrolment": school["enrolment"],
                    "rate": round(shrunk, 2),
                    "raw_rate": round(count / hundreds, 2) if hundreds else 0.0,
                    "national_rate": round(national, 2),
                    "ratio": round(ratio, 1),
                    "days": days,
                }
        return result

    def school_spike(self, rule):
        p = rule.params
        recent_days, baseline_days = p["recent_days"], p["baseline_days"]
        result = {}
        for school in self.schools:
            recent = self.school_count(school["id"], 0, recent_days)
            base = self.school_count(school["id"], recent_days, recent_days + baseline_days)
            expected = base * (recent_days / baseline_days)
            ratio = recent / max(expected, p["min_expected"])
            if recent >= p["min_count"] and ratio >= p["min_ratio"]:
                result[school["id"]] = {
                    "points": rule.points,
                    "recent": recent,
                    "expected": round(expected, 1),
                    "ratio": round(ratio, 1),
                    "days": recent_days,
                    "baseline_days": baseline_days,
                }
        return result

    def silence(self, rule):
        p = rule.params
        silent, baseline_days = p["silent_days"], p["baseline_days"]

        def band(school):
            return sum(1 for bound in p["size_bands"] if bound < school["enrolment"])

        def reported(school):
            return self.school_count(school["id"], 0, silent) > 0

        result = {}
        for school in self.schools:
            if reported(school):
                continue
            baseline = self.school_count(school["id"], silent, silent + baseline_days)
            peers = [
                s
                for s in self.schools
                if s["id"] != school["id"]
                and s["department_id"] == school["department_id"]
                and band(s) == band(school)
            ]
            if not peers:
                continue
            share = sum(1 for s in peers if reported(s)) / len(peers)
            if (
                baseline >= p["min_baseline_count"]
                and len(peers) >= p["min_peers"]
                and share >= p["peer_share"]
            ):
                result[school["id"]] = {
                    "points": rule.points,
                    "days": silent,
                    "peers": len(peers),
                    "peer_share": round(share * 100),
                    "baseline": baseline,
                }
        return result


def reference_rule(tables, rule, as_of) -> dict[int, dict]:
    """Return ``{entity_id: {"points": …, figures…}}`` for one rule, the slow obvious way."""
    return getattr(Reference(tables, as_of), rule.kind)(rule)
