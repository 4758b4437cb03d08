"""Rebuild a projection from the log while live traffic continues, then switch atomically;
check a rebuilt copy against the live tables row by row.

How (design.md §6): the projection replays the notification log into shadow tables
(`<table>__rebuild`, created `LIKE <table> INCLUDING ALL`) without touching the live ones, so
readers and live catch-ups go on. The projection's SQL names its own tables; during the
replay its cursor is wrapped so those names point at the shadows (a projection reading only
its own tables — which each one does — needs no change). Then, in one transaction:

1. take the projection's advisory gate exclusively: waits for catch-ups in flight, holds new
   ones (StreamProjection.catch_up takes the same gate shared),
2. lock the live tables ACCESS EXCLUSIVE (readers wait for the switch, a few ms),
3. apply to the shadows the events appended since the replay started, up to the last
   committed notification (commit order = id order, so that is a gap-free prefix),
4. drop the live tables, rename the shadows (and their indexes) into place, replace the
   projection's tracking rows with the replay's versions, commit.

A live catch-up that waited on the gate then finds its stream's tracking row at the version
the replay reached and applies only what came after: nothing twice, nothing skipped.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from shared.config import SERVICES
from shared.db import Database
from shared.errors import UnknownProjection
from shared.eventstore import ComplaintsApplication
from shared.projection import StreamProjection

SHADOW_SUFFIX = "__rebuild"


# -- registry --------------------------------------------------------------------------


def projection_classes() -> list[type[StreamProjection]]:
    """Every StreamProjection of every service: `services/<svc>/projections.py` either lists
    them in PROJECTIONS or defines them (found by subclass)."""
    found: list[type[StreamProjection]] = []
    for svc in SERVICES:
        try:
            module = importlib.import_module(f"services.{svc}.projections")
        except ModuleNotFoundError as exc:
            if exc.name and f"services.{svc}.projections".startswith(exc.name):
                continue
            raise
        listed = getattr(module, "PROJECTIONS", None)
        if listed is None:
            listed = [
                obj for obj in vars(module).values()
                if inspect.isclass(obj) and issubclass(obj, StreamProjection)
                and obj is not StreamProjection and obj.__module__ == module.__name__
                and obj.name
            ]
        found.extend(listed)
    return found


def select(
    names: list[str] | None, app: ComplaintsApplication, db: Database
) -> list[StreamProjection]:
    projections = [cls(app, db) for cls in projection_classes()]
    if not names:
        return projections
    chosen = []
    for wanted in names:
        match = [p for p in projections if wanted in (p.name, p.name.split(".", 1)[-1])]
        if not match:
            raise UnknownProjection(
                f"no projection {wanted!r}; known: {', '.join(p.name for p in projections)}",
                field="name",
            )
        chosen.extend(match)
    return chosen


# -- shadow tables ---------------------------------------------------------------------


def shadow_name(table: str) -> str:
    return table + SHADOW_SUFFIX


class _Redirected:
    """A cursor whose SQL names the shadow tables where the projection names its own."""

    def __init__(self, cur: Any, tables: tuple[str, ...]) -> None:
        self._cur = cur
        self._rewritten: dict[str, str] = {}
        self._pattern = re.compile(
            r"(?<![\w.])(" + "|".join(re.escape(t) for t in tables) + r")(?![\w])"
        )

    def _rewrite(self, query: Any) -> Any:
        if not isinstance(query, str):
            query = query.as_string(self._cur.connection)
        hit = self._rewritten.get(query)
        if hit is None:
            hit = self._rewritten[query] = self._pattern.sub(
                lambda m: shadow_name(m.group(1)), query)
        return hit

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return self._cur.execute(self._rewrite(query), params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        return self._cur.executemany(self._rewrite(query), params_seq, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


@dataclass
class Shadow:
    projection: StreamProjection
    position: int = 0
    events: int = 0  # events applied (those the projection handles)

    @property
    def tables(self) -> tuple[str, ...]:
        return self.projection.tables

    def create(self) -> None:
        with self.projection.db.transaction() as cur:
            for table in self.tables:
                cur.execute(f"DROP TABLE IF EXISTS {shadow_name(table)}")
                cur.execute(f"CREATE TABLE {shadow_name(table)} (LIKE {table} INCLUDING ALL)")

    def drop(self) -> None:
        with self.projection.db.transaction() as cur:
            for table in self.tables:
                cur.execute(f"DROP TABLE IF EXISTS {shadow_name(table)}")

    def replay(self, cur: Any, batch: int, progress: Callable[[int], None] | None) -> None:
        """Apply every event after `position` into the shadows, in this transaction."""
        while True:
            before = self.position
            self._replay_one(cur, batch, progress)
            if self.position == before:
                return

    def log_events(self, cur: Any) -> int:
        """Events in the log up to the replay's position (handled or not)."""
        cur.execute("SELECT count(*) AS n FROM eventstore.sedulur_events"
                    " WHERE notification_id <= %s", (self.position,))
        return cur.fetchone()["n"]

    def replay_in_batches(self, batch: int, progress: Callable[[int], None] | None) -> None:
        # One transaction per batch: nothing reads the shadows, and short transactions keep
        # vacuum and the WAL free while a million events replay.
        analyzed_at = 0
        while True:
            before = self.position
            with self.projection.db.transaction() as cur:
                self._replay_one(cur, batch, progress)
                if self.events >= 2 * analyzed_at + batch:
                    # Fresh tables have no statistics: refresh them as the shadows grow, or
                    # the planner keeps seq-scanning what it believes is an empty table.
                    for table in self.tables:
                        cur.execute(f"ANALYZE {shadow_name(table)}")
                    analyzed_at = self.events
            if self.position == before:
                return

    def _replay_one(self, cur: Any, batch: int, progress: Callable[[int], None] | None) -> None:
        target = _Redirected(cur, self.tables)
        # Pipeline mode: the projection's statements go out without waiting for each answer
        # (a loopback round trip per event would cap a replay near 9k events/s); a handler
        # that reads a result still works, it just syncs there.
        # No prepared statements: a generic plan made while a shadow was empty would stay a
        # seq scan as it grows.
        conn = cur.connection
        threshold, conn.prepare_threshold = conn.prepare_threshold, None
        try:
            with conn.pipeline():
                self.position, n = self.projection.replay_page(target, self.position, batch)
        finally:
            conn.prepare_threshold = threshold
        if n:
            self.events += n
            if progress:
                progress(self.events)


