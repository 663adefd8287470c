"""Forms of the administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from salve.auth.roles import ROLE_LABELS, ROLES

#: Something@somewhere.tld, without spaces: enough to catch a typo; the mail server decides.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class RoleForm(FlaskForm):
    """Grant an account another role over its scope."""

    role = SelectField(
        _l("Rol"),
        choices=[SelectChoice(role, ROLE_LABELS[role]) for role in ROLES],
        default=ROLES[0],
    )
    school_code = StringField(
        _l("Código de escuela"),
        validators=[Optional(), Length(min=5, max=5, message=_l("El código tiene 5 dígitos."))],
        description=_l("Para docentes y directores."),
        render_kw={"inputmode": "numeric"},
    )
    department_code = SelectField(
        _l("Departamento"),
        choices=[],
        validate_choice=False,
        description=_l("Para gestores, supervisores y direcciones departamentales."),
    )


class UserForm(RoleForm):
    """Create an account with one role and its scope."""

    username = StringField(
        _l("Usuario"),
        validators=[DataRequired(_l("Escriba un nombre de usuario.")), Length(max=64)],
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    display_name = StringField(_l("Nombre para mostrar"), validators=[Length(max=120)])
    email = EmailField(
        _l("Correo electrónico"),
        # A plain pattern: WTForms' Email() needs the email_validator package, which SALVE does
        # not install, and raised an exception (a 500) on every address typed.
        validators=[
            Optional(),
            Regexp(EMAIL_PATTERN, message=_l("Escriba un correo válido.")),
            Length(max=254),
        ],
    )
    password = PasswordField(
        _l("Contraseña inicial"),
        validators=[DataRequired(_l("Escriba una contraseña inicial.")), Length(max=128)],
        render_kw={"autocomplete": "new-password"},
    )
