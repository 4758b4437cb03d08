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
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from shared.complaints.domainmodel import EVENT_CLASSES
from shared.db import Database
from shared.envelope import event_type_name
from shared.eventstore import ComplaintsApplication


class BatchedWrites:
    """A cursor for replays: runs of the same write statement go out as one statement.

    The per-statement client work of pure-Python psycopg dominated a rebuild's profile
    (docs/benchmarks.md). Without `set_wise`, consecutive identical statements go out as
    one executemany; the order of statements never changes.

    With `set_wise` (projections whose rows are per stream, `StreamProjection.per_stream`)
    the replay calls `begin(stream, group)` before each event, grouping a page's events by
    (version, type), so a group holds at most one event per stream. The group's events'
    statements are sent layer by layer (every event's first statement, then every second
    one, …): each stream's own order is kept, and the rows of one layer are independent.
    A run of the same simple INSERT … VALUES, INSERT … SELECT … FROM t WHERE, UPDATE … SET
    … WHERE or DELETE … WHERE then becomes one statement over `unnest` of its parameters'
    arrays; other shapes (or array/JSON parameters) go out as an executemany.

    Statements that return rows (SELECT, WITH, RETURNING) send what is pending first and
    run at once, so a handler that reads sees every earlier write."""

    def __init__(self, cur: Any, *, set_wise: bool = False) -> None:
        self._cur = cur
        self._set_wise = set_wise
        self._sql: str | None = None
        self._rows: list[Any] = []
        self._events: list[list[tuple[str, Any]]] = []
        self._group: Any = None

    def begin(self, stream: Any, group: Any) -> None:
        if group != self._group:
            self.flush()
            self._group = group
        self._events.append([])

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if kwargs or not isinstance(query, str) or _returns_rows(query):
            self.flush()
            return self._cur.execute(query, params, **kwargs)
        if self._set_wise:
            if not self._events:
                self._events.append([])
            self._events[-1].append((query, params))
            return self
        if query != self._sql:
            self.flush()
            self._sql = query
        self._rows.append(params)
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        self.flush()
        return self._cur.executemany(query, params_seq, **kwargs)

    def flush(self) -> None:
        sql, rows = self._sql, self._rows
        self._sql, self._rows = None, []
        if rows:
            assert sql is not None
            self._send(sql, rows)
        events, self._events = self._events, []
        depth = 0
        while True:
            layer = [e[depth] for e in events if len(e) > depth]
            if not layer:
                break
            run_sql, run = layer[0][0], [layer[0][1]]
            for q, params in layer[1:]:
                if q == run_sql:
                    run.append(params)
                else:
                    self._send(run_sql, run)
                    run_sql, run = q, [params]
            self._send(run_sql, run)
            depth += 1

    def _send(self, sql: str, rows: list[Any]) -> None:
        if len(rows) == 1:
            self._cur.execute(sql, rows[0])
            return
        if self._set_wise:
            plan = _set_wise_plan(sql)
            arrays = _arrays(rows) if plan is not None else None
            if arrays is not None:
                statement, columns = plan
                # Arrays go binary (%b): no per-element quoting in the text format. A
                # parameter that is a column's value gets that column's type (a str for
                # a uuid column must not become text); the others their Python type.
                casts = tuple(
                    _column_types(self._cur, c[0]).get(c[1], cast) if c else cast
                    for c, (cast, _) in zip(columns, arrays, strict=True))
                if None not in casts:
                    self._cur.execute(statement(casts), [a for _, a in arrays])
                    return
        self._cur.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._cur, name)


_RETURNS: dict[str, bool] = {}
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def _returns_rows(query: str) -> bool:
    hit = _RETURNS.get(query)
    if hit is None:
        hit = _RETURNS[query] = (query.lstrip()[:6].upper().startswith(("SELECT", "WITH"))
                                 or bool(_RETURNING.search(query)))
    return hit


_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(?P<table>[\w.]+)(?P<alias>\s+AS\s+\w+)?\s*"
                     r"\((?P<cols>[^()]*)\)\s*VALUES\s*\((?P<values>[^()]*)\)(?P<tail>.*)$",
                     re.S | re.I)
_INSERT_SELECT = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[\w.]+)\s*\((?P<cols>[^()]*)\)\s*SELECT\s+(?P<items>.*?)"
    r"\s+FROM\s+(?P<src>[\w.]+)\s+WHERE\s+(?P<where>.*?)(?P<tail>\s+ON\s+CONFLICT\s.*)?$",
    re.S | re.I)
_UPDATE = re.compile(r"^\s*UPDATE\s+(?P<table>[\w.]+)\s+SET\s+(?P<sets>.*?)\s+WHERE\s+"
                     r"(?P<where>.*)$", re.S | re.I)
_DELETE = re.compile(r"^\s*DELETE\s+FROM\s+(?P<table>[\w.]+)\s+WHERE\s+(?P<where>.*)$",
                     re.S | re.I)
_BARE = re.compile(r"(\w+)\s*=\s*%s\s*$")
_PLANS: dict[str, Any] = {}
_TYPES: dict[str, dict[str, str]] = {}
# Python type -> the array type its values are sent as (psycopg sends str as "unknown").
_ARRAY_OF = {str: "text[]", UUID: "uuid[]", datetime: "timestamptz[]", date: "date[]",
             int: "bigint[]", bool: "boolean[]", float: "float8[]", Jsonb: "jsonb[]"}


