"""Bearer tokens: the CLI, and the API refusing everything but a live token of an enabled user."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from salve.api.auth import hash_token
from salve.api.models import ApiToken
from salve.auth.models import User
from salve.db import utcnow
from salve.extensions import db
from tests.api.conftest import Api, assert_error_shape, audit_actions, token_for


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def test_create_prints_the_token_last_and_stores_only_its_hash(runner, world):
    result = runner.invoke(args=["salve", "token", "create", "docente_a", "--name", "app móvil"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row is not None and row.name == "app móvil"
    assert row.user_id == _user("docente_a").id
    assert token not in {row.token_hash, row.name}
    events = audit_actions("api_token.create")
    assert events[-1].object_id == str(row.id)
    assert token not in str(events[-1].detail)


def test_list_and_revoke(runner, world, client):
    token = runner.invoke(args=["salve", "token", "create", "director_a"]).output.split()[-1]
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    listed = runner.invoke(args=["salve", "token", "list", "director_a"])
    assert listed.exit_code == 0
    assert f"\n{row.id}\t" in listed.output
    assert token not in listed.output and row.token_hash not in listed.output
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/catalog", headers=headers).status_code == 200

    revoked = runner.invoke(args=["salve", "token", "revoke", str(row.id)])
    assert revoked.exit_code == 0, revoked.output
    assert audit_actions("api_token.revoke")[-1].object_id == str(row.id)
    response = client.get("/api/v1/catalog", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["create", "nadie"], "No existe el usuario"),
        (["list", "nadie"], "No existe el usuario"),
        (["revoke", "999999"], "No existe el token"),
    ],
)
def test_cli_errors(runner, world, args, words):
    result = runner.invoke(args=["salve", "token", *args])
    assert result.exit_code != 0
    assert words in result.output


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer no-es-un-token",
        "Basic ZG9jZW50ZTpwcnVlYmE=",
        "x" * 5000,
    ],
)
def test_missing_or_unknown_tokens_are_refused(client, world, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/api/v1/schools", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error_shape(response)
    assert response.json["errors"][0]["field"] is None
    assert "token" in response.json["errors"][0]["message"]


def test_a_disabled_account_is_refused(client, world):
    token = token_for("docente_a")
    _user("docente_a").is_enabled = False
    db.session.commit()
    response = client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_the_session_cookie_alone_is_refused(client, login_as, world):
    login_as("director_a")
    assert client.get("/inicio").status_code == 200  # the cookie works for the pages
    for method, path in [
        ("GET", "/api/v1/catalog"),
        ("GET", f"/api/v1/schools/{world.school_a}/students"),
        ("POST", "/api/v1/incidents"),
    ]:
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_cookie_does_not_rescue_a_bad_token(client, login_as, world):
    login_as("director_a")
    response = client.get("/api/v1/catalog", headers={"Authorization": "Bearer inventado"})
    assert response.status_code == 401
    refusal = audit_actions("api.token_refused")[-1]
    assert refusal.user_id is None  # not attributed to the cookie's account either


def test_writes_are_attributed_to_the_tokens_user(api, world):
    api.as_user("docente_a")
    response = api.get(f"/api/v1/schools/{world.school_a}/students")
    assert response.status_code == 200
    assert audit_actions("student_roll.view")[-1].user_id == _user("docente_a").id


def test_last_used_is_written_at_most_once_a_minute(client, world):
    token = token_for("docente_a")
    headers = {"Authorization": f"Bearer {token}"}
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row.last_used_at is None
    client.get("/api/v1/catalog", headers=headers)
    db.session.refresh(row)
    first = row.last_used_at
    assert first is not None
    client.get("/api/v1/catalog", headers=headers)
    db.session.refresh(row)
    assert row.last_used_at == first
    row.last_used_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    client.get("/api/v1/catalog", headers=headers)
    db.session.refresh(row)
    assert row.last_used_at > utcnow() - timedelta(minutes=1)


def test_a_flood_of_made_up_tokens_writes_a_bounded_number_of_audit_rows(
    app, client, world, monkeypatch
):
    """Finding 7: refused tokens are limited per address before anything is written.

    300 made-up tokens from one address within one minute: the first 30 (the ``api-refused``
    limit) get 401, the other 270 get 429 with Retry-After, and the audit log gains ONE row
    (the first refusal of the window). The next window's first refusal writes one more row,
    carrying the 30 refusals of the window before. A real token from another address still
    works meanwhile.
    """
    from salve import ratelimit

    start = utcnow().replace(second=0, microsecond=0)
    now = {"at": start + timedelta(seconds=5)}
    monkeypatch.setattr(ratelimit, "utcnow", lambda: now["at"])
    api = Api(app, client)  # every answer, the 429 included, checked against the OpenAPI
    token = token_for("docente_a")
    before = len(audit_actions("api.token_refused"))
    flood = {"REMOTE_ADDR": "203.0.113.7"}

    def made_up(n: int):
        fake = f"inventado-{n:04d}-" + "x" * 150
        return api.get("/api/v1/catalog", token=fake, environ_base=flood)

    statuses = [made_up(n).status_code for n in range(300)]
    assert statuses == [401] * 30 + [429] * 270
    refused = made_up(300)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json["errors"][0]["message"].startswith("Demasiadas solicitudes")
    rows = audit_actions("api.token_refused")[before:]
    assert len(rows) == 1
    assert rows[0].ip_address == "203.0.113.7"
    assert rows[0].detail == {"reason": "unknown", "refused_in_previous_window": 0}

    other = api.get("/api/v1/catalog", token=token, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200

    now["at"] = start + timedelta(seconds=65)  # the next window: its first row counts the last
    assert made_up(301).status_code == 401
    rows = audit_actions("api.token_refused")[before:]
    assert len(rows) == 2
    assert rows[-1].detail["refused_in_previous_window"] == 30
