"""The hostile corpus (tests/fuzz/hostile.py) in every string of the API's request bodies.

On both backends. Free text is stored and returned as typed; codes, keys and dates are refused
with a 4xx naming the field; NUL characters, lone surrogates and bytes that are not JSON or not
UTF-8 are refused cleanly; a body over the limit gets a 413, in Spanish.
"""

from __future__ import annotations

import json

import pytest

from salve.extensions import db
from tests.alerts import builders
from tests.api.conftest import token_for
from tests.factories import report_payload
from tests.fuzz import hostile
from tests.fuzz.support import alert_status

#: Report properties that are free text: the entry must be stored as typed.
REPORT_TEXT = ("narrative", "measures_note")
#: Report properties that are codes, keys or dates: the entry must be refused (422).
REPORT_CODES = ("occurred_at", "location", "relationship", "repetition", "idempotency_key")


def _api(client, method: str, path: str, token: str, body) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.open(
        path,
        method=method,
        data=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _assert_api_refusal(response, entry: str) -> None:
    assert 400 <= response.status_code < 500, (entry[:40], response.status_code)
    assert response.is_json and response.json["errors"], response.data[:200]


@pytest.mark.slow
def test_the_corpus_in_every_string_of_a_report_posted_to_the_api(app, client, world):
    token = token_for("docente_a")
    entries = (*hostile.CORPUS, hostile.NUL, hostile.SURROGATE, hostile.LONG_100K)
    for entry in entries:
        storable = "\x00" not in entry and hostile.SURROGATE not in entry
        # Free text: stored and returned as typed, or refused naming the field (too long).
        body = report_payload(world, **dict.fromkeys(REPORT_TEXT, entry))
        body["parties"][0]["description"] = entry
        response = _api(client, "POST", "/api/v1/incidents", token, body)
        if storable and len(entry) <= 200 and entry.strip():
            assert response.status_code == 201, (entry, response.json)
            shown = client.get(response.location, headers={"Authorization": f"Bearer {token}"}).json
            assert shown["narrative"] == entry and shown["measures_note"] == entry
            assert shown["parties"][0]["description"] == entry.strip()
        else:
            _assert_api_refusal(response, entry)
        # Codes and keys: refused, naming the field; the student's NIE and the school too.
        for name in (*REPORT_CODES, "school"):
            body = report_payload(world, **{name: entry})
            _assert_api_refusal(_api(client, "POST", "/api/v1/incidents", token, body), entry)
        for name in ("types", "motivations", "measures"):
            body = report_payload(world, **{name: [entry]})
            _assert_api_refusal(_api(client, "POST", "/api/v1/incidents", token, body), entry)
        body = report_payload(world)
        body["parties"][0]["nie"] = entry
        body["parties"][0]["role"] = entry
        _assert_api_refusal(_api(client, "POST", "/api/v1/incidents", token, body), entry)
        # An unknown property named by the entry is refused, not stored.
        body = {**report_payload(world), entry[:60]: entry}
        _assert_api_refusal(_api(client, "POST", "/api/v1/incidents", token, body), entry)


@pytest.mark.slow
def test_the_corpus_in_every_string_of_an_alert_transition(app, client, world):
    alert = builders.raised_alert(world)
    db.session.commit()
    token = token_for("gestor_06")
    url = f"/api/v1/alerts/{alert.id}/transitions"
    entries = (*hostile.CORPUS, hostile.NUL, hostile.SURROGATE, hostile.LONG_100K)
    for entry in entries:
        for body in (
            {"to": entry},
            {"to": "descartada", "reason": entry},
            {"to": "en_seguimiento", "review_at": entry},
        ):
            _assert_api_refusal(_api(client, "POST", url, token, body), entry)
        # A note: dismissing (or reopening) with it stores it as typed, or it is refused.
        dismissed = alert_status(alert.id) == "descartada"
        body = {"to": "abierta", "note": entry} if dismissed else {
            "to": "descartada", "reason": "falso_positivo", "note": entry
        }  # fmt: skip
        response = _api(client, "POST", url, token, body)
        unstorable = "\x00" in entry or hostile.SURROGATE in entry or len(entry) > 5000
        if unstorable or (dismissed and not entry.strip()):  # reopening needs a note
            _assert_api_refusal(response, entry)
        else:
            assert response.status_code == 201, (entry, response.json)
            if entry.strip():
                assert response.json["events"][-1]["note"] == entry.strip()


def test_bytes_that_are_not_json_or_not_utf8_are_refused_cleanly(app, client, world):
    token = token_for("docente_a")
    for raw in (hostile.INVALID_UTF8, b'{"narrative": "\xff\xfe"}', b"\x00", b'"\\ud800"'):
        _assert_api_refusal(_api(client, "POST", "/api/v1/incidents", token, raw), repr(raw))


def test_a_10_mb_api_body_gets_a_413_in_spanish(app, client, world):
    token = token_for("docente_a")
    body = report_payload(world, narrative=hostile.huge())
    response = _api(client, "POST", "/api/v1/incidents", token, body)
    assert response.status_code == 413
    assert "demasiado grande" in response.json["errors"][0]["message"]
    alert = builders.raised_alert(world)
    db.session.commit()
    response = _api(
        client,
        "POST",
        f"/api/v1/alerts/{alert.id}/transitions",
        token_for("gestor_06"),
        {"to": "resuelta", "note": "x" * 20_000},
    )
    assert response.status_code == 413
