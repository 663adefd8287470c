"""With CSRF protection on (as in production), every form refuses a post without a token.

The other tests run with ``WTF_CSRF_ENABLED=False``; this one turns it on and posts, to every
POST route of the fuzz table (which a test keeps equal to the app's), what a forged cross-site
form would: plausible values, no token. Nothing may be done. The answer is the 400 page, or,
for the forms that keep what was typed (SECURITY.md item 12), the form again saying it expired.

SQLite only: the token is checked before any view or query runs, the same on both backends.
"""

from __future__ import annotations

import secrets

import pytest

from salve.extensions import db
from tests.factories import local_time
from tests.fuzz.forms import FORMS
from tests.fuzz.support import SQLITE_ONLY, is_error_page, sign_in, snapshot

#: What a forged form would post to the routes where doing it would show.
FORGED_POSTS = {
    "auth.login": lambda w: {"username": "docente_a", "password": "prueba-segura-2026"},
    "main.set_language": lambda w: {"lang": "en"},
    "incidents.new": lambda w: {
        "occurred_date": local_time()[:10],
        "occurred_time": "09:30",
        "location": "patio",
        "types": "ACO_VERBAL",
        "relationship": "estudiante_estudiante",
        "repetition": "2_3",
        "parties-0-role": "victima",
        "parties-0-kind": "estudiante",
        "parties-0-nie": w.students_a[0],
        "narrative": "Relato de un formulario falso.",
        "idempotency_key": secrets.token_urlsafe(16),
    },
    "incidents.close": lambda w: {"reason": "Cerrado por un sitio ajeno."},
    "incidents.decide_closure": lambda w: {"decision": "aprobar", "reason": "Sitio ajeno."},
    "alerts.transition": lambda w: {"to": "reconocida"},
    "alerts.reassign": lambda w: {"assignee": "1"},
    "cases.add_follow_up": lambda w: {"note": "Nota de un sitio ajeno."},
    "cases.refer": lambda w: {"institution": "FGR"},
    "cases.request_closure": lambda w: {"summary": "Cierre pedido por un sitio ajeno."},
    "admin.new_user": lambda w: {
        "username": "intruso",
        "role": "admin",
        "password": "una frase larga y segura 2026",
    },
    "admin.set_user_enabled": lambda w: {"enabled": "0"},
    "admin.add_role": lambda w: {"role": "nacional"},
}
#: A form that keeps what was typed re-renders with this (instead of a bare 400 page).
EXPIRED_NOTICE = "caducó"


@SQLITE_ONLY
@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_every_form_refuses_a_post_without_a_csrf_token(app, client, login_as, world, endpoint):
    spec = FORMS[endpoint]
    target = spec.prepare(world)
    db.session.commit()
    sign_in(client, login_as, spec)
    data = FORGED_POSTS.get(endpoint, lambda w: {})(world)
    before, protected = snapshot(), target.protected()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = client.post(target.url, data=data)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert snapshot() == before, "a post without a CSRF token changed something"
    assert target.protected() == protected
    page = response.get_data(as_text=True)
    if response.status_code == 400 and is_error_page(response, "Solicitud no válida"):
        pass  # the generic page: "the form may have expired; reload and try again"
    else:
        assert response.status_code in (200, 400), response.status_code
        assert EXPIRED_NOTICE in page and "<form" in page, page[:2000]
    if endpoint == "auth.login":
        assert client.get("/inicio").status_code == 302  # still signed out
    if endpoint == "auth.logout":
        assert client.get("/inicio").status_code == 200  # still signed in
    if endpoint == "main.set_language":
        assert 'lang="es"' in client.get("/ingresar").get_data(as_text=True)


@SQLITE_ONLY
def test_the_forged_report_is_filed_when_csrf_is_off(app, client, login_as, world):
    # The control: the post refused above is a valid report, refused for its missing token only.
    login_as("docente_a")
    before = snapshot()["incidents"]
    response = client.post("/incidentes/nuevo", data=FORGED_POSTS["incidents.new"](world))
    assert response.status_code == 302
    assert snapshot()["incidents"] == before + 1
