"""The alert policy of ``catalogs/alerts.yaml``: deadlines, clearing, dismissal reasons, jobs.

``load_policy(path)`` returns an ``AlertPolicy`` or raises ``PolicyError`` listing every problem,
each naming the file and field, e.g. ``alerts.yaml: acknowledge_hours.alto: must be a whole
number of hours above 0, not "tres"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

POLICY_FILE = "alerts.yaml"
LEVELS = ("medio", "alto", "critico")
TIERS = ("I", "II", "III")
#: The jobs the scheduler knows; the file gives each one's schedule.
JOB_NAMES = (
    "rescore", "raise_alerts", "escalate", "overdue_steps", "send_mail", "digest", "anonymise",
)  # fmt: skip


class PolicyError(Exception):
    """The policy file is unusable; ``errors`` name the file and field of each problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Reason:
    code: str
    es: str
    en: str

    def label(self, language: str = "es") -> str:
        return self.en if language.startswith("en") else self.es


@dataclass(frozen=True)
class JobSchedule:
    """Every ``minutes`` minutes, or once a day at ``hour``:``minute`` (El Salvador time)."""

    name: str
    minutes: int | None = None
    hour: int | None = None
    minute: int = 0


@dataclass(frozen=True)
class AlertPolicy:
    version: str
    acknowledge_hours: Mapping[str, int]
    clear_below: str
    clear_after_days: int
    cooldown_days: int
    dismiss_reasons: tuple[Reason, ...]
    min_follow_ups: Mapping[str, int]
    referrals_answered: bool
    supervisor_approval: bool
    digest_level: str
    digest_hour: int
    jobs: tuple[JobSchedule, ...]
    misfire_grace_seconds: int

    def reason(self, code: str) -> Reason | None:
        return next((r for r in self.dismiss_reasons if r.code == code), None)

    def job(self, name: str) -> JobSchedule:
        return next(job for job in self.jobs if job.name == name)


def _whole(value, low: int, high: int | None = None) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= low
        and (high is None or value <= high)
    )


