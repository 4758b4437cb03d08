"""The guarantees Sedulur makes, checked against what is actually stored and queued.

Used by the fault-injection suite after every fault and by operators (`sedulur check`):

- every accepted complaint exists exactly once in the event store;
- every stream is a valid lifecycle (Registered first; then Verified | Rejected;
  ReferredToOPD only after Verified and never twice for an open referral; Resolved last;
  versions contiguous; at most one SlaBreached per stage);
- every projection equals a rebuild from the log (computed inside a transaction that is
  rolled back, so the live rows are never touched);
- every open or closed stage has exactly one SLA deadline row;
- no referral is missing at, or doubled to, an agency subscriber (after dedupe by
  CloudEvents id);
- no consumer queue holds a stuck message, and the dead-letter queue holds exactly the
  messages expected to be there (poison), nothing else.

The checker is an independent re-statement of the rules, not a call into the aggregate:
a bug in the aggregate's guards must not hide itself here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from shared.config import Settings

LOST = "lost"
DUPLICATED = "duplicated"
INVALID = "invalid"
MISMATCH = "mismatch"
STUCK = "stuck"

CLOSING = {"Rejected", "Resolved"}
# SLA stages every policy keeps (services/sla/data/policies) -> (event that opens it,
# events that close it). Other stages (acceptance, resolution, overall, ...) depend on the
# policy in force; their rows are covered by the projection == rebuild check.
DEADLINE_STAGES = {
    "verification": ("Registered", ("Verified", "Rejected")),
    "referral": ("Verified", ("ReferredToOPD", "Resolved")),
}


@dataclass(frozen=True)
class Finding:
    check: str
    kind: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}/{self.kind}] {self.subject}: {self.detail}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, check: str, kind: str, subject: Any, detail: str) -> None:
        self.findings.append(Finding(check, kind, str(subject), detail))

    @property
    def ok(self) -> bool:
        return not self.findings

    def of_kind(self, *kinds: str) -> list[Finding]:
        return [f for f in self.findings if f.kind in kinds]

    @property
    def lost(self) -> int:
        return len(self.of_kind(LOST, STUCK))

    @property
    def duplicated(self) -> int:
        return len(self.of_kind(DUPLICATED))

    def summary(self, limit: int = 25) -> str:
        head = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
        if self.ok:
            return f"all guarantees hold ({head})"
        by = Counter(f"{f.check}/{f.kind}" for f in self.findings)
        lines = [f"{len(self.findings)} violations ({dict(by)}; {head})"]
        lines += [f"  {f}" for f in self.findings[:limit]]
        if len(self.findings) > limit:
            lines.append(f"  ... and {len(self.findings) - limit} more")
        return "\n".join(lines)


# -- reading the store -----------------------------------------------------------------------

@dataclass
class Store:
    """Every stored event, in notification order, and grouped per stream."""

    events: list[Any]
    streams: dict[UUID, list[Any]]
    positions: list[int] = field(default_factory=list)  # notification id of each event

    @classmethod
    def load(cls, app: Any, batch: int = 5000) -> Store:
        events: list[Any] = []
        positions: list[int] = []
        position = 0
        while True:
            notifications = app.recorder.select_notifications(
                start=position, limit=batch, inclusive_of_start=False)
            if not notifications:
                break
            events.extend(app.mapper.to_domain_events(notifications))
            positions.extend(n.id for n in notifications)
            position = notifications[-1].id
        streams: dict[UUID, list[Any]] = defaultdict(list)
        for e in events:
            streams[e.originator_id].append(e)
        for stream in streams.values():
            stream.sort(key=lambda e: e.originator_version)
        return cls(events, dict(streams), positions)


def name_of(event: Any) -> str:
    return type(event).__name__


# -- the checks ----------------------------------------------------------------------------

def check_accepted(store: Store, accepted: dict[UUID, str], report: Report) -> None:
    """Every complaint a desk got a 200/201 for is stored, once, under the number the desk
    was given; no registration number belongs to two streams."""
    report.counts["accepted"] = len(accepted)
    for cid, number in accepted.items():
        stream = store.streams.get(cid)
        if not stream:
            report.add("accepted", LOST, cid, f"accepted as {number} but not in the store")
            continue
        first = stream[0]
        if name_of(first) != "Registered":
            continue  # reported by the lifecycle check
        if first.registration_number != number:
            report.add("accepted", MISMATCH, cid, f"desk was told {number}, store has "
                       f"{first.registration_number}")
    numbers = Counter(s[0].registration_number for s in store.streams.values()
                      if name_of(s[0]) == "Registered")
    for number, n in numbers.items():
        if n > 1:
            report.add("accepted", DUPLICATED, number, f"{n} streams carry this number")


def check_lifecycle(store: Store, report: Report) -> None:
    report.counts["streams"] = len(store.streams)
    report.counts["events"] = len(store.events)
    for cid, stream in store.streams.items():
        problem = lifecycle_problem(stream)
        if problem:
            kind, detail = problem
            report.add("lifecycle", kind, cid, detail)


def lifecycle_problem(stream: list[Any]) -> tuple[str, str] | None:
    """(kind, why) for the first rule the stream breaks, else None."""
    versions = [e.originator_version for e in stream]
    if versions != list(range(1, len(stream) + 1)):
        return INVALID, f"versions not contiguous from 1: {versions[:10]}"
    names = [name_of(e) for e in stream]
    if names[0] != "Registered":
        return INVALID, f"starts with {names[0]}"
    stage = "registered"
    referrals: dict[str, str] = {}
    breached: set[str] = set()
    escalated: set[tuple[str, str]] = set()
    paused = False
    for i, e in enumerate(stream[1:], start=2):
        n = name_of(e)
        where = f"v{i} {n} at stage {stage} ({' > '.join(names)})"
        if stage in ("rejected", "resolved"):
            return INVALID, f"event after the complaint closed: {where}"
        agency = getattr(e, "agency", None)
        open_ = [a for a, s in referrals.items() if s in ("referred", "accepted")]
        if n == "Registered":
            return DUPLICATED, f"registered twice: {where}"
        elif n in ("Verified", "Rejected"):
            if stage != "registered":
                return DUPLICATED, f"decided twice: {where}"
            stage = "verified" if n == "Verified" else "rejected"
        elif n == "ReferredToOPD":
            if stage not in ("verified", "referred"):
                return INVALID, f"referred before verification: {where}"
            if agency in open_:
                return DUPLICATED, f"referred twice to {agency}: {where}"
            referrals[agency] = "referred"
            stage = "referred"
        elif n in ("ReferralAccepted", "ProgressNoted", "ReferralReturned",
                   "ReferralResolved", "Resolved"):
            if agency not in open_:
                return INVALID, f"{agency} has no open referral: {where}"
            if n == "ReferralAccepted":
                if referrals[agency] == "accepted":
                    return DUPLICATED, f"accepted twice by {agency}: {where}"
                referrals[agency] = "accepted"
            elif n == "ReferralReturned":
                referrals[agency] = "returned"
                if len(open_) == 1:
                    stage = "verified"
            elif n == "ReferralResolved":
                if len(open_) == 1:
                    return INVALID, f"last open referral closed without Resolved: {where}"
                referrals[agency] = "resolved"
            elif n == "Resolved":
                if len(open_) != 1:
                    return INVALID, f"resolved with other referrals open {open_}: {where}"
                referrals[agency] = "resolved"
                stage = "resolved"
        elif n == "SlaBreached":
            if e.stage in breached:
                return DUPLICATED, f"stage {e.stage} flagged as breached twice: {where}"
            breached.add(e.stage)
        elif n == "Escalated":
            if (e.stage, e.level) in escalated:
                return DUPLICATED, f"escalated twice to {e.level}: {where}"
            escalated.add((e.stage, e.level))
        elif n == "ClockPaused":
            if paused:
                return DUPLICATED, f"paused twice: {where}"
            paused = True
        elif n == "ClockResumed":
            if not paused:
                return INVALID, f"resumed without a pause: {where}"
            paused = False
    return None


def check_deadlines(store: Store, rows: Iterable[dict[str, Any]], report: Report) -> None:
    """One deadline row per stage the stream entered (of the stages every policy has);
    closed exactly when the stage was."""
    have: dict[tuple[UUID, str], dict[str, Any]] = {}
    for row in rows:
        have[(row["complaint_id"], row["stage"])] = row
    report.counts["deadlines"] = len(have)
    expected: set[tuple[UUID, str]] = set()
    for cid, stream in store.streams.items():
        names = [name_of(e) for e in stream]
        for stage, (opens, closes) in DEADLINE_STAGES.items():
            if opens not in names:
                continue
            key = (cid, stage)
            expected.add(key)
            row = have.get(key)
            if row is None:
                report.add("deadlines", LOST, cid, f"no deadline for stage {stage}")
                continue
            closed = any(n in closes for n in names[names.index(opens):])
            if closed != (row["closed_at"] is not None):
                report.add("deadlines", MISMATCH, cid,
                           f"stage {stage} closed in the log: {closed}, in sla.deadlines:"
                           f" {row['closed_at'] is not None}")
    for key in set(have) - expected:
        if key[1] in DEADLINE_STAGES:
            report.add("deadlines", INVALID, key[0],
                       f"deadline for stage {key[1]} never entered")


def check_subscriber(store: Store, received: Iterable[dict[str, Any]], report: Report,
                     agencies: set[tuple[str, str]] | None = None) -> None:
    """Compare the referrals an agency subscriber received (CloudEvents from
    agency.referrals) with the ReferredToOPD events in the store. `agencies` limits the
    comparison to the (kabupaten, agency) queues the subscriber listened to."""
    by_id: dict[str, dict[str, Any]] = {}
    deliveries = 0
    for message in received:
        deliveries += 1
        by_id.setdefault(message["id"], message)
    report.counts["referral_deliveries"] = deliveries
    report.counts["referrals_received"] = len(by_id)
    expected: dict[str, tuple[str, str]] = {}
    for cid, stream in store.streams.items():
        for e in stream:
            if name_of(e) == "ReferredToOPD":
                key = (e.kabupaten, e.agency)
                if agencies is None or key in agencies:
                    expected[f"{cid}:{e.originator_version}"] = key
    for ce_id, key in expected.items():
        if ce_id not in by_id:
            report.add("subscriber", LOST, ce_id, f"referral to {key[0]}.{key[1]} never arrived")
    per_referral = Counter((m["complaintid"], m["data"]["agency"], m["version"])
                           for m in by_id.values())
    for (cid, agency, version), n in per_referral.items():
        if n > 1:
            report.add("subscriber", DUPLICATED, cid, f"{n} distinct ids for {agency} v{version}")
    for ce_id, m in by_id.items():
        if ce_id not in expected:
            report.add("subscriber", INVALID, ce_id,
                       f"referral to {m['data'].get('agency')} not in the store")


def check_queues(queues: list[dict[str, Any]], dead_letters: list[dict[str, Any]],
                 report: Report, expected_dead: set[str] | None = None) -> None:
    """No consumer queue keeps a message; the DLQ holds exactly `expected_dead` (message ids
    of poison messages; None = report its depth only)."""
    from shared.topology import DLQ

    for q in queues:
        name = q["name"]
        if not name.startswith("evt-"):
            continue
        waiting = int(q.get("messages_ready", 0)) + int(q.get("messages_unacknowledged", 0))
        if waiting:
            report.add("queues", STUCK, name, f"{waiting} messages not consumed")
    ids = Counter(str(m.get("properties", {}).get("message_id")) for m in dead_letters)
    report.counts["dead_letters"] = sum(ids.values())
    if expected_dead is None:
        return
    for mid, n in ids.items():
        if mid not in expected_dead:
            report.add("dead-letters", LOST, mid, f"a real message was dead-lettered ({n}x)"
                       f" from {_dead_source(dead_letters, mid)}")
        elif n > 1:
            report.add("dead-letters", DUPLICATED, mid, f"{n} copies in {DLQ}")
    for mid in expected_dead - set(ids):
        report.add("dead-letters", LOST, mid, f"poison message not in {DLQ}")


def _dead_source(messages: list[dict[str, Any]], mid: str) -> str:
    for m in messages:
        props = m.get("properties", {})
        if str(props.get("message_id")) == mid:
            death = (props.get("headers") or {}).get("x-death") or [{}]
            return str(death[0].get("queue", m.get("routing_key")))
    return "?"


# -- projections == rebuild ------------------------------------------------------------------

def projection_classes() -> list[type]:
    """Every StreamProjection of every service that keeps tables (the rebuild registry)."""
    from shared import projection_rebuild

    return [cls for cls in projection_rebuild.projection_classes() if cls.tables]


def _rows(cur: Any, table: str) -> Counter:
    cur.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names come from the classes
    return Counter(tuple(sorted((k, repr(v)) for k, v in row.items())) for row in cur.fetchall())


def check_projections(settings: Settings, app: Any, store: Store, report: Report,
                      classes: list[type] | None = None) -> None:
    """Live rows == rows a replay of the whole log produces. The replay runs in a
    transaction that is rolled back: the live tables are compared, never replaced."""
    import psycopg
    from psycopg.rows import dict_row

    from shared.db import connect

    classes = projection_classes() if classes is None else classes
    report.counts["projections"] = len(classes)
    with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout,
                 row_factory=dict_row) as conn:
        for cls in classes:
            projection = cls(app, None)
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    live = {t: _rows(cur, t) for t in cls.tables}
                    # pipeline mode: the replay's statements go out without a round trip
                    # each (a projection that reads a result still gets it)
                    with conn.pipeline():
                        for table in cls.tables:
                            cur.execute(f"DELETE FROM {table}")  # noqa: S608
                        for event in store.events:
                            projection.apply(cur, event)
                    rebuilt = {t: _rows(cur, t) for t in cls.tables}
                    raise _Rollback
            except _Rollback:
                pass
            except psycopg.Error as exc:
                report.add("projection", INVALID, cls.name, f"replay failed: {exc!r}")
                continue
            for table in cls.tables:
                missing = rebuilt[table] - live[table]
                extra = live[table] - rebuilt[table]
                for rows, what in ((missing, "rebuild has, live lacks"),
                                   (extra, "live has, rebuild lacks")):
                    for row in rows:
                        cid = dict(row).get("complaint_id", "")
                        report.add("projection", MISMATCH, f"{table} {_unrepr(cid)}".strip(),
                                   f"{what}: {_short(row)}")
                report.counts[f"rows:{table}"] = sum(live[table].values())


class _Rollback(Exception):
    pass


def _unrepr(value: str) -> str:
    return value.removeprefix("UUID('").removesuffix("')")


def _short(row: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in row)[:300]


# -- all of it --------------------------------------------------------------------------------

def check_all(settings: Settings, *, accepted: dict[UUID, str] | None = None,
              received: list[dict[str, Any]] | None = None,
              subscribed: set[tuple[str, str]] | None = None,
              expected_dead: set[str] | None = None, vhost: str | None = None) -> Report:
    """Run every check that its inputs allow. `accepted` (complaint id -> number the desk
    got) and `received` (agency subscriber messages) come from a client; without them
    those checks are skipped. Queue checks need the management API."""
    from shared.db import connect
    from shared.eventstore import ComplaintsApplication

    report = Report()
    app = ComplaintsApplication(settings)
    try:
        store = Store.load(app)
        if accepted is not None:
            check_accepted(store, accepted, report)
        check_lifecycle(store, report)
        with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout) as conn:
            cur = conn.execute(
                "SELECT complaint_id, stage, closed_at FROM sla.deadlines")
            rows = [dict(zip(("complaint_id", "stage", "closed_at"), r, strict=True))
                    for r in cur.fetchall()]
        check_deadlines(store, rows, report)
        check_projections(settings, app, store, report)
        if received is not None:
            check_subscriber(store, received, report, subscribed)
    finally:
        app.close()
    if vhost is not None:
        from shared.rabbit import RabbitAdmin
        from shared.topology import DLQ

        admin = RabbitAdmin(settings.rabbit_management_url)
        check_queues(admin.queues(vhost), admin.peek(vhost, DLQ), report, expected_dead)
    return report


def vhost_of(settings: Settings) -> str:
    from urllib.parse import unquote, urlparse

    return unquote(urlparse(settings.amqp_uri).path.lstrip("/")) or "/"
