"""Sedulur's own numbers: appends, relay, DTKS import and lookup, end-to-end through all
services as processes, projection rebuild. Each returns Measures; the orchestrator puts
them beside the raw ceilings of the same run."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import requests

from bench.loadgen import LoadGenerator, require_loopback
from bench.report import Measure
from shared.complaints.domainmodel import Complaint
from shared.config import SERVICES, Settings
from shared.db import connect
from shared.demo import CATEGORY_MIX
from shared.eventstore import ComplaintsApplication


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


_numbers = itertools.count(1)
_CATEGORIES = [c for c, w in CATEGORY_MIX for _ in range(w)]


def _complaint() -> Complaint:
    """A Registered event like intake's, spread over 20 desks × 3 operators and the
    category mix, so projections see realistic keys rather than one hot row."""
    n = next(_numbers)
    desk = f"3325{1 + n % 20:02d}"
    actor = {"user_id": f"op-{desk}-{n % 3}", "role": "operator", "desk": desk}
    return Complaint.register(
        complaint_id=uuid4(), registration_number=f"ADU-3325-20260101-{n:07d}",
        kabupaten="3325", desk=desk, channel="desk", category=_CATEGORIES[n % len(_CATEGORIES)],
        description="Kartu KIS tidak aktif saat berobat (bench)",
        citizen={"nik": "3325014507900001", "name": "Siti Aminah", "kk": None, "phone": None},
        wilayah=f"{desk}2001", priority="normal", confidential=False, actor=actor,
        correlation_id=str(uuid4()))


# -- appends ------------------------------------------------------------------------------
class AppendSingle:
    """Single-event commands: Complaint.register + save, one client (one intake worker)."""

    key = "append_single"
    label = "event appends, 1 event per command (register + save)"
    unit = "events/s"
    per_step = 1

    def __init__(self, settings: Settings) -> None:
        self.app = ComplaintsApplication(settings)
        self.step()

    def step(self) -> None:
        self.app.save(*[_complaint() for _ in range(self.per_step)])

    def rate(self, seconds: float) -> float:
        from bench.ceilings import timed

        return timed(seconds, self.step) * self.per_step

    def close(self) -> None:
        self.app.close()


class AppendBatched(AppendSingle):
    """Many aggregates in one app.save, as a backfill would: one transaction, one lock."""

    key = "append_batched"
    label = "event appends, 100 aggregates per save"
    per_step = 100

    def rate(self, seconds: float) -> float:
        from bench.ceilings import timed

        return timed(seconds, self.step, chunk=1) * self.per_step


def fill(settings: Settings, events: int, batch: int = 500) -> int:
    app = ComplaintsApplication(settings)
    try:
        for start in range(0, events, batch):
            app.save(*[_complaint() for _ in range(min(batch, events - start))])
    finally:
        app.close()
    return max_notification_id(settings)


def max_notification_id(settings: Settings) -> int:
    with connect(settings.pg_dsn) as conn:
        return conn.execute(
            "SELECT coalesce(max(notification_id), 0) FROM eventstore.sedulur_events"
        ).fetchone()[0]


# -- relay --------------------------------------------------------------------------------
@contextmanager
def relay_thread(settings: Settings) -> Iterator[Any]:
    from shared.relay import Relay

    relay = Relay(settings)
    thread = threading.Thread(target=relay.run, name="bench-relay", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.stop()
        thread.join(timeout=30)


def relay_backlog(settings: Settings, backlog: int, profile: Path | None = None) -> Measure:
    """Fill the store with a backlog, start a relay, and time it from its first confirmed
    batch to the last event (start-up — leader lock, topology, connections — excluded and
    reported apart)."""
    from shared import topology
    from shared.relay import Relay

    topology.declare(settings)
    start_id = max_notification_id(settings)
    last = fill(settings, backlog)
    with connect(settings.pg_dsn) as conn:
        conn.execute("INSERT INTO relay.positions (name, position) VALUES ('main', %s)"
                     " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                     (start_id,))
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    done = threading.Event()
    batches: list[tuple[float, int]] = []

    def on_batch(n: int, position: int) -> None:
        batches.append((time.perf_counter(), position))
        if position >= last:
            done.set()

    relay = Relay(settings, on_batch=on_batch)

    failure: list[BaseException] = []

    def run() -> None:
        if profiler:
            profiler.enable()
        try:
            relay.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
            failure.append(exc)
            done.set()
        finally:
            if profiler:
                profiler.disable()

    started = time.perf_counter()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    finished = done.wait(timeout=max(120, backlog / 200))
    took = time.perf_counter() - started
    relay.stop()
    thread.join(timeout=30)
    if profiler and profile:
        profiler.dump_stats(str(profile))
    if failure:
        raise failure[0]
    if not finished or len(batches) < 2:
        raise TimeoutError(f"relay reached {relay.position} of {last} in {took:.0f}s")
    (t0, p0), (t1, p1) = batches[0], batches[-1]
    fanout = sum(1 for s in topology.subscriptions() if s.event_type == "Registered")
    _purge_queues(settings)
    return Measure("relay_publish", "relay: stored events → confirmed by the broker",
                   (p1 - p0) / (t1 - t0), "events/s", "sedulur", t1 - t0,
                   detail={"events": last - start_id, "batches": len(batches),
                           "startup_and_first_batch_s": round(t0 - started, 2),
                           "with_startup_events_per_s": round((last - start_id) / took),
                           "queues_per_Registered": fanout})


def _purge_queues(settings: Settings) -> None:
    from kombu import Connection

    from shared import topology

    with Connection(settings.amqp_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        for sub in topology.subscriptions():
            channel.queue_purge(sub.queue_name)
        channel.close()


# -- DTKS ---------------------------------------------------------------------------------
def dtks_import(settings: Settings, path: Path, people: int) -> tuple[Measure, Measure]:
    from services.dtks_sync.generator import generate
    from services.dtks_sync.importer import import_file

    started = time.perf_counter()
    generate(path, people, seed=3, kabupaten=settings.default_kabupaten)
    gen_took = time.perf_counter() - started
    started = time.perf_counter()
    result = import_file(settings.pg_dsn, path)
    took = time.perf_counter() - started
    loaded = getattr(result, "rows_loaded", people)
    return (Measure("dtks_generate", "DTKS generator (synthetic rows to CSV)", people / gen_took,
                    "rows/s", "sedulur", gen_took, detail={"rows": people}),
            Measure("dtks_import", "DTKS import (CSV → staging COPY → validated snapshot)",
                    people / took, "rows/s", "sedulur", took,
                    detail={"rows": people, "rows_loaded": loaded,
                            "bytes": path.stat().st_size}))


def _lookup_measures(key: str, label: str, samples: list[float], took: float) -> list[Measure]:
    ms = [s * 1000 for s in samples]
    detail = {"lookups": len(ms), "p50_ms": round(percentile(ms, 50), 3),
              "p95_ms": round(percentile(ms, 95), 3), "p99_ms": round(percentile(ms, 99), 3),
              "max_ms": round(max(ms), 3)}
    return [Measure(f"{key}_p50", f"{label} p50", percentile(ms, 50), "ms", "sedulur", took),
            Measure(f"{key}_p99", f"{label} p99", percentile(ms, 99), "ms", "sedulur", took,
                    detail=detail)]


def lookups_direct(settings: Settings, niks: list[str]) -> list[Measure]:
    from services.dtks_sync.application import DtksReplica
    from shared.db import Database

    db = Database.from_settings(settings, max_size=2)
    try:
        replica = DtksReplica(db)
        for nik in niks[:50]:
            replica.lookup_nik(nik)
        samples = []
        started = time.perf_counter()
        for nik in niks:
            t0 = time.perf_counter()
            replica.lookup_nik(nik)
            samples.append(time.perf_counter() - t0)
        return _lookup_measures("lookup_direct", "NIK lookup, replica direct (1 client)",
                                samples, time.perf_counter() - started)
    finally:
        db.close()


def lookups_rpc(settings: Settings, niks: list[str]) -> list[Measure]:
    from nameko.standalone.rpc import ClusterRpcProxy

    from shared.rpc_auth import service_context
    from shared.shell import nameko_config

    config = nameko_config("bench", settings)
    with ClusterRpcProxy(config, timeout=30, context_data=service_context("bench")) as rpc:
        for nik in niks[:50]:
            rpc.dtks_sync.lookup_nik(nik)
        samples = []
        started = time.perf_counter()
        for nik in niks:
            t0 = time.perf_counter()
            rpc.dtks_sync.lookup_nik(nik)
            samples.append(time.perf_counter() - t0)
    return _lookup_measures("lookup_rpc", "NIK lookup, RPC lookup_nik via ClusterRpcProxy",
                            samples, time.perf_counter() - started)


# -- end to end ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def stack(settings: Settings, log_dir: Path) -> Iterator[Settings]:
    """All five services and the relay as separate processes on free ports."""
    from shared import topology
    from shared.supervisor import Stack

    for svc in SERVICES:
        os.environ[f"SEDULUR_{svc.upper()}_HTTP_PORT"] = str(free_port())
    os.environ["SEDULUR_RELAY_METRICS_PORT"] = str(free_port())
    from shared.auth import ensure_run_key

    ensure_run_key("bench")  # the stack's services and the load generator's tokens share it
    running_settings = Settings()
    topology.declare(running_settings)
    with Stack(running_settings, log_dir) as running:
        running.start_all()
        running.wait_healthy(timeout=120)
        yield running_settings


@dataclass
class Sent:
    offset: float
    posted_at: float = 0.0          # wall clock (epoch s) just before the POST
    answered_at: float = 0.0
    complaint_id: UUID | None = None
    error: str | None = None


@dataclass
class LoadRun:
    sent: list[Sent]
    started: float
    ended: float
    lag_samples: list[int] = field(default_factory=list)


_session = threading.local()


def _post(url: str, body: dict[str, Any], headers: dict[str, str], sent: Sent) -> None:
    session = getattr(_session, "s", None)
    if session is None:
        session = _session.s = requests.Session()
    sent.posted_at = time.time()
    try:
        resp = session.post(url, json=body, headers=headers, timeout=30)
        sent.answered_at = time.time()
        if resp.status_code >= 300:
            sent.error = f"{resp.status_code}: {resp.text[:120]}"
        else:
            sent.complaint_id = UUID(resp.json()["complaint_id"])
    except requests.RequestException as exc:
        sent.error = exc.__class__.__name__


def drive(settings: Settings, gen: LoadGenerator, offsets: list[float] | None, *,
          count: int | None = None, clients: int = 32, seconds_cap: float = 600,
          first: int = 0) -> LoadRun:
    """Open loop (`offsets`: each POST at its scheduled time, however slow the answers) or
    closed loop (`count` POSTs from `clients` threads as fast as answers come)."""
    url = settings.http_url("intake") + "/complaints"
    require_loopback(url)
    n = len(offsets) if offsets is not None else int(count or 0)
    requests_ = [gen.complaint(first + i) for i in range(n)]
    sent = [Sent(offsets[i] if offsets is not None else 0.0) for i in range(n)]
    lag: list[int] = []
    stop = threading.Event()

    def sample_lag() -> None:
        from shared.relay import relay_lag

        while not stop.wait(0.1):
            try:
                lag.append(relay_lag(settings)["lag"])
            except Exception:  # noqa: BLE001 - a missed sample is not a result
                pass

    sampler = threading.Thread(target=sample_lag, daemon=True)
    sampler.start()
    started = time.perf_counter()
    wall0 = time.time()
    deadline = started + seconds_cap

    def job(i: int) -> None:
        if offsets is not None:
            delay = started + sent[i].offset - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        if time.perf_counter() < deadline:
            body, headers = requests_[i]
            _post(url, body, headers, sent[i])
        else:
            sent[i].error = "not sent: time cap"

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(job, range(n)))
    ended = time.time()
    stop.set()
    sampler.join(timeout=5)
    return LoadRun(sent, wall0, ended, lag)


def wait_terminal(settings: Settings, ids: list[UUID],
                  timeout: float) -> dict[UUID, dict[str, float]]:
    """Wait until every complaint is ReferredToOPD or Rejected; return per complaint the
    event timestamps (epoch s) read from the store."""
    from shared.envelope import event_type_name

    app = ComplaintsApplication(settings)
    try:
        want = set(ids)
        deadline = time.monotonic() + timeout
        with connect(settings.pg_dsn) as conn:
            while True:
                done = conn.execute(
                    "SELECT count(DISTINCT originator_id) FROM eventstore.sedulur_events"
                    " WHERE originator_id = ANY(%s) AND (topic LIKE '%%ReferredToOPD'"
                    " OR topic LIKE '%%Rejected')", (list(want),)).fetchone()[0]
                if done >= len(want) or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            rows = conn.execute(
                "SELECT notification_id FROM eventstore.sedulur_events"
                " WHERE originator_id = ANY(%s) ORDER BY 1", (list(want),)).fetchall()
        out: dict[UUID, dict[str, float]] = {cid: {} for cid in ids}
        if not rows:
            return out
        lo, hi = rows[0][0], rows[-1][0]
        position = lo - 1
        while position < hi:
            batch = app.recorder.select_notifications(start=position, limit=2000,
                                                      inclusive_of_start=False, stop=hi)
            if not batch:
                break
            for n in batch:
                if n.originator_id in want:
                    e = app.mapper.to_domain_event(n)
                    out[e.originator_id].setdefault(event_type_name(e), e.timestamp.timestamp())
            position = batch[-1].id
        return out
    finally:
        app.close()


def e2e_fixed_rate(settings: Settings, gen: LoadGenerator, rate: float, seconds: float,
                   first: int = 0, drain_timeout: float = 120) -> list[Measure]:
    """Latency register → referred at a fixed arrival rate: from just before the POST to
    the ReferredToOPD event's own timestamp in the store."""
    from bench.loadgen import fixed_rate

    run = drive(settings, gen, fixed_rate(rate, seconds), clients=64, first=first)
    ok = [s for s in run.sent if s.complaint_id]
    times = wait_terminal(settings, [s.complaint_id for s in ok],  # type: ignore[misc]
                          timeout=drain_timeout)
    referred = [(times[s.complaint_id]["ReferredToOPD"] - s.posted_at) * 1000 for s in ok
                if "ReferredToOPD" in times[s.complaint_id]]  # type: ignore[index]
    rejected = [(times[s.complaint_id]["Rejected"] - s.posted_at) * 1000 for s in ok
                if "Rejected" in times[s.complaint_id]]  # type: ignore[index]
    answered = [(s.answered_at - s.posted_at) * 1000 for s in ok]
    stuck = len(ok) - len(referred) - len(rejected)
    took = run.ended - run.started
    detail = {"arrival_rate": rate, "seconds": seconds, "sent": len(run.sent),
              "errors": len(run.sent) - len(ok), "referred": len(referred),
              "rejected": len(rejected), f"not_terminal_after_{drain_timeout:.0f}s": stuck,
              "p50_ms": round(percentile(referred, 50), 1),
              "p95_ms": round(percentile(referred, 95), 1),
              "p99_ms": round(percentile(referred, 99), 1),
              "max_ms": round(max(referred), 1) if referred else None,
              "rejected_p50_ms": round(percentile(rejected, 50), 1),
              "post_p50_ms": round(percentile(answered, 50), 1),
              "post_p99_ms": round(percentile(answered, 99), 1),
              "relay_lag_events_max": max(run.lag_samples, default=0),
              "relay_lag_events_p95": percentile([float(x) for x in run.lag_samples], 95)}
    first_err = next((s.error for s in run.sent if s.error), None)
    if first_err:
        detail["first_error"] = first_err
    return [
        Measure("e2e_p50", f"register→referred p50 at {rate:.0f}/s", percentile(referred, 50),
                "ms", "sedulur", took),
        Measure("e2e_p95", f"register→referred p95 at {rate:.0f}/s", percentile(referred, 95),
                "ms", "sedulur", took),
        Measure("e2e_p99", f"register→referred p99 at {rate:.0f}/s", percentile(referred, 99),
                "ms", "sedulur", took, detail=detail),
        Measure("relay_lag_p95", f"relay lag under load ({rate:.0f}/s), p95 of 0.1 s samples",
                percentile([float(x) for x in run.lag_samples], 95), "events", "sedulur", took,
                detail={"max": max(run.lag_samples, default=0),
                        "samples": len(run.lag_samples)}),
    ]