def parse_policy(document: Any, file_name: str = POLICY_FILE) -> AlertPolicy:
    """Validate a parsed ``alerts.yaml`` and return the policy."""
    errors: list[str] = []

    def error(where: str, message: str) -> None:
        errors.append(f"{file_name}: {where}: {message}")

    if not isinstance(document, dict):
        raise PolicyError([f"{file_name}: must be a mapping of settings"])
    known = {
        "version", "acknowledge_hours", "clear_below", "clear_after_days", "cooldown_days",
        "dismiss_reasons", "case_closure", "digest", "jobs", "misfire_grace_seconds",
    }  # fmt: skip
    for key in document:
        if key not in known:
            error(str(key), "unknown setting")
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        error("version", 'must be a quoted version such as "2026.1"')
    hours = document.get("acknowledge_hours")
    acknowledge: dict[str, int] = {}
    if not isinstance(hours, dict):
        error("acknowledge_hours", f"must give the hours for each level: {', '.join(LEVELS)}")
    else:
        for level in LEVELS:
            value = hours.get(level)
            if not _whole(value, 1):
                error(
                    f"acknowledge_hours.{level}",
                    f"must be a whole number of hours above 0, not {value!r}",
                )
            else:
                acknowledge[level] = value
        for level in hours:
            if level not in LEVELS:
                error(f"acknowledge_hours.{level}", f"unknown level; use {', '.join(LEVELS)}")
    clear_below = document.get("clear_below")
    if clear_below not in LEVELS:
        error("clear_below", f"must be one of {', '.join(LEVELS)}, not {clear_below!r}")
    for name in ("clear_after_days", "cooldown_days"):
        if not _whole(document.get(name), 0, 365):
            error(name, f"must be a whole number of days from 0 to 365, not {document.get(name)!r}")
    reasons = []
    raw_reasons = document.get("dismiss_reasons")
    if not isinstance(raw_reasons, list) or not raw_reasons:
        error("dismiss_reasons", "must list at least one reason with code and label")
    else:
        for position, item in enumerate(raw_reasons):
            where = f"dismiss_reasons[#{position + 1}]"
            if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                error(where, "needs a code and a label {es: …, en: …}")
                continue
            label = item.get("label")
            if not isinstance(label, dict) or not all(
                isinstance(label.get(lang), str) and label.get(lang) for lang in ("es", "en")
            ):
                error(f"dismiss_reasons[{item['code']}].label", "needs es and en")
                continue
            reasons.append(Reason(item["code"], label["es"], label["en"]))
        codes = [r.code for r in reasons]
        for code in {c for c in codes if codes.count(c) > 1}:
            error(f"dismiss_reasons[{code}]", "code given twice")
    closure = document.get("case_closure")
    follow_ups: dict[str, int] = {}
    answered = approval = True
    if not isinstance(closure, dict):
        error("case_closure", "must give min_follow_ups, referrals_answered, supervisor_approval")
    else:
        minimum = closure.get("min_follow_ups")
        if not isinstance(minimum, dict):
            error("case_closure.min_follow_ups", f"must give a number for each tier: {TIERS}")
        else:
            for tier in TIERS:
                if not _whole(minimum.get(tier), 0, 50):
                    error(f"case_closure.min_follow_ups.{tier}", "must be a whole number 0-50")
                else:
                    follow_ups[tier] = minimum[tier]
        for name in ("referrals_answered", "supervisor_approval"):
            if not isinstance(closure.get(name), bool):
                error(f"case_closure.{name}", "must be true or false")
        answered = bool(closure.get("referrals_answered", True))
        approval = bool(closure.get("supervisor_approval", True))
    digest = document.get("digest")
    digest_level, digest_hour = "medio", 7
    if not isinstance(digest, dict):
        error("digest", "must give level and hour")
    else:
        if digest.get("level") not in LEVELS:
            error("digest.level", f"must be one of {', '.join(LEVELS)}")
        else:
            digest_level = digest["level"]
        if not _whole(digest.get("hour"), 0, 23):
            error("digest.hour", "must be an hour from 0 to 23")
        else:
            digest_hour = digest["hour"]
    jobs = []
    raw_jobs = document.get("jobs")
    if not isinstance(raw_jobs, dict):
        error("jobs", f"must give a schedule for each job: {', '.join(JOB_NAMES)}")
    else:
        for name in JOB_NAMES:
            spec = raw_jobs.get(name)
            where = f"jobs.{name}"
            if not isinstance(spec, dict):
                error(where, "missing: give {minutes: N} or {hour: H, minute: M}")
            elif "minutes" in spec:
                if not _whole(spec["minutes"], 1, 1440) or set(spec) != {"minutes"}:
                    error(where, "minutes must be a whole number from 1 to 1440, alone")
                else:
                    jobs.append(JobSchedule(name, minutes=spec["minutes"]))
            elif _whole(spec.get("hour"), 0, 23) and _whole(spec.get("minute", 0), 0, 59):
                jobs.append(JobSchedule(name, hour=spec["hour"], minute=spec.get("minute", 0)))
            else:
                error(where, "give {minutes: N} or {hour: H (0-23), minute: M (0-59)}")
        for name in raw_jobs:
            if name not in JOB_NAMES:
                error(f"jobs.{name}", f"unknown job; the jobs are {', '.join(JOB_NAMES)}")
    grace = document.get("misfire_grace_seconds")
    if not _whole(grace, 1, 86_400):
        error("misfire_grace_seconds", "must be a whole number of seconds from 1 to 86400")
    if errors:
        raise PolicyError(errors)
    return AlertPolicy(
        version=version,
        acknowledge_hours=acknowledge,
        clear_below=clear_below,
        clear_after_days=document["clear_after_days"],
        cooldown_days=document["cooldown_days"],
        dismiss_reasons=tuple(reasons),
        min_follow_ups=follow_ups,
        referrals_answered=answered,
        supervisor_approval=approval,
        digest_level=digest_level,
        digest_hour=digest_hour,
        jobs=tuple(jobs),
        misfire_grace_seconds=grace,
    )


def load_policy(path: str | Path) -> AlertPolicy:
    """Read and validate the policy file at ``path``."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError([f"{path.name}: file not found in {path.parent}"]) from None
    except yaml.YAMLError as problem:
        raise PolicyError([f"{path.name}: not valid YAML: {problem}"]) from None
    return parse_policy(document, path.name)


def policy_in_force() -> AlertPolicy:
    """Return the policy of the app's ``CATALOG_DIR``, read again only when the file changes."""
    from flask import current_app

    from salve.filecache import load_if_changed

    path = Path(current_app.config["CATALOG_DIR"]) / POLICY_FILE
    return load_if_changed("alert_policy", path, load_policy)
