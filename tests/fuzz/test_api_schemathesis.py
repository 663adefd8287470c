"""Schemathesis against the API's own OpenAPI document, in-process through WSGI.

Every operation of ``/api/v1/openapi.json`` gets hypothesis-generated requests (data that fits
the schema and data that does not), sent with bearer tokens of several roles, or none, or a
wrong one. Each answer must not be a server error, must carry a status the document lists for
the operation, and must match the schema documented for that status. Path parameters and
report bodies sometimes name the seeded world's real schools, students, reports and alerts, so
the requests reach past "not found" into the code that does the work.

All examples of one operation share the test's outer transaction (rolled back at the end);
the views' own commits are savepoints in it.
"""

from __future__ import annotations

import secrets

import pytest
import schemathesis
from hypothesis import given, note
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.experimental import OPEN_API_3_1
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from salve.api.openapi import SERVER_URL, document
from salve.catalog.queries import current_catalog
from salve.extensions import db
from tests.alerts import builders
from tests.api.conftest import token_for
from tests.factories import report_payload
from tests.fuzz import _compat
from tests.fuzz.support import API_EXAMPLES, API_EXAMPLES_POSTGRES, fuzz_settings

_compat.install()

# The document is OpenAPI 3.1 (JSON Schema 2020-12: `type: [..., "null"]`, `const`); schemathesis
# 3 validates responses against 3.1 only with this experiment on.
OPEN_API_3_1.enable()

# schemathesis 3 resolves references with a class jsonschema deprecated (its import is lazy, so
# the warning comes during the test, not at collection).
pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"
)

#: Accounts whose tokens the examples use: every role, and school and department staff of two
#: places, so scope refusals are exercised as well as access.
ACCOUNTS = (
    "docente_a",
    "director_a",
    "docente_c",
    "gestor_06",
    "supervisor_06",
    "departamental_06",
    "departamental_05",
    "nacional",
    "admin",
)
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in document()["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
)


def _bearer(draw, tokens: dict[str, str], account: str | None) -> dict[str, str]:
    """Draw an Authorization header: a role's token mostly; sometimes none, or a forged one.

    ``account``: the steered request is meant for this account; it is sent as them.
    """
    choice = account or draw(st.sampled_from([*tokens, "", "forged"]))
    if choice == "":
        return {}
    if choice == "forged":
        return {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
    return {"Authorization": f"Bearer {tokens[choice]}"}


def _has_query_or_body(operation) -> bool:
    return bool(len(operation.query) or len(operation.body))


def _real_values(world, incident_id: int, alert_id: int) -> dict[str, list]:
    """Path parameter values that name real records, by parameter name."""
    return {
        "code": [world.school_a, world.school_c, "06", "05", "14"],
        "nie": [world.students_a[0], world.students_c[0]],
        "incident_id": [incident_id],
        "alert_id": [alert_id],
    }


def _valid_report(world, draw) -> dict:
    """A report docente_a may file (some types need a factor or a relationship: then 422)."""
    catalog = current_catalog()
    types = draw(st.lists(st.sampled_from(sorted(catalog.types)), min_size=1, max_size=2))
    return report_payload(
        world,
        types=types,
        narrative="Relato: " + draw(st.text(max_size=300)),
        idempotency_key=draw(st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z")),
    )


#: Path parameter → accounts that may see the real records it names (some of them).
OWNERS = {
    "code": ["docente_a", "director_a", "gestor_06", "departamental_06", "nacional"],
    "nie": ["director_a", "gestor_06", "supervisor_06"],
    "incident_id": ["docente_a", "director_a", "gestor_06"],
    "alert_id": ["gestor_06", "supervisor_06"],
}


def _steer(case, draw, world, real: dict[str, list]) -> str | None:
    """Sometimes point the generated case at real records and send a valid-looking body.

    Return the account a steered request is meant for (None: any token, or none).
    """
    account = None
    for name in list(case.path_parameters or {}):
        if name in real and draw(st.booleans()):
            case.path_parameters[name] = draw(st.sampled_from(real[name]))
            if draw(st.booleans()):  # as someone who may see it, or as anyone
                account = draw(st.sampled_from(OWNERS[name]))
    is_report = case.operation.method.upper() == "POST" and case.operation.path == "/incidents"
    if is_report and draw(st.integers(0, 2)) == 0:
        valid = _valid_report(world, draw)
        generated = case.body if isinstance(case.body, dict) else {}
        # Keep a few generated fields over the valid ones: reach one validation rule at a time.
        kept = set()
        if generated:
            kept = draw(
                st.one_of(st.just(set()), st.sets(st.sampled_from(sorted(generated)), max_size=2))
            )
        case.body = {**valid, **{key: generated[key] for key in kept}}
        return "docente_a"
    if case.operation.path.endswith("/transitions") and draw(st.booleans()):
        case.body = draw(
            st.sampled_from(
                [
                    {"to": "reconocida"},
                    {"to": "descartada", "reason": "falso_positivo", "note": "Revisado."},
                    {"to": "en_seguimiento", "review_at": "2099-01-01"},
                    {"to": "resuelta", "note": "Atendida."},
                    {"to": "abierta", "note": "Otra vez."},
                    {"to": "en_atencion"},
                ]
            )
        )
        return "gestor_06"
    return account


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_survives_generated_requests(app, world, monkeypatch, method, path):
    # 200 requests from one address pass open data's limit (120 a minute): the rest would be
    # 429s, not the operation. The limits have their own tests (tests/test_ratelimit.py).
    for name in ("api", "open-data"):
        monkeypatch.setitem(app.config["RATE_LIMITS"], name, (100_000, 60))
    schema = schemathesis.from_wsgi(f"{SERVER_URL}/openapi.json", app, base_url=SERVER_URL)
    operation = schema[path][method]
    tokens = {username: token_for(username) for username in ACCOUNTS}
    alert = builders.raised_alert(world)  # a sexual-violence report and its alerts
    db.session.commit()
    real = _real_values(world, alert.evidence[0].incident_id, alert.id)
    on_postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    examples = API_EXAMPLES_POSTGRES if on_postgres else API_EXAMPLES
    answered: set[int] = set()

    def run(generation, max_examples: int, **explicit) -> None:
        strategy = operation.as_strategy(data_generation_method=generation, **explicit)

        @fuzz_settings(max_examples)
        @given(case=strategy, data=st.data())
        def check(case, data):
            account = _steer(case, data.draw, world, real)
            headers = _bearer(data.draw, tokens, account)
            note(
                f"{case.method} {case.formatted_path} query={case.query!r} body={case.body!r:.2000}"
            )
            response = case.call(headers=headers)
            answered.add(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)

        check()

    run(schemathesis.DataGenerationMethod.positive, examples)
    # Invalid requests: wrong types and values in the query and the body. Fewer: generating
    # one costs about three valid ones. Path parameters are plain strings, which schemathesis 3
    # cannot make invalid (every draw is filtered out), so they name real records here.
    if _has_query_or_body(operation):
        names = [parameter.name for parameter in operation.path_parameters]
        explicit = {"path_parameters": {name: real[name][0] for name in names}} if names else {}
        run(schemathesis.DataGenerationMethod.negative, max(5, examples // 8), **explicit)
    if examples >= 100:  # 200 derandomized examples reach the work, not only the refusals
        assert answered & {200, 201}, sorted(answered)
