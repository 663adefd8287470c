"""Every domain's models, imported in one place so Alembic and the app see the whole schema."""

from salve.api.models import ApiToken
from salve.audit.models import AuditEvent
from salve.auth.models import AuthSession, LoginThrottle, RoleAssignment, User
from salve.catalog.models import CatalogVersion
from salve.geography.models import Department, District, Municipality
from salve.incidents.models import (
    Incident,
    IncidentAmendment,
    IncidentDraft,
    IncidentParty,
    IncidentType,
)
from salve.schools.models import School, Student
from salve.scoring.models import CurrentRiskScore, RiskScoreChange

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuthSession",
    "CatalogVersion",
    "CurrentRiskScore",
    "Department",
    "District",
    "Incident",
    "IncidentAmendment",
    "IncidentDraft",
    "IncidentParty",
    "IncidentType",
    "LoginThrottle",
    "Municipality",
    "RiskScoreChange",
    "RoleAssignment",
    "School",
    "Student",
    "User",
]  # fmt: skip
