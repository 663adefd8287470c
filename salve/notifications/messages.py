"""The words of each notification: a subject and a plain-text body in the recipient's language.

A message names what happened by reference only (alert ``A-000042``, case ``C-000017``, the
school's code, the rule's id) and gives an absolute link into SALVE. It never carries a name or a
narrative: the payload holds none, and whoever needs more signs in, where every view is audited.
msgids are Spanish; ``compose`` renders them with ``force_locale`` in the recipient's language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from flask_babel import force_locale, format_date, format_datetime, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from salve.alerts.presenting import alert_ref, case_ref
from salve.urls import is_local_path

SUBJECT_PREFIX = "SALVE: "
#: How many alert references a digest lists; the counts by rule always cover them all.
DIGEST_LIST_LIMIT = 50

LEVEL_LABELS = {"bajo": _l("Bajo"), "medio": _l("Medio"), "alto": _l("Alto"),
                "critico": _l("Crítico")}  # fmt: skip


@dataclass(frozen=True)
class Message:
    """A composed email: what the recipient reads, and in which language."""

    subject: str
    body: str
    #: "es" or "en", for the Content-Language header.
    language: str


def alert_reference(alert_id) -> str:
    """Return an alert's reference as mail and pages show it, e.g. ``A-000042``."""
    return alert_ref(_number(alert_id))


def case_reference(case_id) -> str:
    """Return a case's reference, e.g. ``C-000017``."""
    return case_ref(_number(case_id))


def absolute_link(path: str) -> str:
    """Make a path inside SALVE absolute with ``BASE_URL``; anything else becomes the home page."""
    if not is_internal_path(path):
        path = "/"
    return str(current_app.config["BASE_URL"]).rstrip("/") + path


def is_internal_path(path) -> bool:
    """Tell whether ``path`` is a path inside SALVE (never another site or a script URL)."""
    return is_local_path(path)


def locale_for(language: str | None) -> str:
    """Return the configured locale closest to a user's ``language`` (Spanish by default)."""
    languages = current_app.config["LANGUAGES"]
    if language in languages:
        return language
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def compose(kind: str, payload: dict, language: str | None) -> Message:
    """Write the email for an outbox message of ``kind`` in the recipient's ``language``."""
    locale = locale_for(language)
    with force_locale(locale):
        subject = SUBJECT_PREFIX + summary(kind, payload)
        lines = _body(kind, payload)
        lines += [
            "",
            _("Para ver el detalle, entre a SALVE (inicie sesión si se lo pide):"),
            absolute_link(payload.get("link", "/")),
            "",
            "-- ",
            _(
                "Por confidencialidad, este correo no incluye nombres ni relatos. El detalle "
                "solo se consulta en SALVE, donde cada consulta queda registrada."
            ),
            _("Mensaje automático de SALVE (MINEDUCYT). No responda a este correo."),
        ]
    return Message(subject=subject, body="\n".join(lines) + "\n", language=locale[:2])


def summary(kind: str, payload: dict) -> str:
    """Return one line saying what a notice is about, in the current language (inbox, subject)."""
    reference = alert_reference(payload.get("alert_id"))
    level = _level(payload.get("level"))
    if kind == "alert_raised":
        return _("Nueva alerta %(reference)s, nivel %(level)s", reference=reference, level=level)
    if kind == "alert_assigned":
        return _("Se le asignó la alerta %(reference)s, nivel %(level)s",
                 reference=reference, level=level)  # fmt: skip
    if kind == "alert_escalated":
        if payload.get("escalation") == 2:
            return _("Alerta %(reference)s escalada al nivel nacional", reference=reference)
        return _("Alerta %(reference)s escalada a la supervisión", reference=reference)
    if kind == "case_closure":
        return _("Caso %(reference)s: se solicita aprobar el cierre",
                 reference=case_reference(payload.get("case_id")))  # fmt: skip
    if kind == "unfounded_request":
        return _("Reporte %(number)d: se pide cerrarlo como infundado",
                 number=_number(payload.get("incident_id")))  # fmt: skip
    if kind == "break_glass":
        return _("Acceso excepcional a identidades: centro %(school)s",
                 school=payload.get("school_code") or "—")  # fmt: skip
    if kind == "digest":
        count = _number(payload.get("count"))
        return ngettext(
            "Resumen del %(day)s: %(num)d alerta de nivel %(level)s",
            "Resumen del %(day)s: %(num)d alertas de nivel %(level)s",
            count,
            day=_day(payload.get("date")),
            level=level,
        )
    return _("Aviso de SALVE")


