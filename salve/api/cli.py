"""``salve token``: bearer tokens for the JSON API.

``create`` prints the token once, as its last line; only its SHA-256 is stored, so a lost
token is revoked and replaced, never recovered.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from salve.extensions import db

token_group = AppGroup("token", help="Bearer tokens for the JSON API (/api/v1).")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="", help='What the token is for, e.g. "app móvil".')
def create_command(username, name):
    """Create a token acting as USERNAME and print it (last line)."""
    from salve.api.auth import TokenError, create_token

    try:
        row, token = create_token(username, name)
    except TokenError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(
        f"Token {row.id} creado para {row.user.username}. Guárdelo ahora: no se muestra otra vez."
    )
    click.echo(token)


@token_group.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id):
    """Revoke token TOKEN_ID (see `salve token list`)."""
    from salve.api.auth import TokenError, revoke_token

    try:
        row = revoke_token(token_id)
    except TokenError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Token {row.id} revocado el {_when(row.revoked_at)}.")


@token_group.command("list")
@click.argument("username")
def list_command(username):
    """List USERNAME's tokens (never the tokens themselves)."""
    from salve.api.auth import TokenError, tokens_of

    try:
        rows = tokens_of(username)
    except TokenError as error:
        raise click.ClickException(str(error)) from error
    if not rows:
        click.echo(f"{username} no tiene tokens.")
        return
    click.echo("id\tnombre\tcreado\túltimo uso\trevocado")
    for row in rows:
        click.echo(
            f"{row.id}\t{row.name or '-'}\t{_when(row.created_at)}\t"
            f"{_when(row.last_used_at)}\t{_when(row.revoked_at)}"
        )


def register(group) -> None:
    """Add the token commands to ``group``."""
    group.add_command(token_group)
