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
    # Fields that may hold personal data (the citizen's record, free text that can name
    # people or repeat their KK): stored sealed with the person's key, shredded on erasure
    # (shared/personal.py). Codes, rule ids and actors are not personal data of the citizen.
    personal: ClassVar[tuple[str, ...]] = ()
    actor: dict[str, Any]
    correlation_id: str


class Complaint(Aggregate):
    # ---- events --------------------------------------------------------------------

    class Registered(Aggregate.Created, ComplaintEventMixin):
        """v2 added `duplicate_of` (the earlier complaint of the same NIK and category, linked
        rather than dropped); v1 events are upcast with `duplicate_of = None`."""

        owner: ClassVar[str] = "intake"
        personal: ClassVar[tuple[str, ...]] = ("citizen", "description")
        class_version: ClassVar[int] = 2
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
        duplicate_of: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["duplicate_of"] = None

    class Verified(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "verification"
        personal: ClassVar[tuple[str, ...]] = ("reasons",)
        rule: str
        dtks_snapshot: str
        reasons: list[str]
        actor: dict[str, Any]
        correlation_id: str

    class Rejected(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "verification"
        personal: ClassVar[tuple[str, ...]] = ("reason",)
        reason_code: str
        reason: str
        rule: str
        dtks_snapshot: str
        actor: dict[str, Any]
        correlation_id: str

    class UsulanProposed(Aggregate.Event, ComplaintEventMixin):
        """A verifier found a citizen rejected as not in DTKS eligible: the citizen is
        proposed (usulan) for the next DTKS update. A decision with an actor, so an event."""

        owner: ClassVar[str] = "verification"
        personal: ClassVar[tuple[str, ...]] = ("reason",)
        reason: str
        actor: dict[str, Any]
        correlation_id: str

    class ReferredToOPD(Aggregate.Event, ComplaintEventMixin):
        """v2 added `routing_table_version` (which version of the kabupaten's routing table
        held `routing_rule`); v1 events are upcast with None."""

        owner: ClassVar[str] = "routing"
        class_version: ClassVar[int] = 2
        agency: str
        kabupaten: str
        routing_rule: str
        routing_table_version: int | None
        actor: dict[str, Any]
        correlation_id: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["routing_table_version"] = None

    class Resolved(Aggregate.Event, ComplaintEventMixin):
        """The complaint is resolved: the last open referral was resolved."""

        owner: ClassVar[str] = "routing"
        personal: ClassVar[tuple[str, ...]] = ("outcome",)
        agency: str
        outcome: str
        actor: dict[str, Any]
        correlation_id: str

    class ReferralAccepted(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "routing"
        agency: str
        actor: dict[str, Any]
        correlation_id: str

    class ProgressNoted(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "routing"
        personal: ClassVar[tuple[str, ...]] = ("note",)
        agency: str
        note: str
        actor: dict[str, Any]
        correlation_id: str

    class ReferralReturned(Aggregate.Event, ComplaintEventMixin):
        """The agency hands the case back as not its authority ("bukan wewenang")."""

        owner: ClassVar[str] = "routing"
        personal: ClassVar[tuple[str, ...]] = ("reason",)
        agency: str
        reason: str
        actor: dict[str, Any]
        correlation_id: str

    class ReferralResolved(Aggregate.Event, ComplaintEventMixin):
        """One agency resolved its part while other referrals of the complaint are open."""

        owner: ClassVar[str] = "routing"
        personal: ClassVar[tuple[str, ...]] = ("outcome",)
        agency: str
        outcome: str
        actor: dict[str, Any]
        correlation_id: str

    class SlaBreached(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "sla"
        stage: str
        policy: str
        due_at: str
        actor: dict[str, Any]
        correlation_id: str

    class Escalated(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "sla"
        stage: str
        level: str
        actor: dict[str, Any]
        correlation_id: str

    class ClockPaused(Aggregate.Event, ComplaintEventMixin):
        """Waiting on the citizen (LAPOR!'s "tunda"): SLA clocks stop until resumed."""

        owner: ClassVar[str] = "sla"
        personal: ClassVar[tuple[str, ...]] = ("reason",)
        reason: str
        actor: dict[str, Any]
        correlation_id: str

    class ClockResumed(Aggregate.Event, ComplaintEventMixin):
        owner: ClassVar[str] = "sla"
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
        duplicate_of: str | None = None,
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
        self.duplicate_of = duplicate_of
        self.stage = Stage.REGISTERED
        self.decision: dict[str, Any] | None = None
        self.referrals: dict[str, str] = {}
        self.returned_by: list[str] = []
        self.outcome: str | None = None
        self.breached_stages: list[str] = []
        self.escalations: list[dict[str, str]] = []
        self.paused: bool = False
        self.usulan: dict[str, str] | None = None

    @classmethod
    def register(cls, *, complaint_id: UUID, **fields: Any) -> Complaint:
        fields.setdefault("duplicate_of", None)
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

    def propose_usulan(self, *, reason: str, actor: dict[str, Any], correlation_id: str) -> None:
        """Only a complaint rejected as not in DTKS can become an usulan, and only once."""
        decision = self.decision or {}
        if self.stage is not Stage.REJECTED or decision.get("reason_code") != "not_in_dtks":
            raise WrongStage(
                "only a complaint rejected as not_in_dtks can be proposed for DTKS",
                stage=self.stage.value,
            )
        if getattr(self, "usulan", None):
            raise WrongStage("the citizen is already proposed for DTKS", stage=self.stage.value)
        self._usulan_proposed(reason=reason, actor=actor, correlation_id=correlation_id)

    def refer(
        self,
        *,
        agency: str,
        routing_rule: str,
        actor: dict[str, Any],
        correlation_id: str,
        routing_table_version: int | None = None,
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
        if agency in self.returned_by:
            raise WrongStage(
                f"{agency} returned this complaint as not its authority", stage=self.stage.value
            )
        self._referred(
            agency=agency,
            kabupaten=self.kabupaten,
            routing_rule=routing_rule,
            routing_table_version=routing_table_version,
            actor=actor,
            correlation_id=correlation_id,
        )

    def resolve(
        self, *, agency: str, outcome: str, actor: dict[str, Any], correlation_id: str
    ) -> None:
        """An agency resolves its referral; the complaint is Resolved when no referral is
        left open, otherwise the agency's part is recorded as ReferralResolved."""
        if self.stage is Stage.RESOLVED:
            raise AlreadyResolved("the complaint is already resolved", stage=self.stage.value)
        self._require_open_referral(agency)
        if [a for a in self.open_referrals if a != agency]:
            self._referral_resolved(
                agency=agency, outcome=outcome, actor=actor, correlation_id=correlation_id
            )
        else:
            self._resolved(
                agency=agency, outcome=outcome, actor=actor, correlation_id=correlation_id
            )

    def accept_referral(self, *, agency: str, actor: dict[str, Any], correlation_id: str) -> None:
        self._require_open_referral(agency)
        if self.referrals[agency] == ReferralStatus.ACCEPTED.value:
            raise WrongStage(f"{agency} already accepted the referral", stage=self.stage.value)
        self._referral_accepted(agency=agency, actor=actor, correlation_id=correlation_id)

    def note_progress(
        self, *, agency: str, note: str, actor: dict[str, Any], correlation_id: str
    ) -> None:
        self._require_open_referral(agency)
        self._progress_noted(agency=agency, note=note, actor=actor, correlation_id=correlation_id)

    def return_referral(
        self, *, agency: str, reason: str, actor: dict[str, Any], correlation_id: str
    ) -> None:
        """Not our authority: the referral closes and, when none is left open, the complaint
        is back at the verified stage to be routed again."""
        self._require_open_referral(agency)
        self._referral_returned(
            agency=agency, reason=reason, actor=actor, correlation_id=correlation_id
        )

    def record_breach(
        self, *, stage: str, policy: str, due_at: str, actor: dict[str, Any], correlation_id: str
    ) -> None:
        if stage in self.breached_stages:
            raise WrongStage(f"the {stage} stage already breached", stage=self.stage.value)
        self._sla_breached(
            stage=stage, policy=policy, due_at=due_at, actor=actor, correlation_id=correlation_id
        )

    def escalate(
        self, *, stage: str, level: str, actor: dict[str, Any], correlation_id: str
    ) -> None:
        if any(e["stage"] == stage and e["level"] == level for e in self.escalations):
            raise WrongStage(f"{stage} already escalated to {level}", stage=self.stage.value)
        self._escalated(stage=stage, level=level, actor=actor, correlation_id=correlation_id)

    def pause_clock(self, *, reason: str, actor: dict[str, Any], correlation_id: str) -> None:
        if not self.is_open:
            raise WrongStage("a closed complaint has no clock to pause", stage=self.stage.value)
        if self.paused:
            raise WrongStage("the clock is already paused", stage=self.stage.value)
        self._clock_paused(reason=reason, actor=actor, correlation_id=correlation_id)

    def resume_clock(self, *, actor: dict[str, Any], correlation_id: str) -> None:
        if not self.paused:
            raise WrongStage("the clock is not paused", stage=self.stage.value)
        self._clock_resumed(actor=actor, correlation_id=correlation_id)

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

    @event(UsulanProposed)
    def _usulan_proposed(self, reason, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.usulan = {"reason": reason}

    @event(ReferredToOPD)
    def _referred(  # type: ignore[no-untyped-def]
        self, agency, kabupaten, routing_rule, routing_table_version, actor, correlation_id
    ) -> None:
        self.stage = Stage.REFERRED
        self.referrals[agency] = ReferralStatus.REFERRED.value

    @event(Resolved)
    def _resolved(self, agency, outcome, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.referrals[agency] = ReferralStatus.RESOLVED.value
        self.stage = Stage.RESOLVED
        self.outcome = outcome
        self.paused = False

    @event(ReferralResolved)
    def _referral_resolved(self, agency, outcome, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.referrals[agency] = ReferralStatus.RESOLVED.value

    @event(ReferralAccepted)
    def _referral_accepted(self, agency, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.referrals[agency] = ReferralStatus.ACCEPTED.value

    @event(ProgressNoted)
    def _progress_noted(self, agency, note, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        pass

    @event(ReferralReturned)
    def _referral_returned(self, agency, reason, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.referrals[agency] = ReferralStatus.RETURNED.value
        self.returned_by.append(agency)
        if not self.open_referrals:
            # Nobody is acting on it any more: back to routing for the next agency.
            self.stage = Stage.VERIFIED

    @event(SlaBreached)
    def _sla_breached(self, stage, policy, due_at, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.breached_stages.append(stage)

    @event(Escalated)
    def _escalated(self, stage, level, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.escalations.append({"stage": stage, "level": level})

    @event(ClockPaused)
    def _clock_paused(self, reason, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.paused = True

    @event(ClockResumed)
    def _clock_resumed(self, actor, correlation_id) -> None:  # type: ignore[no-untyped-def]
        self.paused = False


EVENT_CLASSES: dict[str, type[Aggregate.Event]] = {
    cls.__name__: cls
    for cls in (
        Complaint.Registered,
        Complaint.Verified,
        Complaint.Rejected,
        Complaint.UsulanProposed,
        Complaint.ReferredToOPD,
        Complaint.Resolved,
        Complaint.ReferralAccepted,
        Complaint.ProgressNoted,
        Complaint.ReferralReturned,
        Complaint.ReferralResolved,
        Complaint.SlaBreached,
        Complaint.Escalated,
        Complaint.ClockPaused,
        Complaint.ClockResumed,
    )
}


def owner_of(event_type: str) -> str:
    """The service whose exchange carries this event type (`<owner>.events`)."""
    return EVENT_CLASSES[event_type].owner  # type: ignore[attr-defined]
