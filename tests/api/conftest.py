"""API test helpers: tokens per account, a client that checks every answer against the OpenAPI.

``api`` sends requests with a bearer token and validates each JSON response against the schema
the OpenAPI document gives for its route, method and status: a status the document does not
list for the route, or a body that does not match, fails the test.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from werkzeug.exceptions import MethodNotAllowed, NotFound

from salve.api.auth import create_token
from salve.api.openapi import SERVER_URL, document
from salve.audit.models import AuditEvent
from salve.extensions import db
from salve.incidents.models import Incident, IncidentParty
from tests.factories import local_time, report_payload

DOC = document()


def token_for(username: str, name: str = "pruebas", scope: str = "read-write") -> str:
    """Create a bearer token for a seeded account (inside the test's outer transaction).

    Committed (a savepoint, in the tests) so that a request that rolls back its own work, such
    as an audited refusal, does not take the token with it. Read-write unless told otherwise,
    so that the tests that file reports or move alerts may do so.
    """
    _row, token = create_token(username, name, scope=scope)
    db.session.commit()
    return token


def openapi_path(rule: str) -> str:
    """Return the OpenAPI path of a Flask rule: ``/incidents/<int:id>`` → ``/incidents/{id}``."""
    assert rule.startswith(SERVER_URL), rule
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule[len(SERVER_URL) :])


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        *_root, section, kind, name = node["$ref"].split("/")
        node = DOC[section][kind][name]
    return node


def documented_schema(rule: str, method: str, status: int) -> dict:
    """Return the response schema documented for ``rule``, ``method`` and ``status``."""
    operation = DOC["paths"][openapi_path(rule)][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {rule} answered {status}, not documented"
    return _resolve(responses[str(status)])["content"]["application/json"]["schema"]


def assert_matches(schema: dict, body) -> None:
    """Validate ``body`` against an OpenAPI schema, resolving ``#/components/...`` refs."""
    validator = Draft202012Validator(
        {**schema, "components": DOC["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def assert_error_shape(response) -> None:
    assert response.is_json, response.data[:200]
    assert_matches({"$ref": "#/components/schemas/Error"}, response.json)


class Api:
    """A test client for /api/v1 that checks every answer against the OpenAPI document."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.token: str | None = None

    def as_user(self, username: str) -> Api:
        self.token = token_for(username)
        return self

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        token = token if token is not None else self.token
        if token:
            headers.setdefault("Authorization", f"Bearer {token}")
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        self.check(method, path, response)
        return response

    def check(self, method: str, path: str, response) -> None:
        adapter = self.app.url_map.bind("localhost")
        try:
            rule, _args = adapter.match(path.split("?")[0], method, return_rule=True)
        except (NotFound, MethodNotAllowed):
            assert response.status_code in (404, 405)
            assert_error_shape(response)
            return
        if response.status_code >= 400:
            assert_error_shape(response)
        if not response.is_json:  # a download (CSV, XLSX) where the operation documents one
            operation = DOC["paths"][openapi_path(rule.rule)][method.lower()]
            content = _resolve(operation["responses"][str(response.status_code)])["content"]
            assert response.mimetype in content, response.data[:200]
            return
        assert_matches(documented_schema(rule.rule, method, response.status_code), response.json)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)


@pytest.fixture
def api(app, client):
    """Return an ``Api`` client; call ``as_user(username)`` to give it a token."""
    return Api(app, client)


def stored() -> tuple[int, int]:
    """Return how many incidents and parties are stored."""
    return (
        db.session.scalar(sa.select(sa.func.count()).select_from(Incident)),
        db.session.scalar(sa.select(sa.func.count()).select_from(IncidentParty)),
    )


def audit_actions(action: str) -> list[AuditEvent]:
    """Return the audit events with ``action``, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


# The report builders are shared with the other tests.
when = local_time
report = report_payload
