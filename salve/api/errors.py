"""Every API error has one shape: a 4xx and ``{"errors": [{"field": …, "message": …}]}``.

``field`` names the offending field by its path in the request (``parties[0].nie``, ``page``),
or is null when the request as a whole is at fault.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response, current_app, jsonify
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from salve.incidents.validation import FieldError


class ApiError(Exception):
    """Refuse the request with ``status`` and ``errors`` as (field, message) pairs."""

    def __init__(self, status: int, errors: Iterable[tuple[str | None, str]]):
        super().__init__(status)
        self.status = status
        self.errors = [(field, str(message)) for field, message in errors]


def error_response(
    status: int, errors: Iterable[tuple[str | None, str]], headers: dict | None = None
) -> Response:
    """Return the JSON error response."""
    body = {"errors": [{"field": field or None, "message": str(msg)} for field, msg in errors]}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def field_errors(errors: list[FieldError]) -> list[tuple[str | None, str]]:
    """Return the validator's errors as (field, message); "" (the whole report) becomes null."""
    return [(error.field or None, error.message) for error in errors]


def _default_message(code: int) -> str:
    if code == 400:
        return _("La solicitud no es válida.")
    if code == 401:
        return _("Se requiere un token de acceso.")
    if code == 403:
        return _("No tiene permiso para hacer esto.")
    if code == 404:
        return _("No existe o no tiene acceso.")
    if code == 405:
        return _("Este método no se admite en esta dirección.")
    if code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        return _("La solicitud es demasiado grande; el máximo es %(kb)d KB.", kb=limit // 1024)
    return _("La solicitud no se pudo atender.")


def http_error_response(error: HTTPException) -> Response:
    """Return a werkzeug or ``abort()`` error as JSON, in Spanish unless a view said otherwise."""
    code = error.code or 500
    description = error.description
    if not description or description == type(error).description:
        description = _default_message(code)
    headers = {}
    if code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    return error_response(code, [(None, description)], headers)
