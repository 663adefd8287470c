"""Sign-in and password forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    """Sign in with a username and password."""

    username = StringField(
        _l("Usuario"),
        validators=[DataRequired(_l("Escriba su usuario.")), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Contraseña"),
        validators=[DataRequired(_l("Escriba su contraseña.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordChangeForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(
        _l("Contraseña actual"),
        validators=[DataRequired(_l("Escriba su contraseña actual."))],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        _l("Contraseña nueva"),
        validators=[DataRequired(_l("Escriba la contraseña nueva.")), Length(max=128)],
        render_kw={"autocomplete": "new-password", "minlength": 8},
        description=_l("Al menos 8 caracteres. Una frase de varias palabras es fácil de recordar."),
    )
    confirm_password = PasswordField(
        _l("Repita la contraseña nueva"),
        validators=[
            DataRequired(_l("Repita la contraseña nueva.")),
            EqualTo("new_password", _l("Las dos contraseñas nuevas no coinciden.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
