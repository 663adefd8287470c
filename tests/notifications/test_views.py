"""The in-app inbox: one's own notices, newest first, an unread badge, marking read."""

from __future__ import annotations

import re

import sqlalchemy as sa

from salve.extensions import db
from salve.notifications.models import InboxMessage
from tests.notifications.conftest import file_sexual_violence, students_of_the_report, user_named


def _notices(username: str) -> list[InboxMessage]:
    return list(
        db.session.scalars(
            sa.select(InboxMessage)
            .where(InboxMessage.user_id == user_named(username).id)
            .order_by(InboxMessage.id)
        )
    )


def _badge(page: str) -> str | None:
    """The unread count shown in the navigation, or None without a badge."""
    found = re.search(r'<span class="nav-count">([^<]+)<', page)
    return found.group(1) if found else None


def test_the_inbox_lists_ones_notices_with_links_and_an_unread_badge(client, login_as, world):
    incident = file_sexual_violence(world)
    notices = _notices("gestor_06")
    assert len(notices) == 3
    login_as("gestor_06")
    page = client.get("/avisos").get_data(as_text=True)
    assert _badge(page) == "3"
    for notice in notices:
        assert f'href="{notice.link}"' in page
        assert f"Nueva alerta A-{notice.payload['alert_id']:06d}" in page
    assert page.count('class="inbox-item inbox-unread"') == 3
    assert incident.narrative not in page
    for student in students_of_the_report(world):
        assert student.family_names not in page
    # The badge is on every page for a signed-in user.
    assert _badge(client.get("/inicio").get_data(as_text=True)) == "3"


def test_newest_notices_come_first(client, login_as, world):
    file_sexual_violence(world)
    login_as("gestor_06")
    page = client.get("/avisos").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r"/avisos/(\d+)/leido", page)]
    assert ids == sorted(ids, reverse=True)


def test_marking_a_notice_read(client, login_as, world):
    file_sexual_violence(world)
    first = _notices("gestor_06")[0]
    login_as("gestor_06")
    response = client.post(f"/avisos/{first.id}/leido")
    assert response.status_code == 302
    assert response.location.endswith("/avisos")
    db.session.refresh(first)
    assert first.read_at is not None
    page = client.get("/avisos").get_data(as_text=True)
    assert _badge(page) == "2"
    assert page.count('class="inbox-item inbox-unread"') == 2
    unread_only = client.get("/avisos?estado=sin_leer").get_data(as_text=True)
    assert f"/avisos/{first.id}/leido" not in unread_only
    assert unread_only.count('class="inbox-item inbox-unread"') == 2


def test_marking_all_read_clears_the_badge(client, login_as, world):
    file_sexual_violence(world)
    login_as("gestor_06")
    assert client.post("/avisos/leer-todos").status_code == 302
    assert all(n.read_at is not None for n in _notices("gestor_06"))
    page = client.get("/avisos").get_data(as_text=True)
    assert _badge(page) is None
    assert "No tiene avisos sin leer." in page
    # Only one's own: the supervisor's notices are still unread.
    assert all(n.read_at is None for n in _notices("supervisor_06"))


def test_another_users_notice_is_not_found(client, login_as, world):
    file_sexual_violence(world)
    theirs = _notices("supervisor_06")[0]
    login_as("gestor_06")
    assert client.post(f"/avisos/{theirs.id}/leido").status_code == 404
    db.session.refresh(theirs)
    assert theirs.read_at is None
    assert f"/avisos/{theirs.id}/leido" not in client.get("/avisos").get_data(as_text=True)


def test_marking_read_needs_a_csrf_token(app, client, login_as, world):
    file_sexual_violence(world)
    notice = _notices("gestor_06")[0]
    login_as("gestor_06")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/avisos/{notice.id}/leido").status_code == 400
        assert client.post("/avisos/leer-todos").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.refresh(notice)
    assert notice.read_at is None


def test_an_empty_inbox(client, login_as):
    login_as("docente_a")
    page = client.get("/avisos").get_data(as_text=True)
    assert "Todavía no tiene avisos." in page
    assert _badge(page) is None


def test_the_inbox_needs_signing_in(client):
    response = client.get("/avisos")
    assert response.status_code == 302
    assert response.location.startswith("/ingresar")


def test_notices_are_described_in_the_readers_language(app, client, login_as, world):
    from flask import g

    file_sexual_violence(world)
    user_named("gestor_06").language = "en"
    db.session.flush()
    login_as("gestor_06")
    g.pop("_flask_babel", None)  # the test's app context outlives requests; production's does not
    page = client.get("/avisos").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "critical" in page and "crítico" not in page
