"""The entry points: home page by role, language switch, health check."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from salve.auth import roles as R
from salve.extensions import db
from salve.main import queries
from salve.urls import local_path_or

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    """Send visitors to their home page, or to sign in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    return redirect(url_for("auth.login"))


@bp.route("/inicio")
@login_required
def home():
    """Show the home page that fits the user's role."""
    role = current_user.primary_role
    if role in (R.DOCENTE, R.DIRECTOR):
        context = queries.school_home(current_user)
    elif role in (R.GESTOR, R.SUPERVISOR, R.DEPARTAMENTAL):
        context = queries.department_home(current_user)
    elif role in (R.NACIONAL, R.ADMIN):
        context = queries.national_home(current_user)
    else:
        context = {}
    return render_template(f"main/home_{role or 'none'}.html", role=role, **context)


@bp.route("/idioma", methods=["POST"])
def set_language():
    """Switch the interface language for this browser (and the account, when signed in)."""
    language = request.form.get("lang", "")
    if language in current_app.config["LANGUAGES"]:
        session["lang"] = language
        if current_user.is_authenticated:
            current_user.language = language
    return redirect(_back_here())


def _back_here() -> str:
    """Return the page the switch was posted from, if it is on this site."""
    return local_path_or(request.form.get("next"), url_for("main.index"))


@bp.route("/salud")
def health():
    """Tell a load balancer whether the app and its database answer."""
    db.session.execute(db.select(1))
    return {"status": "ok"}
