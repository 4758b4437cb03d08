"""Read models built from complaint streams, with exactly-once effect.

A message from the broker is only a nudge: "stream X has news". The projection locks its
tracking row for X, reads from the event store every event of X after the version it has
applied, applies them in order and moves the tracking row, all in one transaction. So a
redelivered or duplicated message applies nothing twice, an out-of-order one cannot skip
an event, and a lost one is healed by the stream's next event. A rebuild replays the
notification log through the same `apply` and must equal the live tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

from shared.db import Database
from shared.envelope import event_type_name
from shared.eventstore import ComplaintsApplication


class StreamProjection:
    name: str = ""
    schema: str = ""
    tables: tuple[str, ...] = ()

    def __init__(self, app: ComplaintsApplication, db: Database) -> None:
        self.app = app
        self.db = db

    @property
    def gate_key(self) -> int:
        """Advisory-lock key of this projection: shared by catch-ups, exclusive for a swap."""
        digest = hashlib.sha256(f"sedulur.projection:{self.name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    # Columns holding personal data, table -> {column: what an event read after erasure
    # writes there (None: NULL)}. `erase` blanks them for an erased person's complaints, so
    # the live rows equal what a rebuild from the redacted events gives.
    personal_columns: dict[str, dict[str, Any]] = {}

    # -- to implement ----------------------------------------------------------------
    def apply(self, cur: Any, event: Any) -> None:
        handler = getattr(self, "on_" + event_type_name(event), None)
        if handler is not None:
            handler(cur, event)

    def erase(self, cur: Any, complaint_ids: list[UUID]) -> None:
        """Forget the personal data of these complaints (`sedulur audit erase`)."""
        for table, columns in self.personal_columns.items():
            sets = ", ".join(
                f"{c} = NULL" if v is None else f"{c} = CASE WHEN {c} IS NULL THEN NULL ELSE %s END"
                for c, v in columns.items())
            cur.execute(f"UPDATE {table} SET {sets} WHERE complaint_id = ANY(%s)",
                        (*[v for v in columns.values() if v is not None], complaint_ids))

    # -- live --------------------------------------------------------------------------
    def catch_up(self, complaint_id: UUID) -> int:
        """Apply whatever of this stream is not applied yet; returns events applied."""
        tracking = f"{self.schema}.projection_tracking"
        # Three round trips, not six (a profile of intake under load spent ~60 % of its time
        # in catch-ups, docs/benchmarks.md): one upsert creates or locks the tracking row
        # and returns its version (ON CONFLICT DO UPDATE takes the row lock FOR UPDATE
        # took), the events are read, and pipeline mode sends the handlers' writes, the
        # new version and COMMIT without waiting for each answer. The shared advisory gate
        # in the same statement lets an online rebuild (shared/projection_rebuild.py) wait
        # for in-flight catch-ups and hold new ones off while it swaps tables.
        with self.db.connection() as conn, conn.pipeline(), conn.transaction(), \
                conn.cursor() as cur:
            cur.execute(
                "WITH gate AS (SELECT pg_advisory_xact_lock_shared(%s))"
                f" INSERT INTO {tracking} AS t (projection, complaint_id, version)"
                " SELECT %s, %s, 0 FROM gate ON CONFLICT (projection, complaint_id)"
                " DO UPDATE SET version = t.version RETURNING t.version",
                (self.gate_key, self.name, complaint_id),
            )
            applied = cur.fetchone()["version"]
            events = self.app.stored_events(complaint_id, gt=applied)
            for event in events:
                self.apply(cur, event)
            if events:
                cur.execute(
                    f"UPDATE {tracking} SET version = %s WHERE projection = %s"
                    " AND complaint_id = %s",
                    (events[-1].originator_version, self.name, complaint_id),
                )
            return len(events)

    # -- replay ------------------------------------------------------------------------
    def rebuild(self, batch: int = 2000, progress: Callable[[int], None] | None = None) -> int:
        """Drop this projection's rows and replay the whole log in one transaction, so
        readers see the old rows until the new ones are complete."""
        tracking = f"{self.schema}.projection_tracking"
        count = 0
        with self.db.transaction() as cur, cur.connection.pipeline():
            # Pipeline mode: handlers' INSERTs / UPDATEs go out without waiting for each
            # answer; a round trip per event otherwise caps a rebuild at ~4k events/s
            # (docs/benchmarks.md). A handler that fetches still gets its rows (psycopg
            # syncs then), and any error still aborts the whole transaction.
            for table in self.tables:
                cur.execute(f"DELETE FROM {table}")
            cur.execute(f"DELETE FROM {tracking} WHERE projection = %s", (self.name,))
            versions: dict[UUID, int] = {}
            for events in self._log_batches(batch):
                for event in events:
                    self.apply(cur, event)
                    versions[event.originator_id] = event.originator_version
                count += len(events)
                if progress:
                    progress(count)
            if versions:
                cur.executemany(
                    f"INSERT INTO {tracking} (projection, complaint_id, version)"
                    " VALUES (%s, %s, %s)",
                    [(self.name, cid, v) for cid, v in versions.items()],
                )
        return count

    def _log_batches(self, batch: int) -> Iterable[list[Any]]:
        position = 0
        while True:
            notifications = self.app.recorder.select_notifications(
                start=position, limit=batch, inclusive_of_start=False
            )
            if not notifications:
                return
            yield self.app.mapper.to_domain_events(notifications)
            position = notifications[-1].id

    def snapshot_rows(self) -> dict[str, list[dict[str, Any]]]:
        """All rows of this projection's tables, ordered, for rebuild == live checks."""
        out: dict[str, list[dict[str, Any]]] = {}
        for table in self.tables:
            out[table] = self.db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")
        return out
