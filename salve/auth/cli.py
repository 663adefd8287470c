"""``salve totp``: the keys that encrypt the second factor's secrets (salve.auth.totp_keys)."""

from __future__ import annotations

import click
import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from flask.cli import AppGroup

from salve.extensions import db

totp_group = AppGroup("totp", help="Second-factor (TOTP) secrets and their encryption keys.")

#: Secrets re-encrypted per transaction.
BATCH_SIZE = 500


@totp_group.command("rekey")
def rekey_command():
    """Encrypt every TOTP secret again with the first key of SALVE_TOTP_KEY."""
    from salve.auth import totp_keys
    from salve.auth.models import User

    done, unreadable, last_id = 0, [], 0
    while True:
        users = db.session.scalars(
            sa.select(User)
            .where(User.totp_secret.is_not(None), User.id > last_id)
            .order_by(User.id)
            .limit(BATCH_SIZE)
        ).all()
        if not users:
            break
        for user in users:
            last_id = user.id
            try:
                user.totp_secret = totp_keys.rekey(user.totp_secret)
            except InvalidToken:
                unreadable.append(user.id)
                continue
            done += 1
        db.session.commit()
    click.echo(f"Secretos cifrados de nuevo con la primera clave: {done}.")
    if unreadable:
        ids = ", ".join(str(user_id) for user_id in unreadable)
        raise click.ClickException(
            f"Ninguna clave de SALVE_TOTP_KEY abre el secreto de {len(unreadable)} usuario(s)"
            f" (id {ids}): añada la clave con que se cifraron, o restablezca su segundo factor."
        )


def register(group) -> None:
    """Add the ``totp`` commands to the ``salve`` group."""
    group.add_command(totp_group)
