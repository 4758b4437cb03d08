"""SQL for routing: stored routing-table versions and the agency work queue query."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, cast

from psycopg.types.json import Jsonb

from shared.db import Database
from shared.errors import ConcurrencyConflict, InvalidInput


class TableStore:
    """Versions of each kabupaten's routing table (routing.tables)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def latest(self, kabupaten: str) -> tuple[int, dict[str, Any]] | None:
        row = self.db.fetchone(
            "SELECT version, document FROM routing.tables WHERE kabupaten = %s"
            " ORDER BY version DESC LIMIT 1", (kabupaten,))
        return (row["version"], row["document"]) if row else None

    def version(self, kabupaten: str, version: int) -> dict[str, Any] | None:
        row = self.db.fetchone(
            "SELECT document FROM routing.tables WHERE kabupaten = %s AND version = %s",
            (kabupaten, version))
        return row["document"] if row else None

    def add(self, kabupaten: str, document: dict[str, Any], created_by: str,
            expected_version: int | None = None) -> int:
        """Store the next version; with `expected_version`, refuse if someone stored another
        version since (the admin edited a stale copy)."""
        import psycopg

        with self.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('routing.tables:' || %s))",
                        (kabupaten,))
            cur.execute("SELECT coalesce(max(version), 0) AS v FROM routing.tables"
                        " WHERE kabupaten = %s", (kabupaten,))
            row = cast("dict[str, Any] | None", cur.fetchone())  # the pool's dict_row
            assert row is not None
            current = int(row["v"])
            if expected_version is not None and expected_version != current:
                raise ConcurrencyConflict(
                    f"the routing table of {kabupaten} is at version {current}, not"
                    f" {expected_version}; reload it and apply the change again",
                    field="expected_version")
            try:
                cur.execute(
                    "INSERT INTO routing.tables (kabupaten, version, document, created_by)"
                    " VALUES (%s, %s, %s, %s)",
                    (kabupaten, current + 1, Jsonb(document), created_by))
            except psycopg.errors.UniqueViolation:
                raise ConcurrencyConflict("another version was stored at the same time") from None
            return current + 1


def encode_cursor(referred_at: datetime, complaint_id: Any, agency: str) -> str:
    raw = json.dumps([referred_at.isoformat(), str(complaint_id), agency])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        referred_at, complaint_id, agency = json.loads(raw)
        datetime.fromisoformat(referred_at)
        return referred_at, complaint_id, agency
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"cursor is not one this service issued ({exc})", field="cursor") \
            from None


class QueueReader:
    """The agency work queue with age and due time (from the SLA service's deadline for the
    complaint's resolution stage, when that table exists), filtered and paged by a keyset
    cursor so pages stay stable while rows are added."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._has_deadlines: bool | None = None

    def has_deadlines(self) -> bool:
        if self._has_deadlines is None:
            row = self.db.fetchone("SELECT to_regclass('sla.deadlines') IS NOT NULL AS present")
            self._has_deadlines = bool(row and row["present"])
        return self._has_deadlines

    def page(self, *, agency: str | None, kabupaten: str | None, status: str | None,
             category: str | None, overdue: bool | None, limit: int,
             cursor: str | None) -> dict[str, Any]:
        # The clock the agency is on: resolution once accepted, acceptance before that.
        due = ("(SELECT d.due_at FROM sla.deadlines d WHERE d.complaint_id = q.complaint_id"
               " AND d.stage IN ('resolution', 'acceptance')"
               " ORDER BY d.stage = 'resolution' DESC LIMIT 1)") if self.has_deadlines() \
            else "NULL::timestamptz"
        where = ["TRUE"]
        params: list[Any] = []
        for column, value in (("agency", agency), ("kabupaten", kabupaten), ("status", status),
                              ("category", category)):
            if value is not None:
                where.append(f"q.{column} = %s")
                params.append(value)
        is_overdue = f"({due} < now() AND q.status IN ('referred', 'accepted')) IS TRUE"
        if overdue is not None:
            where.append(is_overdue if overdue else f"NOT {is_overdue}")
        if cursor:
            where.append("(q.referred_at, q.complaint_id, q.agency)"
                         " > (%s::timestamptz, %s::uuid, %s)")
            params.extend(decode_cursor(cursor))
        rows = self.db.fetchall(
            f"SELECT q.*, {due} AS due_at, {is_overdue} AS overdue,"
            " extract(epoch FROM now() - q.referred_at)::bigint AS age_seconds"
            f" FROM routing.agency_queue q WHERE {' AND '.join(where)}"
            " ORDER BY q.referred_at, q.complaint_id, q.agency LIMIT %s",
            (*params, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (encode_cursor(rows[-1]["referred_at"], rows[-1]["complaint_id"],
                                     rows[-1]["agency"]) if more else None)
        return {"referrals": rows, "next_cursor": next_cursor}

