"""Sign in, sign out and change one's password."""

from __future__ import annotations

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
from markupsafe import Markup

from salve import ratelimit
from salve.audit.operations import record
from salve.auth import lockout, operations
from salve.auth import second_factor as factor
from salve.auth.forms import (
    EnrolForm,
    LoginForm,
    PasswordChangeForm,
    ReauthForm,
    SecondFactorForm,
)
from salve.auth.models import AuthSession
from salve.auth.passwords import verify_password
from salve.auth.reauth import carried_fields, recent_auth_required
from salve.auth.sessions import current_session, end_all_sessions, end_session, start_session
from salve.db import utcnow
from salve.urls import local_path_or
from salve.web import writes_on_read

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else the home page."""
    return local_path_or(target, url_for("main.home"))


@bp.route("/ingresar", methods=["GET", "POST"])
@ratelimit.rate_limited("sign-in", methods={"POST"})  # per client address, before any hashing
def login():
    """Sign in with username and password."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    pending = _pending_session()
    if pending is not None and request.method == "GET":
        return redirect(_second_step_url(pending, request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        result = operations.authenticate(form.username.data, form.password.data)
        if result.user is not None:
            if session.get("lang") in current_app.config["LANGUAGES"]:
                # A language chosen on the sign-in page is the user's choice from now on.
                result.user.language = session["lang"]
            auth_session = start_session(result.user)
            if result.user.needs_second_factor:
                # Not signed in yet: the session waits for the code (salve.auth.second_factor).
                auth_session.user = result.user
                return redirect(_second_step_url(auth_session, request.args.get("next")))
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


# --- second factor -----------------------------------------------------------------------------


def _pending_session() -> AuthSession | None:
    """Return this browser's session if it has the password but still owes the code."""
    auth_session = current_session()
    if auth_session is None or not auth_session.is_pending or not auth_session.user.is_enabled:
        return None
    return auth_session


def _second_step_url(auth_session: AuthSession, next_url: str | None) -> str:
    endpoint = "auth.second_factor" if auth_session.user.has_second_factor else "auth.enrol"
    return url_for(endpoint, next=next_url) if next_url else url_for(endpoint)


def _limit_codes(user):
    """Refuse (429) a flood of codes or confirmations for one account, across all workers."""
    if request.method != "POST":
        return None
    return ratelimit.enforce("second-factor", str(user.id))


def _finish_sign_in(auth_session: AuthSession) -> None:
    auth_session.second_factor_at = utcnow()
    operations.clear_failures(auth_session.user)
    login_user(auth_session.user)


def _refuse_locked(auth_session: AuthSession):
    end_session(auth_session, "locked")
    record("login.second_factor", "user", auth_session.user_id, outcome="refused",
           user_id=auth_session.user_id, reason="locked")  # fmt: skip
    flash(
        _("Demasiados intentos fallidos con este usuario. Espere 30 minutos o pida ayuda"
          " al administrador."),
        "error",
    )  # fmt: skip
    return redirect(url_for("auth.login"))


@bp.route("/ingresar/codigo", methods=["GET", "POST"])
def second_factor():
    """Second step of signing in: the code from the authenticator app or a recovery code."""
    auth_session = _pending_session()
    if auth_session is None:
        return redirect(url_for("main.home" if current_user.is_authenticated else "auth.login"))
    user = auth_session.user
    if not user.has_second_factor:
        return redirect(url_for("auth.enrol", next=request.args.get("next")))
    if operations.is_locked(user):
        return _refuse_locked(auth_session)
    refusal = _limit_codes(user)
    if refusal is not None:
        return refusal
    form = SecondFactorForm()
    if form.validate_on_submit():
        attempt = operations.reserve_code_attempt(user)  # counted before it is compared
        if not attempt.is_allowed:
            return _refuse_locked(auth_session)
        method = factor.verify(user, form.code.data)
        if method is not None:
            _finish_sign_in(auth_session)
            record("login.second_factor", "user", user.id, method=method)
            if method == "recovery":
                left = factor.remaining_recovery_codes(user)
                flash(
                    _("Usó un código de recuperación; le quedan %(count)s. Si perdió su"
                      " teléfono, pida al administrador que restablezca su segundo factor.",
                      count=left),
                    "info",
                )  # fmt: skip
            return redirect(_safe_next(request.args.get("next")))
        if lockout.has_locked(attempt):
            return _refuse_locked(auth_session)
        record("login.second_factor", "user", user.id, outcome="failed", user_id=user.id)
        form.code.errors = [_("El código no es correcto o ya fue usado. Espere el siguiente.")]
        form.code.data = ""
    return render_template("auth/second_factor.html", form=form)


@bp.route("/cuenta/segundo-factor", methods=["GET", "POST"])
@writes_on_read
def enrol():
    """Enrol an authenticator app: scan the QR code, type its first code, keep the spare codes."""
    auth_session = _pending_session()
    if auth_session is None:
        return redirect(url_for("main.home" if current_user.is_authenticated else "auth.login"))
    user = auth_session.user
    if user.has_second_factor:
        return redirect(url_for("auth.second_factor", next=request.args.get("next")))
    if operations.is_locked(user):
        return _refuse_locked(auth_session)
    refusal = _limit_codes(user)
    if refusal is not None:
        return refusal
    factor.begin_enrolment(user)
    form = EnrolForm()
    if form.validate_on_submit():
        attempt = operations.reserve_code_attempt(user)  # counted before it is compared
        if not attempt.is_allowed:
            return _refuse_locked(auth_session)
        codes = factor.confirm_enrolment(user, form.code.data)
        if codes is not None:
            _finish_sign_in(auth_session)
            return render_template(
                "auth/recovery_codes.html",
                codes=codes,
                next_url=_safe_next(request.args.get("next")),
                first_time=True,
            )
        if lockout.has_locked(attempt):
            return _refuse_locked(auth_session)
        form.code.errors = [
            _("El código no coincide. Revise que la hora de su teléfono sea la correcta y"
              " escriba el código que se muestra ahora.")
        ]  # fmt: skip
        form.code.data = ""
    return render_template(
        "auth/enrol.html",
        form=form,
        qr_svg=Markup(factor.qr_svg(user)),  # noqa: S704 -- drawn by segno: paths, no user text
        secret=factor.grouped_secret(factor.secret_of(user)),
    )


@bp.route("/cuenta/codigos-de-recuperacion", methods=["POST"])
@login_required
@recent_auth_required
def new_recovery_codes():
    """Replace one's recovery codes with a fresh set, shown once."""
    if not current_user.has_second_factor:
        return redirect(url_for("main.home"))
    codes = factor.new_recovery_codes(current_user)
    record("second_factor.recovery_codes", "user", current_user.id)
    return render_template(
        "auth/recovery_codes.html", codes=codes, next_url=url_for("main.home"), first_time=False
    )


def _check_reauth(user, form) -> tuple[tuple | None, bool]:
    """Check the password (and code) typed again: (field and message of a problem, locked?).

    Each is counted before it is checked, the password against the password counter and the
    code against the code counter, as at sign-in (``salve.auth.lockout``).
    """
    attempt = operations.reserve_password_attempt(user)
    if not attempt.is_allowed:
        return None, True
    if not verify_password(user.password_hash, form.reauth_password.data):
        return (form.reauth_password, _("La contraseña no es correcta.")), lockout.has_locked(
            attempt
        )
    lockout.release(attempt)
    if not user.has_second_factor:
        return None, False
    attempt = operations.reserve_code_attempt(user)
    if not attempt.is_allowed:
        return None, True
    if not factor.verify(user, form.reauth_code.data or ""):
        problem = form.reauth_code, _("El código no es correcto o ya fue usado.")
        return problem, lockout.has_locked(attempt)
    return None, False


@bp.route("/reautenticar", methods=["GET", "POST"])
@login_required
def reauthenticate():
    """Confirm one's password (and code) again before an export or a change of roles."""
    auth_session = current_session()
    user = current_user._get_current_object()
    next_url = _safe_next(request.args.get("next"))
    form = ReauthForm()
    carried, retype = carried_fields(request.form)
    action = request.full_path.rstrip("?")
    refusal = _limit_codes(user)
    if refusal is not None:
        return refusal
    if form.validate_on_submit():
        problem, is_locked = _check_reauth(user, form)
        if problem is None and not is_locked:
            auth_session.reauthenticated_at = utcnow()
            operations.clear_failures(user)
            record("reauth", "user", user.id)
            if request.args.get("replay") == "1":
                if retype:
                    flash(
                        _("Escriba de nuevo la contraseña del formulario: por seguridad no se"
                          " conservó mientras confirmaba su identidad."),
                        "error",
                    )  # fmt: skip
                return redirect(next_url, code=307)  # the same form, posted again as it was
            return redirect(next_url)
        if is_locked:
            end_all_sessions(user.id, "locked")
            logout_user()
            record("reauth", "user", user.id, outcome="refused", user_id=user.id, reason="locked")
            flash(_("Demasiados intentos fallidos. Su sesión se cerró."), "error")
            return redirect(url_for("auth.login"))
        record("reauth", "user", user.id, outcome="failed")
        field, message = problem
        field.errors = [*field.errors, message]
    form.reauth_password.data = ""
    form.reauth_code.data = ""
    return render_template(
        "auth/reauthenticate.html", form=form, action=action, carried=carried, retype=retype
    )
