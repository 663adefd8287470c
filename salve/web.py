"""The request lifecycle: one commit at the end, security headers, error pages."""

from __future__ import annotations

import hmac
import logging

from flask import Response, abort, current_app, g, render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from salve.audit.operations import record_now, replay_reads
from salve.auth.sessions import flush_session_bookkeeping
from salve.db import set_write_intent
from salve.extensions import db

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Content-Security-Policy: everything from the app itself, nothing inline but styles' attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def writes_on_read(view):
    """Mark a GET view that writes (an audited read), so SQLite takes the write lock up front."""
    view.writes_on_read = True
    return view


def _has_nul(values: MultiDict) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vs) for key, vs in values.lists())


def _refuse_nul_bytes() -> None:
    """Refuse a request carrying a NUL character: PostgreSQL can neither store nor compare one.

    Nobody types one: in the path it names nothing (404); in the query or a form the request is
    malformed (400). Without this, such a request reached the database and failed with a 500.
    """
    if "\x00" in request.path:
        abort(404)
    if _has_nul(request.args) or (request.method not in SAFE_METHODS and _has_nul(request.form)):
        abort(400, description=_("La solicitud contiene caracteres no válidos."))


def _declare_write_intent() -> None:
    view = current_app.view_functions.get(request.endpoint)
    will_write = request.method not in SAFE_METHODS or getattr(view, "writes_on_read", False)
    g.write_intent_token = set_write_intent(will_write)


def _commit_boundary(response: Response) -> Response:
    """Commit the request's work when it succeeded; roll it back otherwise."""
    try:
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
            if replay_reads(response.status_code):  # a refused form showing a child's record
                db.session.commit()
        flush_session_bookkeeping()
    except SQLAlchemyError as error:
        db.session.rollback()
        if _database_gone(error):  # the database went away: nothing was saved, try again later
            log.error("database unavailable at the end of %s %s", request.method, request.endpoint)
            return _error_page(503)
        log.exception("commit failed at the end of %s %s", request.method, request.endpoint)
        return _error_page(500)
    return response


def _database_gone(error: SQLAlchemyError) -> bool:
    """Tell whether ``error`` means the database cannot be reached (503), not a bug (500)."""
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    )


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        # Pages may show personal data; no browser or proxy keeps a copy.
        headers.setdefault("Cache-Control", "no-store")
    return response


def _error_page(status: int) -> Response:
    """Return the plain error page, or the API's JSON error under /api/ (never a traceback)."""
    if request.path.startswith("/api/"):
        from werkzeug.exceptions import default_exceptions

        from salve.api.errors import http_error_response

        return http_error_response(default_exceptions[status]())
    response = current_app.make_response(
        (render_template("errors/error.html", status=status), status)
    )
    return response


def _handle_http_error(error: HTTPException):
    g.pop("audit_reads", None)  # an error page shows no record
    if error.code == 403:
        record_now(
            "access.refused", "path", request.path[:64], outcome="refused", method=request.method
        )
    if request.path.startswith("/api/"):
        from salve.api.errors import http_error_response

        return http_error_response(error)
    return _error_page(error.code or 500)


def on_csrf_expired(handler):
    """Give a form view a handler for an expired or missing CSRF token, so nothing typed is lost.

    The handler receives the ``CSRFError`` and returns a response; it runs only for signed-in
    users (an anonymous POST without a valid token is simply refused).
    """

    def decorator(view):
        view.csrf_expired_handler = handler
        return view

    return decorator


def csrf_token_merely_expired() -> bool:
    """Tell whether the request's CSRF token is this session's and only too old.

    Flask-WTF refuses a missing, forged, foreign and expired token alike; only the last is a
    user who took too long, whose work a handler may keep. The checks are Flask-WTF's own
    (``validate_csrf``): the signature is verified before the age, so an expired token is
    one this server signed, and its payload must be this session's raw token.
    """
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    token = request.form.get(field) or next(
        (request.headers[name] for name in config.get("WTF_CSRF_HEADERS", ()) if
         request.headers.get(name)),
        None,
    )  # fmt: skip
    time_limit = config.get("WTF_CSRF_TIME_LIMIT", 3600)
    raw = session.get(field)
    if not token or not isinstance(raw, str) or time_limit is None:
        return False
    secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    serializer = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
    try:
        serializer.loads(token, max_age=time_limit)
    except SignatureExpired as expired:
        try:
            signed = serializer.load_payload(expired.payload)
        except BadData:
            return False
        return isinstance(signed, str) and hmac.compare_digest(signed, raw)
    except BadData:
        return False
    return False  # a live token: refused for another reason (another session's, …)


def refuse_csrf(error: CSRFError):
    """Answer a refused CSRF token with the generic 400 page, keeping nothing."""
    return _handle_http_error(error)


def _handle_csrf_error(error: CSRFError):
    view = current_app.view_functions.get(request.endpoint)
    handler = getattr(view, "csrf_expired_handler", None)
    if handler is not None and current_user.is_authenticated:
        return handler(error)
    return _handle_http_error(error)


def _handle_database_down(error: OperationalError):
    g.pop("audit_reads", None)
    db.session.rollback()
    log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else "unknown")
    return _error_page(503)


def _handle_unexpected(error: Exception):
    g.pop("audit_reads", None)
    db.session.rollback()
    log.exception("unhandled error on %s %s", request.method, request.endpoint)
    return _error_page(500)


def init_app(app) -> None:
    """Install the lifecycle hooks and error handlers."""
    app.before_request(_refuse_nul_bytes)
    app.before_request(_declare_write_intent)
    app.after_request(_security_headers)
    app.after_request(_commit_boundary)  # runs first: after_request hooks run in reverse
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(OperationalError, _handle_database_down)
    if not app.debug and not app.testing:
        app.register_error_handler(Exception, _handle_unexpected)
