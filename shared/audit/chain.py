"""Tamper evidence: the per-stream hash chain and the anchors over the whole log.

The database computes every event's hash in an AFTER INSERT trigger
(shared/sql/006_event_hash_function.sql), so no service can append without one. This module
recomputes the same hashes from the stored rows and compares:

    hash = sha256(prev_hash || uuid bytes || int8 version || int4 len(topic) || topic || state)

with prev_hash empty for a stream's first event. An anchor is the rolling hash
`r_n = sha256(r_{n-1} || hash_n)` over every event in notification order up to a position;
it catches what the per-stream chain alone cannot (the last event of a stream deleted
together with its hash row, or a whole stream's chain rewritten).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import psycopg

from shared.db import connect

BATCH = 20_000
GENESIS = b""


def event_hash(
    prev: bytes | None, originator_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    topic_bytes = topic.encode()
    return hashlib.sha256(
        (prev or b"")
        + originator_id.bytes
        + version.to_bytes(8, "big", signed=True)
        + len(topic_bytes).to_bytes(4, "big", signed=True)
        + topic_bytes
        + state
    ).digest()


def roll(rolling: bytes, h: bytes) -> bytes:
    return hashlib.sha256(rolling + h).digest()


@dataclass
class Problem:
    position: int  # notification id in the log
    complaint_id: str
    version: int
    kind: str
    detail: str
    registration_number: str | None = None


@dataclass
class VerifyReport:
    events: int = 0
    streams: int = 0
    anchors_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: (p.position, p.version)) if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "anchors_checked": self.anchors_checked,
            "first_broken_link": asdict(self.first) if self.first else None,
            "problems": [asdict(p) for p in sorted(self.problems, key=lambda p: p.position)],
        }


def verify(
    dsn: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
    max_problems: int = 100,
) -> VerifyReport:
    """Walk the whole store in log order, recompute every hash and link, check anchors."""
    report = VerifyReport()
    last: dict[UUID, tuple[int, bytes]] = {}
    rolling = GENESIS
    with connect(dsn) as conn:
        counted = conn.execute("SELECT count(*) FROM eventstore.sedulur_events").fetchone()
        total = counted[0] if counted else 0
        anchors = conn.execute(
            "SELECT up_to_notification_id, events, rolling_hash FROM audit.anchors"
            " ORDER BY up_to_notification_id"
        ).fetchall()
        next_anchor = 0
        position = 0

        def check_anchors_up_to(pos: int | None) -> None:
            # Anchors at or below the last position read are due once the walk passed them.
            nonlocal next_anchor
            while next_anchor < len(anchors) and (pos is None or anchors[next_anchor][0] <= pos):
                up_to, count, expected = anchors[next_anchor]
                report.anchors_checked += 1
                if (count, bytes(expected)) != (report.events, rolling):
                    report.problems.append(Problem(
                        up_to, "", 0, "anchor_mismatch",
                        f"the log up to position {up_to} no longer hashes to its anchor "
                        f"(anchored {count} events, found {report.events}): an event at or "
                        "before it was deleted or rewritten together with its hash",
                    ))
                next_anchor += 1

        while True:
            # Binary results: bytea arrives as bytes instead of hex text to decode in Python.
            rows = conn.execute(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
                " e.state, h.prev_hash, h.hash FROM eventstore.sedulur_events e"
                " LEFT JOIN audit.event_hashes h ON h.originator_id = e.originator_id"
                "  AND h.originator_version = e.originator_version"
                " WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s",
                (position, batch), binary=True,
            ).fetchall()
            if not rows:
                break
            for nid, oid, version, topic, state, stored_prev, stored_hash in rows:
                # An anchor exactly between two events is due before the next one folds in.
                check_anchors_up_to(nid - 1)
                prev_version, prev_hash = last.get(oid, (0, None))
                computed = event_hash(prev_hash, oid, version, topic, bytes(state))
                problem = None
                if version != prev_version + 1:
                    problem = ("missing_event", f"stream jumps from version {prev_version} to "
                               f"{version}: events were deleted")
                elif stored_hash is None:
                    problem = ("missing_hash", "the event has no hash record")
                elif (bytes(stored_prev) if stored_prev is not None else None) != prev_hash:
                    problem = ("broken_link", "the stored link does not match the previous "
                               "event's hash")
                elif bytes(stored_hash) != computed:
                    problem = ("content_changed", "the stored event does not match its hash: "
                               "it was edited after it was appended")
                if problem and len(report.problems) < max_problems:
                    report.problems.append(Problem(nid, str(oid), version, *problem))
                last[oid] = (version, computed)
                rolling = roll(rolling, computed)
                report.events += 1
                position = nid
            if progress:
                progress(report.events, total)
        check_anchors_up_to(None)
        # Hash records whose event is gone: a deleted row the walk cannot see.
        for nid, oid, version in conn.execute(
            "SELECT h.notification_id, h.originator_id, h.originator_version"
            " FROM audit.event_hashes h LEFT JOIN eventstore.sedulur_events e"
            " ON e.originator_id = h.originator_id AND e.originator_version = h.originator_version"
            " WHERE e.notification_id IS NULL ORDER BY h.notification_id LIMIT %s",
            (max_problems,),
        ):
            report.problems.append(Problem(
                nid, str(oid), version, "event_deleted",
                "a hash record remains but its event was deleted from the store",
            ))
        report.streams = len(last)
        for p in report.problems[:max_problems]:
            if p.complaint_id:
                p.registration_number = _registration_number(conn, UUID(p.complaint_id))
    return report


def _registration_number(conn: psycopg.Connection, complaint_id: UUID) -> str | None:
    row = conn.execute(
        "SELECT state FROM eventstore.sedulur_events WHERE originator_id = %s"
        " AND originator_version = 1",
        (complaint_id,),
    ).fetchone()
    if row is None:
        return None
    try:
        return json.loads(bytes(row[0])).get("registration_number")
    except ValueError:
        return None


ANCHOR_LOCK = 0x5ED0_A0C4


def anchor(dsn: str, *, batch: int = BATCH) -> dict[str, Any] | None:
    """Fold the event hashes appended since the last anchor into a new anchor row.

    Commit order equals notification order (the insert function locks the table), so the
    visible hash rows are always a gap-free prefix of the log. Returns the new anchor, or
    None when nothing was appended since the last one."""
    with connect(dsn, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ANCHOR_LOCK,))
        last = conn.execute(
            "SELECT up_to_notification_id, events, rolling_hash FROM audit.anchors"
            " ORDER BY up_to_notification_id DESC LIMIT 1"
        ).fetchone()
        position, count, rolling = (last[0], last[1], bytes(last[2])) if last else (0, 0, GENESIS)
        start = position
        while True:
            rows = conn.execute(
                "SELECT notification_id, hash FROM audit.event_hashes"
                " WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
                (position, batch),
            ).fetchall()
            if not rows:
                break
            for nid, h in rows:
                rolling = roll(rolling, bytes(h))
                position = nid
            count += len(rows)
        if position == start:
            conn.rollback()
            return None
        conn.execute(
            "INSERT INTO audit.anchors (up_to_notification_id, events, rolling_hash)"
            " VALUES (%s, %s, %s)",
            (position, count, rolling),
        )
        conn.commit()
    return {"up_to_notification_id": position, "events": count, "rolling_hash": rolling.hex()}
