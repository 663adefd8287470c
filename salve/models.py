"""Every domain's models, imported in one place so Alembic and the app see the whole schema."""

from salve.alerts.models import Alert, AlertEvent, AlertEvidence
from salve.api.models import ApiToken
from salve.audit.models import AuditEvent
from salve.auth.models import AuthSession, LoginThrottle, RoleAssignment, User
from salve.breakglass.models import BreakGlassGrant
from salve.cases.models import Case, CaseAlert, CaseEvent, CaseStep, FollowUp, Referral
from salve.catalog.models import CatalogVersion
from salve.geography.models import Department, District, Municipality
from salve.incidents.models import (
    Incident,
    IncidentAmendment,
    IncidentDraft,
    IncidentParty,
    IncidentType,
)
from salve.jobs.models import JobRun, SchedulerLease
from salve.maintenance.models import LegalHold
from salve.notifications.models import Delivery, InboxMessage, OutboxMessage
from salve.ratelimit import RateLimitCounter
from salve.schools.models import School, Student
from salve.scoring.models import CurrentRiskScore, RiskReference, RiskScoreChange

__all__ = [
    "Alert",
    "AlertEvent",
    "AlertEvidence",
    "ApiToken",
    "AuditEvent",
    "AuthSession",
    "BreakGlassGrant",
    "Case",
    "CaseAlert",
    "CaseEvent",
    "CaseStep",
    "CatalogVersion",
    "CurrentRiskScore",
    "Delivery",
    "Department",
    "District",
    "FollowUp",
    "InboxMessage",
    "Incident",
    "IncidentAmendment",
    "IncidentDraft",
    "IncidentParty",
    "IncidentType",
    "JobRun",
    "LegalHold",
    "LoginThrottle",
    "Municipality",
    "OutboxMessage",
    "RateLimitCounter",
    "Referral",
    "RiskReference",
    "RiskScoreChange",
    "RoleAssignment",
    "SchedulerLease",
    "School",
    "Student",
    "User",
]  # fmt: skip
