"""SLA use cases: pause / resume a complaint's clocks, and the timer's breach + escalation.

No nameko, eventlet, kombu or psycopg here: SQL arrives through the `DeadlineStore`-shaped
object given to the Watchdog (services/sla/adapters.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from shared.auth import Action, authorize, complaint_resource
from shared.config import Settings
from shared.errors import ConcurrencyConflict
from shared.eventstore import ComplaintsApplication

from .domainmodel import DEFAULT_ESCALATION_LEVELS

log = logging.getLogger("sedulur.sla")

APPENDED = "appended"  # SlaBreached and/or Escalated recorded now
ALREADY = "already"  # the record already had them: only the row's flag was missing
STALE = "stale"  # the complaint moved on since the projection looked; next tick decides
CONFLICT = "conflict"  # someone appended at the same moment; next tick decides
FAILED = "failed"  # an error (logged); the row stays unmarked and is retried next tick
CLOSED = "closed"  # the complaint is closed: nothing to breach
PAUSED = "paused"  # the clock is paused: nothing is due


class Sla(ComplaintsApplication):
    def __init__(self, settings: Settings | None = None, *,
                 escalation_levels: tuple[str, ...] = DEFAULT_ESCALATION_LEVELS) -> None:
        super().__init__(settings)
        self.escalation_levels = escalation_levels

    def pause(self, complaint_id: UUID, *, reason: str, actor: dict[str, Any],
              correlation_id: str) -> int:
        complaint = self.get_complaint(complaint_id)
        authorize(actor, Action.SLA_ACT, complaint_resource(complaint))
        complaint.pause_clock(reason=reason, actor=actor, correlation_id=correlation_id)
        self.save_or_conflict(complaint)
        return int(complaint.version)

    def resume(self, complaint_id: UUID, *, actor: dict[str, Any], correlation_id: str) -> int:
        complaint = self.get_complaint(complaint_id)
        authorize(actor, Action.SLA_ACT, complaint_resource(complaint))
        complaint.resume_clock(actor=actor, correlation_id=correlation_id)
        self.save_or_conflict(complaint)
        return int(complaint.version)

    def breach(self, complaint_id: UUID, *, stage: str, step: int, policy: str, due_at: datetime,
               expected_version: int, actor: dict[str, Any], correlation_id: str) -> str:
        """Take step ``step`` of an overdue stage: step 0 records SlaBreached and escalates to
        the first level, step k escalates to level k. Both events of a step are saved
        together. The aggregate guards make a repeat a no-op (ALREADY); a complaint that
        changed since the projection computed the row is left for the next tick (STALE), so
        a clock stopped by an event the projection had not seen yet never breaches."""
        complaint = self.get_complaint(complaint_id)
        if complaint.version != expected_version:
            return STALE
        if not complaint.is_open:
            return CLOSED
        if complaint.paused:
            return PAUSED
        if step == 0 and stage not in complaint.breached_stages:
            complaint.record_breach(stage=stage, policy=policy, due_at=due_at.isoformat(),
                                    actor=actor, correlation_id=correlation_id)
        if step < len(self.escalation_levels):
            level = self.escalation_levels[step]
            if not any(e["stage"] == stage and e["level"] == level
                       for e in complaint.escalations):
                complaint.escalate(stage=stage, level=level, actor=actor,
                                   correlation_id=correlation_id)
        if not complaint.pending_events:
            return ALREADY
        self.save_or_conflict(complaint)
        return APPENDED


class ClaimedRow(Protocol):
    complaint_id: UUID
    stage: str
    policy: str
    due_at: datetime
    step: int
    projected_version: int

    def mark(self, now: datetime) -> None: ...


class OverdueStore(Protocol):
    def overdue(self, now: datetime, steps: int, limit: int) -> list[tuple[UUID, str]]: ...

    def claim(self, complaint_id: UUID, stage: str, now: datetime,
              steps: int) -> AbstractContextManager[ClaimedRow | None]: ...

    def flag_at_risk(self, now: datetime) -> list[str]: ...


@dataclass
class TickReport:
    at_risk: list[str] = field(default_factory=list)
    outcomes: list[tuple[UUID, str, int, str]] = field(default_factory=list)

    def __iter__(self) -> Iterator[tuple[UUID, str, int, str]]:
        return iter(self.outcomes)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Watchdog:
    """One pass of the durable timer. Safe on any number of instances at once:

    1. list overdue rows (no lock); bring the complaint's projection up to date from the
       event store, so a clock stopped by an event not yet delivered is closed first;
    2. claim the row with FOR UPDATE SKIP LOCKED, re-checking it is still overdue;
    3. append through the aggregate (guards: once per stage, once per stage+level);
    4. mark the row in the claim's transaction, after the append succeeded.

    A crash between 3 and 4 leaves the row unmarked: the next pass catches the projection
    up (which applies the SlaBreached/Escalated record to the row) or, failing that, finds
    the aggregate already breached, appends nothing and marks.
    """

    def __init__(self, sla: Sla, store: OverdueStore, catch_up: Callable[[UUID], Any], *,
                 actor: dict[str, Any], clock: Callable[[], datetime] = utcnow,
                 batch: int = 200) -> None:
        self.sla = sla
        self.store = store
        self.catch_up = catch_up
        self.actor = actor
        self.clock = clock
        self.batch = batch

    @property
    def steps(self) -> int:
        return max(1, len(self.sla.escalation_levels))

    def tick(self) -> TickReport:
        now = self.clock()
        report = TickReport(at_risk=self.store.flag_at_risk(now))
        caught_up: set[UUID] = set()
        for complaint_id, stage in self.store.overdue(now, self.steps, self.batch):
            try:
                done = self._one(complaint_id, stage, now, caught_up)
            except Exception:
                # One bad row (a stream the projection cannot apply, a lost connection while
                # marking) must not stop the timer for every other complaint: logged,
                # counted, retried on the next tick; the claim's transaction rolled back.
                log.exception("sla.step_failed complaint_id=%s stage=%s", complaint_id, stage)
                done = (-1, FAILED)
            if done is not None:
                report.outcomes.append((complaint_id, stage, *done))
        return report

    def _one(self, complaint_id: UUID, stage: str, now: datetime,
             caught_up: set[UUID]) -> tuple[int, str] | None:
        if complaint_id not in caught_up:
            self.catch_up(complaint_id)
            caught_up.add(complaint_id)
        with self.store.claim(complaint_id, stage, now, self.steps) as row:
            if row is None:
                return None  # closed by the catch-up, already done, or another instance has it
            outcome = self._step(row)
            if outcome in (APPENDED, ALREADY):
                row.mark(now)
            return row.step, outcome

    def _step(self, row: ClaimedRow) -> str:
        try:
            return self.sla.breach(
                row.complaint_id, stage=row.stage, step=row.step, policy=row.policy,
                due_at=row.due_at, expected_version=row.projected_version, actor=self.actor,
                correlation_id=f"sla:{row.complaint_id}:{row.stage}:{row.step}")
        except ConcurrencyConflict:
            return CONFLICT
