"""What a risk page shows: the incidents behind a score, its alerts, its history as a chart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import format_decimal

from salve.auth.scope import incident_access
from salve.i18n import local_date
from salve.incidents import presenting as incident_words
from salve.incidents.models import Incident
from salve.scoring.models import RiskScoreChange
from salve.scoring.queries import Contribution
from salve.scoring.rules import KINDS, LEVELS, RuleSet

#: The window shown when the rules cannot be read (the longest window of the shipped rules).
DEFAULT_EVIDENCE_DAYS = 90
#: The most reports a school's risk page lists; the total is said in words.
SCHOOL_INCIDENT_LIMIT = 50
_RANK = {level: position for position, level in enumerate(LEVELS)}


def decimal(value: float) -> str:
    """Return a score or points as a reader expects: ``70``, ``42.5``, never ``70.0``."""
    return format_decimal(value, "#,##0.#")


def evidence_days(rules: RuleSet | None, entity: str) -> int:
    """Return the longest window, in days, over which ``entity``'s rules count incidents.

    Each kind names its window (``window_days``, ``recent_days``, ``silent_days``); a spike's or a
    silence's baseline is what the window is compared with, not evidence behind the score.
    """
    if rules is None:
        return DEFAULT_EVIDENCE_DAYS
    windows = [
        rule.params[KINDS[rule.kind].days_param] for rule in rules.rules if rule.entity == entity
    ]
    return max(windows, default=DEFAULT_EVIDENCE_DAYS)


def raises_alert(contribution: Contribution, level: str) -> bool:
    """Tell whether a contribution raises an alert at its entity's ``level``, as the engine does."""
    if contribution.immediate:
        return True
    if contribution.alert_level is None:
        return False
    return _RANK.get(level, -1) >= _RANK.get(contribution.alert_level, len(LEVELS))


@dataclass(frozen=True)
class IncidentRow:
    """A report behind a score, as far as the reader may see it."""

    incident_id: int
    occurred_at: datetime
    types: tuple[str, ...]
    #: The student's roles in it, in words (empty on a school's page).
    roles: tuple[str, ...]
    #: True when the reader may open the report (in full or in summary).
    is_linked: bool


def incident_rows(
    user, incidents: Iterable[Incident], *, student_id: int | None = None
) -> list[IncidentRow]:
    """Describe reports for a risk page: date, types, the student's roles, and whether to link."""
    rows = []
    for incident in incidents:
        catalog = incident_words.catalog_for(incident)
        roles = ()
        if student_id is not None:
            found = dict.fromkeys(p.role for p in incident.parties if p.student_id == student_id)
            roles = tuple(incident_words.party_role_label(role) for role in found)
        rows.append(
            IncidentRow(
                incident_id=incident.id,
                occurred_at=incident.occurred_at,
                types=tuple(
                    incident_words.type_label(catalog, code) for code in incident.type_codes
                ),
                roles=roles,
                is_linked=incident_access(user, incident) is not None,
            )
        )
    return rows


# --- The history chart ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPoint:
    """A score change, placed on the chart."""

    x: float
    y: float
    score: str
    level: str
    computed_at: datetime


@dataclass(frozen=True)
class ChartBand:
    """The stretch of the score axis that one level covers."""

    level: str
    y: float
    height: float


@dataclass(frozen=True)
class ChartGuide:
    """A level's threshold, drawn across the chart."""

    level: str
    score: str
    y: float


@dataclass(frozen=True)
class Chart:
    """A score-over-time chart in SVG user units: the page draws it without any script."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    #: The score as a step line: it holds from one change to the next, and until ``now``.
    line: str
    points: tuple[ChartPoint, ...]
    bands: tuple[ChartBand, ...]
    guides: tuple[ChartGuide, ...]
    start_label: str
    end_label: str


WIDTH, HEIGHT = 400, 210
#: The plot area; the margins hold the score ticks (left), level names (right) and dates.
LEFT, RIGHT, TOP, BOTTOM = 34, 330, 10, 180


def _y(score: float) -> float:
    return round(BOTTOM - (BOTTOM - TOP) * max(0.0, min(100.0, score)) / 100, 1)


def history_chart(
    history: Sequence[RiskScoreChange], thresholds: Mapping[str, float], now: datetime
) -> Chart | None:
    """Return the chart of ``history`` (oldest first) up to ``now``; None without history.

    ``thresholds`` are the lowest scores of medio, alto and critico in the rules in force.
    """
    if not history:
        return None
    start = history[0].computed_at
    end = max(now, history[-1].computed_at)
    span = max((end - start).total_seconds(), timedelta(days=1).total_seconds())

    def x(moment: datetime) -> float:
        return round(LEFT + (RIGHT - LEFT) * (moment - start).total_seconds() / span, 1)

    steps, points, previous = [], [], None
    for change in history:
        if previous is not None:
            steps.append((x(change.computed_at), _y(previous.score)))
        steps.append((x(change.computed_at), _y(change.score)))
        points.append(
            ChartPoint(
                x(change.computed_at),
                _y(change.score),
                decimal(change.score),
                change.level,
                change.computed_at,
            )
        )
        previous = change
    steps.append((x(end), _y(previous.score)))

    bounds = [0.0] + [float(thresholds[level]) for level in LEVELS[1:] if level in thresholds]
    levels = LEVELS[: len(bounds)]
    tops = [*bounds[1:], 100.0]
    bands = tuple(
        ChartBand(level, _y(top), round(_y(low) - _y(top), 1))
        for level, low, top in zip(levels, bounds, tops, strict=True)
    )
    guides = tuple(
        ChartGuide(level, decimal(bound), _y(bound))
        for level, bound in zip(levels[1:], bounds[1:], strict=True)
    )
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=RIGHT,
        top=TOP,
        bottom=BOTTOM,
        line=" ".join(f"{px},{py}" for px, py in steps),
        points=tuple(points),
        bands=bands,
        guides=guides,
        start_label=local_date(start, "short"),
        end_label=local_date(end, "short"),
    )
