"""Languages and time zones: Spanish (El Salvador) first, English available."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, session
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from salve.extensions import babel

LOCAL_TZ = ZoneInfo("America/El_Salvador")


def select_locale() -> str:
    """Choose the language: the user's setting, then the session's choice, then Spanish."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    try:
        if current_user and current_user.is_authenticated and current_user.language in languages:
            return current_user.language
    except SQLAlchemyError:
        pass  # the database is down: the error page still needs a language

    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    """Return the two-letter language code of the current request ("es" or "en")."""
    return str(get_locale() or "es")[:2]


def local_datetime(value: datetime | None, fmt: str = "medium") -> str:
    """Format an aware UTC datetime in El Salvador's time, in the user's language."""
    if value is None:
        return ""
    return format_datetime(value, fmt)


def local_date(value: date | datetime | None, fmt: str = "medium") -> str:
    """Format a date in the user's language."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_TZ).date()
    return format_date(value, fmt)


def init_app(app) -> None:
    """Install Flask-Babel with SALVE's locale selector and the date filters."""
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(app.root_path + "/translations"),
    )
    app.jinja_env.filters["local_datetime"] = local_datetime
    app.jinja_env.filters["local_date"] = local_date
    app.jinja_env.globals["current_language"] = current_language
