"""Intake's read models: complaint status (desk + citizen lookup) and operator activity."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from shared.errors import SedulurError
from shared.identity import RegistrationNumber
from shared.personal import is_redacted
from shared.projection import StreamProjection

WIB = ZoneInfo("Asia/Jakarta")


class ComplaintStatus(StreamProjection):
    name = "intake.complaint_status"
    schema = "intake"
    tables = ("intake.complaint_status",)
    per_stream = True
    # Erased: no digits left for the citizen lookup to match.
    personal_columns = {"intake.complaint_status": {"nik_last4": ""}}

    def on_Registered(self, cur: Any, e: Any) -> None:
        cur.execute(
            "INSERT INTO intake.complaint_status (complaint_id, registration_number, kabupaten,"
            " desk, channel, category, nik_last4, stage, registered_by, registered_at,"
            " updated_at, version, priority, confidential, duplicate_of)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,'registered',%s,%s,%s,%s,%s,%s,%s)",
            (e.originator_id, e.registration_number, e.kabupaten, e.desk, e.channel,
             e.category, "" if is_redacted(e.citizen) else e.citizen["nik"][-4:],
             e.actor["user_id"], e.timestamp, e.timestamp,
             e.originator_version, e.priority, e.confidential, e.duplicate_of),
        )

    def _stage(self, cur: Any, e: Any, stage: str, **extra: Any) -> None:
        sets = ", ".join(f"{k} = %s" for k in extra)
        cur.execute(
            f"UPDATE intake.complaint_status SET stage = %s, updated_at = %s, version = %s"
            f"{', ' + sets if sets else ''} WHERE complaint_id = %s",
            (stage, e.timestamp, e.originator_version, *extra.values(), e.originator_id),
        )

    def on_Verified(self, cur: Any, e: Any) -> None:
        self._stage(cur, e, "verified")

    def on_Rejected(self, cur: Any, e: Any) -> None:
        self._stage(cur, e, "rejected", reason_code=e.reason_code)

    def on_ReferredToOPD(self, cur: Any, e: Any) -> None:
        cur.execute(
            "UPDATE intake.complaint_status SET stage = 'referred', updated_at = %s,"
            " version = %s, agencies = array_append(array_remove(agencies, %s), %s)"
            " WHERE complaint_id = %s",
            (e.timestamp, e.originator_version, e.agency, e.agency, e.originator_id),
        )

    def on_Resolved(self, cur: Any, e: Any) -> None:
        self._stage(cur, e, "resolved")


def _registered_on(e: Any) -> Any:
    """The day in the registration number (the paper form's day for a backfill); a stream
    whose number is not one of ours (imported, or written by a test) uses the event's day.
    Both come from the event, so replay gives the same row."""
    try:
        return RegistrationNumber.parse(e.registration_number).day
    except SedulurError:
        return e.timestamp.astimezone(WIB).date()


class CitizenComplaints(StreamProjection):
    """NIK + category + day per complaint: the probable-duplicate lookup."""

    name = "intake.citizen_complaints"
    schema = "intake"
    tables = ("intake.citizen_complaints",)
    per_stream = True

    def erase(self, cur: Any, complaint_ids: list[Any]) -> None:
        cur.execute("DELETE FROM intake.citizen_complaints WHERE complaint_id = ANY(%s)",
                    (complaint_ids,))

    def on_Registered(self, cur: Any, e: Any) -> None:
        if is_redacted(e.citizen):
            return  # an erased person is nobody's earlier complaint
        cur.execute(
            "INSERT INTO intake.citizen_complaints (complaint_id, nik, category,"
            " registration_number, registered_on) VALUES (%s,%s,%s,%s,%s)"
            " ON CONFLICT (complaint_id) DO NOTHING",
            (e.originator_id, e.citizen["nik"], e.category, e.registration_number,
             _registered_on(e)),
        )


class OperatorActivity(StreamProjection):
    """Per operator and day: last action and complaints registered. Fed by events, so a
    rebuild gives the same rows as live (times come from the events, not the clock). The
    operator's presence row (login / heartbeat, kept by the desk endpoints) also learns
    the last action, so idle time counts from the last thing the operator did."""

    name = "intake.operator_activity"
    schema = "intake"
    tables = ("intake.operator_activity",)

    def apply(self, cur: Any, event: Any) -> None:
        actor = getattr(event, "actor", None) or {}
        if actor.get("role") != "operator":
            return
        registered = type(event).__name__ == "Registered"
        cur.execute(
            "INSERT INTO intake.operator_activity AS a (operator_id, day, desk, complaints,"
            " last_action, last_action_at) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (operator_id, day) DO UPDATE SET"
            " complaints = a.complaints + EXCLUDED.complaints,"
            " desk = coalesce(EXCLUDED.desk, a.desk),"
            " last_action = CASE WHEN EXCLUDED.last_action_at >= a.last_action_at"
            "   THEN EXCLUDED.last_action ELSE a.last_action END,"
            " last_action_at = greatest(a.last_action_at, EXCLUDED.last_action_at)",
            (actor["user_id"], event.timestamp.astimezone(WIB).date(), actor.get("desk"),
             1 if registered else 0, type(event).__name__, event.timestamp),
        )
        cur.execute(
            "UPDATE intake.operator_presence SET last_action = %s, last_action_at = %s"
            " WHERE operator_id = %s AND (last_action_at IS NULL OR last_action_at <= %s)",
            (type(event).__name__, event.timestamp, actor["user_id"], event.timestamp),
        )


def catch_up_together(projections: tuple[StreamProjection, ...], complaint_id: Any) -> int:
    """Catch up several projections of one schema on one stream in one transaction: the
    stream is read once and the tracking rows move together, instead of a transaction and
    a stream read per projection (what a registration request pays for read-your-writes).
    Same guarantee as StreamProjection.catch_up: each projection applies each event once."""
    first = projections[0]
    tracking = f"{first.schema}.projection_tracking"
    names = [p.name for p in projections]
    with first.db.transaction() as cur:
        cur.execute(
            f"INSERT INTO {tracking} (projection, complaint_id, version)"
            " SELECT unnest(%s::text[]), %s, 0 ON CONFLICT DO NOTHING",
            (names, complaint_id),
        )
        cur.execute(
            f"SELECT projection, version FROM {tracking} WHERE projection = ANY(%s)"
            " AND complaint_id = %s ORDER BY projection FOR UPDATE",
            (names, complaint_id),
        )
        applied = {r["projection"]: r["version"] for r in cur.fetchall()}
        events = first.app.stored_events(complaint_id, gt=min(applied.values()))
        if not events:
            return 0
        for projection in projections:
            for event in events:
                if event.originator_version > applied[projection.name]:
                    projection.apply(cur, event)
        cur.execute(
            f"UPDATE {tracking} SET version = %s WHERE projection = ANY(%s)"
            " AND complaint_id = %s",
            (events[-1].originator_version, names, complaint_id),
        )
        return len(events)