@contextmanager
def _gated(projection: StreamProjection) -> Iterator[Any]:
    """One transaction holding the projection's gate and its live tables."""
    with projection.db.transaction() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (projection.gate_key,))
        cur.execute(f"LOCK TABLE {', '.join(projection.tables)} IN ACCESS EXCLUSIVE MODE")
        yield cur


def _index_names(cur: Any, table: str) -> dict[str, str]:
    """Index definition without its name and table -> index name."""
    schema, name = table.split(".", 1)
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (schema, name),
    )
    return {
        re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ ", r"\1", row["indexdef"]): row["indexname"]
        for row in cur.fetchall()
    }


def rebuild(projection: StreamProjection, *, batch: int = 5000,
            progress: Callable[[int], None] | None = None,
            on_replayed: Callable[[], None] | None = None) -> dict[str, Any]:
    """Replay into shadows while live traffic continues, catch up and swap atomically.
    `on_replayed` runs between the replay and the switch (a test widens that window)."""
    shadow = Shadow(projection)
    shadow.create()
    try:
        shadow.replay_in_batches(batch, progress)
        replayed = shadow.events
        if on_replayed:
            on_replayed()
        with _gated(projection) as cur:
            shadow.replay(cur, batch, progress)
            tail = shadow.events - replayed
            for table in projection.tables:
                live_indexes = _index_names(cur, table)
                shadow_indexes = _index_names(cur, shadow_name(table))
                cur.execute(f"DROP TABLE {table}")
                cur.execute(
                    f"ALTER TABLE {shadow_name(table)} RENAME TO {table.split('.', 1)[1]}"
                )
                schema = table.split(".", 1)[0]
                for definition, name in shadow_indexes.items():
                    original = live_indexes.get(definition.replace(SHADOW_SUFFIX, ""))
                    if original and original != name:
                        cur.execute(f"ALTER INDEX {schema}.{name} RENAME TO {original}")
            streams = projection.track_streams(cur, shadow.position)
            log_events = shadow.log_events(cur)
    finally:
        shadow.drop()
    return {"projection": projection.name, "events": log_events, "applied": shadow.events,
            "caught_up": tail, "position": shadow.position, "streams": streams}


