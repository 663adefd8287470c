"""Configuration: defaults here, overridden from ``SALVE_*`` environment variables."""

from __future__ import annotations

import importlib.metadata
import os
from datetime import timedelta
from pathlib import Path

#: The key used when none is configured. Production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "salve-development-key-not-for-production"  # noqa: S105


#: Requests allowed, by limit name: (requests, seconds). Counted in the database
#: (salve.ratelimit), so every worker and every node shares the counts. ``SALVE_RATE_LIMITS``
#: overrides some or all, e.g. '{"sign-in": [20, 60]}'.
DEFAULT_RATE_LIMITS = {
    "sign-in": (30, 60),  # password sign-ins per client address, refused before hashing
    "api": (600, 60),  # API requests per bearer token
    # API requests whose token is refused (unknown, revoked, disabled), per client address;
    # past it they get 429 and write nothing (salve.api.auth).
    "api-refused": (30, 60),
    "open-data": (120, 60),  # open data, page and API, per client address
    "second-factor": (10, 300),  # second-factor codes and re-authentications per account
}


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen environment."""


def _version() -> str:
    try:
        return importlib.metadata.version("salve")
    except importlib.metadata.PackageNotFoundError:
        return ""


def default_config(instance_path: str) -> dict:
    """Return the settings every deployment starts from."""
    database = Path(instance_path) / "salve.db"
    return {
        "ENV": "development",
        "SECRET_KEY": DEVELOPMENT_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{database}",
        # The owner's URL, for migrations (`salve init`, `flask db upgrade`) and grants; empty:
        # DATABASE_URL. In production DATABASE_URL is a role that may only insert into and
        # read the audit log (`salve db grant-app-role`).
        "MIGRATION_DATABASE_URL": "",
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        # Sessions live in the database (salve.auth.sessions); the cookie only names one.
        "SESSION_COOKIE_NAME": "salve_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        "SESSION_IDLE_TIMEOUT": timedelta(minutes=30),
        "SESSION_ABSOLUTE_TIMEOUT": timedelta(hours=12),
        "LOGIN_MAX_FAILURES": 6,
        "LOGIN_LOCK_DURATION": timedelta(minutes=30),
        # How long a break-the-glass grant shows names (salve.breakglass); seconds from the env.
        "BREAK_GLASS_DURATION": timedelta(hours=4),
        # Second factor (salve.auth.second_factor): how long a password-only session may wait
        # for its code, and how recent a confirmation must be before an export or role change.
        "SECOND_FACTOR_TIMEOUT": timedelta(minutes=10),
        "REAUTH_WINDOW": timedelta(minutes=15),
        "TOTP_ISSUER": "SALVE",
        "WTF_CSRF_TIME_LIMIT": 3600,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "BABEL_DEFAULT_LOCALE": "es_SV",
        "BABEL_DEFAULT_TIMEZONE": "America/El_Salvador",
        "LANGUAGES": {"es_SV": "Español", "en": "English"},
        "CATALOG_DIR": str(Path(__file__).resolve().parent.parent / "catalogs"),
        "PAGE_SIZE": 50,
        "RATE_LIMITS": dict(DEFAULT_RATE_LIMITS),
        # Proxies in front of the app whose X-Forwarded-For is trusted (0: none). Without the
        # right number, every client has the balancer's address in audits and rate limits.
        "PROXY_COUNT": 0,
        # Outgoing mail (salve.notifications.sending). No server: development, mail is logged.
        "MAIL_SERVER": "",
        "MAIL_PORT": 25,
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_USE_TLS": False,
        "MAIL_DEFAULT_SENDER": "SALVE <no-responder@localhost>",
        # Where SALVE is reached from outside: emails link to it.
        "BASE_URL": "http://127.0.0.1:5000",
        "VERSION": _version(),
    }


def load_config(app, overrides: dict | None = None) -> None:
    """Fill ``app.config`` from defaults, ``SALVE_*`` variables and ``overrides``; check it."""
    app.config.from_mapping(default_config(app.instance_path))
    app.config.from_prefixed_env("SALVE")
    app.config.update(overrides or {})
    for key in (
        "SESSION_IDLE_TIMEOUT",
        "SESSION_ABSOLUTE_TIMEOUT",
        "LOGIN_LOCK_DURATION",
        "SECOND_FACTOR_TIMEOUT",
        "REAUTH_WINDOW",
    ):
        if isinstance(app.config[key], int | float):  # from the environment, in seconds
            app.config[key] = timedelta(seconds=app.config[key])
    app.config["RATE_LIMITS"] = rate_limits(app.config["RATE_LIMITS"])
    env = app.config["ENV"]
    if env not in {"development", "production", "testing"}:
        raise ConfigurationError(f"SALVE_ENV must be development or production, not {env!r}")
    if env == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
        if app.config["SECRET_KEY"] in {DEVELOPMENT_SECRET_KEY, "", None}:
            raise ConfigurationError(
                "SALVE_SECRET_KEY must be set to a long random value in production"
            )
    if app.config.get("TRUSTED_HOSTS") is None and env == "production":
        app.logger.warning("SALVE_TRUSTED_HOSTS is not set: the app answers to any Host header")
    if env == "production" and not app.config["MAIL_SERVER"]:
        app.logger.warning("SALVE_MAIL_SERVER is not set: emails are written to the log, not sent")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(app.config["DATABASE_URL"])
    migration_url = app.config["MIGRATION_DATABASE_URL"] or app.config["DATABASE_URL"]
    app.config["MIGRATION_DATABASE_URI"] = normalise_database_url(migration_url)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])


def rate_limits(configured: dict) -> dict[str, tuple[int, int]]:
    """Return the default rate limits with ``configured`` ones over them, as (requests, seconds)."""
    limits = dict(DEFAULT_RATE_LIMITS)
    for name, value in (configured or {}).items():
        try:
            requests, seconds = (int(part) for part in value)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"rate limit {name!r} must be [requests, seconds], not {value!r}"
            ) from None
        if requests < 1 or seconds < 1:
            raise ConfigurationError(f"rate limit {name!r} needs positive requests and seconds")
        limits[name] = (requests, seconds)
    return limits


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def engine_options(url: str) -> dict:
    """Return engine options suited to the database behind ``url``."""
    # hide_parameters: database errors end up in logs, and their parameters hold narratives.
    if url.startswith("sqlite"):
        # Several threads of the development server share the file; SQLite serialises writers.
        return {
            "connect_args": {"timeout": 30, "check_same_thread": False},
            "hide_parameters": True,
        }
    return {
        "pool_pre_ping": True,
        "pool_size": int(os.environ.get("SALVE_POOL_SIZE", "5")),
        "hide_parameters": True,
    }
