"""Intake use cases: register a complaint (one at a time or a backfill batch), link probable
duplicates. No nameko, no SQL here: the lookups and the sequence come in as ports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
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


class IntakeLookups(Protocol):
    def earlier_complaint(self, nik: str, category: str, since: date) -> UUID | None: ...

    def existing(self, complaint_ids: Iterable[UUID]) -> set[UUID]: ...

    def complaints_of(self, niks: Iterable[str], since: date
                      ) -> list[tuple[str, str, date, UUID]]: ...


class NoLookups:
    """For callers that need no duplicate linking (and tests of the bare use case)."""

    def earlier_complaint(self, nik: str, category: str, since: date) -> UUID | None:
        return None

    def existing(self, complaint_ids: Iterable[UUID]) -> set[UUID]:
        return set()

    def complaints_of(self, niks: Iterable[str], since: date
                      ) -> list[tuple[str, str, date, UUID]]:
        return []


@dataclass(frozen=True)
class Registration:
    complaint_id: UUID
    registration_number: str
    created: bool
    duplicate_of: UUID | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "complaint_id": str(self.complaint_id),
            "registration_number": self.registration_number,
            "duplicate_of": str(self.duplicate_of) if self.duplicate_of else None,
        }


@dataclass(frozen=True)
class BatchItem:
    """One complaint of a backfill: its idempotency key (paper form number or row content),
    the validated command and the day written on the paper form."""

    key: str
    command: dict[str, Any]
    day: date
    line: int = 0


@dataclass
class BatchOutcome:
    registered: list[tuple[BatchItem, Registration]] = field(default_factory=list)
    already: list[BatchItem] = field(default_factory=list)
    batches_split: int = 0


class Intake(ComplaintsApplication):
    def __init__(
        self,
        settings: Settings,
        allocate_sequence: SequenceAllocator,
        *,
        lookups: IntakeLookups | None = None,
        allocate_block: Callable[[str, date, int], int] | None = None,
        allocate_blocks: Callable[[dict[tuple[str, date], int]], dict[tuple[str, date], int]]
        | None = None,
        after_save: Callable[[Sequence[UUID]], None] | None = None,
        duplicate_window_days: int = 30,
    ) -> None:
        super().__init__(settings)
        self.allocate_sequence = allocate_sequence
        self.allocate_block = allocate_block or self._block_one_by_one
        self.allocate_blocks = allocate_blocks or (
            lambda wanted: {k: self.allocate_block(k[0], k[1], n) for k, n in wanted.items()})
        self.lookups: IntakeLookups = lookups or NoLookups()
        # Brings this service's own read models up to date right after an append, so the
        # desk's next read (and the supervisor's live view) sees it without waiting for the
        # broker round trip. Projections are idempotent, so the later nudge applies nothing.
        self.after_save = after_save or (lambda ids: None)
        self.duplicate_window_days = duplicate_window_days

    # -- one complaint -----------------------------------------------------------------
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
        retry loses the append race and reads the winner's registration). An earlier
        complaint of the same NIK and category within the window is linked as
        `duplicate_of`, not refused: the citizen may have a new problem."""
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
        sequence = self.allocate_sequence(kabupaten, today)
        number = RegistrationNumber.build(kabupaten, today, sequence)
        complaint_id = keyed_id or complaint_id_for(f"registration:{number.value}")
        duplicate_of = self._earlier(complaint, today)
        aggregate = self._aggregate(complaint_id, number, complaint, actor, correlation_id,
                                    duplicate_of)
        try:
            self.save_or_conflict(aggregate)
        except ConcurrencyConflict:
            existing = self._existing(complaint_id) if keyed_id else None
            if existing is None:
                raise
            return existing
        self.after_save([complaint_id])
        return Registration(complaint_id, number.value, created=True, duplicate_of=duplicate_of)

    # -- many complaints (backfill) --------------------------------------------------------
    def register_batch(
        self,
        items: Sequence[BatchItem],
        *,
        actor: dict[str, Any],
        correlation_id: str,
        seen: dict[tuple[str, str], list[tuple[date, UUID]]] | None = None,
    ) -> BatchOutcome:
        """Register many complaints in one append (one transaction, one round trip). Items
        whose key was registered before are reported, not appended again. If the batch
        conflicts (someone registered one of its keys meanwhile) the whole append is rolled
        back by the store and the batch is saved one by one instead.

        `seen` carries (nik, category) -> [(day, id)] between batches of one run, so
        duplicates inside the same file are linked too."""
        seen = {} if seen is None else seen
        outcome = BatchOutcome()
        ids = [self.backfill_id(item) for item in items]
        done = self.lookups.existing(ids)
        fresh = [(i, cid) for i, cid in zip(items, ids, strict=True) if cid not in done]
        outcome.already.extend(i for i, cid in zip(items, ids, strict=True) if cid in done)
        # One block of sequence numbers per (kabupaten, day) in the batch.
        wanted: dict[tuple[str, date], int] = {}
        for item, _ in fresh:
            k = (item.command["desk"][:4], item.day)
            wanted[k] = wanted.get(k, 0) + 1
        next_seq = self.allocate_blocks(wanted)
        # Earlier complaints of the batch's citizens: one query, not one per row.
        earlier: dict[tuple[str, str], list[tuple[date, UUID]]] = {}
        if fresh:
            since = min(i.day for i, _ in fresh) - timedelta(days=self.duplicate_window_days)
            for nik, category, day, cid in self.lookups.complaints_of(
                    {i.command["citizen"]["nik"] for i, _ in fresh}, since):
                earlier.setdefault((nik, category), []).append((day, cid))
        built: list[tuple[BatchItem, Registration]] = []
        for item, cid in fresh:
            kab = item.command["desk"][:4]
            seq = next_seq[(kab, item.day)]
            next_seq[(kab, item.day)] = seq + 1
            number = RegistrationNumber.build(kab, item.day, seq)
            key = (item.command["citizen"]["nik"], item.command["category"])
            duplicate_of = self._earlier_in(item.day, earlier.get(key, []) + seen.get(key, []))
            seen.setdefault(key, []).append((item.day, cid))
            built.append((item, Registration(cid, number.value, True, duplicate_of)))
        if not built:
            return outcome

        def aggregate(item: BatchItem, r: Registration) -> Complaint:
            return self._aggregate(r.complaint_id, RegistrationNumber(r.registration_number),
                                   item.command, actor, correlation_id, r.duplicate_of)

        try:
            self.save_or_conflict(*(aggregate(i, r) for i, r in built))
            outcome.registered.extend(built)
        except ConcurrencyConflict:
            # A failed save has already taken the aggregates' pending events: build each
            # one afresh for the one-by-one pass.
            outcome.batches_split += 1
            for item, registration in built:
                try:
                    self.save_or_conflict(aggregate(item, registration))
                    outcome.registered.append((item, registration))
                except ConcurrencyConflict:
                    outcome.already.append(item)
        self.after_save([r.complaint_id for _, r in outcome.registered])
        return outcome

    @staticmethod
    def backfill_id(item: BatchItem) -> UUID:
        return complaint_id_for(f"backfill:{item.command['desk'][:4]}:{item.key}")

    # -- helpers -----------------------------------------------------------------------
    def _earlier(self, complaint: dict[str, Any], day: date) -> UUID | None:
        since = day - timedelta(days=self.duplicate_window_days)
        nik, category = complaint["citizen"]["nik"], complaint["category"]
        return self.lookups.earlier_complaint(nik, category, since)

    def _earlier_in(self, day: date, candidates: list[tuple[date, UUID]]) -> UUID | None:
        """The earliest candidate within the window before (or on) `day`."""
        since = day - timedelta(days=self.duplicate_window_days)
        inside = sorted((d, str(c), c) for d, c in candidates if since <= d <= day)
        return inside[0][2] if inside else None

    @staticmethod
    def _aggregate(
        complaint_id: UUID,
        number: RegistrationNumber,
        complaint: dict[str, Any],
        actor: dict[str, Any],
        correlation_id: str,
        duplicate_of: UUID | None,
    ) -> Complaint:
        return Complaint.register(
            complaint_id=complaint_id,
            registration_number=number.value,
            kabupaten=number.kabupaten_code,
            actor=actor,
            correlation_id=correlation_id,
            duplicate_of=str(duplicate_of) if duplicate_of else None,
            **complaint,
        )

    def _block_one_by_one(self, kabupaten: str, day: date, n: int) -> int:
        first = self.allocate_sequence(kabupaten, day)
        for _ in range(n - 1):
            self.allocate_sequence(kabupaten, day)
        return first

    def _existing(self, complaint_id: UUID) -> Registration | None:
        try:
            found = self.get_complaint(complaint_id)
        except ComplaintNotFound:
            return None
        dup = found.duplicate_of
        return Registration(complaint_id, found.registration_number, created=False,
                            duplicate_of=UUID(dup) if dup else None)
