"""Accounts, sign-in, server-side sessions, roles and the scope of what each user may see."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, g
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError, ProgrammingError

from salve.auth import totp_keys
from salve.config import ConfigurationError
from salve.extensions import db, login_manager


def _load_user(_user_id: str):
    from salve.auth.sessions import current_session

    auth_session = current_session()
    if auth_session is None or not auth_session.user.is_enabled or auth_session.is_pending:
        return None  # a session still owing its second factor signs nobody in
    return auth_session.user


def _forget_previous_request() -> None:
    # ``g`` belongs to the app context, which outlives one request when a caller (a test, a
    # script) pushed it around several; who is signed in must be decided anew every request.
    for key in ("_login_user", "auth_session", "session_bookkeeping", "_flask_babel"):
        g.pop(key, None)


def _refuse_demo_accounts_in_production(app: Flask) -> None:
    from salve.auth.models import User

    with app.app_context():
        try:
            has_demo = db.session.scalar(sa.select(sa.func.count()).where(User.is_demo)) > 0
        except (OperationalError, ProgrammingError):
            db.session.rollback()
            return  # no schema yet: `salve init` creates it and creates no demo account
        finally:
            db.session.remove()
    if has_demo:
        raise ConfigurationError(
            "demo accounts exist in this database; production refuses to start with them"
        )


def init_app(app: Flask) -> None:
    """Bind Flask-Login to the server-side sessions."""
    login_manager.init_app(app)
    app.before_request(_forget_previous_request)
    login_manager.user_loader(_load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Inicie sesión para continuar.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # sessions are server-side; see salve.auth.sessions
    totp_keys.init_app(app)
    if app.config["ENV"] == "production":
        _refuse_demo_accounts_in_production(app)
