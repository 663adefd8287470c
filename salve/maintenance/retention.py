"""Retention: anonymise records whose period is over, delete expired working records.

Anonymising keeps the row and what statistics count (dates, types, school, sex, grade, level)
and replaces identities and free text; a row anonymised gets ``anonymised_at``. Which records
are due is decided in SQL, one kind at a time, and each decision stands on its own (it does not
depend on what an earlier step of the same run did), so a dry run counts exactly what a run
would do, the steps may run in any order, and a run killed halfway loses at most one batch:

- a **case** is due when closed longer than its period ago;
- an **incident** is due when nothing happened to it within its period (occurred, filed,
  amended, validated, closed), no open alert holds it as evidence and every case tied to it
  (through its protocol steps or its alerts) is anonymised or due too;
- a **student** is due when off the roll, unchanged and named in no incident within their
  period, with no open alert about them, and every incident naming them and every case about
  them anonymised or due too.

None of them is due while a legal hold covers it (see ``held_*``). Audit events, alert and case
events, incident amendments and deliveries are append-only (database triggers) and untouched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from salve.alerts.models import OPEN, Alert, AlertEvidence
from salve.audit.operations import record
from salve.auth.models import AuthSession, LoginThrottle
from salve.cases.models import CERRADO, Case, CaseAlert, CaseStep, FollowUp, Referral
from salve.db import utcnow
from salve.extensions import db
from salve.incidents.models import Incident, IncidentAmendment, IncidentDraft, IncidentParty
from salve.maintenance.models import LegalHold
from salve.maintenance.policy import RetentionPolicy, retention_in_force
from salve.notifications.models import Delivery, InboxMessage, OutboxMessage
from salve.schools.models import Student

#: What replaces free text.
ANONYMISED_TEXT = "[anonimizado]"
#: What replaces a student's given names (family names become empty).
ANONYMISED_NAME = "Anonimizado"
#: A pseudonymous NIE: this prefix and 15 hex digits of a keyed hash (20 characters, the column).
NIE_PREFIX = "ANON-"


def pseudonym(nie: str) -> str:
    """Return the stable, non-reversible stand-in for ``nie``.

    Keyed with the app's secret: NIEs are short numbers, and an unkeyed hash of every possible
    one is quick to compute, which would give them all back.
    """
    key = b"salve.retention.nie:" + str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, nie.encode(), hashlib.sha256).hexdigest()
    return NIE_PREFIX + digest[:15].upper()


# --- Legal holds ---------------------------------------------------------------------------------
#
# The conditions below are correlated subqueries nested several levels deep. SQLAlchemy only
# correlates to the immediately enclosing query on its own, so every subquery that refers to a
# record two levels out names it with ``correlate``.


def _hold(kind: str, target_id) -> sa.ColumnElement[bool]:
    """Return "an active hold of ``kind`` names ``target_id``" (a column of the outer query)."""
    hold = aliased(LegalHold)
    return sa.exists().where(
        hold.target_type == kind, hold.released_at.is_(None), hold.target_id == target_id
    )


def _active(hold, kind: str) -> list[sa.ColumnElement[bool]]:
    return [hold.target_type == kind, hold.released_at.is_(None)]


def _cases_of_incident(incident) -> tuple[type[Case], sa.Select]:
    """Return an alias of ``Case`` and the query of the cases tied to ``incident`` through it:
    by a protocol step of the incident, or by an alert holding the incident as evidence."""
    case, step, link, evidence = (
        aliased(Case), aliased(CaseStep), aliased(CaseAlert), aliased(AlertEvidence)
    )  # fmt: skip
    by_steps = sa.select(step.case_id).where(step.incident_id == incident.id).correlate(incident)
    by_alerts = (
        sa.select(link.case_id)
        .join(evidence, evidence.alert_id == link.alert_id)
        .where(evidence.incident_id == incident.id)
        .correlate(incident)
    )
    return case, sa.select(case.id).where(sa.or_(case.id.in_(by_steps), case.id.in_(by_alerts)))


def held_case(case) -> sa.ColumnElement[bool]:
    """Return "a hold covers ``case``": on it, its school, its student or one of its incidents."""
    step, link, evidence = aliased(CaseStep), aliased(CaseAlert), aliased(AlertEvidence)
    on_step, on_evidence = aliased(LegalHold), aliased(LegalHold)
    return sa.or_(
        _hold("case", case.id),
        _hold("school", case.school_id),
        sa.and_(case.entity_type == "student", _hold("student", case.entity_id)),
        sa.select(step.id)
        .join(on_step, on_step.target_id == step.incident_id)
        .where(step.case_id == case.id, *_active(on_step, "incident"))
        .correlate(case)
        .exists(),
        sa.select(link.id)
        .join(evidence, evidence.alert_id == link.alert_id)
        .join(on_evidence, on_evidence.target_id == evidence.incident_id)
        .where(link.case_id == case.id, *_active(on_evidence, "incident"))
        .correlate(case)
        .exists(),
    )


def held_incident(incident) -> sa.ColumnElement[bool]:
    """Return "a hold covers ``incident``": on it, its school, a student it names, or a case."""
    party, on_party = aliased(IncidentParty), aliased(LegalHold)
    case, tied = _cases_of_incident(incident)
    return sa.or_(
        _hold("incident", incident.id),
        _hold("school", incident.school_id),
        sa.select(party.id)
        .join(on_party, on_party.target_id == party.student_id)
        .where(party.incident_id == incident.id, *_active(on_party, "student"))
        .correlate(incident)
        .exists(),
        tied.where(held_case(case)).exists(),
    )


def held_student(student) -> sa.ColumnElement[bool]:
    """Return "a hold covers ``student``": on them, their school, an incident or a case."""
    party, incident, case = aliased(IncidentParty), aliased(Incident), aliased(Case)
    return sa.or_(
        _hold("student", student.id),
        _hold("school", student.school_id),
        sa.select(party.id)
        .join(incident, incident.id == party.incident_id)
        .where(party.student_id == student.id, held_incident(incident))
        .correlate(student)
        .exists(),
        sa.select(case.id)
        .where(case.entity_type == "student", case.entity_id == student.id, held_case(case))
        .correlate(student)
        .exists(),
    )


# --- What is due ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutoffs:
    """Records quiet since before these moments are past their period."""

    now: datetime
    cases: datetime
    incidents: datetime
    students: datetime
    notices: datetime
    sessions: datetime
    drafts: datetime
    #: Whether any legal hold is in force (when none, the hold conditions are left out).
    holds: bool

    @classmethod
    def of(cls, policy: RetentionPolicy, now: datetime) -> Cutoffs:
        """Return the cutoffs of ``policy`` as of ``now``."""
        holds = db.session.scalar(sa.select(sa.exists().where(LegalHold.released_at.is_(None))))
        return cls(
            now=now,
            **{kind: policy.cutoff(kind, now) for kind in policy.periods},
            holds=bool(holds),
        )


def case_due(case, cutoffs: Cutoffs) -> sa.ColumnElement[bool]:
    """Return "``case`` is closed longer than its period and not held" (anonymised or not)."""
    conditions = [case.status == CERRADO, case.closed_at < cutoffs.cases]
    if cutoffs.holds:
        conditions.append(sa.not_(held_case(case)))
    return sa.and_(*conditions)


def _quiet(incident, cutoff: datetime) -> sa.ColumnElement[bool]:
    """Return "nothing happened to ``incident`` at or after ``cutoff``"."""
    amendment = aliased(IncidentAmendment)
    return sa.and_(
        incident.occurred_at < cutoff,
        incident.reported_at < cutoff,
        incident.updated_at < cutoff,
        sa.or_(incident.validated_at.is_(None), incident.validated_at < cutoff),
        sa.or_(incident.closed_at.is_(None), incident.closed_at < cutoff),
        ~sa.exists().where(amendment.incident_id == incident.id, amendment.created_at >= cutoff),
    )


def incident_due(incident, cutoffs: Cutoffs) -> sa.ColumnElement[bool]:
    """Return "``incident`` is past its period, free of open alerts and of cases still kept"."""
    evidence, alert = aliased(AlertEvidence), aliased(Alert)
    case, tied = _cases_of_incident(incident)
    conditions = [
        _quiet(incident, cutoffs.incidents),
        ~sa.select(evidence.id)
        .join(alert, alert.id == evidence.alert_id)
        .where(evidence.incident_id == incident.id, alert.status.in_(OPEN))
        .exists(),
        ~tied.where(case.anonymised_at.is_(None), sa.not_(case_due(case, cutoffs))).exists(),
    ]
    if cutoffs.holds:
        conditions.append(sa.not_(held_incident(incident)))
    return sa.and_(*conditions)


def student_due(student, cutoffs: Cutoffs) -> sa.ColumnElement[bool]:
    """Return "``student`` left the roll, is past their period, and nothing of theirs is kept"."""
    party, incident, case, alert = (
        aliased(IncidentParty), aliased(Incident), aliased(Case), aliased(Alert)
    )  # fmt: skip
    conditions = [
        student.is_active.is_(False),
        student.updated_at < cutoffs.students,
        # Named in an incident active within their period, or in one still kept.
        ~sa.select(party.id)
        .join(incident, incident.id == party.incident_id)
        .where(
            party.student_id == student.id,
            sa.or_(
                sa.not_(_quiet(incident, cutoffs.students)),
                sa.and_(incident.anonymised_at.is_(None), sa.not_(incident_due(incident, cutoffs))),
            ),
        )
        .exists(),
        ~sa.exists().where(
            case.entity_type == "student",
            case.entity_id == student.id,
            case.anonymised_at.is_(None),
            sa.not_(case_due(case, cutoffs)),
        ),
        ~sa.exists().where(
            alert.entity_type == "student",
            alert.entity_id == student.id,
            alert.status.in_(OPEN),
        ),
    ]
    if cutoffs.holds:
        conditions.append(sa.not_(held_student(student)))
    return sa.and_(*conditions)


# --- Doing it ------------------------------------------------------------------------------------


def _anonymise_cases(ids: list[int], now: datetime) -> None:
    db.session.execute(
        sa.update(Case)
        .where(Case.id.in_(ids))
        .values(closing_summary=ANONYMISED_TEXT, anonymised_at=now)
    )
    db.session.execute(
        sa.update(FollowUp).where(FollowUp.case_id.in_(ids)).values(note=ANONYMISED_TEXT)
    )
    for column in (Referral.reason, Referral.reference):
        db.session.execute(
            sa.update(Referral)
            .where(Referral.case_id.in_(ids), column != "")
            .values({column: ANONYMISED_TEXT})
        )
    db.session.execute(
        sa.update(CaseStep)
        .where(CaseStep.case_id.in_(ids), CaseStep.note != "")
        .values(note=ANONYMISED_TEXT)
    )


def _anonymise_incidents(ids: list[int], now: datetime) -> None:
    # updated_at is kept: it is the incident's last activity, which its students' period counts.
    db.session.execute(
        sa.update(Incident)
        .where(Incident.id.in_(ids))
        .values(narrative=ANONYMISED_TEXT, anonymised_at=now, updated_at=Incident.updated_at)
    )
    for column, has_text in (
        (Incident.measures_note, Incident.measures_note != ""),
        (Incident.closed_reason, Incident.closed_reason.is_not(None)),
    ):
        db.session.execute(
            sa.update(Incident)
            .where(Incident.id.in_(ids), has_text)
            .values({column: ANONYMISED_TEXT, Incident.updated_at: Incident.updated_at})
        )
    db.session.execute(
        sa.update(IncidentParty)
        .where(IncidentParty.incident_id.in_(ids), IncidentParty.description != "")
        .values(description=ANONYMISED_TEXT)
    )


def _anonymise_students(ids: list[int], now: datetime) -> None:
    rows = db.session.execute(
        sa.select(Student.id, Student.nie, Student.birth_date, Student.updated_at).where(
            Student.id.in_(ids)
        )
    ).all()
    db.session.execute(
        sa.update(Student),
        [
            {
                "id": row.id,
                "nie": pseudonym(row.nie),
                "given_names": ANONYMISED_NAME,
                "family_names": "",
                "birth_date": date(row.birth_date.year, 1, 1),
                "anonymised_at": now,
                "updated_at": row.updated_at,
            }
            for row in rows
        ],
    )


def _delete(model, key) -> Callable[[list, datetime], None]:
    def delete(ids: list, _now: datetime) -> None:
        db.session.execute(
            sa.delete(model).where(key.in_(ids)).execution_options(synchronize_session=False)
        )

    return delete


@dataclass(frozen=True)
class Step:
    """One kind of record: how its due rows are found, and what is done to them."""

    #: The count's name, e.g. "incidents_anonymised".
    name: str
    #: The record kind for the audit log.
    kind: str
    #: The column batches are ordered and resumed by.
    key: sa.ColumnElement
    #: The conditions of a due row, as of the cutoffs.
    due: Callable[[Cutoffs], list[sa.ColumnElement[bool]]]
    #: Anonymise or delete the rows with these keys.
    apply: Callable[[list, datetime], None]
    #: "anonymise" or "delete", for the audit log.
    action: str


def _outbox_due(cutoffs: Cutoffs) -> list:
    # Rows with delivery attempts stay: the delivery log (append-only) refers to them.
    delivery = aliased(Delivery)
    return [
        OutboxMessage.created_at < cutoffs.notices,
        ~sa.exists().where(delivery.outbox_id == OutboxMessage.id),
    ]


#: Every step of a run, in order (any order gives the same result; see the module's docstring).
STEPS = (
    Step("cases_anonymised", "case", Case.id,
         lambda c: [Case.anonymised_at.is_(None), case_due(Case, c)],
         _anonymise_cases, "anonymise"),
    Step("incidents_anonymised", "incident", Incident.id,
         lambda c: [Incident.anonymised_at.is_(None), incident_due(Incident, c)],
         _anonymise_incidents, "anonymise"),
    Step("students_anonymised", "student", Student.id,
         lambda c: [Student.anonymised_at.is_(None), student_due(Student, c)],
         _anonymise_students, "anonymise"),
    Step("inbox_deleted", "inbox_message", InboxMessage.id,
         lambda c: [InboxMessage.created_at < c.notices],
         _delete(InboxMessage, InboxMessage.id), "delete"),
    Step("outbox_deleted", "outbox_message", OutboxMessage.id, _outbox_due,
         _delete(OutboxMessage, OutboxMessage.id), "delete"),
    Step("sessions_deleted", "auth_session", AuthSession.id,
         lambda c: [sa.func.coalesce(AuthSession.ended_at, AuthSession.last_seen_at) < c.sessions],
         _delete(AuthSession, AuthSession.id), "delete"),
    Step("throttles_deleted", "login_throttle", LoginThrottle.key,
         lambda c: [LoginThrottle.first_failure_at < c.sessions,
                    sa.or_(LoginThrottle.locked_until.is_(None),
                           LoginThrottle.locked_until < c.now)],
         _delete(LoginThrottle, LoginThrottle.key), "delete"),
    Step("drafts_deleted", "incident_draft", IncidentDraft.id,
         lambda c: [IncidentDraft.updated_at < c.drafts],
         _delete(IncidentDraft, IncidentDraft.id), "delete"),
)  # fmt: skip


def due_count(step: Step, cutoffs: Cutoffs) -> int:
    """Return how many rows ``step`` would process now."""
    query = sa.select(sa.func.count()).select_from(step.key.table).where(*step.due(cutoffs))
    return db.session.scalar(query)


def run(
    now: datetime | None = None,
    *,
    policy: RetentionPolicy | None = None,
    checkpoint: Callable[[], None] | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Anonymise and delete what is past its period as of ``now``; return counts by kind.

    Works in batches of the policy's ``batch_size``; ``checkpoint`` (the job's commit) is called
    after each, so a long run never holds SQLite's write lock for long and a run killed halfway
    loses at most one batch, which the next run redoes. With ``dry_run`` it writes nothing and
    returns what it would do.
    """
    policy = policy or retention_in_force()
    now = now or utcnow()
    counts: dict[str, int] = {}
    for step in STEPS:
        if dry_run:
            counts[step.name] = due_count(step, Cutoffs.of(policy, now))
            continue
        done, last = 0, None
        while True:
            # Hold conditions are checked again for every batch: a hold placed during a run
            # protects its record from the next batch on.
            query = sa.select(step.key).where(*step.due(Cutoffs.of(policy, now)))
            if last is not None:
                query = query.where(step.key > last)
            keys = db.session.scalars(query.order_by(step.key).limit(policy.batch_size)).all()
            if not keys:
                break
            step.apply(keys, now)
            detail = {"first": keys[0], "last": keys[-1]} if step.action == "anonymise" else {}
            record(f"retention.{step.action}", step.kind, "", count=len(keys), **detail)
            done, last = done + len(keys), keys[-1]
            if checkpoint is not None:
                checkpoint()
        counts[step.name] = done
    return counts
