"""The Complaint aggregate: one event stream per complaint (design.md §3).

Pure domain: no I/O, no clock outside eventsourcing's event timestamp, no framework.
Each public method is one thing a person (or a service acting for the system) does: it
checks the rules, raises a named error from `shared.errors`, then records exactly one
event. Event handlers only assign state, so replaying history never re-checks or fails.

Event classes are nested in `Complaint` and their stored topics are
`shared.complaints.domainmodel:Complaint.<Name>`: moving them breaks stored events unless
the old topic is registered (eventsourcing.utils.register_topic).
"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from shared.errors import (
    AlreadyResolved,
    ComplaintRejected,
    NotReferredToAgency,
    WrongStage,
)

# Complaint ids derive from the registration number (or the client's idempotency key), so
# a retried registration collides with the first one instead of creating a second complaint.
COMPLAINT_NAMESPACE = UUID("5e4d1c1a-9a3b-4f7e-8d2a-0b6c5e2f1a77")


def complaint_id_for(key: str) -> UUID:
    return uuid.uuid5(COMPLAINT_NAMESPACE, key)


class Stage(str, Enum):
    REGISTERED = "registered"
    VERIFIED = "verified"
    REJECTED = "rejected"
    REFERRED = "referred"
    RESOLVED = "resolved"


class ReferralStatus(str, Enum):
    REFERRED = "referred"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    RESOLVED = "resolved"


OPEN_REFERRAL = (ReferralStatus.REFERRED, ReferralStatus.ACCEPTED)


class ComplaintEventMixin:
    """Every event names its owning service (the only one allowed to append it), the actor
    and the correlation id of the request or message that caused it."""

    owner: ClassVar[str] = ""
    actor: dict[str, Any]
    correlation_id: str


class Complaint(Aggregate):
    # ---- events --------------------------------------------------------------------

    class Registered(Aggregate.Created, ComplaintEventMixin):
        owner: ClassVar[str] = "intake"
        registration_number: str
        kabupaten: str
        desk: str
        channel: str
        category: str
        description: str
        citizen: dict[str, Any]
        wilayah: str
        priority: str
        confidential: bool
        actor: dict[str, Any]
        correlation_id: str

    class Verified(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "verification"
        rule: str
        dtks_snapshot: str
        reasons: list[str]
        actor: dict[str, Any]
        correlation_id: str

    class Rejected(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "verification"
        reason_code: str
        reason: str
        rule: str
        dtks_snapshot: str
        actor: dict[str, Any]
        correlation_id: str

    class ReferredToOPD(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "routing"
        agency: str
        kabupaten: str
        routing_rule: str
        actor: dict[str, Any]
        correlation_id: str

    class Resolved(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "routing"
        agency: str
        outcome: str
        actor: dict[str, Any]
        correlation_id: str

    # ---- commands ------------------------------------------------------------------

    @event(Registered)
    def __init__(
        self,
        *,
        registration_number: str,
        kabupaten: str,
        desk: str,
        channel: str,
        category: str,
        description: str,
        citizen: dict[str, Any],
        wilayah: str,
        priority: str,
        confidential: bool,
        actor: dict[str, Any],
        correlation_id: str,
    ) -> None:
        self.registration_number = registration_number
        self.kabupaten = kabupaten
        self.desk = desk
        self.channel = channel
        self.category = category
        self.description = description
        self.citizen = citizen
        self.wilayah = wilayah
        self.priority = priority
        self.confidential = confidential
        self.registered_by = actor
        self.stage = Stage.REGISTERED
        self.decision: dict[str, Any] | None = None
        self.referrals: dict[str, str] = {}
        self.outcome: str | None = None

    @classmethod
    def register(cls, *, complaint_id: UUID, **fields: Any) -> Complaint:
        return cls._create(cls.Registered, id=complaint_id, **fields)

    def verify(
        self,
        *,
        rule: str,
        dtks_snapshot: str,
        reasons: list[str],
        actor: dict[str, Any],
        correlation_id: str,
    ) -> None:
        self._require_undecided()
        self._verified(
            rule=rule,
            dtks_snapshot=dtks_snapshot,
            reasons=list(reasons),
            actor=actor,
            correlation_id=correlation_id,
        )

    def reject(
        self,
        *,
        reason_code: str,
        reason: str,
        rule: str,
        dtks_snapshot: str,
        actor: dict[str, Any],
        correlation_id: str,
    ) -> None:
        self._require_undecided()
        self._rejected(
            reason_code=reason_code,
            reason=reason,
            rule=rule,
            dtks_snapshot=dtks_snapshot,
            actor=actor,
            correlation_id=correlation_id,
        )

    def refer(
        self,
        *,
        agency: str,
        routing_rule: str,
        actor: dict[str, Any],
        correlation_id: str,
    ) -> None:
        if self.stage is Stage.REJECTED:
            raise ComplaintRejected(
                "a rejected complaint cannot be referred to an agency",
                stage=self.stage.value,
            )
        if self.stage is Stage.RESOLVED:
            raise AlreadyResolved("the complaint is already resolved", stage=self.stage.value)
        if self.stage not in (Stage.VERIFIED, Stage.REFERRED):
            raise WrongStage(
                f"only a verified complaint can be referred (stage is {self.stage.value})",
                stage=self.stage.value,
            )
        if self.referrals.get(agency) in OPEN_REFERRAL:
            raise WrongStage(
                f"the complaint is already referred to {agency}", stage=self.stage.value
            )
        self._referred(
            agency=agency,
            kabupaten=self.kabupaten,
            routing_rule=routing_rule,
            actor=actor,
            correlation_id=correlation_id,
        )

    def resolve(
        self, *, agency: str, outcome: str, actor: dict[str, Any], correlation_id: str
    ) -> None:
        if self.stage is Stage.RESOLVED:
            raise AlreadyResolved("the complaint is already resolved", stage=self.stage.value)
        self._require_open_referral(agency)
        self._resolved(agency=agency, outcome=outcome, actor=actor, correlation_id=correlation_id)

    # ---- queries -------------------------------------------------------------------

    @property
    def open_referrals(self) -> list[str]:
        return [a for a, s in self.referrals.items() if s in OPEN_REFERRAL]

    @property
    def is_open(self) -> bool:
        return self.stage not in (Stage.REJECTED, Stage.RESOLVED)

    # ---- guards --------------------------------------------------------------------

    def _require_undecided(self) -> None:
        if self.stage is not Stage.REGISTERED:
            raise WrongStage(
                f"the complaint was already decided (stage is {self.stage.value})",
                stage=self.stage.value,
            )

    def _require_open_referral(self, agency: str) -> None:
        if self.referrals.get(agency) not in OPEN_REFERRAL:
            raise NotReferredToAgency(
                f"the complaint has no open referral to {agency}",
                field="agency",
                stage=self.stage.value,
            )

    # ---- event handlers: assign only ---------------------------------------------

    @event(Verified)
    def _verified(self, rule, dtks_snapshot, reasons, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.stage = Stage.VERIFIED
        self.decision = {"outcome": "verified", "rule": rule, "dtks_snapshot": dtks_snapshot}

    @event(Rejected)
    def _rejected(  # type: ignore[no-untyped-def]
        self, reason_code, reason, rule, dtks_snapshot, actor, correlation_id
    ) -> None:
        self.stage = Stage.REJECTED
        self.decision = {
            "outcome": "rejected",
            "reason_code": reason_code,
            "reason": reason,
            "rule": rule,
            "dtks_snapshot": dtks_snapshot,
        }

    @event(ReferredToOPD)
    def _referred(self, agency, kabupaten, routing_rule, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.stage = Stage.REFERRED
        self.referrals[agency] = ReferralStatus.REFERRED.value

    @event(Resolved)
    def _resolved(self, agency, outcome, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.referrals[agency] = ReferralStatus.RESOLVED.value
        self.stage = Stage.RESOLVED
        self.outcome = outcome


EVENT_CLASSES: dict[str, type[Aggregate.Event]] = {
    cls.__name__: cls
    for cls in (
        Complaint.Registered,
        Complaint.Verified,
        Complaint.Rejected,
        Complaint.ReferredToOPD,
        Complaint.Resolved,
    )
}


def owner_of(event_type: str) -> str:
    """The service whose exchange carries this event type (`<owner>.events`)."""
    return EVENT_CLASSES[event_type].owner  # type: ignore[attr-defined]
