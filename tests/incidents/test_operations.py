"""The form ↔ payload conversion, drafts, and the principal's verbs as the pages use them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import forms, operations, presenting
from salve.incidents.models import IncidentDraft
from salve.incidents.validation import FieldError
from tests.incidents.test_validation import _payload


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def test_the_form_becomes_the_api_payload_in_local_time():
    form = MultiDict(
        [
            ("occurred_date", "2026-11-20"), ("occurred_time", "10:30"),
            ("location", "patio"), ("types", "ACO_VERBAL"), ("types", "PSI_AMENAZAS"),
            ("relationship", "estudiante_estudiante"), ("party_rows", "5"),
            ("parties-0-role", "victima"), ("parties-0-kind", "estudiante"),
            ("parties-0-nie", " 123 "),
            ("parties-2-role", "agresor"), ("parties-2-nie", "456"),
            ("parties-3-role", "testigo"), ("parties-3-kind", "personal"),
            ("parties-3-description", "Conserje"),
            ("repetition", "primera_vez"), ("narrative", "  Texto  "),
            ("idempotency_key", "clave-0000000001"),
        ]
    )  # fmt: skip
    payload = forms.payload_from_form(form, school="90001")
    assert payload["occurred_at"] == "2026-11-20T10:30"
    assert payload["types"] == ["ACO_VERBAL", "PSI_AMENAZAS"]
    assert payload["parties"] == [
        {"role": "victima", "kind": "estudiante", "nie": "123"},
        {"role": "agresor", "kind": "estudiante", "nie": "456"},  # a NIE means a student
        {"role": "testigo", "kind": "personal", "description": "Conserje"},
    ]
    assert payload["narrative"] == "  Texto  "  # stored as typed
    assert payload["school"] == "90001" and payload["idempotency_key"] == "clave-0000000001"
    assert forms.payload_from_form(MultiDict(), school="90001")["idempotency_key"]


def test_stored_times_show_in_el_salvador_and_typed_ones_as_typed():
    assert forms.occurred_parts("2026-11-20T16:30:00+00:00") == ("2026-11-20", "10:30")
    assert forms.occurred_parts("2026-11-20T10:30") == ("2026-11-20", "10:30")
    assert forms.occurred_parts("2026-13-45Tmañana") == ("2026-13-45", "mañana")
    moment = datetime(2026, 11, 24, 3, 15, tzinfo=UTC)
    assert forms.local_now_parts(moment) == ("2026-11-23", "21:15")


def test_errors_land_on_their_row_and_in_the_summary():
    payload = {"parties": [{"role": "victima"}, {"role": "agresor", "nie": "1"}]}
    state = forms.form_state(
        payload,
        [
            FieldError("parties[1].nie", "No hay un estudiante."),
            FieldError("types[0]", "Código desconocido."),
            FieldError("status", "Este campo no se puede enviar."),
        ],
    )
    assert state.errors["parties-1-nie"] == ["No hay un estudiante."]
    assert state.errors["types"] == ["Código desconocido."]
    assert state.general_errors == ["Este campo no se puede enviar."]
    assert [link.anchor for link in state.summary] == ["parties-1-nie", "types", ""]
    assert len(state.rows) == 4 and state.rows[1]["nie"] == "1"
    assert len(forms.form_state(payload, rows=7).rows) == 7


def test_a_draft_is_one_row_per_key_updated_in_place(world):
    user = _user("docente_a")
    operations.save_draft(user, {"idempotency_key": "borrador-000001", "narrative": "uno"})
    operations.save_draft(user, {"idempotency_key": "borrador-000001", "narrative": "dos"})
    drafts = db.session.scalars(
        sa.select(IncidentDraft).where(IncidentDraft.user_id == user.id)
    ).all()
    assert [d.data["narrative"] for d in drafts] == ["dos"]


def test_validating_twice_and_amending_a_closed_report_are_refused(world):
    director = _user("director_a")
    incident, _created = operations.file_incident(
        _user("docente_a"), _payload(world), current_catalog()
    )
    operations.validate_incident(director, incident)
    with pytest.raises(operations.IncidentError) as twice:
        operations.validate_incident(director, incident)
    assert twice.value.status == 409
    same = operations.as_payload(incident)
    assert operations.amend_incident(director, incident, same, "Nada.", current_catalog()) is None
    operations.close_unfounded(director, incident, "No ocurrió.")
    with pytest.raises(operations.IncidentError) as closed:
        operations.amend_incident(director, incident, {}, "Tarde.", current_catalog())
    assert closed.value.status == 409


def test_history_is_told_in_words(app, world):
    director = _user("director_a")
    incident, _created = operations.file_incident(
        _user("docente_a"), _payload(world), current_catalog()
    )
    amendment = operations.amend_incident(
        director,
        incident,
        {"location": "aula", "narrative": "Otro relato."},
        "Aclaración.",
        current_catalog(),
    )
    with app.test_request_context():
        changes = {c.field: c for c in presenting.changes_of(current_catalog(), amendment)}
        assert (changes["location"].before, changes["location"].after) == ("Patio", "Aula")
        assert changes["narrative"].after == "Otro relato."
        steps = presenting.protocols_of(current_catalog(), incident)[0].steps
        assert steps[0].due_at > incident.reported_at
