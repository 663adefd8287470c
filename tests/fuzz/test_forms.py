"""Hypothesis over every HTML form: generated, hostile, missing and forged fields.

Every POST route of the app (the API aside) is in the fuzz table (tests/fuzz/forms.py); a new
one fails the build until it is added. Each form is posted, as an account allowed to, with
values drawn from plausible ones, any unicode text, very long text, numbers out of range, wrong
choices, missing fields, and fields no form has (``status``, ``school_id``, ``assignee_id``…).
Whatever is posted, the app must answer with a redirect or the form again with an error (or,
for a NUL character, a clean 400 page; for a body over the limit, the 413 page); never a
server error; never a posted value unescaped; and a refused post leaves nothing half-written.

Hypothesis runs here on SQLite only: an example is a request and often a redirect followed,
over 30 forms; both backends would double a part that finds bugs in Python, not in SQL, and
the suite must stay within its time. PostgreSQL's own failure modes (NUL bytes, integers that
overflow a column, encodings) are what the hostile corpus (test_hostile.py) sends to every form
on both backends.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from hypothesis import given, note
from hypothesis import strategies as st

from salve.auth.models import User
from salve.extensions import db
from salve.incidents.models import Incident
from tests.fuzz.forms import FORGED_FIELDS, FORMS, FormSpec, user
from tests.fuzz.hostile import CORPUS
from tests.fuzz.support import (
    FORM_EXAMPLES,
    MARKER,
    SQLITE_ONLY,
    assert_escaped,
    assert_local_redirect,
    fuzz_settings,
    is_error_page,
    shows_form_error,
    sign_in,
    snapshot,
)


def _post_routes(app) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and not rule.rule.startswith("/api/")
    }


def test_every_post_route_is_in_the_fuzz_table(app):
    routes = _post_routes(app)
    missing = routes - FORMS.keys()
    assert not missing, f"POST routes missing from tests/fuzz/forms.py: {sorted(missing)}"
    stale = FORMS.keys() - routes
    assert not stale, f"the fuzz table names routes that no longer exist: {sorted(stale)}"


def hostile_text() -> st.SearchStrategy[str]:
    """Text an attacker or a broken client sends: any unicode, markup, huge, numeric."""
    return st.one_of(
        st.text(max_size=80),
        st.text(max_size=40).map(lambda s: MARKER + s),
        st.sampled_from(CORPUS),
        st.sampled_from(CORPUS).map(lambda s: MARKER + s),
        st.integers().map(str),
        st.sampled_from(["1e309", "-0", "NaN", str(2**63), str(-(2**31) - 1), "0x1F"]),
        st.integers(2_000, 120_000).map(lambda n: MARKER + "ñ" * n),
    )


def posted_forms(spec: FormSpec, fields: dict) -> st.SearchStrategy[dict]:
    """Draw a posted form: each field plausible, hostile or missing, plus forged fields."""
    text_fields = spec.text_fields if spec.text_fields is not None else tuple(fields)
    per_field = {}
    for name, plausible in fields.items():
        wrong = hostile_text() if name in text_fields else st.text(max_size=20)
        per_field[name] = st.one_of(plausible, wrong, st.none())  # None: not sent
    forged = {
        name: strategy
        for name, strategy in FORGED_FIELDS.items()
        if name not in fields and name not in spec.own_extras
    }
    return st.fixed_dictionaries(per_field, optional=forged).map(
        lambda form: {name: value for name, value in form.items() if value is not None}
    )


def _values(form: dict) -> list[str]:
    return [v for value in form.values() for v in (value if isinstance(value, list) else [value])]


def _newest_incident_id() -> int:
    return db.session.scalar(sa.select(sa.func.max(Incident.id))) or 0


def _assert_new_incidents_are_honest(since_id: int, poster: str, school_code: str) -> None:
    """Reports filed by a post are the poster's, at their school, not yet validated (item 10)."""
    for incident in db.session.scalars(sa.select(Incident).where(Incident.id > since_id)):
        assert incident.reporter_id == user(poster).id
        assert incident.school.code == school_code
        assert incident.status == "reportado"


def check_answer(app, client, spec: FormSpec, form: dict, response, before: dict) -> None:
    """Assert what a user would notice about the answer to one posted form."""
    assert response.status_code < 500
    assert_escaped(response)
    limit = app.config["MAX_CONTENT_LENGTH"]
    if response.status_code in (301, 302, 303):
        assert_local_redirect(response)
        page = client.get(response.location)
        assert page.status_code < 500
        assert_escaped(page)
        return
    if spec.success_page and spec.success_page in response.get_data(as_text=True):
        assert response.status_code == 200
        return
    assert snapshot() == before, "a refused post left something written"
    if response.status_code == 413:
        assert len(urlencode(form, doseq=True)) > limit * 0.9
        assert is_error_page(response, "El envío es demasiado grande")
        return
    if response.status_code == 400 and any("\x00" in v for v in _values(form)):
        assert is_error_page(response, "Solicitud no válida")
        return
    if form.get("action") in spec.plain_rerender_actions:
        assert response.status_code == 200
        return
    assert shows_form_error(response), (response.status_code, response.text[:3000])


@SQLITE_ONLY
@pytest.mark.slow
@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_every_form_survives_generated_posts(app, client, login_as, world, endpoint):
    spec = FORMS[endpoint]
    target = spec.prepare(world)
    db.session.commit()  # a refused post rolls back its own work only, not the prepared record
    sign_in(client, login_as, spec)
    fields = spec.fields(world)
    examples = max(3, round(FORM_EXAMPLES * spec.examples_scale))

    @fuzz_settings(examples)
    @given(form=posted_forms(spec, fields))
    def check(form):
        shown = {name: str(value)[:200] for name, value in form.items()}
        note(f"POST {target.url} {shown!r}")
        before, protected = snapshot(), target.protected()
        newest = _newest_incident_id()
        response = client.post(target.url, data=form)
        check_answer(app, client, spec, form, response, before)
        assert target.protected() == protected, "a post changed what it may not (item 10)"
        if spec.account in ("docente_a", "director_a"):
            _assert_new_incidents_are_honest(newest, spec.account, world.school_a)

    check()


def test_forged_fields_cannot_disable_or_promote_the_poster(app, client, login_as, world):
    # The admin form ignores a forged role or user id: the new account gets the posted role.
    login_as("admin")
    response = client.post(
        "/admin/usuarios/nuevo",
        data={
            "username": "fuzz_forjado",
            "role": "docente",
            "school_code": world.school_a,
            "password": "una frase larga y segura 2026",
            "id": str(user("admin").id),
            "is_enabled": "0",
            "roles": "admin",
        },
    )
    assert response.status_code == 302
    created = db.session.scalar(sa.select(User).where(User.username == "fuzz_forjado"))
    assert [a.role for a in created.role_assignments] == ["docente"]
    assert user("admin").is_enabled
