"""Intake use cases: register a complaint, answer status. No nameko, no SQL here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.config import Settings
from shared.errors import ComplaintNotFound, ConcurrencyConflict
from shared.eventstore import ComplaintsApplication
from shared.identity import RegistrationNumber

WIB = ZoneInfo("Asia/Jakarta")

# (kabupaten code, day) -> next sequence number; an adapter keeps it in PostgreSQL.
SequenceAllocator = Callable[[str, date], int]


@dataclass(frozen=True)
class Registration:
    complaint_id: UUID
    registration_number: str
    created: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "complaint_id": str(self.complaint_id),
            "registration_number": self.registration_number,
        }


class Intake(ComplaintsApplication):
    def __init__(self, settings: Settings, allocate_sequence: SequenceAllocator) -> None:
        super().__init__(settings)
        self.allocate_sequence = allocate_sequence

    def register(
        self,
        complaint: dict[str, Any],
        *,
        actor: dict[str, Any],
        correlation_id: str,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> Registration:
        """Register a validated complaint. With an idempotency key, a retry returns the first
        registration and appends nothing (the key fixes the complaint id, so a concurrent
        retry loses the append race and reads the winner's registration)."""
        kabupaten = complaint["desk"][:4]
        keyed_id = (
            complaint_id_for(f"idempotency:{kabupaten}:{complaint['desk']}:{idempotency_key}")
            if idempotency_key
            else None
        )
        if keyed_id is not None:
            existing = self._existing(keyed_id)
            if existing is not None:
                return existing
        today = (now or datetime.now(WIB)).astimezone(WIB).date()
        number = RegistrationNumber.build(kabupaten, today, self.allocate_sequence(kabupaten, today))
        complaint_id = keyed_id or complaint_id_for(f"registration:{number.value}")
        aggregate = Complaint.register(
            complaint_id=complaint_id,
            registration_number=number.value,
            kabupaten=kabupaten,
            actor=actor,
            correlation_id=correlation_id,
            **complaint,
        )
        try:
            self.save_or_conflict(aggregate)
        except ConcurrencyConflict:
            existing = self._existing(complaint_id) if keyed_id else None
            if existing is None:
                raise
            return existing
        return Registration(complaint_id, number.value, created=True)

    def _existing(self, complaint_id: UUID) -> Registration | None:
        try:
            found = self.get_complaint(complaint_id)
        except ComplaintNotFound:
            return None
        return Registration(complaint_id, found.registration_number, created=False)
