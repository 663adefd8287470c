"""Re-authentication before exports and role changes (SECURITY.md item 7).

A stolen or unattended session should not be enough to carry a department's list away or to
grant someone a role: those actions need the password (and the code, for roles with a second
factor) typed within the last ``REAUTH_WINDOW`` (15 min). Signing in counts as a confirmation.

When the confirmation is too old, a GET (a download link) is sent to ``/reautenticar`` and comes
back to the same address afterwards. A POST (a form the user filled in) gets the confirmation
page with everything it posted carried along in hidden fields, and is posted again with the
same body after the confirmation (307), so nothing the user typed is lost, except a password
(a new account's, say): that is never written into a page, and the user is asked to type it
again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps

from flask import current_app, redirect, render_template, request, url_for

from salve.auth.sessions import current_session, last_confirmed_at
from salve.db import utcnow

#: Fields of a re-posted form that are not carried along (the confirmation has its own).
_NOT_CARRIED = frozenset({"csrf_token"})
#: A field whose name says it holds a password, or its confirmation, is never put in a page:
#: the user types it again after confirming (password, new_password, confirm_password…).
_SECRET_NAME = re.compile(r"pass|contrase|clave|confirm|secret", re.IGNORECASE)
#: Set on the confirmation page when a password was left out, so the form can say so after.
RETYPE_FIELD = "reauth_retype"


def carried_fields(form) -> tuple[list[tuple[str, str]], bool]:
    """Return the posted fields to carry in hidden inputs, and whether a password was left out.

    The confirmation's own fields (``reauth_…``) and the CSRF token are not carried; neither is
    anything that looks like a password, which would otherwise sit in the page's HTML.
    """
    carried, left_out = [], form.get(RETYPE_FIELD) == "1"
    for name, values in form.lists():
        if name in _NOT_CARRIED or name.startswith("reauth_"):
            continue
        if _SECRET_NAME.search(name):
            left_out = left_out or any(values)
            continue
        carried.extend((name, value) for value in values)
    return carried, left_out


def is_recent() -> bool:
    """Tell whether the signed-in user confirmed who they are within the window."""
    auth_session = current_session()
    if auth_session is None:
        return False
    window = current_app.config["REAUTH_WINDOW"]
    return utcnow() - last_confirmed_at(auth_session) < window


def challenge():
    """Answer a request that needs a fresh confirmation first (see the module docstring)."""
    from salve.auth.forms import ReauthForm

    if request.method in {"GET", "HEAD"}:
        return redirect(url_for("auth.reauthenticate", next=request.full_path.rstrip("?")))
    carried, retype = carried_fields(request.form)
    form = ReauthForm(formdata=None)
    return render_template(
        "auth/reauthenticate.html",
        form=form,
        action=url_for("auth.reauthenticate", next=request.path, replay=1),
        carried=carried,
        retype=retype,
    ), 401


def recent_auth_required(view: Callable) -> Callable:
    """Let ``view`` run only after a recent confirmation of the password (and code)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_recent():
            return challenge()
        return view(*args, **kwargs)

    return wrapped
