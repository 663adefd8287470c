"""Bar charts as shapes in SVG user units: the page draws them with no script and no library.

Charts scale with their ``viewBox``, so one drawing fits a 360 px phone and a desktop. Colours
come from CSS classes (``series-N``), never from style attributes (the CSP forbids them); the
numbers are always in a table beside the chart too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Horizontal bars: a label above each bar, the bar, its value to the right. Narrower than
#: columns so that, shrunk to a phone's width, their text stays as large as the page's.
BAR_WIDTH = 320
LINE_HEIGHT = 18
BAR_HEIGHT = 16
ROW_GAP = 12
VALUE_SPACE = 52
#: Longest label line, in characters, at the chart's font size on a phone.
LABEL_CHARS = 36
#: Vertical bars: the plot area, with room for ticks (left) and two lines of labels (below).
COLUMN_WIDTH, COLUMN_HEIGHT = 400, 240
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 34, 396, 14, 196


@dataclass(frozen=True)
class Segment:
    """One series' part of a bar."""

    series: int
    x: float
    y: float
    width: float
    height: float
    #: Hover text, e.g. "Niñas: 4".
    title: str
    #: Drawn inside the segment when it is wide enough (shares), else empty.
    text: str = ""


@dataclass(frozen=True)
class BarRow:
    """A labelled horizontal bar."""

    lines: tuple[str, ...]
    label_y: float
    bar_y: float
    segments: tuple[Segment, ...]
    value: str
    value_x: float
    value_y: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per row, stacked by series."""

    width: int
    height: int
    left: float
    rows: tuple[BarRow, ...]


@dataclass(frozen=True)
class Column:
    """A vertical stacked bar with its label below."""

    x: float
    width: float
    segments: tuple[Segment, ...]
    lines: tuple[str, ...]
    value: str
    value_y: float


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class ColumnChart:
    """Vertical stacked bars over a count axis."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]


def wrap(text: str, width: int = LABEL_CHARS, max_lines: int = 2) -> tuple[str, ...]:
    """Split ``text`` at spaces into lines of at most ``width`` characters (… when cut)."""
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines] or [""]
    if len(lines) > max_lines:
        kept = lines[:max_lines]
        kept[-1] = kept[-1][: width - 1].rstrip() + "…"
        return tuple(kept)
    return tuple(lines)


def _title(name: str, value: int | float, shown: str | None = None) -> str:
    return f"{name}: {shown if shown is not None else value}"


def horizontal_bars(
    labels: Sequence[str],
    values: Sequence[Sequence[float]],
    series: Sequence[str],
    *,
    value_texts: Sequence[str] | None = None,
    normalise: bool = False,
    segment_texts: Sequence[Sequence[str]] | None = None,
) -> BarChart:
    """Lay out one bar per label, stacked by ``series`` (``values[row][series]``).

    Bars share one scale (the largest row total), or with ``normalise`` each fills the width
    (shares of its own total). ``value_texts`` go after each bar (default: the row's total);
    ``segment_texts`` are shown inside segments wide enough for them, and in their titles.
    """
    # Shares fill the width: their values are inside the segments, not after the bar.
    left, span = 2.0, BAR_WIDTH - 4.0 - (0 if normalise else VALUE_SPACE)
    totals = [sum(row) for row in values]
    largest = max(totals, default=0) or 1
    rows, y = [], 0.0
    for index, (label, row) in enumerate(zip(labels, values, strict=True)):
        lines = wrap(label)
        label_y = y + 13
        bar_y = y + LINE_HEIGHT * len(lines) + 2
        scale = span / (totals[index] or 1) if normalise else span / largest
        x, segments = left, []
        for number, value in enumerate(row):
            if value <= 0:
                continue
            width = round(value * scale, 1)
            shown = segment_texts[index][number] if segment_texts else None
            segments.append(
                Segment(
                    series=number,
                    x=round(x, 1),
                    y=round(bar_y, 1),
                    width=width,
                    height=BAR_HEIGHT,
                    title=_title(series[number], value, shown),
                    text=shown if shown and width >= 8 * len(shown) else "",
                )
            )
            x += width
        value = value_texts[index] if value_texts else _number(totals[index])
        rows.append(
            BarRow(
                lines=lines,
                label_y=round(label_y, 1),
                bar_y=round(bar_y, 1),
                segments=tuple(segments),
                value=value,
                value_x=round(x + 6, 1),
                value_y=round(bar_y + BAR_HEIGHT / 2, 1),
            )
        )
        y = bar_y + BAR_HEIGHT + ROW_GAP
    return BarChart(BAR_WIDTH, max(1, math.ceil(y - ROW_GAP + 2)), left, tuple(rows))


def nice_ticks(largest: float, most: int = 5) -> list[int]:
    """Return round axis ticks from 0 up to at least ``largest`` (1, 2 or 5 times a power of 10)."""
    largest = max(1, math.ceil(largest))
    step = 1
    for power in range(0, 12):
        for factor in (1, 2, 5):
            step = factor * 10**power
            if math.ceil(largest / step) <= most - 1:
                ticks = math.ceil(largest / step)
                return [step * n for n in range(ticks + 1)]
    return [0, largest]  # pragma: no cover - counts never reach 10**12


def stacked_columns(
    labels: Sequence[tuple[str, ...]],
    values: Sequence[Sequence[float]],
    series: Sequence[str],
) -> ColumnChart:
    """Lay out one vertical bar per label (one or two short lines), stacked by ``series``."""
    totals = [sum(row) for row in values]
    ticks = nice_ticks(max(totals, default=0))
    top_value = ticks[-1]
    height = PLOT_BOTTOM - PLOT_TOP
    slot = (PLOT_RIGHT - PLOT_LEFT) / max(1, len(labels))
    width = round(min(slot * 0.7, 40), 1)
    columns = []
    for index, (label, row) in enumerate(zip(labels, values, strict=True)):
        x = round(PLOT_LEFT + slot * index + (slot - width) / 2, 1)
        y, segments = float(PLOT_BOTTOM), []
        for number, value in enumerate(row):
            if value <= 0:
                continue
            size = height * value / top_value
            y -= size
            segments.append(
                Segment(
                    number, x, round(y, 1), width, round(size, 1), _title(series[number], value)
                )
            )
        columns.append(
            Column(
                x=x,
                width=width,
                segments=tuple(segments),
                lines=tuple(label),
                value=_number(totals[index]) if totals[index] else "",
                value_y=round(y - 4, 1),
            )
        )
    return ColumnChart(
        width=COLUMN_WIDTH,
        height=COLUMN_HEIGHT,
        left=PLOT_LEFT,
        right=PLOT_RIGHT,
        top=PLOT_TOP,
        bottom=PLOT_BOTTOM,
        columns=tuple(columns),
        ticks=tuple(
            Tick(round(PLOT_BOTTOM - height * tick / top_value, 1), _number(tick)) for tick in ticks
        ),
    )


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"
