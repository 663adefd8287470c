"""What the national pages show: ranked bars of the departments' rates, figures in words.

The bars are shapes in SVG user units, drawn by the template with no script (the CSP forbids
inline scripts and styles); the same numbers are always in the table beside them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import format_decimal
from flask_babel import gettext as _

WIDTH = 400
#: The names' column (right-aligned at ``LABEL_RIGHT``), the bars, the values (right-aligned at
#: ``VALUE_RIGHT``, clear of the bars and of the national guide line).
LABEL_RIGHT, BAR_LEFT, BAR_SPAN, VALUE_RIGHT = 112.0, 118.0, 226.0, 398.0
ROW_HEIGHT, BAR_HEIGHT, TOP = 26.0, 18.0, 24.0


def rate(value: float) -> str:
    """Return a rate per 100 students as people read it: ``11.54``."""
    return format_decimal(value, "#,##0.00")


def share(value: float | None) -> str:
    """Return a share (0-1) as a whole percentage, or a dash when there is nothing to share."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format_decimal(value * 100, "#,##0") + " %"


def duration(hours: float | None) -> str:
    """Return a median time in hours, or in days past two days; a dash when there is none."""
    if hours is None or (isinstance(hours, float) and math.isnan(hours)):
        return "—"
    if hours < 48:
        return _("%(hours)s h", hours=format_decimal(hours, "#,##0.#"))
    return _("%(days)s días", days=format_decimal(hours / 24, "#,##0.#"))


@dataclass(frozen=True)
class RankedBar:
    """A department's bar, placed."""

    code: str
    name: str
    value: str
    y: float
    width: float
    text_y: float


@dataclass(frozen=True)
class RankedBars:
    """Horizontal bars ranked from the largest value, with the national value as a guide."""

    width: int
    height: int
    label_right: float
    value_right: float
    bar_left: float
    bar_height: float
    bars: tuple[RankedBar, ...]
    #: The national value's position and words (the guide line across every bar).
    guide_x: float
    guide_value: str
    #: How the guide's words hang on the line ("middle", or "end" near the right edge).
    guide_anchor: str
    top: float


def ranked_bars(
    rows: Sequence[tuple[str, str, float]], national_value: float, *, shown=rate
) -> RankedBars:
    """Lay out (code, name, value) rows as bars, largest first, on one scale from zero."""
    ordered = sorted(rows, key=lambda row: (-row[2], row[0]))
    largest = max([value for _code, _name, value in ordered] + [national_value, 0.0]) or 1.0
    bars = []
    for position, (code, name, value) in enumerate(ordered):
        y = TOP + position * ROW_HEIGHT
        bars.append(
            RankedBar(
                code=code,
                name=name,
                value=shown(value),
                y=round(y, 1),
                width=round(BAR_SPAN * value / largest, 1),
                text_y=round(y + BAR_HEIGHT / 2, 1),
            )
        )
    guide_x = round(BAR_LEFT + BAR_SPAN * national_value / largest, 1)
    return RankedBars(
        width=WIDTH,
        height=math.ceil(TOP + len(ordered) * ROW_HEIGHT),
        label_right=LABEL_RIGHT,
        value_right=VALUE_RIGHT,
        bar_left=BAR_LEFT,
        bar_height=BAR_HEIGHT,
        bars=tuple(bars),
        guide_x=guide_x,
        guide_value=shown(national_value),
        guide_anchor="end" if guide_x > VALUE_RIGHT - 60 else "middle",
        top=TOP,
    )