def e2e_sustained(settings: Settings, gen: LoadGenerator, count: int, clients: int,
                  first: int = 0, seconds_cap: float = 600,
                  drain_timeout: float = 300) -> list[Measure]:
    """Closed loop: `clients` desks posting as fast as they are answered. Sustained rate =
    complaints that reached ReferredToOPD or Rejected, from the first POST to the last
    terminal event, so a backlog left behind the HTTP answers is counted, not hidden."""
    run = drive(settings, gen, None, count=count, clients=clients, first=first,
                seconds_cap=seconds_cap)
    ok = [s for s in run.sent if s.complaint_id]
    times = wait_terminal(settings, [s.complaint_id for s in ok],  # type: ignore[misc]
                          timeout=drain_timeout)
    ends = [min(v.get("ReferredToOPD", 1e20), v.get("Rejected", 1e20)) for v in times.values()]
    ends = [e for e in ends if e < 1e19]
    span = (max(ends) - run.started) if ends else float("nan")
    post_span = run.ended - run.started
    registered_rate = len(ok) / post_span if post_span else 0.0
    # Saturation: terminal events per second over 1 s buckets while POSTs were arriving.
    buckets: dict[int, int] = {}
    for e in ends:
        if e <= run.ended:
            buckets[int(e - run.started)] = buckets.get(int(e - run.started), 0) + 1
    steady = sorted(buckets.values())[len(buckets) // 2] if buckets else 0
    return [
        Measure("e2e_sustained", f"end-to-end complaints/s ({clients} desks, closed loop)",
                len(ends) / span if span == span and span > 0 else 0.0, "complaints/s",
                "sedulur", span, detail={"posted": len(ok), "not_sent_time_cap": sum(
                    1 for s in run.sent if s.error == "not sent: time cap"),
                                         "errors": sum(1 for s in run.sent if s.error and
                                                       s.error != "not sent: time cap"),
                                         "terminal": len(ends),
                                         "post_rate": round(registered_rate, 1),
                                         "post_seconds": round(post_span, 1),
                                         "drain_seconds": round(span - post_span, 1),
                                         "median_terminal_per_s_while_posting": steady,
                                         "relay_lag_events_max": max(run.lag_samples, default=0)}),
        Measure("e2e_register_rate", "POST /complaints answered/s (registration only)",
                registered_rate, "complaints/s", "sedulur", post_span),
    ]


def office_day_run(settings: Settings, gen: LoadGenerator, count: int, seconds: float,
                   first: int = 0, drain_timeout: float = 300) -> Measure:
    from bench.loadgen import hourly_histogram, office_day

    offsets = office_day(count, seconds)
    run = drive(settings, gen, offsets, clients=64, first=first)
    ok = [s for s in run.sent if s.complaint_id]
    times = wait_terminal(settings, [s.complaint_id for s in ok],  # type: ignore[misc]
                          timeout=drain_timeout)
    lat = [(v["ReferredToOPD"] - s.posted_at) * 1000 for s in ok
           if "ReferredToOPD" in (v := times[s.complaint_id])]  # type: ignore[index]
    return Measure("day_p99", f"office day compressed to {seconds:.0f} s: register→referred p99",
                   percentile(lat, 99), "ms", "sedulur", run.ended - run.started,
                   detail={"complaints": count,
                           "per_office_hour": hourly_histogram(offsets, seconds),
                           "p50_ms": round(percentile(lat, 50), 1),
                           "errors": len(run.sent) - len(ok)})


# -- rebuild ------------------------------------------------------------------------------
def rebuilds(settings: Settings) -> list[Measure]:
    from services.intake.projections import ComplaintStatus, OperatorActivity
    from services.routing.projections import AgencyQueue
    from services.sla.projections import Deadlines
    from shared.db import Database

    app = ComplaintsApplication(settings)
    db = Database.from_settings(settings, max_size=2)
    out = []
    try:
        for cls in (ComplaintStatus, OperatorActivity, AgencyQueue, Deadlines):
            try:
                projection = cls(app, db)
            except TypeError:
                continue
            started = time.perf_counter()
            count = projection.rebuild()
            took = time.perf_counter() - started
            out.append(Measure(f"rebuild_{cls.name}", f"rebuild {cls.name}", count / took,
                               "events/s", "sedulur", took, detail={"events": count}))
    finally:
        db.close()
        app.close()
    if out:
        slowest = min(out, key=lambda m: m.value)
        out.append(Measure("rebuild", "projection rebuild, slowest projection",
                           slowest.value, "events/s", "sedulur", slowest.seconds,
                           detail={"projection": slowest.key.removeprefix("rebuild_")}))
    return out