def _column_types(cur: Any, table: str) -> dict[str, str]:
    types = _TYPES.get(table)
    if types is None:
        with cur.connection.cursor(row_factory=tuple_row) as c:
            c.execute("SELECT attname, format_type(atttypid, atttypmod) || '[]'"
                      " FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                      " AND NOT attisdropped", (table,))
            types = _TYPES[table] = {name: t for name, t in c.fetchall()}
    return types


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses and quotes."""
    out, depth, quoted, current = [], 0, False, ""
    for ch in text:
        quoted ^= ch == "'"
        if not quoted:
            depth += (ch == "(") - (ch == ")")
        if ch == sep and depth == 0 and not quoted:
            out.append(current)
            current = ""
        else:
            current += ch
    return [*out, current]


def _set_wise_plan(sql: str) -> Any:
    """(builder of the set-wise statement from the parameters' casts, the (table, column)
    each parameter is the value of, or None), or None when the statement is not one of the
    simple shapes."""
    if sql in _PLANS:
        return _PLANS[sql]
    plan = None
    n = sql.count("%s")
    if n and "%%" not in sql and "%(" not in sql:
        names = [f"_u._p{i}" for i in range(n)]
        numbered = iter(names)
        filled = "".join(part if k == 0 else next(numbered) + part
                         for k, part in enumerate(sql.split("%s")))

        def unnest(casts: tuple[str, ...]) -> str:
            return ("unnest(" + ", ".join(f"%b::{c}" for c in casts) + ") AS _u("
                    + ", ".join(f"_p{i}" for i in range(n)) + ")")

        def bare(table: str, pieces: list[str]) -> list[tuple[str, str] | None]:
            # "col = %s" names the column; a parameter inside an expression does not.
            out: list[tuple[str, str] | None] = []
            for piece in pieces:
                m = _BARE.search(piece)
                out += [(table, m.group(1)) if m else None] * piece.count("%s")
            return out

        def ands(text: str) -> list[str]:
            return re.split(r"\s+AND\s+", text, flags=re.I)

        m = _INSERT.match(sql)
        if m and "%s" not in m["tail"] and "SELECT" not in sql.upper():
            cols = [c.strip() for c in _split_top(m["cols"])]
            values = [v.strip() for v in _split_top(m["values"])]
            if len(cols) == len(values):
                f = _INSERT.match(filled)
                assert f is not None
                head = (f"INSERT INTO {m['table']}{m['alias'] or ''} ({m['cols']})"
                        f" SELECT {f['values']} FROM ")
                tail = m["tail"]
                plan = (lambda casts: head + unnest(casts) + tail,
                        [(m["table"], c) if v == "%s" else None
                         for c, v in zip(cols, values, strict=True) if "%s" in v])
        elif (m := _INSERT_SELECT.match(sql)) and "%s" not in (m["tail"] or ""):
            cols = [c.strip() for c in _split_top(m["cols"])]
            items = [v.strip() for v in _split_top(m["items"])]
            f = _INSERT_SELECT.match(filled)
            if len(cols) == len(items) and f is not None and "SELECT" not in m["items"].upper():
                tail = m["tail"] or ""
                head = (f"INSERT INTO {m['table']} ({m['cols']}) SELECT {f['items']}"
                        f" FROM {m['src']}, ")
                where = f["where"]
                plan = (lambda casts: head + unnest(casts) + f" WHERE {where}{tail}",
                        [(m["table"], c) if v == "%s" else None
                         for c, v in zip(cols, items, strict=True) if "%s" in v]
                        + bare(m["src"], ands(m["where"])))
        elif (m := _UPDATE.match(sql)) and "SELECT" not in sql.upper():
            f = _UPDATE.match(filled)
            assert f is not None
            table, sets, where = m["table"], f["sets"], f["where"]
            plan = (lambda casts: f"UPDATE {table} SET {sets} FROM {unnest(casts)}"
                    f" WHERE {where}",
                    bare(table, _split_top(m["sets"])) + bare(table, ands(m["where"])))
        elif (m := _DELETE.match(sql)) and "SELECT" not in sql.upper():
            f = _DELETE.match(filled)
            assert f is not None
            table, where = m["table"], f["where"]
            plan = (lambda casts: f"DELETE FROM {table} USING {unnest(casts)} WHERE {where}",
                    bare(table, ands(m["where"])))
        if plan is not None and len(plan[1]) != n:
            plan = None
    _PLANS[sql] = plan
    return plan


def _arrays(rows: list[Any]) -> list[tuple[str | None, list[Any]]] | None:
    """The parameters column-wise with their array types (None for a column of NULLs: only
    a target column's type can type it), or None if a column mixes types or holds
    something other than a plain value."""
    out: list[tuple[str | None, list[Any]]] = []
    for column in zip(*rows, strict=True):
        kinds = {type(v) for v in column if v is not None}
        if len(kinds) > 1:
            return None
        cast = _ARRAY_OF.get(kinds.pop()) if kinds else None
        if cast is None and kinds:
            return None
        out.append((cast, list(column)))
    return out


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
        batched = BatchedWrites(cur, set_wise=self.per_stream)
        for event in events:
            if self.per_stream:
                batched.begin(event.originator_id, (event.originator_version, type(event)))
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
