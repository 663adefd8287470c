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
from tests.api.conftest import Api, assert_error_shape, audit_actions, report, stored, token_for


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
    listed = runner.invoke(args=["salve", "token", "list", "--user", "director_a"])
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
        (["list", "--user", "nadie"], "No existe el usuario"),
        (["create", "docente_a", "--days", "0"], "La duración debe ser de 1 a 365 días"),
        (["create", "docente_a", "--days", "366"], "La duración debe ser de 1 a 365 días"),
        (["create", "docente_a", "--scope", "admin"], "'admin' is not one of"),
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


def _row(token: str) -> ApiToken:
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))


def _created(runner, *args: str) -> str:
    result = runner.invoke(args=["salve", "token", "create", *args])
    assert result.exit_code == 0, result.output
    return result.output.split()[-1]


def test_a_token_lives_ninety_days_and_reads_only_unless_told_otherwise(runner, world):
    plain = _row(_created(runner, "docente_a"))
    assert plain.scope == "read"
    assert plain.expires_at - plain.created_at == timedelta(days=90)
    short = _row(_created(runner, "docente_a", "--days", "7", "--scope", "read-write"))
    assert short.scope == "read-write"
    assert short.expires_at - short.created_at == timedelta(days=7)
    event = audit_actions("api_token.create")[-1]
    assert event.detail["scope"] == "read-write" and event.detail["days"] == 7


def test_an_expired_token_is_refused(client, world):
    token = token_for("docente_a")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/catalog", headers=headers).status_code == 200
    _row(token).expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/catalog", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert_error_shape(response)
    assert "caducó" in response.json["errors"][0]["message"]
    refusal = audit_actions("api.token_refused")[-1]
    assert refusal.detail["reason"] == "expired" and refusal.user_id == _user("docente_a").id


def test_a_revoked_token_is_refused_even_before_it_expires(runner, client, world):
    token = token_for("docente_a")
    assert runner.invoke(args=["salve", "token", "revoke", str(_row(token).id)]).exit_code == 0
    response = client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "revocado" in response.json["errors"][0]["message"]


def test_a_read_token_reads_but_writes_nothing(api, runner, world):
    token = _created(runner, "docente_a", "--name", "tablero")
    assert api.get("/api/v1/catalog", token=token).status_code == 200
    assert api.get(f"/api/v1/schools/{world.school_a}/students", token=token).status_code == 200
    before = stored()
    response = api.post("/api/v1/incidents", token=token, json=report(world))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert "solo lectura" in response.json["errors"][0]["message"]
    assert stored() == before
    refusal = audit_actions("api.token_refused")[-1]
    assert refusal.detail["reason"] == "read_only" and refusal.user_id == _user("docente_a").id


def test_a_read_write_token_files_a_report(api, runner, world):
    token = _created(runner, "docente_a", "--scope", "read-write")
    before = stored()
    response = api.post("/api/v1/incidents", token=token, json=report(world))
    assert response.status_code == 201, response.json
    assert stored()[0] == before[0] + 1


def test_the_list_shows_every_token_and_never_one_secret(runner, client, world):
    tokens = [
        _created(runner, "docente_a", "--name", "app móvil"),
        _created(runner, "director_a", "--scope", "read-write", "--days", "30"),
    ]
    client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {tokens[0]}"})
    runner.invoke(args=["salve", "token", "revoke", str(_row(tokens[1]).id)])
    listed = runner.invoke(args=["salve", "token", "list"])
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.output.splitlines()
    assert header.split("\t") == [
        "id", "usuario", "hash", "alcance", "nombre", "creado", "caduca", "último uso", "revocado"
    ]  # fmt: skip
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    first, second = (rows[str(_row(token).id)] for token in tokens)
    assert first[1:5] == ["docente_a", _row(tokens[0]).token_hash[:8] + "…", "read", "app móvil"]
    assert first[7] != "-" and first[8] == "-"  # used, not revoked
    assert second[1] == "director_a" and second[3] == "read-write" and second[8] != "-"
    for token in tokens:
        assert token not in listed.output
        assert _row(token).token_hash not in listed.output
    only = runner.invoke(args=["salve", "token", "list", "--user", "director_a"])
    assert str(_row(tokens[1]).id) in only.output and "docente_a" not in only.output


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