def _body(kind: str, payload: dict) -> list[str]:
    if kind in ("alert_raised", "alert_assigned", "alert_escalated"):
        intro = {
            "alert_raised": _("SALVE levantó una alerta que le corresponde conocer."),
            "alert_assigned": _("Se le asignó una alerta para que la atienda."),
            "alert_escalated": (
                _("Una alerta no fue reconocida a tiempo y se escaló al nivel nacional.")
                if payload.get("escalation") == 2
                else _("Una alerta no fue reconocida a tiempo y se escaló a la supervisión.")
            ),
        }[kind]
        return [intro, "", _alert_line(payload)]
    if kind == "case_closure":
        return [
            _("Se solicitó cerrar un caso; el cierre necesita la aprobación de la supervisión."),
            "",
            _("Caso %(reference)s, centro %(school)s.",
              reference=case_reference(payload.get("case_id")),
              school=payload.get("school_code") or "—"),
        ]  # fmt: skip
    if kind == "unfounded_request":
        return [
            _("La dirección de una escuela pide cerrar como infundado un reporte que nombra a un "
              "miembro del personal como agresor; el cierre lo decide la supervisión."),
            "",
            _("Reporte %(number)d, centro %(school)s.",
              number=_number(payload.get("incident_id")),
              school=payload.get("school_code") or "—"),
        ]  # fmt: skip
    if kind == "break_glass":
        return [
            _("Una persona pidió ver los nombres de estudiantes del centro %(school)s, fuera de "
              "su alcance habitual (romper el vidrio). El acceso se concedió de inmediato y vence "
              "el %(until)s.",
              school=payload.get("school_code") or "—", until=_moment(payload.get("due_at"))),
            "",
            _("Revise quién lo pidió y su motivo en la lista de accesos excepcionales."),
        ]  # fmt: skip
    if kind == "digest":
        return _digest_body(payload)
    return [_("Tiene un aviso nuevo en SALVE.")]


def _alert_line(payload: dict) -> str:
    figures = {
        "reference": alert_reference(payload.get("alert_id")),
        "level": _level(payload.get("level")),
        "school": payload.get("school_code") or "—",
        "rule": payload.get("rule") or "—",
    }
    if payload.get("entity_type") == "school":
        return _(
            "Alerta %(reference)s sobre un centro escolar, nivel %(level)s, centro %(school)s, "
            "regla %(rule)s.",
            **figures,
        )
    return _(
        "Alerta %(reference)s sobre un estudiante, nivel %(level)s, centro %(school)s, "
        "regla %(rule)s.",
        **figures,
    )


def _digest_body(payload: dict) -> list[str]:
    alerts = [item for item in payload.get("alerts") or [] if isinstance(item, dict)]
    lines = [
        _(
            "Alertas de nivel %(level)s abiertas o actualizadas en las últimas 24 horas: "
            "%(count)d.",
            level=_level(payload.get("level")),
            count=len(alerts),
        ),
        "",
        _("Por regla:"),
    ]
    by_rule = Counter(str(item.get("rule") or "—") for item in alerts)
    lines += [f"  - {rule}: {count}" for rule, count in sorted(by_rule.items())]
    lines += ["", _("Alertas:")]
    for item in alerts[:DIGEST_LIST_LIMIT]:
        lines.append(
            "  - "
            + _(
                "%(reference)s, centro %(school)s, regla %(rule)s",
                reference=alert_reference(item.get("alert_id")),
                school=item.get("school_code") or "—",
                rule=item.get("rule") or "—",
            )
        )
    if len(alerts) > DIGEST_LIST_LIMIT:
        lines.append("  " + _("y %(count)d más.", count=len(alerts) - DIGEST_LIST_LIMIT))
    return lines


def _level(code) -> str:
    label = LEVEL_LABELS.get(code)
    return str(label).lower() if label is not None else str(code or "—")


def _day(value) -> str:
    try:
        return format_date(date.fromisoformat(str(value)), "long")
    except ValueError:
        return str(value or "—")


def _moment(value) -> str:
    try:
        return format_datetime(datetime.fromisoformat(str(value)), "short")
    except ValueError:
        return str(value or "—")


def _number(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
