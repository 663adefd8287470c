"""The roles of SALVE and the scope each one is granted over."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

DOCENTE = "docente"
DIRECTOR = "director"
GESTOR = "gestor"
SUPERVISOR = "supervisor"
DEPARTAMENTAL = "departamental"
NACIONAL = "nacional"
ADMIN = "admin"

#: Every role, from the school outwards.
ROLES = (DOCENTE, DIRECTOR, GESTOR, SUPERVISOR, DEPARTAMENTAL, NACIONAL, ADMIN)

SCHOOL_SCOPE = "school"
DEPARTMENT_SCOPE = "department"
NATION_SCOPE = "nation"

#: The kind of scope each role is granted over (see salve.auth.scope).
ROLE_SCOPE = {
    DOCENTE: SCHOOL_SCOPE,
    DIRECTOR: SCHOOL_SCOPE,
    GESTOR: DEPARTMENT_SCOPE,
    SUPERVISOR: DEPARTMENT_SCOPE,
    DEPARTAMENTAL: DEPARTMENT_SCOPE,
    NACIONAL: NATION_SCOPE,
    ADMIN: NATION_SCOPE,
}

#: Roles that must use a second factor (SECURITY.md item 7).
SECOND_FACTOR_ROLES = frozenset({GESTOR, SUPERVISOR, NACIONAL, ADMIN})

ROLE_LABELS = {
    DOCENTE: _l("Docente"),
    DIRECTOR: _l("Director(a)"),
    GESTOR: _l("Gestor(a) de casos"),
    SUPERVISOR: _l("Supervisor(a) de casos"),
    DEPARTAMENTAL: _l("Dirección departamental"),
    NACIONAL: _l("Análisis nacional"),
    ADMIN: _l("Administración del sistema"),
}
