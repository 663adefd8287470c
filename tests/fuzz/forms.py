"""The fuzz table: every HTML form the app accepts, who may post it, where, and its fields.

A POST route (outside /api/) missing here fails ``test_every_post_route_is_in_the_fuzz_table``.
Each entry names the account that posts (one the route matrix allows), prepares the record the
URL names, and gives for each field of the form a strategy of plausible values; the tests mix
those with hostile text, drop fields, and add fields no form has.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from hypothesis import strategies as st

from salve.alerts.models import STATUSES as ALERT_STATUSES
from salve.alerts.models import Alert
from salve.auth import roles as R
from salve.auth.models import User
from salve.breakglass import operations as breakglass
from salve.breakglass.models import REASONS as BREAK_GLASS_REASONS
from salve.cases.models import Case
from salve.catalog.queries import current_catalog
from salve.extensions import db
from salve.incidents import operations as incidents
from salve.incidents.models import Incident
from salve.notifications.models import InboxMessage
from salve.schools.models import School
from tests.alerts import builders
from tests.conftest import World
from tests.factories import local_time, make_user, report_payload


def no_fields(world: World) -> dict[str, st.SearchStrategy]:
    """The fields of a form that has none but its button."""
    return {}


@dataclass
class Target:
    """A prepared form: where to post, and what the post may never change."""

    url: str
    #: Returns the values a post must leave alone (assignee, school, reporter…), item 10.
    protected: Callable[[], object] = lambda: None


@dataclass(frozen=True)
class FormSpec:
    """How to fuzz one form."""

    #: The account that posts; None posts anonymously.
    account: str | None
    prepare: Callable[[World], Target]
    #: Field name → strategy of plausible values (built inside the app, catalog at hand).
    fields: Callable[[World], dict[str, st.SearchStrategy]] = no_fields
    #: Free-text fields (the hostile corpus goes into each); default: every field.
    text_fields: tuple[str, ...] | None = None
    #: Hypothesis examples (forms that hash a password cost ~0.1 s an example: fewer).
    examples_scale: float = 1.0
    #: Values of ``action`` that re-render the form without an error (add a party row).
    plain_rerender_actions: tuple[str, ...] = ()
    #: Extra fields that are real inputs of this form (so not "fields no form has").
    own_extras: frozenset[str] = field(default_factory=frozenset)
    #: Sign in with the password only, leaving the second step owed (the code forms).
    password_only: bool = False
    #: Text of the page a successful post shows instead of redirecting (a one-time display).
    success_page: str = ""


def user(username: str) -> User:
    """Return the seeded account named ``username``."""
    return db.session.scalar(sa.select(User).where(User.username == username))


def school(code: str) -> School:
    """Return the seeded school of ``code``."""
    return db.session.scalar(sa.select(School).where(School.code == code))


def _incident(world: World) -> Incident:
    payload = report_payload(world, narrative="Relato de prueba para el fuzz.")
    incident, _created = incidents.file_incident(user("docente_a"), payload, current_catalog())
    return incident


def _incident_target(suffix: str) -> Callable[[World], Target]:
    def prepare(world: World) -> Target:
        incident = _incident(world)
        ident = incident.id
        return Target(
            f"/incidentes/{ident}{suffix}",
            lambda: _columns(Incident, ident, "school_id", "reporter_id", "idempotency_key"),
        )

    return prepare


def _columns(model, ident: int, *names: str) -> tuple:
    row = db.session.get(model, ident)
    db.session.refresh(row)
    return tuple(getattr(row, name) for name in names)


def _alert_target(
    suffix: str, build=builders.raised_alert, *, reassigns: bool = False
) -> Callable[[World], Target]:
    # Only the reassignment form may change who the alert is assigned to.
    columns = ("school_id", "department_id", "entity_id", *(() if reassigns else ("assignee_id",)))

    def prepare(world: World) -> Target:
        ident = build(world).id
        return Target(f"/alertas/{ident}{suffix}", lambda: _columns(Alert, ident, *columns))

    return prepare


def _case_target(suffix: Callable[[Case], str] | str, stage: str = "open") -> Callable:
    def prepare(world: World) -> Target:
        case = builders.case_at(world, stage)
        ident = case.id
        tail = suffix(case) if callable(suffix) else suffix
        return Target(
            f"/casos/{ident}{tail}",
            lambda: _columns(Case, ident, "handler_id", "school_id", "department_id", "entity_id"),
        )

    return prepare


def _referral_target(world: World) -> Target:
    referral = builders.referral_of(world)
    ident = referral.case_id
    return Target(
        f"/casos/{ident}/referencias/{referral.id}",
        lambda: _columns(Case, ident, "handler_id", "school_id"),
    )


def _enrolling_account(world: World) -> Target:
    """Create a case handler who has not enrolled an authenticator yet."""
    make_user("fuzz_sin_factor", R.GESTOR, department="06", enrol_second_factor=False)
    return Target("/cuenta/segundo-factor")


def _grant_target(world: World) -> Target:
    grant = breakglass.grant_access(
        user("gestor_06"), school(world.school_b), "caso", "Seguimiento de la alerta A-000001."
    )
    return Target(f"/vidrio/{grant.id}/terminar")


def _role_target(world: World) -> Target:
    ident = user("docente_b").id
    return Target(f"/admin/usuarios/{ident}/roles", lambda: _columns(User, ident, "username"))


def _role_removal_target(world: World) -> Target:
    account = user("docente_b")
    assignment = account.role_assignments[0]
    return Target(f"/admin/usuarios/{account.id}/roles/{assignment.id}/quitar")


def _notice_target(world: World) -> Target:
    notice = InboxMessage(
        key=f"fuzz:{secrets.token_hex(8)}",
        user_id=user("docente_a").id,
        kind="alert_raised",
        payload={"alert_id": 1, "level": "alto"},
        link="/inicio",
    )
    db.session.add(notice)
    db.session.flush()
    return Target(f"/avisos/{notice.id}/leido")


def _user_target(world: World) -> Target:
    ident = user("docente_b").id
    return Target(f"/admin/usuarios/{ident}/estado", lambda: _columns(User, ident, "username"))


# --- Plausible values --------------------------------------------------------------------------


def _codes(choices) -> st.SearchStrategy:
    return st.sampled_from(sorted(choices))


def _report_fields(world: World) -> dict[str, st.SearchStrategy]:
    catalog = current_catalog()
    nies = st.sampled_from([*world.students_a, *world.students_c])
    fields = {
        "occurred_date": st.sampled_from([local_time()[:10], "2026-13-45", "1999-01-01"]),
        "occurred_time": st.sampled_from(["09:30", "25:61", "7"]),
        "location": _codes(catalog.locations),
        "types": st.lists(_codes(catalog.types), max_size=3),
        "relationship": _codes(catalog.relationships),
        "repetition": _codes(catalog.repetition),
        "motivations": st.lists(_codes(catalog.motivations), max_size=2),
        "measures": st.lists(_codes(catalog.measures), max_size=2),
        "narrative": st.text(min_size=1, max_size=200),
        "measures_note": st.text(max_size=100),
        "idempotency_key": st.from_regex(r"\A[A-Za-z0-9_-]{8,64}\Z"),
        "party_rows": st.integers(-5, 100).map(str),
        "action": st.sampled_from(["submit", "save_draft", "add_party"]),
        "school": st.sampled_from([world.school_a, world.school_c]),
    }
    for index in range(2):
        fields[f"parties-{index}-role"] = st.sampled_from(["victima", "agresor", "testigo"])
        fields[f"parties-{index}-kind"] = st.sampled_from(
            ["estudiante", "personal", "externo", "desconocido"]
        )
        fields[f"parties-{index}-nie"] = nies
        fields[f"parties-{index}-description"] = st.text(max_size=60)
    return fields


def _note() -> st.SearchStrategy:
    return st.text(min_size=1, max_size=200)


def _transition_fields(world: World) -> dict[str, st.SearchStrategy]:
    return {
        "to": st.sampled_from(ALERT_STATUSES),
        "reason": st.sampled_from(["falso_positivo", "duplicada", "error_datos"]),
        "note": _note(),
        "review_at": st.sampled_from(["2099-01-01", "2026-02-30", local_time()[:10]]),
    }


def _new_user_fields(world: World) -> dict[str, st.SearchStrategy]:
    return {
        "username": st.from_regex(r"\A[a-z][a-z0-9._-]{2,20}\Z"),
        "display_name": st.text(max_size=60),
        "email": st.sampled_from(["persona@ejemplo.org", "no-es-correo", ""]),
        "role": st.sampled_from(R.ROLES),
        "school_code": st.sampled_from([world.school_a, world.school_c, "00000", "123"]),
        "department_code": st.sampled_from(["06", "05", "99", ""]),
        "password": st.sampled_from(["una frase larga y segura 2026", "corta", "12345678"]),
    }


def _password_fields(world: World) -> dict[str, st.SearchStrategy]:
    from tests.factories import PASSWORD

    return {
        "current_password": st.sampled_from([PASSWORD, "no-es-la-actual"]),
        "new_password": st.sampled_from(["otra frase larga y segura 2027", "12345678", "corta"]),
        "confirm_password": st.sampled_from(["otra frase larga y segura 2027", "distinta"]),
    }


#: What the page that shows fresh recovery codes (once) says.
RECOVERY_CODES_PAGE = "Guárdelos en papel o en un lugar seguro"

#: endpoint → how to fuzz its form.
FORMS: dict[str, FormSpec] = {
    "main.set_language": FormSpec(
        None,
        lambda w: Target("/idioma"),
        lambda w: {
            "lang": st.sampled_from(["es_SV", "en", "fr"]),
            "next": st.sampled_from(["/inicio", "//evil.example", "https://evil.example/", "/\\x"]),
        },
    ),
    "auth.login": FormSpec(
        None,
        lambda w: Target("/ingresar"),
        lambda w: {
            "username": st.sampled_from(["docente_a", "no_existe"]),
            "password": st.sampled_from(["incorrecta-2026", ""]),
        },
        examples_scale=0.3,
    ),
    "auth.logout": FormSpec("docente_a", lambda w: Target("/salir")),
    "auth.change_password": FormSpec(
        "docente_a",
        lambda w: Target("/cuenta/contrasena"),
        _password_fields,
        examples_scale=0.3,
    ),
    "admin.new_user": FormSpec(
        "admin", lambda w: Target("/admin/usuarios/nuevo"), _new_user_fields, examples_scale=0.4
    ),
    "admin.set_user_enabled": FormSpec(
        "admin", _user_target, lambda w: {"enabled": st.sampled_from(["1", "0", "sí"])}
    ),
    "incidents.new": FormSpec(
        "docente_a",
        lambda w: Target("/incidentes/nuevo"),
        _report_fields,
        text_fields=("narrative", "measures_note", "parties-0-description", "parties-0-nie"),
        plain_rerender_actions=("add_party",),
        own_extras=frozenset({"school"}),
    ),
    "incidents.amend": FormSpec(
        "director_a",
        _incident_target("/corregir"),
        lambda w: {**_report_fields(w), "reason": _note()},
        text_fields=("narrative", "measures_note", "reason", "parties-0-description"),
        plain_rerender_actions=("add_party",),
        own_extras=frozenset({"school"}),
    ),
    "incidents.validate": FormSpec("director_a", _incident_target("/validar")),
    "incidents.close": FormSpec(
        "director_a", _incident_target("/infundado"), lambda w: {"reason": _note()}
    ),
    "incidents.decide_closure": FormSpec(
        "supervisor_06",
        _incident_target("/infundado/decision"),
        lambda w: {"decision": st.sampled_from(["aprobar", "devolver", "otra"]), "reason": _note()},
        text_fields=("reason",),
    ),
    "alerts.transition": FormSpec(
        "gestor_06",
        _alert_target("/transicion"),
        _transition_fields,
        text_fields=("note", "reason", "review_at"),
    ),
    "alerts.open_case": FormSpec("gestor_06", _alert_target("/caso", builders.acknowledged_alert)),
    "alerts.reassign": FormSpec(
        "supervisor_06",
        _alert_target("/reasignar", reassigns=True),
        lambda w: {
            "assignee": st.sampled_from(
                [str(user("gestor_06").id), str(user("docente_a").id), "²", "9" * 30, "-1"]
            ),
            "note": _note(),
        },
    ),
    "cases.add_follow_up": FormSpec(
        "gestor_06", _case_target("/seguimientos"), lambda w: {"note": _note()}
    ),
    "cases.refer": FormSpec(
        "gestor_06",
        _case_target("/referencias"),
        lambda w: {
            "institution": _codes(current_catalog().institutions),
            "reference": st.text(max_size=80),
            "note": _note(),
        },
    ),
    "cases.update_referral": FormSpec(
        "gestor_06",
        _referral_target,
        lambda w: {
            "to": st.sampled_from(["aceptada", "rechazada", "concluida", "revocada", "enviada"]),
            "reason": _note(),
            "reference": st.text(max_size=80),
        },
        text_fields=("reason", "reference"),
    ),
    "cases.complete_step": FormSpec(
        "gestor_06",
        _case_target(lambda case: f"/pasos/{case.steps[0].id}"),
        lambda w: {"note": _note()},
    ),
    "cases.request_closure": FormSpec(
        "gestor_06", _case_target("/cierre", "closable"), lambda w: {"summary": _note()}
    ),
    "cases.approve_closure": FormSpec(
        "supervisor_06", _case_target("/cierre/aprobar", "requested")
    ),
    "cases.refuse_closure": FormSpec(
        "supervisor_06",
        _case_target("/cierre/devolver", "requested"),
        lambda w: {"reason": _note()},
    ),
    "cases.reopen": FormSpec(
        "gestor_06", _case_target("/reabrir", "closed"), lambda w: {"reason": _note()}
    ),
    "notifications.mark_read": FormSpec(
        "docente_a",
        _notice_target,
        lambda w: {"estado": st.sampled_from(["sin_leer", "todos"]), "pagina": st.text(max_size=6)},
    ),
    "notifications.read_all": FormSpec(
        "docente_a",
        lambda w: Target("/avisos/leer-todos"),
        lambda w: {"estado": st.sampled_from(["sin_leer", "todos"]), "pagina": st.text(max_size=6)},
    ),
    # The second factor, re-authentication, roles and break the glass.
    "auth.second_factor": FormSpec(
        "gestor_06",
        lambda w: Target("/ingresar/codigo"),
        lambda w: {"code": st.from_regex(r"\A[0-9]{6}\Z")},
        password_only=True,
    ),
    "auth.enrol": FormSpec(
        "fuzz_sin_factor",
        _enrolling_account,
        lambda w: {"code": st.from_regex(r"\A[0-9]{6}\Z")},
        password_only=True,
        success_page=RECOVERY_CODES_PAGE,
    ),
    "auth.reauthenticate": FormSpec(
        "gestor_06",
        lambda w: Target("/reautenticar"),
        lambda w: {
            "reauth_password": st.sampled_from(["incorrecta-2026", ""]),
            "reauth_code": st.from_regex(r"\A[0-9]{6}\Z"),
            "note": st.text(max_size=40),  # a field of the form being confirmed, carried
        },
        examples_scale=0.3,
        own_extras=frozenset({"note"}),
    ),
    "auth.new_recovery_codes": FormSpec(
        "gestor_06",
        lambda w: Target("/cuenta/codigos-de-recuperacion"),
        success_page=RECOVERY_CODES_PAGE,
    ),
    "admin.add_role": FormSpec(
        "admin",
        _role_target,
        lambda w: {
            "role": st.sampled_from(R.ROLES),
            "school_code": st.sampled_from([w.school_a, w.school_c, "00000", "123"]),
            "department_code": st.sampled_from(["06", "05", "99", ""]),
        },
    ),
    "admin.remove_role": FormSpec("admin", _role_removal_target),
    "admin.reset_second_factor": FormSpec(
        "admin",
        lambda w: Target(f"/admin/usuarios/{user('gestor_06').id}/segundo-factor/restablecer"),
    ),
    "breakglass.request_access": FormSpec(
        "gestor_06",
        lambda w: Target(f"/vidrio/escuelas/{w.school_b}"),
        lambda w: {
            "reason_category": st.sampled_from(sorted(BREAK_GLASS_REASONS)),
            "reason_text": st.text(min_size=1, max_size=300),
            "next": st.sampled_from(["/inicio", "//evil.example", "https://evil.example/"]),
            "registro": st.sampled_from(["alert:1", "student:99999999999", "incident:²", "x"]),
        },
    ),
    "breakglass.end": FormSpec(
        "gestor_06",
        _grant_target,
        lambda w: {"next": st.sampled_from(["/inicio", "//evil.example", "javascript:x"])},
    ),
}

#: Fields no form has, that a forger adds to set what the user may not (SECURITY.md item 10).
FORGED_FIELDS: dict[str, st.SearchStrategy] = {
    "status": st.sampled_from(["validado", "infundado", "resuelta", "cerrado", "en_atencion"]),
    "school_id": st.integers(-1, 10**6).map(str),
    "school": st.sampled_from(["90003", "00000"]),
    "assignee_id": st.integers(-1, 10**6).map(str),
    "handler_id": st.integers(-1, 10**6).map(str),
    "reporter_id": st.integers(-1, 10**6).map(str),
    "department_id": st.integers(-1, 10**6).map(str),
    "role": st.sampled_from(["admin", "nacional"]),
    "id": st.integers(-1, 10**6).map(str),
}
