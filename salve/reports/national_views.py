"""The national analyst's pages: the departments side by side, and how well the rules work.

Routes of the reports blueprint (see salve/reports/views.py). Aggregates only: no school is
named and no child appears. Both pages download as CSV or XLSX (``?formato=csv|xlsx``), audited.
"""

from __future__ import annotations

import pandas as pd
from flask import render_template, request, url_for
from flask_babel import gettext as _

from salve.alerts.presenting import rule_choices
from salve.auth import roles as R
from salve.auth.scope import roles_required
from salve.db import set_write_intent
from salve.extensions import db
from salve.reports import national
from salve.reports import national_presenting as presenting
from salve.reports.exports import FORMATS, download
from salve.reports.views import bp
from salve.scoring.queries import rules_in_force
from salve.scoring.rules import RulesError


def _audited_download(frame: pd.DataFrame, headers: dict, fmt: str, name: str, **audit):
    # The page only reads; its download writes an audit event. Start that write afresh, with
    # SQLite's write lock taken up front, instead of upgrading the long read (which may fail).
    db.session.rollback()
    set_write_intent(True)
    return download(frame, headers, fmt, name, **audit)


# --- The departments side by side ------------------------------------------------------------


def department_headers() -> dict[str, str]:
    """Return the department table's columns and their headers, in the user's language."""
    return {
        "code": _("Código"),
        "name": _("Departamento"),
        "schools": _("Escuelas activas"),
        "enrolment": _("Matrícula"),
        "incidents_30": _("Incidentes (30 días)"),
        "incidents_90": _("Incidentes (90 días)"),
        "rate_90": _("Tasa por 100 estudiantes (90 días)"),
        "level_bajo": _("Escuelas en riesgo bajo"),
        "level_medio": _("Escuelas en riesgo medio"),
        "level_alto": _("Escuelas en riesgo alto"),
        "level_critico": _("Escuelas en riesgo crítico"),
        "open_alerts": _("Alertas abiertas"),
        "overdue_alerts": _("Alertas vencidas sin reconocer"),
        "silent": _("Escuelas silenciosas"),
    }


def _direction() -> bool | None:
    return {"asc": False, "desc": True}.get(request.args.get("dir", ""))


def _sort_links(sort: str, descending: bool) -> dict[str, str]:
    """Return, per sort key, the link its column header offers: the current one flips order."""
    links = {}
    for key, (_column, default_descending) in national.DEPARTMENT_SORTS.items():
        wanted = not descending if key == sort else default_descending
        links[key] = url_for(".national", orden=key, dir="desc" if wanted else "asc")
    return links


@bp.route("/nacional", endpoint="national")
@roles_required(R.NACIONAL)
def national_view():
    """Show the 14 departments side by side, their rates as ranked bars; download the table."""
    frame = national.department_frame()
    frame, sort, descending = national.sort_departments(
        frame, request.args.get("orden", ""), _direction()
    )
    fmt = request.args.get("formato", "")
    if fmt in FORMATS:
        return _audited_download(
            frame,
            department_headers(),
            fmt,
            "departamentos_nacional",
            action="national_departments.export",
            target_type="nation",
            target_id="SV",
            sort=sort,
        )
    totals = national.national_totals(frame)
    order = {"orden": sort, "dir": "desc" if descending else "asc"}
    return render_template(
        "reports/national.html",
        departments=frame.to_dict("records"),
        totals=totals,
        sort=sort,
        descending=descending,
        sort_links=_sort_links(sort, descending),
        export_links={f: url_for(".national", formato=f, **order) for f in FORMATS},
        chart=presenting.ranked_bars(
            list(zip(frame["code"], frame["name"], frame["rate_90"], strict=True)),
            totals["rate_90"],
        ),
        presenting=presenting,
    )


# --- How well the rules work -------------------------------------------------------------------


def rule_headers() -> dict[str, str]:
    """Return the rule-quality table's columns and their headers, in the user's language."""
    return {
        "rule_id": _("Código de la regla"),
        "rule": _("Regla"),
        "department_code": _("Código de departamento"),
        "department_name": _("Departamento"),
        "raised": _("Alertas generadas en el período"),
        "closed": _("Cerradas"),
        "false_positive": _("Descartadas como falso positivo"),
        "dismissed_other": _("Descartadas por otro motivo"),
        "resolved": _("Resueltas"),
        "false_positive_pct": _("Falsos positivos (porcentaje de las cerradas)"),
        "dismissed_other_pct": _("Descartadas por otro motivo (porcentaje de las cerradas)"),
        "median_ack_hours": _("Mediana para reconocer (horas)"),
        "median_resolve_hours": _("Mediana para resolver (horas)"),
        "open_now": _("Abiertas hoy"),
        "overdue_now": _("Vencidas sin reconocer hoy"),
        "days": _("Período (días)"),
    }


def _period() -> int:
    try:
        days = int(request.args.get("periodo", ""))
    except ValueError:
        return national.DEFAULT_PERIOD
    return days if days in national.PERIODS else national.DEFAULT_PERIOD


def rule_rows(frame: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Name each row's rule and department in words, with percentages for the download."""
    rows = frame.copy()
    rows["rule"] = [
        labels.get(rule, rule) if rule else _("Todas las reglas") for rule in rows["rule_id"]
    ]  # a few dozen rows: rules by departments
    totals = rows["department_id"] == 0
    rows.loc[totals, "department_name"] = _("Total nacional")
    rows["false_positive_pct"] = (rows["false_positive_share"] * 100).round(1)
    rows["dismissed_other_pct"] = (rows["dismissed_other_share"] * 100).round(1)
    rows["is_known"] = [rule in labels or not rule for rule in rows["rule_id"]]
    return rows


@bp.route("/reglas")
@roles_required(R.NACIONAL)
def rule_quality():
    """Show how each rule's alerts fared, in total and by department; download the table."""
    days = _period()
    try:
        rules = rules_in_force()
    except RulesError:
        rules = None  # alerts still count; their rules are named by id
    labels = dict(rule_choices(rules))
    frame = rule_rows(national.rule_quality_frame(list(labels), days), labels)
    fmt = request.args.get("formato", "")
    if fmt in FORMATS:
        return _audited_download(
            frame.assign(days=days),
            rule_headers(),
            fmt,
            f"calidad_reglas_{days}_dias",
            action="rule_quality.export",
            target_type="nation",
            target_id="SV",
            days=days,
        )
    records = frame.to_dict("records")
    return render_template(
        "reports/rule_quality.html",
        days=days,
        periods=national.PERIODS,
        totals=[row for row in records if row["department_id"] == 0 and row["rule_id"]],
        overall=next(row for row in records if not row["rule_id"]),
        by_rule={
            rule: [row for row in records if row["rule_id"] == rule and row["department_id"]]
            for rule in dict.fromkeys(row["rule_id"] for row in records if row["rule_id"])
        },
        export_links={f: url_for(".rule_quality", formato=f, periodo=days) for f in FORMATS},
        version=rules.version if rules else None,
        presenting=presenting,
    )
