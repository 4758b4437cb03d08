"""Verification use cases: decide automatically from DTKS by the rules in force, hold
unclear cases on the manual desk, let a verifier decide by hand, propose an usulan, and
re-evaluate the desk when a new DTKS snapshot arrives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from shared.auth import Action, authorize, complaint_resource
from shared.complaints.domainmodel import Complaint, Stage
from shared.config import Settings
from shared.errors import ConcurrencyConflict
from shared.eventstore import ComplaintsApplication

from .domainmodel import DtksAnswer, Outcome, RuleSet, evaluate


class Registry(Protocol):
    def lookup(self, nik: str, kk: str | None) -> DtksAnswer: ...
    def current_snapshot_id(self) -> str | None: ...


class Desk(Protocol):
    def hold(self, complaint_id: UUID, outcome: Outcome) -> None: ...
    def desk_ids(self) -> list[UUID]: ...
    def seen_snapshot(self) -> str | None: ...
    def mark_seen(self, snapshot_id: str) -> None: ...


class Verification(ComplaintsApplication):
    def __init__(self, settings: Settings | None = None, *, rules: Callable[[], RuleSet],
                 desk: Desk, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(settings)
        self.rules = rules
        self.desk = desk
        self.clock = clock or (lambda: datetime.now(UTC))

    def decide(self, complaint_id: UUID, registry: Registry, *, actor: dict[str, Any],
               correlation_id: str) -> Outcome | None:
        """Decide once by the rules, or hold the case on the manual desk. A redelivered
        Registered, or a verifier who decided first, makes this a no-op (returns None).
        The projection must already hold the complaint (the caller catches it up first)."""
        complaint = self.get_complaint(complaint_id)
        if complaint.stage is not Stage.REGISTERED:
            return None
        citizen = complaint.citizen or {}
        answer = registry.lookup(citizen["nik"], citizen.get("kk"))
        outcome = evaluate(category=complaint.category, citizen=citizen, dtks=answer,
                           rules=self.rules(), now=self.clock())
        if outcome.to_desk:
            self.desk.hold(complaint_id, outcome)
            return outcome
        self._apply(complaint, outcome, actor, correlation_id)
        try:
            self.save_or_conflict(complaint)
        except ConcurrencyConflict:
            if self.get_complaint(complaint_id).stage is not Stage.REGISTERED:
                return None
            raise
        return outcome

    def reevaluate_desk(self, registry: Registry, *, actor: dict[str, Any],
                        correlation_id: str, force: bool = False) -> dict[str, Any]:
        """When the current DTKS snapshot differs from the one the desk was last evaluated
        against (or `force`), run every desk case through the rules again: a case the new
        snapshot settles is decided (its event names the new snapshot), the rest stay with a
        refreshed reason."""
        snapshot = registry.current_snapshot_id()
        if snapshot is None or (not force and snapshot == self.desk.seen_snapshot()):
            return {"snapshot_id": snapshot, "evaluated": 0, "decided": 0, "still_on_desk": 0}
        evaluated = decided = desk = 0
        for complaint_id in self.desk.desk_ids():
            outcome = self.decide(complaint_id, registry, actor=actor,
                                  correlation_id=correlation_id)
            evaluated += 1
            if outcome is not None and outcome.to_desk:
                desk += 1
            elif outcome is not None:
                decided += 1
        self.desk.mark_seen(snapshot)
        return {"snapshot_id": snapshot, "evaluated": evaluated, "decided": decided,
                "still_on_desk": desk}

    def verify_manually(self, complaint_id: UUID, *, reason: str, actor: dict[str, Any],
                        correlation_id: str) -> None:
        complaint = self.get_complaint(complaint_id)
        authorize(actor, Action.COMPLAINT_DECIDE, complaint_resource(complaint))
        complaint.verify(rule="manual", dtks_snapshot="manual", reasons=[reason], actor=actor,
                         correlation_id=correlation_id)
        self.save_or_conflict(complaint)

    def reject_manually(self, complaint_id: UUID, *, reason_code: str, reason: str,
                        actor: dict[str, Any], correlation_id: str) -> None:
        complaint = self.get_complaint(complaint_id)
        authorize(actor, Action.COMPLAINT_DECIDE, complaint_resource(complaint))
        complaint.reject(reason_code=reason_code, reason=reason, rule="manual",
                         dtks_snapshot="manual", actor=actor, correlation_id=correlation_id)
        self.save_or_conflict(complaint)

    def propose_usulan(self, complaint_id: UUID, *, reason: str, actor: dict[str, Any],
                       correlation_id: str) -> None:
        complaint = self.get_complaint(complaint_id)
        authorize(actor, Action.COMPLAINT_DECIDE, complaint_resource(complaint))
        complaint.propose_usulan(reason=reason, actor=actor, correlation_id=correlation_id)
        self.save_or_conflict(complaint)

    @staticmethod
    def _apply(complaint: Complaint, outcome: Outcome, actor: dict[str, Any],
               correlation_id: str) -> None:
        if outcome.verified:
            complaint.verify(rule=outcome.rule, dtks_snapshot=outcome.dtks_snapshot,
                             reasons=outcome.reasons, actor=actor, correlation_id=correlation_id)
        else:
            complaint.reject(reason_code=outcome.reason_code, reason=outcome.reason,
                             rule=outcome.rule, dtks_snapshot=outcome.dtks_snapshot, actor=actor,
                             correlation_id=correlation_id)
