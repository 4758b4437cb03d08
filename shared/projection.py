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
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row

from shared.complaints.domainmodel import EVENT_CLASSES
from shared.db import Database
from shared.envelope import event_type_name
from shared.eventstore import ComplaintsApplication


class BatchedWrites:
    """A cursor for replays: a run of the same write statement goes out as one executemany
    (one flush and one parameter-type lookup per run instead of per row — the per-statement
    client work dominated a rebuild's profile). Statements that return rows (SELECT, WITH,
    RETURNING) flush what is pending and run at once, so a handler that reads sees every
    earlier write; the order of statements is never changed."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur
        self._sql: str | None = None
        self._rows: list[Any] = []

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if kwargs or not isinstance(query, str) or _returns_rows(query):
            self.flush()
            return self._cur.execute(query, params, **kwargs)
        if query != self._sql:
            self.flush()
            self._sql = query
        self._rows.append(params)
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        self.flush()
        return self._cur.executemany(query, params_seq, **kwargs)

    def flush(self) -> None:
        if self._rows:
            assert self._sql is not None
            if len(self._rows) == 1:
                self._cur.execute(self._sql, self._rows[0])
            else:
                self._cur.executemany(self._sql, self._rows)
        self._sql, self._rows = None, []

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._cur, name)


_RETURNS: dict[str, bool] = {}


def _returns_rows(query: str) -> bool:
    hit = _RETURNS.get(query)
    if hit is None:
        head = query.lstrip()[:6].upper()
        hit = _RETURNS[query] = head in ("SELECT", "WITH  ") or head.startswith("WITH") \
            or " RETURNING " in query.upper()
    return hit


class StreamProjection:
    name: str = ""
    schema: str = ""
    tables: tuple[str, ...] = ()
    # The event types `apply` acts on; None = every type. Derived from the `on_<Event>`
    # handlers unless the class overrides `apply` (then it says so itself). A replay reads
    # only the position of the other events, not their state: no decoding, no decrypting.
    events: ClassVar[frozenset[str] | None] = None
    # True when a stream's rows depend on that stream's events alone (rows keyed by the
    # complaint): a replay may then apply a page grouped by (version, type) instead of log
    # order, which turns it into long runs of the same statement. Each stream's own order
    # is kept (its versions ascend).
    per_stream: ClassVar[bool] = False

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
    @classmethod
    def handled_events(cls) -> frozenset[str] | None:
        if cls.events is not None:
            return cls.events
        if cls.apply is not StreamProjection.apply:
            return None
        return frozenset(n[3:] for n in dir(cls) if n.startswith("on_") and n[3:] in EVENT_CLASSES)

    def replay_page(self, cur: Any, position: int, limit: int) -> tuple[int, int]:
        """Apply the next page of the log after `position` through `cur` (the caller's
        transaction). Returns (new position, events applied); the position reaches the
        log's end (as of this page) once nothing this projection handles is left, and an
        unchanged position means done. Tracking versions are not collected here: see
        `track_streams`, one statement on the server instead of a row per event."""
        handled = self.handled_events()
        topics = None if handled is None else sorted(
            get_topic(EVENT_CLASSES[n]) for n in handled)
        conn = cur.connection
        # Binary: bytea arrives as bytes, not hex text to decode; only the events this
        # projection handles are read at all (each row costs pure-Python psycopg work).
        with conn.cursor(binary=True, row_factory=tuple_row) as read:
            read.execute("SELECT max(notification_id) FROM eventstore.sedulur_events")
            top = (read.fetchone() or (None,))[0] or 0
            if top <= position:
                return position, 0
            read.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state"
                " FROM eventstore.sedulur_events WHERE notification_id > %s"
                " AND notification_id <= %s"
                + ("" if topics is None else " AND topic = ANY(%s::text[])")
                + " ORDER BY notification_id LIMIT %s",
                (position, top, *(() if topics is None else (topics,)), limit))
            rows = read.fetchall()
        if len(rows) < limit:
            # Commit order = id order (the insert function locks the table), so nothing at
            # or below `top` can still appear: the log is done up to `top`.
            new_position = top
        else:
            new_position = rows[-1][0]
        events = self.app.mapper.to_domain_events([
            StoredEvent(originator_id=oid, originator_version=version, topic=topic,
                        state=state) for _, oid, version, topic, state in rows])
        if self.per_stream:
            events.sort(key=lambda e: (e.originator_version, type(e).__name__))
        batched = BatchedWrites(cur)
        for event in events:
            self.apply(batched, event)
        batched.flush()
        return new_position, len(rows)

    def track_streams(self, cur: Any, position: int, tracking: str | None = None) -> int:
        """Set every stream's tracking row to its last version up to `position` (what a
        replay to `position` has applied); returns the number of streams."""
        tracking = tracking or f"{self.schema}.projection_tracking"
        cur.execute(f"DELETE FROM {tracking} WHERE projection = %s", (self.name,))
        cur.execute(
            f"INSERT INTO {tracking} (projection, complaint_id, version)"
            " SELECT %s, originator_id, max(originator_version)"
            " FROM eventstore.sedulur_events WHERE notification_id <= %s GROUP BY originator_id",
            (self.name, position))
        return cur.rowcount

    def rebuild(self, batch: int = 5000, progress: Callable[[int], None] | None = None) -> int:
        """Drop this projection's rows and replay the whole log in one transaction, so
        readers see the old rows until the new ones are complete. Returns the number of
        log events replayed over."""
        count = 0
        with self.db.transaction() as cur, cur.connection.pipeline():
            # Pipeline mode: handlers' INSERTs / UPDATEs go out without waiting for each
            # answer; a round trip per event otherwise caps a rebuild at ~4k events/s
            # (docs/benchmarks.md). A handler that fetches still gets its rows (psycopg
            # syncs then), and any error still aborts the whole transaction.
            for table in self.tables:
                cur.execute(f"DELETE FROM {table}")
            position = 0
            while True:
                reached, n = self.replay_page(cur, position, batch)
                if reached == position:
                    break
                position, count = reached, count + n
                if progress:
                    progress(count)
            self.track_streams(cur, position)
            cur.execute("SELECT count(*) AS n FROM eventstore.sedulur_events"
                        " WHERE notification_id <= %s", (position,))
            return cur.fetchone()["n"]

    def snapshot_rows(self) -> dict[str, list[dict[str, Any]]]:
        """All rows of this projection's tables, ordered, for rebuild == live checks."""
        out: dict[str, list[dict[str, Any]]] = {}
        for table in self.tables:
            out[table] = self.db.fetchall(f"SELECT * FROM {table} ORDER BY 1, 2")
        return out