# -- check -----------------------------------------------------------------------------


@dataclass
class TableDiff:
    table: str
    live_rows: int
    rebuilt_rows: int
    missing_from_live: list[dict[str, Any]]
    extra_in_live: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    differing: int

    @property
    def ok(self) -> bool:
        return self.differing == 0


@dataclass
class CheckReport:
    projection: str
    events: int
    tables: list[TableDiff]
    streams_behind: int

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and self.streams_behind == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "projection": self.projection, "ok": self.ok, "events": self.events,
            "streams_behind": self.streams_behind,
            "tables": [t.__dict__ | {"ok": t.ok} for t in self.tables],
        }


def check(projection: StreamProjection, *, batch: int = 5000, sample: int = 20,
          progress: Callable[[int], None] | None = None) -> CheckReport:
    """Rebuild a copy into shadows and compare it with the live tables row by row.

    The comparison runs with the gate held, after the copy caught up to the last committed
    event, so live catch-ups cannot move under it. A stream whose live tracking row is behind
    the log (its message still in flight) is counted as `streams_behind`: its rows may differ
    for that reason alone."""
    shadow = Shadow(projection)
    shadow.create()
    try:
        shadow.replay_in_batches(batch, progress)
        with projection.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (projection.gate_key,))
            shadow.replay(cur, batch, progress)
            diffs = [_diff(cur, table, sample) for table in projection.tables]
            behind = _streams_behind(cur, projection, shadow.position)
            log_events = shadow.log_events(cur)
    finally:
        shadow.drop()
    return CheckReport(projection.name, log_events, diffs, behind)


def _primary_key(cur: Any, table: str) -> list[str]:
    cur.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey, a.attnum)",
        (table,),
    )
    return [r["attname"] for r in cur.fetchall()]


def _diff(cur: Any, table: str, sample: int) -> TableDiff:
    shadow = shadow_name(table)
    cur.execute(f"SELECT count(*) AS n FROM {table}")
    live_rows = cur.fetchone()["n"]
    cur.execute(f"SELECT count(*) AS n FROM {shadow}")
    rebuilt_rows = cur.fetchone()["n"]
    cur.execute(f"SELECT * FROM {table} EXCEPT ALL SELECT * FROM {shadow}")
    only_live = cur.fetchall()
    cur.execute(f"SELECT * FROM {shadow} EXCEPT ALL SELECT * FROM {table}")
    only_rebuilt = cur.fetchall()
    key = _primary_key(cur, table)

    def k(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in key) if key else tuple(row.values())

    rebuilt_by_key = {k(r): r for r in only_rebuilt}
    live_by_key = {k(r): r for r in only_live}
    changed = [
        {"key": dict(zip(key, kk, strict=True)), "live": row, "rebuilt": rebuilt_by_key[kk]}
        for kk, row in live_by_key.items() if kk in rebuilt_by_key
    ]
    extra = [r for kk, r in live_by_key.items() if kk not in rebuilt_by_key]
    missing = [r for kk, r in rebuilt_by_key.items() if kk not in live_by_key]
    return TableDiff(table, live_rows, rebuilt_rows, missing[:sample], extra[:sample],
                     changed[:sample], differing=len(changed) + len(extra) + len(missing))


def _streams_behind(cur: Any, projection: StreamProjection, position: int) -> int:
    """Streams whose live tracking row is below their last version up to `position`."""
    cur.execute(
        "SELECT count(*) AS n FROM (SELECT originator_id, max(originator_version) AS v"
        "  FROM eventstore.sedulur_events WHERE notification_id <= %s GROUP BY 1) l"
        f" LEFT JOIN {projection.schema}.projection_tracking t ON t.projection = %s"
        "  AND t.complaint_id = l.originator_id WHERE coalesce(t.version, 0) < l.v",
        (position, projection.name),
    )
    return cur.fetchone()["n"]
