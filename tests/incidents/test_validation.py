"""The report validator shared by the form and the API: every rule, with the field it names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from salve.auth.models import User
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents.operations import check_report
from tests.factories import report_payload

NOW = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _payload(world, **overrides) -> dict:
    # A fixed time: NOW is fixed too, so "future" and "too old" never depend on the day run.
    fixed = {"occurred_at": "2026-11-24T09:30", "idempotency_key": "clave-de-prueba-0001"}
    return report_payload(world, **{**fixed, **overrides})


def _errors(world, username="docente_a", **overrides) -> dict[str, str]:
    data, errors = check_report(
        _user(username), _payload(world, **overrides), current_catalog(), now=NOW
    )
    assert (data is None) == bool(errors)
    return {e.field: e.message for e in errors}


def test_a_good_report_passes_and_local_time_is_read_as_el_salvador(world):
    data, errors = check_report(_user("docente_a"), _payload(world), current_catalog(), now=NOW)
    assert errors == []
    assert data.occurred_at == datetime(2026, 11, 24, 15, 30, tzinfo=UTC)  # UTC-6
    assert [p.student.nie for p in data.parties] == world.students_a[:2]
    assert not data.names_staff_aggressor


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"occurred_at": "2026-11-25T09:30"}, "occurred_at", "futuro"),
        ({"occurred_at": "2019-01-01T09:30"}, "occurred_at", "tres años"),
        ({"occurred_at": "24/11/2026 9h"}, "occurred_at", "no válidas"),
        ({"types": []}, "types", "al menos un tipo"),
        ({"types": ["NO_EXISTE"]}, "types[0]", "desconocido"),
        ({"types": "ACO_VERBAL"}, "types", "lista"),
        ({"location": "luna"}, "location", "desconocido"),
        ({"parties": []}, "parties", "al menos una persona"),
        ({"parties": {"role": "victima"}}, "parties", "lista"),
        ({"parties": [{"kind": "desconocido"}]}, "parties[0].role", "víctima"),
        ({"parties": [{"role": "victima", "kind": "estudiante"}]}, "parties[0].nie", "NIE"),
        ({"narrative": "x" * 200_000}, "narrative", "demasiado largo"),
        ({"narrative": "   "}, "narrative", "obligatorio"),
        ({"narrative": 42}, "narrative", "texto"),
        ({"status": "validado"}, "status", "no se puede enviar"),
        ({"reporter": 1}, "reporter", "no se puede enviar"),
        ({"idempotency_key": "x"}, "idempotency_key", "clave"),
    ],
)
def test_bad_input_names_the_field(world, overrides, field, words):
    errors = _errors(world, **overrides)
    assert field in errors, errors
    assert words in errors[field]


def test_a_student_of_another_school_is_refused(world):
    parties = [{"role": "victima", "kind": "estudiante", "nie": world.students_c[0]}]
    errors = _errors(world, parties=parties)
    assert "esta escuela" in errors["parties[0].nie"]


def test_a_school_outside_the_reporters_own_is_refused(world):
    assert "school" in _errors(world, school=world.school_c)
    assert "school" in _errors(world, username="gestor_06")  # case handlers do not file reports


def test_a_retired_code_points_to_its_replacement(world):
    catalog = current_catalog()
    retired = next(iter(catalog.mappings))
    errors = _errors(world, types=[retired])
    assert catalog.resolve(retired).code in errors["types[0]"]


def test_a_type_limited_to_other_relationships_is_refused(world):
    errors = _errors(world, types=["FIS_CASTIGO"])  # staff on student only
    assert "relationship" in errors


def test_a_staff_aggressor_is_flagged(world):
    parties = [
        {"role": "victima", "kind": "estudiante", "nie": world.students_a[0]},
        {"role": "agresor", "kind": "personal", "description": "docente de 5.º grado"},
    ]
    data, errors = check_report(
        _user("docente_a"),
        _payload(
            world, parties=parties, relationship="personal_estudiante", types=["PSI_INSULTOS"]
        ),
        current_catalog(),
        now=NOW,
    )
    assert errors == []
    assert data.names_staff_aggressor


def test_markup_is_kept_as_typed(world):
    narrative = "<script>alert('x')</script> & {{ 7*7 }}"
    data, errors = check_report(
        _user("docente_a"), _payload(world, narrative=narrative), current_catalog(), now=NOW
    )
    assert errors == []
    assert data.narrative == narrative
