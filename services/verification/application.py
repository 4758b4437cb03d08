"""Verification use cases: decide automatically from DTKS, or by a verifier's hand."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.complaints.domainmodel import Complaint, Stage
from shared.errors import ConcurrencyConflict
from shared.eventstore import ComplaintsApplication

from .domainmodel import Outcome, evaluate


class Verification(ComplaintsApplication):
    def decide(self, complaint_id: UUID, person: dict[str, Any] | None, snapshot_id: str | None,
               *, actor: dict[str, Any], correlation_id: str) -> Outcome | None:
        """Decide once. A redelivered Registered, or a verifier who decided first, makes this
        a no-op (returns None): the first decision stands."""
        complaint = self.get_complaint(complaint_id)
        if complaint.stage is not Stage.REGISTERED:
            return None
        outcome = evaluate(person, snapshot_id)
        self._apply(complaint, outcome, actor, correlation_id)
        try:
            self.save_or_conflict(complaint)
        except ConcurrencyConflict:
            if self.get_complaint(complaint_id).stage is not Stage.REGISTERED:
                return None
            raise
        return outcome

    def verify_manually(self, complaint_id: UUID, *, reason: str, actor: dict[str, Any],
                        correlation_id: str) -> None:
        complaint = self.get_complaint(complaint_id)
        complaint.verify(rule="manual", dtks_snapshot="manual", reasons=[reason], actor=actor,
                         correlation_id=correlation_id)
        self.save_or_conflict(complaint)

    def reject_manually(self, complaint_id: UUID, *, reason_code: str, reason: str,
                        actor: dict[str, Any], correlation_id: str) -> None:
        complaint = self.get_complaint(complaint_id)
        complaint.reject(reason_code=reason_code, reason=reason, rule="manual",
                         dtks_snapshot="manual", actor=actor, correlation_id=correlation_id)
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
