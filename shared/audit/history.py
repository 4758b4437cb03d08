"""What happened to a complaint, who did it and what the system knew: the auditor's view.

A complaint is named by its id or its registration number. Its history is every stored
event in order (upcast to the current shape) with time, actor, correlation id, the decision's
reasons and the event's chain hash. A complaint registered again after a rejection links the
earlier one (`duplicate_of`); the history follows that link so the whole story reads in order.
Point-in-time state is the aggregate replayed up to a version, or up to the last event at or
before a timestamp.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from shared.complaints.domainmodel import complaint_id_for
from shared.db import Database
from shared.envelope import event_type_name
from shared.errors import ComplaintNotFound, InvalidInput
from shared.eventstore import ComplaintsApplication
from shared.personal import is_redacted

# Fields every event has; everything else an event carries is the decision's content.
_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "actor", "correlation_id",
                "originator_topic"}
# Personal data stays out of the audit export: the auditor sees that a citizen was recorded
# and the NIK's last four digits, the full record stays in the event (see docs/audit.md).
_PERSONAL_FIELDS = {"citizen", "description"}

CSV_COLUMNS = ["complaint_id", "registration_number", "version", "position", "time", "event",
               "user_id", "role", "desk", "agency", "correlation_id", "details", "hash"]


class AuditTrail:
    def __init__(self, app: ComplaintsApplication, db: Database) -> None:
        self.app = app
        self.db = db

    # -- names ---------------------------------------------------------------------------
    def resolve(self, reference: str) -> UUID:
        """A complaint id or a registration number -> the complaint id."""
        reference = reference.strip()
        try:
            candidate = UUID(reference)
        except ValueError:
            candidate = None
        if candidate is not None:
            if self._exists(candidate):
                return candidate
            raise ComplaintNotFound(f"no complaint {reference}", field="complaint")
        derived = complaint_id_for(f"registration:{reference}")
        if self._exists(derived):
            return derived
        # Registered with an idempotency key: the id does not derive from the number.
        row = self.db.fetchone(
            "SELECT originator_id FROM eventstore.sedulur_events WHERE originator_version = 1"
            " AND convert_from(state, 'UTF8')::jsonb ->> 'registration_number' = %s LIMIT 1",
            (reference,),
        )
        if row is None:
            raise ComplaintNotFound(f"no complaint with registration number {reference}",
                                    field="complaint")
        return UUID(str(row["originator_id"]))

    def _exists(self, complaint_id: UUID) -> bool:
        return self.db.fetchone(
            "SELECT 1 FROM eventstore.sedulur_events WHERE originator_id = %s LIMIT 1",
            (complaint_id,),
        ) is not None

    # -- history -------------------------------------------------------------------------
    def history(self, reference: str, *, follow_links: bool = True) -> list[dict[str, Any]]:
        complaint_id = self.resolve(reference)
        chain: list[UUID] = [complaint_id]
        if follow_links:
            seen = {complaint_id}
            while True:
                earlier = self._duplicate_of(chain[0])
                if earlier is None or earlier in seen:
                    break
                seen.add(earlier)
                chain.insert(0, earlier)
        entries: list[dict[str, Any]] = []
        for cid in chain:
            entries.extend(self._stream_history(cid))
        return entries

    def _duplicate_of(self, complaint_id: UUID) -> UUID | None:
        first = next(iter(self.app.events.get(complaint_id, lte=1)), None)
        link = getattr(first, "duplicate_of", None)
        if not link:
            return None
        try:
            return self.resolve(str(link))
        except ComplaintNotFound:
            return None

    def _stream_history(self, complaint_id: UUID) -> list[dict[str, Any]]:
        rows = self.db.fetchall(
            "SELECT e.originator_version AS version, e.notification_id AS position, h.hash"
            " FROM eventstore.sedulur_events e LEFT JOIN audit.event_hashes h"
            " ON h.originator_id = e.originator_id AND h.originator_version = e.originator_version"
            " WHERE e.originator_id = %s",
            (complaint_id,),
        )
        stored = {r["version"]: r for r in rows}
        out: list[dict[str, Any]] = []
        registration_number = None
        event: Any
        for event in self.app.events.get(complaint_id):
            state = dict(event.__dict__)
            registration_number = state.get("registration_number", registration_number)
            actor = state.get("actor") or {}
            details = {k: v for k, v in state.items()
                       if k not in _BASE_FIELDS and k not in _PERSONAL_FIELDS}
            if is_redacted(state.get("citizen")):
                details["personal_data"] = "erased"
            elif isinstance(state.get("citizen"), dict) and state["citizen"].get("nik"):
                details["citizen_nik_last4"] = str(state["citizen"]["nik"])[-4:]
            row = stored.get(event.originator_version, {})
            h = row.get("hash")
            out.append({
                "complaint_id": str(complaint_id),
                "registration_number": registration_number,
                "version": event.originator_version,
                "position": row.get("position"),
                "time": event.timestamp.isoformat(),
                "event": event_type_name(event),
                "actor": {"user_id": actor.get("user_id"), "role": actor.get("role"),
                          "desk": actor.get("desk"), "agency": actor.get("agency")},
                "correlation_id": state.get("correlation_id"),
                "details": _plain(details),
                "hash": bytes(h).hex() if h is not None else None,
            })
        return out

    # -- point in time -------------------------------------------------------------------
    def state_at(self, reference: str, *, version: int | None = None,
                 at: datetime | None = None) -> dict[str, Any]:
        """The complaint as it was at `version`, or after the last event at or before `at`."""
        complaint_id = self.resolve(reference)
        events: list[Any] = list(self.app.events.get(complaint_id))
        latest = events[-1].originator_version
        if at is not None:
            if at.tzinfo is None:
                raise InvalidInput("the timestamp needs a time zone (e.g. +07:00)", field="at")
            before = [e.originator_version for e in events if e.timestamp <= at]
            if not before:
                raise ComplaintNotFound(
                    f"complaint {complaint_id} was not registered yet at {at.isoformat()}",
                    field="at")
            version = before[-1]
        if version is not None and not 1 <= version <= latest:
            raise InvalidInput(f"version must be between 1 and {latest}", field="version")
        complaint = self.app.get_complaint(complaint_id, version=version)
        return aggregate_state(complaint)


def aggregate_state(complaint: Any) -> dict[str, Any]:
    state = {k: v for k, v in vars(complaint).items() if not k.startswith("_")}
    citizen = state.pop("citizen", None)
    state.pop("description", None)
    if is_redacted(citizen):
        state["personal_data"] = "erased"
    elif isinstance(citizen, dict) and citizen.get("nik"):
        state["citizen_nik_last4"] = str(citizen["nik"])[-4:]
    return {
        "complaint_id": str(complaint.id),
        "version": complaint.version,
        "as_of": complaint.modified_on.isoformat(),
        **_plain(state),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (UUID, datetime)):
        return str(value)
    return value


def history_csv(entries: list[dict[str, Any]]) -> str:
    import json

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for e in entries:
        writer.writerow({
            **{k: e[k] for k in CSV_COLUMNS if k in e and k not in ("details",)},
            **e["actor"],
            "details": json.dumps(e["details"], ensure_ascii=False, sort_keys=True),
        })
    return buf.getvalue()
