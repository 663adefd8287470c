"""The hostile corpus (tests/fuzz/hostile.py) in every text field of every form.

On both backends, since PostgreSQL fails where SQLite does not (a NUL byte, an integer that
overflows a column). Whatever is typed, the app answers without a server error; markup comes
back escaped and templates are never evaluated; what it accepts it stores exactly as typed (or
trimmed of surrounding blanks), what it refuses it refuses with a clear message, and a refused
post leaves nothing behind; a body over the limit gets a clear 413 page in Spanish.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from markupsafe import escape

from salve.alerts.models import AlertEvent
from salve.auth.models import User
from salve.cases.models import FollowUp, Referral
from salve.extensions import db
from salve.incidents.models import Incident
from tests.alerts import builders
from tests.fuzz import hostile
from tests.fuzz.forms import FORMS, no_fields, user
from tests.fuzz.support import (
    alert_status,
    assert_inert,
    assert_local_redirect,
    is_error_page,
    is_markup,
    report_form,
    shows_form_error,
    sign_in,
    snapshot,
)

#: Every short entry, plus the NUL one and 100 kB: what goes into each text field.
ENTRIES = (*hostile.CORPUS, hostile.NUL, hostile.LONG_100K)

#: Valid values of each form with text fields; the entry replaces its text fields.
VALID = {
    "incidents.new": report_form,
    "incidents.amend": lambda w: {**report_form(w), "reason": "Corrección."},
    "incidents.close": lambda w: {"reason": "Infundado."},
    "incidents.decide_closure": lambda w: {"decision": "devolver", "reason": "Devuelto."},
    "alerts.transition": lambda w: {"to": "descartada", "reason": "falso_positivo"},
    "alerts.reassign": lambda w: {"assignee": str(user("gestor_06").id)},
    "cases.add_follow_up": lambda w: {"note": "Nota."},
    "cases.refer": lambda w: {"institution": "PNC"},
    "cases.update_referral": lambda w: {"to": "rechazada"},
    "cases.complete_step": lambda w: {},
    "cases.request_closure": lambda w: {},
    "cases.refuse_closure": lambda w: {},
    "cases.reopen": lambda w: {},
    "admin.new_user": lambda w: {
        "role": "docente",
        "school_code": w.school_a,
        "password": "una frase larga y segura 2026",
    },
    "admin.add_role": lambda w: {"role": "docente"},
    "breakglass.request_access": lambda w: {"reason_category": "caso"},
    "main.set_language": lambda w: {"lang": "en"},
}


def _text_fields(endpoint: str, world) -> tuple[str, ...]:
    spec = FORMS[endpoint]
    fields = spec.fields(world)
    chosen = spec.text_fields if spec.text_fields is not None else tuple(fields)
    if endpoint == "admin.new_user":  # a fresh username each time: it must be unique
        chosen = tuple(name for name in chosen if name != "username")
    return chosen


def _forms_with_text() -> list[str]:
    return sorted(endpoint for endpoint, spec in FORMS.items() if spec.fields is not no_fields)


def _post_entry(app, client, endpoint, target, data, entry) -> None:
    before = snapshot()
    response = client.post(target.url, data=data)
    assert response.status_code < 500
    assert_inert(response, entry)
    if response.status_code in (301, 302, 303):
        assert_local_redirect(response)
        if is_markup(entry):  # the page it leads to may show the value: escaped, never run
            page = client.get(response.location)
            assert page.status_code < 500
            assert_inert(page, entry)
        return
    assert snapshot() == before, f"{endpoint}: a refused post left something written"
    if len(urlencode(data, doseq=True)) > app.config["MAX_CONTENT_LENGTH"]:
        assert response.status_code == 413  # 100 kB in every field: more than a request may be
        assert is_error_page(response, "El envío es demasiado grande")
    elif "\x00" in entry:
        assert response.status_code == 400 and is_error_page(response, "Solicitud no válida")
    elif response.status_code == 429:
        assert is_error_page(response, "Demasiadas solicitudes") or "Demasiadas" in response.text
    elif FORMS[endpoint].success_page and FORMS[endpoint].success_page in response.text:
        pass
    else:
        assert shows_form_error(response), (endpoint, entry[:50], response.status_code)


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", _forms_with_text())
def test_the_corpus_in_every_text_field_of_every_form(app, client, login_as, world, endpoint):
    spec = FORMS[endpoint]
    target = spec.prepare(world)
    db.session.commit()
    sign_in(client, login_as, spec)
    fields = _text_fields(endpoint, world)
    for entry in ENTRIES:
        data = {**VALID.get(endpoint, lambda w: {})(world), **dict.fromkeys(fields, entry)}
        if endpoint == "admin.new_user":
            data["username"] = f"fuzz_{secrets.token_hex(4)}"
        _post_entry(app, client, endpoint, target, data, entry)


# --- Accepted text is stored exactly ------------------------------------------------------------


def _newest(model, column):
    return db.session.scalar(sa.select(column).order_by(model.id.desc()).limit(1))


def _stored_as_typed(stored: str | None, entry: str) -> None:
    assert stored in (entry, entry.strip()), (stored or "")[:80]


ACCEPTABLE = tuple(e for e in hostile.CORPUS if e.strip())  # blank after trimming: refused


@pytest.mark.slow
def test_a_report_stores_and_shows_the_corpus_as_typed(app, client, login_as, world):
    login_as("docente_a")
    for entry in ACCEPTABLE:
        response = client.post(
            "/incidentes/nuevo",
            data=report_form(
                world,
                narrative=entry,
                measures_note=entry,
                **{"parties-0-description": entry[:200]},
            ),
        )
        assert response.status_code == 302, (entry, response.status_code)
        incident = db.session.get(Incident, int(response.location.rsplit("/", 1)[-1]))
        assert incident.narrative == entry
        assert incident.measures_note == entry
        page = client.get(response.location).get_data(as_text=True)
        assert str(escape(entry.strip())) in page  # shown, escaped, not evaluated
        assert_inert(client.get(response.location), entry)


@pytest.mark.slow
def test_case_and_alert_notes_store_the_corpus_as_typed(app, client, login_as, world):
    case = builders.case_at(world)  # the alert of students_a[0] is in the case's care
    victim, aggressor = world.students_a[2:4]
    builders.file_sexual_violence(
        world,
        parties=[
            {"role": "victima", "kind": "estudiante", "nie": victim},
            {"role": "agresor", "kind": "estudiante", "nie": aggressor},
        ],
    )
    alert = builders.victim_alert(world, victim)  # an open one, free to dismiss and reopen
    db.session.commit()
    login_as("gestor_06")
    for entry in ACCEPTABLE:
        response = client.post(f"/casos/{case.id}/seguimientos", data={"note": entry})
        assert response.status_code == 302
        _stored_as_typed(_newest(FollowUp, FollowUp.note), entry)
        assert_inert(client.get(f"/casos/{case.id}"), entry)
        # A referral's note and reference; revoked at once, so the next one may be sent.
        response = client.post(
            f"/casos/{case.id}/referencias",
            data={"institution": "PNC", "note": entry, "reference": entry[:60]},
        )
        assert response.status_code == 302, (entry, response.status_code)
        _stored_as_typed(_newest(Referral, Referral.reason), entry)
        _stored_as_typed(_newest(Referral, Referral.reference), entry[:60])
        referral = db.session.scalar(sa.select(Referral).order_by(Referral.id.desc()))
        response = client.post(
            f"/casos/{case.id}/referencias/{referral.id}",
            data={"to": "revocada", "reason": "Otra vía."},
        )
        assert response.status_code == 302
    # Dismiss and reopen the alert, each time with the entry as its note.
    for entry in ACCEPTABLE:
        to = "abierta" if alert_status(alert.id) == "descartada" else "descartada"
        data = {"to": to, "reason": "falso_positivo", "note": entry}
        response = client.post(f"/alertas/{alert.id}/transicion", data=data)
        assert response.status_code == 302, (entry, response.status_code)
        _stored_as_typed(_newest(AlertEvent, AlertEvent.note), entry)
        assert_inert(client.get(f"/alertas/{alert.id}"), entry)


@pytest.mark.slow
def test_an_account_keeps_its_display_name_as_typed(app, client, login_as, world):
    login_as("admin")
    for entry in ACCEPTABLE:
        name = f"fuzz_{secrets.token_hex(4)}"
        response = client.post(
            "/admin/usuarios/nuevo",
            data={**VALID["admin.new_user"](world), "username": name, "display_name": entry},
        )
        assert response.status_code == 302, (entry, response.status_code)
        stored = db.session.scalar(sa.select(User.display_name).where(User.username == name))
        _stored_as_typed(stored, entry)
        assert_inert(client.get("/admin/usuarios?q=fuzz_"), entry)


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [
        ("cases.add_follow_up", "note"),
        ("cases.refer", "note"),
        ("cases.refer", "reference"),
        ("cases.complete_step", "note"),
        ("cases.update_referral", "reason"),
        ("alerts.transition", "note"),
        ("alerts.reassign", "note"),
        ("incidents.close", "reason"),
        ("incidents.amend", "reason"),
    ],
)
def test_text_over_a_fields_limit_is_refused_not_cut(app, client, login_as, world, endpoint, field):
    spec = FORMS[endpoint]
    target = spec.prepare(world)
    db.session.commit()
    sign_in(client, login_as, spec)
    data = {**VALID[endpoint](world), field: hostile.LONG_100K}
    before = snapshot()
    response = client.post(target.url, data=data)
    assert response.status_code == 422, response.status_code
    assert shows_form_error(response)
    assert "demasiado largo" in response.get_data(as_text=True)
    assert snapshot() == before


def test_a_10_mb_form_gets_the_413_page_in_spanish(app, client, login_as, world):
    login_as("docente_a")
    before = snapshot()
    response = client.post("/incidentes/nuevo", data=report_form(world, narrative=hostile.huge()))
    assert response.status_code == 413
    assert is_error_page(response, "El envío es demasiado grande")
    assert "supera el tamaño máximo permitido" in response.get_data(as_text=True)
    assert snapshot() == before
