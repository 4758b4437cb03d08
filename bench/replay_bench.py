"""Replay / rebuild / verify speed over a store of >= 1M events (issue 8).

    python bench/replay_bench.py [--events 1000000] [--db sedulur_bench_replay] [--reuse]

Makes (or reuses) its own database next to SEDULUR_PG_DSN, fills it with complaint streams
through batched `app.save` of many aggregates (the hash-chain trigger on), then measures:

- append cost of the hash-chain trigger: single-event saves and batched saves, trigger on
  vs off, same run (the raw ceilings are noisy; compare within one run only);
- raw replay: the notification log read and decoded into domain events;
- online rebuild of every projection (shadow tables + switch), events/s;
- `audit verify` (recompute every hash and link) and a first anchor, events/s.

Numbers go to stdout; docs/benchmarks.md collects them.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.complaints.domainmodel import Complaint  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.db import connect as _connect  # noqa: E402
from shared.eventstore import ComplaintsApplication  # noqa: E402
from shared.migrations import create_database, migrate  # noqa: E402

OPERATOR = {"user_id": "op-1", "role": "operator", "desk": "332501", "agency": None}
VERIFIER = {"user_id": "ver-1", "role": "verifier", "desk": None, "agency": None}
ROUTER = {"user_id": "routing", "role": "system", "desk": None, "agency": None}
AGENCY = {"user_id": "opd-1", "role": "agency", "desk": None, "agency": "DINKES"}


def connect(dsn: str) -> Any:
    """The shared server runs out of connections when many runs share it: retry a while."""
    for attempt in range(30):
        try:
            return _connect(dsn)
        except Exception:
            if attempt == 29:
                raise
            time.sleep(2)


def lifecycle(i: int, rng: random.Random) -> Complaint:
    """One complaint through a realistic life: 2 to 6 events."""
    desk = f"3325{rng.randint(1, 20):02d}"
    complaint_id = uuid.uuid4()
    c = Complaint.register(
        complaint_id=complaint_id, registration_number=f"3325-251123-B{complaint_id.hex[:12]}",
        kabupaten="3325", desk=desk, channel="desk", category="kis", description="bench",
        citizen={"nik": f"33250145{i:08d}", "name": "N"}, wilayah=desk + "2001",
        priority="normal", confidential=False, actor={**OPERATOR, "desk": desk},
        correlation_id=f"b{i}",
    )
    if rng.random() < 0.15:
        c.reject(reason_code="not_in_dtks", reason="r", rule="dtks", dtks_snapshot="s",
                 actor=VERIFIER, correlation_id=f"b{i}")
        return c
    c.verify(rule="dtks", dtks_snapshot="s", reasons=[], actor=VERIFIER, correlation_id=f"b{i}")
    c.refer(agency="DINKES", routing_rule="kis-dinkes", actor=ROUTER, correlation_id=f"b{i}")
    if rng.random() < 0.7:
        c.accept_referral(agency="DINKES", actor=AGENCY, correlation_id=f"b{i}")
    if rng.random() < 0.8:
        c.resolve(agency="DINKES", outcome="done", actor=AGENCY, correlation_id=f"b{i}")
    return c


def rate(n: int, seconds: float) -> str:
    return f"{n:>9,} in {seconds:7.2f} s = {n / seconds:>10,.0f}/s"


def fill(app: ComplaintsApplication, target: int, batch: int = 500) -> tuple[int, float]:
    rng = random.Random(8)
    events = 0
    i = 0
    start = time.perf_counter()
    while events < target:
        aggregates = [lifecycle(i + k, rng) for k in range(batch)]
        i += batch
        events += sum(len(a.pending_events) for a in aggregates)
        app.save(*aggregates)
        if i % 50_000 == 0:
            print(f"  filled {events:,} events", flush=True)
    return events, time.perf_counter() - start


def append_cost(app: ComplaintsApplication, dsn: str, rounds: int = 6) -> None:
    """The trigger's cost on the two append shapes, measured back to back."""
    rng = random.Random(1)

    def singles(n: int) -> float:
        aggregates = [Complaint.register(
            complaint_id=uuid.uuid4(), registration_number=f"S-{uuid.uuid4().hex[:8]}",
            kabupaten="3325", desk="332501", channel="desk", category="kis", description="s",
            citizen={"nik": "3325014507900001", "name": "N"}, wilayah="3325012001",
            priority="normal", confidential=False, actor=OPERATOR, correlation_id="s",
        ) for _ in range(n)]
        start = time.perf_counter()
        for a in aggregates:
            app.save(a)
        return time.perf_counter() - start

    def batched(rounds: int) -> tuple[int, float]:
        groups = [[lifecycle(10_000_000 + r * 100 + k, rng) for k in range(100)]
                  for r in range(rounds)]
        n = sum(len(a.pending_events) for g in groups for a in g)
        start = time.perf_counter()
        for g in groups:
            app.save(*g)
        return n, time.perf_counter() - start

    def trigger(enabled: bool) -> None:
        with connect(dsn) as conn:
            conn.execute("ALTER TABLE eventstore.sedulur_events "
                         f"{'ENABLE' if enabled else 'DISABLE'} TRIGGER sedulur_events_chain")

    # Alternate on/off in short rounds so the neighbours' noise on a shared machine hits both
    # settings alike; report every round and the median per setting.
    rates: dict[tuple[str, bool], list[float]] = {}
    try:
        for r in range(rounds):
            for enabled in ((True, False) if r % 2 == 0 else (False, True)):
                trigger(enabled)
                seconds = singles(300)
                rates.setdefault(("single-event saves", enabled), []).append(300 / seconds)
                n, seconds = batched(10)
                rates.setdefault(("batched saves, 100 aggregates", enabled), []).append(
                    n / seconds)
    finally:
        trigger(True)
    for shape in ("single-event saves", "batched saves, 100 aggregates"):
        on, off = rates[(shape, True)], rates[(shape, False)]
        print(f"append, {shape} (events/s per round; median):")
        print(f"  trigger on : {' '.join(f'{x:,.0f}' for x in on)}; median {median(on):,.0f}")
        print(f"  trigger off: {' '.join(f'{x:,.0f}' for x in off)}; median {median(off):,.0f}")
        print(f"  on/off: {median(on) / median(off):.2f}")
    # The appends with the trigger off have no hash rows: give them theirs, as if the
    # trigger had run, so the verify below walks an intact store.
    with connect(dsn) as conn:
        missing = conn.execute(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state"
            " FROM eventstore.sedulur_events e LEFT JOIN audit.event_hashes h"
            " USING (originator_id, originator_version) WHERE h.hash IS NULL"
            " ORDER BY e.notification_id").fetchall()
        from shared.audit.chain import event_hash

        prev: dict[Any, bytes] = {}
        for nid, oid, version, topic, state in missing:
            p = prev.get(oid)
            if p is None and version > 1:
                p = bytes(conn.execute(
                    "SELECT hash FROM audit.event_hashes WHERE originator_id = %s"
                    " AND originator_version = %s", (oid, version - 1)).fetchone()[0])
            h = event_hash(p, oid, version, topic, bytes(state))
            conn.execute(
                "INSERT INTO audit.event_hashes (originator_id, originator_version,"
                " notification_id, prev_hash, hash) VALUES (%s, %s, %s, %s, %s)",
                (oid, version, nid, p, h))
            prev[oid] = h


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", default="sedulur_bench_replay")
    parser.add_argument("--reuse", action="store_true", help="keep an already filled store")
    parser.add_argument("--skip-append", action="store_true", help="skip the trigger-cost part")
    parser.add_argument("--only-append", action="store_true", help="only the trigger-cost part")
    parser.add_argument("--append-rounds", type=int, default=6)
    args = parser.parse_args()

    base = Settings()
    dsn = create_database(base, args.db)
    os.environ["SEDULUR_PG_DSN"] = dsn
    settings = Settings(pg_dsn=dsn)
    migrate(settings)
    app = ComplaintsApplication(settings)
    db = Database.from_settings(settings, max_size=4)
    have = app.recorder.max_notification_id() or 0
    print(f"database {args.db}: {have:,} events stored")
    if have and not args.reuse:
        print("  (pass --reuse to keep them; filling more on top)")
    if have < args.events:
        n, seconds = fill(app, args.events - have)
        print(f"fill (batched app.save of 500 aggregates, trigger on): {rate(n, seconds)}")
    # Fresh statistics first: right after a bulk fill the planner still sees the key tables
    # as empty and scans them on every single-event save (~40 ms each at 1M events).
    with connect(dsn) as conn:
        for table in ("eventstore.sedulur_events", "audit.event_hashes",
                      "keystore.person_keys", "keystore.stream_keys"):
            conn.execute(f"VACUUM ANALYZE {table}")
    if not args.skip_append:
        append_cost(app, dsn, args.append_rounds)
    if args.only_append:
        return
    with connect(dsn) as conn:
        total = conn.execute("SELECT count(*) FROM eventstore.sedulur_events").fetchone()[0]
    print(f"store: {total:,} events")

    start = time.perf_counter()
    position, decoded = 0, 0
    while True:
        notifications = app.recorder.select_notifications(
            start=position, limit=5000, inclusive_of_start=False)
        if not notifications:
            break
        for n in notifications:
            app.mapper.to_domain_event(n)
        decoded += len(notifications)
        position = notifications[-1].id
    print(f"replay (read + decode the log): {rate(decoded, time.perf_counter() - start)}")

    from shared.projection_rebuild import rebuild, select

    for projection in select(None, app, db):
        start = time.perf_counter()
        result = rebuild(projection)
        seconds = time.perf_counter() - start
        print(f"rebuild {projection.name:<26} {rate(result['events'], seconds)}")

    from shared.audit.chain import anchor, verify

    start = time.perf_counter()
    report = verify(dsn)
    print(f"verify (recompute hashes + links): {rate(report.events, time.perf_counter() - start)}"
          f"  ok={report.ok}")
    if not report.ok:
        print(f"  first problem: {report.first}")
    start = time.perf_counter()
    anchored = anchor(dsn)
    if anchored:
        seconds = time.perf_counter() - start
        print(f"anchor (first over the log): {rate(anchored['events'], seconds)}")
    app.close()
    db.close()


if __name__ == "__main__":
    main()
