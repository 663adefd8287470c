"""Sign in, sign out and change one's password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from salve.audit.operations import record
from salve.auth import operations
from salve.auth.forms import LoginForm, PasswordChangeForm
from salve.auth.sessions import current_session, end_session, start_session

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else the home page."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("main.home")


@bp.route("/ingresar", methods=["GET", "POST"])
def login():
    """Sign in with username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        result = operations.authenticate(form.username.data, form.password.data)
        if result.user is not None:
            if session.get("lang") in current_app.config["LANGUAGES"]:
                # A language chosen on the sign-in page is the user's choice from now on.
                result.user.language = session["lang"]
            start_session(result.user)
            login_user(result.user)
            return redirect(_safe_next(request.args.get("next")))
        if result.is_locked:
            flash(
                _("Demasiados intentos fallidos con este usuario. Espere 30 minutos o pida ayuda"
                  " al administrador."),
                "error",
            )  # fmt: skip
        else:
            flash(_("Usuario o contraseña incorrectos."), "error")
        form.password.data = ""
    return render_template("auth/login.html", form=form)


@bp.route("/salir", methods=["POST"])
def logout():
    """End this session everywhere its cookie may have been copied."""
    auth_session = current_session()
    if auth_session is not None:
        end_session(auth_session, "logout")
        record("logout", "user", auth_session.user_id)
    logout_user()
    flash(_("Sesión cerrada."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/cuenta/contrasena", methods=["GET", "POST"])
@login_required
def change_password():
    """Change one's own password; every session, this one included, ends."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            operations.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except operations.AccountError as error:
            form.new_password.errors = [*form.new_password.errors, str(error)]
        else:
            user = current_user._get_current_object()
            logout_user()
            start_session(user)
            login_user(user)
            flash(_("Contraseña cambiada. Las demás sesiones abiertas se cerraron."), "success")
            return redirect(url_for("main.home"))
    return render_template("auth/change_password.html", form=form)
