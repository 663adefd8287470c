"""The form that asks to break the glass: a reason picked from the list, and in words."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from salve.breakglass.models import MAX_REASON, MIN_REASON, REASONS


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BreakGlassForm(FlaskForm):
    """Ask to see a school's students by name, saying why."""

    reason_category = SelectField(
        _l("Motivo"),
        choices=[SelectChoice("", _l("Elija un motivo"))]
        + [SelectChoice(code, label) for code, label in REASONS.items()],
        validators=[DataRequired(_l("Elija el motivo de la lista."))],
    )
    reason_text = TextAreaField(
        _l("Explique para qué necesita los nombres"),
        filters=[_strip],
        validators=[
            DataRequired(_l("Explique el motivo.")),
            Length(
                min=MIN_REASON,
                max=MAX_REASON,
                message=_l(
                    "Escriba entre %(min)d y %(max)d caracteres.", min=MIN_REASON, max=MAX_REASON
                ),
            ),
        ],
        description=_l(
            "Al menos %(count)d caracteres. Use referencias (alerta A-000042, caso C-000017), "
            "no nombres ni detalles del hecho: la supervisión leerá este texto.",
            count=MIN_REASON,
        ),
        render_kw={"rows": 4, "maxlength": MAX_REASON, "minlength": MIN_REASON},
    )
    #: The page to go back to (a path inside SALVE, checked by the view).
    next = HiddenField()
    #: The record the request came from, ``kind:id`` (e.g. ``alert:42``).
    registro = HiddenField()
