"""``salve token``: bearer tokens for the JSON API.

``create`` prints the token once, as its last line; only its SHA-256 is stored, so a lost
token is revoked and replaced, never recovered. ``list`` shows each token's id, account, the
first characters of its hash (never the token), scope, dates and whether it was revoked.
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
@click.option(
    "--scope",
    type=click.Choice(["read", "read-write"]),
    default="read",
    show_default=True,
    help="read: GET only; read-write: may also file reports and move alerts.",
)
@click.option(
    "--days", type=int, default=90, show_default=True, help="Days until it expires (1–365)."
)
def create_command(username, name, scope, days):
    """Create a token acting as USERNAME and print it (last line)."""
    from salve.api.auth import TokenError, create_token

    try:
        row, token = create_token(username, name, scope=scope, days=days)
    except TokenError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(
        f"Token {row.id} creado para {row.user.username} ({row.scope}), válido hasta el "
        f"{_when(row.expires_at)}. Guárdelo ahora: no se muestra otra vez."
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
@click.option("--user", "username", default=None, help="Only this account's tokens.")
def list_command(username):
    """List the tokens, or one account's (never the tokens themselves)."""
    from salve.api.auth import TokenError, list_tokens

    try:
        rows = list_tokens(username)
    except TokenError as error:
        raise click.ClickException(str(error)) from error
    if not rows:
        click.echo(f"{username} no tiene tokens." if username else "No hay tokens.")
        return
    click.echo("id\tusuario\thash\talcance\tnombre\tcreado\tcaduca\túltimo uso\trevocado")
    for row in rows:
        # Eight hex characters of the SHA-256 tell tokens apart; they reveal nothing usable.
        click.echo(
            f"{row.id}\t{row.user.username}\t{row.token_hash[:8]}…\t{row.scope}\t"
            f"{row.name or '-'}\t{_when(row.created_at)}\t{_when(row.expires_at)}\t"
            f"{_when(row.last_used_at)}\t{_when(row.revoked_at)}"
        )


def register(group) -> None:
    """Add the token commands to ``group``."""
    group.add_command(token_group)
