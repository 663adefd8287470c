"""A school seen from the region: score history, incidents by month and the Big 5, no names.

Routes of the reports blueprint (see salve/reports/views.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import abort, render_template, request, url_for
from flask_babel import force_locale
from flask_login import current_user
from sqlalchemy import orm
from werkzeug.routing import BuildError

from salve.auth import roles as R
from salve.auth.scope import can_view_department, require, roles_required
from salve.catalog.queries import current_catalog
from salve.db import utcnow
from salve.extensions import db
from salve.reports import analytics
from salve.reports import analytics_presenting as words
from salve.reports.exports import FORMATS, download
from salve.reports.views import bp
from salve.schools.models import School
from salve.scoring import presenting as risk_presenting
from salve.scoring.queries import risk_history, rules_in_force
from salve.scoring.rules import RulesError
from salve.web import writes_on_read

#: Regional offices, the department's case supervisors and national analysts.
ANALYTICS_ROLES = (R.DEPARTAMENTAL, R.SUPERVISOR, R.NACIONAL)
#: Downloads are in Spanish, whatever the reader's language (the ministry's working language).
EXPORT_LOCALE = "es_SV"


def _school(code: str) -> School:
    """Return the school if the reader's departments include it (else an audited 404)."""
    school = db.session.scalar(
        sa.select(School).where(School.code == code[:20]).options(orm.joinedload(School.department))
    )
    require(school is not None and can_view_department(current_user, school.department_id))
    return school


def _period() -> analytics.Period:
    months = request.args.get("meses", type=int)
    return analytics.period_ending(utcnow(), months or analytics.DEFAULT_MONTHS)


def _breakdown() -> str:
    by = request.args.get("por", "")
    return by if by in words.BREAKDOWNS else words.DEFAULT_BREAKDOWN


@dataclass(frozen=True)
class _ScoreAt:
    """The score in force when the period starts, drawn as the chart's first point."""

    computed_at: datetime
    score: float
    level: str


def _history(school_id: int, period: analytics.Period):
    """Return the score changes to list (newest first) and the chart of the period."""
    changes = risk_history("school", school_id)
    before = [c for c in changes if c.computed_at < period.start]
    within = [c for c in changes if c.computed_at >= period.start]
    drawn = list(within)
    if before:
        drawn.insert(0, _ScoreAt(period.start, before[-1].score, before[-1].level))
    try:
        thresholds = rules_in_force().levels
    except RulesError:
        thresholds = {}
    chart = risk_presenting.history_chart(drawn, thresholds, utcnow())
    listed = before[-1:] + within
    return list(reversed(listed)), chart


def department_list_url(department_code: str) -> str:
    """Return the department's school list (built by its own module; by path until it exists)."""
    try:
        return url_for("reports.department_list", code=department_code)
    except BuildError:
        return f"/reportes/departamentos/{department_code}/escuelas"


@bp.route("/escuelas/<code>/analisis")
@roles_required(*ANALYTICS_ROLES)
def school_analytics(code: str):
    """Show a school's incidents by month, category and the Big 5, by sex or level; no names."""
    school = _school(code)
    period, by = _period(), _breakdown()
    catalog = current_catalog()
    figures = analytics.figures(analytics.load_rows(school.id, period), period, catalog)
    months, tallies, frequency = words.page_figures(figures, catalog, school, by)
    history, chart = _history(school.id, period)
    return render_template(
        "reports/school_analytics.html",
        school=school,
        period=period,
        by=by,
        figures=figures,
        months=months,
        categories=tallies[0],
        big_five=tallies[1:],
        frequency=frequency,
        history=history,
        chart=chart,
        presenting=risk_presenting,
        period_choices=analytics.PERIOD_MONTHS,
        department_url=department_list_url(school.department.code),
    )


@bp.route("/escuelas/<code>/analisis/exportar")
@roles_required(*ANALYTICS_ROLES)
@writes_on_read
def school_analytics_export(code: str):
    """Download one table of a school's analytics as CSV or XLSX, with every breakdown; audited."""
    school = _school(code)
    table = request.args.get("tabla", "")
    fmt = request.args.get("formato", "csv")
    if table not in words.EXPORT_TABLES or fmt not in FORMATS:
        abort(404)
    period = _period()
    catalog = current_catalog()
    figures = analytics.figures(analytics.load_rows(school.id, period), period, catalog)
    with force_locale(EXPORT_LOCALE):
        frame, headers = words.export_table(figures, catalog, table)
    return download(
        frame,
        headers,
        fmt,
        f"analisis_{school.code}_{table}_{period.months}m",
        action="reports.school_analytics.export",
        target_type="school",
        target_id=school.id,
        table=table,
        months=period.months,
    )
