"""Re-authentication before exports and role changes (SECURITY.md item 7).

A stolen or unattended session should not be enough to carry a department's list away or to
grant someone a role: those actions need the password (and the code, for roles with a second
factor) typed within the last ``REAUTH_WINDOW`` (15 min). Signing in counts as a confirmation.

When the confirmation is too old, a GET (a download link) is sent to ``/reautenticar`` and comes
back to the same address afterwards. A POST (a form the user filled in) gets the confirmation
page with everything it posted carried along in hidden fields, and is posted again with the
same body after the confirmation (307), so nothing the user typed is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import current_app, redirect, render_template, request, url_for

from salve.auth.sessions import current_session, last_confirmed_at
from salve.db import utcnow

#: Fields of a re-posted form that are not carried along (the confirmation has its own).
_NOT_CARRIED = frozenset({"csrf_token", "reauth_password", "reauth_code"})


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
    carried = [
        (name, value)
        for name, values in request.form.lists()
        if name not in _NOT_CARRIED
        for value in values
    ]
    form = ReauthForm(formdata=None)
    return render_template(
        "auth/reauthenticate.html",
        form=form,
        action=url_for("auth.reauthenticate", next=request.path, replay=1),
        carried=carried,
    ), 401


def recent_auth_required(view: Callable) -> Callable:
    """Let ``view`` run only after a recent confirmation of the password (and code)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_recent():
            return challenge()
        return view(*args, **kwargs)

    return wrapped
