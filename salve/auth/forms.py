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


class SecondFactorForm(FlaskForm):
    """The code from the authenticator app, or a recovery code, after the password."""

    code = StringField(
        _l("Código"),
        validators=[DataRequired(_l("Escriba el código de su aplicación.")), Length(max=32)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
        description=_l(
            "Los 6 dígitos que muestra su aplicación de autenticación, o uno de sus códigos de"
            " recuperación."
        ),
    )


class EnrolForm(FlaskForm):
    """Confirm a new authenticator app with its first code."""

    code = StringField(
        _l("Código de 6 dígitos"),
        validators=[
            DataRequired(_l("Escriba el código que muestra la aplicación.")),
            Length(max=32),
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ReauthForm(FlaskForm):
    """Confirm one's identity again before an export or a change of roles."""

    reauth_password = PasswordField(
        _l("Su contraseña"),
        validators=[DataRequired(_l("Escriba su contraseña.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )
    reauth_code = StringField(
        _l("Código de su aplicación"),
        validators=[Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
        description=_l("Solo si su cuenta usa segundo factor."),
    )
