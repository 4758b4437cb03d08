"""The benchmark run: raw ceilings first, then Sedulur's stages, each stage on its own so
one failure is reported without losing the rest. Runs without eventlet (a plain process):
the ceilings must not pay for green sockets; the services it starts run as in production.

    python -m bench.run [--quick] [--keep] [--profile-relay]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ceilings, env, pipeline
from bench.report import Measure, RunResult, write

DOCS = env.ROOT / "docs" / "benchmarks.md"
RESULTS = env.ROOT / "bench" / "results"
ANALYSIS = env.ROOT / "bench" / "analysis.md"


@dataclass(frozen=True)
class Sizes:
    seconds: float            # each timed raw / append slice
    rounds: int               # interleaved slices per loop
    copy_rows: int
    messages: int
    relay_backlog: int
    dtks_people: int
    lookups: int
    fixed_rate: float
    fixed_seconds: float
    sustained_count: int
    sustained_clients: int
    sustained_cap: float      # stop posting after this many seconds, whatever is left
    drain_timeout: float      # wait at most this long for complaints to become terminal
    day_count: int            # 0: skip the compressed office day
    day_seconds: float


QUICK = Sizes(seconds=1, rounds=3, copy_rows=300_000, messages=20_000, relay_backlog=20_000,
              dtks_people=200_000, lookups=1_000, fixed_rate=50, fixed_seconds=12,
              sustained_count=2_000, sustained_clients=24, sustained_cap=20, drain_timeout=60,
              day_count=0, day_seconds=0)
FULL = Sizes(seconds=2, rounds=5, copy_rows=1_000_000, messages=100_000, relay_backlog=60_000,
             dtks_people=1_000_000, lookups=10_000, fixed_rate=50, fixed_seconds=60,
             sustained_count=12_000, sustained_clients=32, sustained_cap=60, drain_timeout=180,
             day_count=3_000, day_seconds=60)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {env.load()[0]:.2f}] {text}", flush=True)


def _transient(exc: BaseException) -> bool:
    """A shared server out of connection slots or restarted under us (other runs and fault
    tests use the same PostgreSQL and RabbitMQ): worth one more try, not a finding."""
    text = f"{exc.__class__.__name__} {exc}"
    return any(s in text for s in ("too many clients", "Connection refused", "BrokenPipe",
                                   "ConnectionReset", "Broken pipe"))


class Runner:
    def __init__(self, result: RunResult) -> None:
        self.result = result

    def stage(self, name: str, fn: Callable[[], Any]) -> Any:
        say(f"{name} …")
        for attempt in (1, 2):
            try:
                out = fn()
                break
            except Exception as exc:  # noqa: BLE001 - reported in the results, run goes on
                if attempt == 1 and _transient(exc):
                    say(f"{name}: {exc.__class__.__name__}: {exc}; retrying in 10 s")
                    time.sleep(10)
                    continue
                self.result.errors[name] = f"{exc.__class__.__name__}: {exc}"
                say(f"{name} FAILED: {exc.__class__.__name__}: {exc}")
                traceback.print_exc()
                return None
        measures = out if isinstance(out, list | tuple) else [out]
        for m in measures:
            if isinstance(m, Measure):
                m.load = env.load()[0]
                self.result.add(m)
                say(f"  {m.label}: {m.value:,.1f} {m.unit}")
        return out


def interleaved(settings: Any, kinds: list[Any], rounds: int, seconds: float) -> list[Measure]:
    """Raw and Sedulur loops in alternating short slices, so a burst of load from
    elsewhere hits both sides of a ratio; each value is the median of its slices."""
    subjects = [kind(settings) for kind in kinds]
    try:
        rates: dict[str, list[float]] = {s.key: [] for s in subjects}
        for _ in range(rounds):
            for subject in subjects:
                rates[subject.key].append(subject.rate(seconds))
    finally:
        for subject in subjects:
            subject.close()
    return [Measure(s.key, s.label, statistics.median(rates[s.key]), s.unit,
                    "raw" if s.__module__ == ceilings.__name__ else "sedulur",
                    seconds * rounds, detail={"slices": [round(x) for x in rates[s.key]]})
            for s in subjects]


def relay_between_ceilings(settings: Any, sizes: Sizes, profile: Path | None) -> list[Measure]:
    """The raw windowed publish right before and right after the relay: the ceiling is
    their mean, so the relay is compared with the broker as it was around it."""
    before = [*ceilings.rabbit(settings, sizes.messages),
              ceilings.rabbit_like_relay(settings, sizes.messages)]
    relay = pipeline.relay_backlog(settings, sizes.relay_backlog, profile)
    after = [*ceilings.rabbit(settings, sizes.messages),
             ceilings.rabbit_like_relay(settings, sizes.messages)]
    merged = []
    for b, a in zip(before, after, strict=True):
        b.detail.update({"before": round(b.value), "after": round(a.value)})
        b.value = (b.value + a.value) / 2
        b.seconds += a.seconds
        merged.append(b)
    return [*merged, relay]


def run(quick: bool, keep: bool = False, profile_relay: Path | None = None,
        docs: Path = DOCS, results: Path = RESULTS) -> RunResult:
    from shared.auth import ensure_run_key

    ensure_run_key("bench")  # every service the run starts inherits the signing key
    sizes = QUICK if quick else FULL
    meta = env.machine()
    meta.update({"quick": quick, "mode": "quick" if quick else "full",
                 "sizes": sizes.__dict__, "load": {"before": env.load(),
                                                   "busiest_before": env.busy_cpus()}})
    result = RunResult(meta)
    r = Runner(result)
    started = time.monotonic()
    with env.isolated(keep=keep) as settings, tempfile.TemporaryDirectory(
            prefix="sedulur-bench-") as tmp:
        work = Path(tmp)
        logs = env.ROOT / "var" / "bench-logs" / meta["date"].replace(":", "")
        meta["service_logs"] = str(logs)
        meta["versions"] = env.versions(settings)
        r.stage("raw commits and event appends, interleaved", lambda: interleaved(
            settings, [ceilings.PgCommit, ceilings.PgCommitLocked, ceilings.PgRoundTrip,
                       pipeline.AppendSingle, pipeline.AppendBatched],
            sizes.rounds, sizes.seconds))
        r.stage("raw PostgreSQL binary COPY",
                lambda: ceilings.pg_copy_binary(settings, sizes.copy_rows))
        r.stage("raw RabbitMQ, relay, raw RabbitMQ again", lambda: relay_between_ceilings(
            settings, sizes, profile_relay))
        dtks_file = work / "dtks.csv"
        r.stage("DTKS generate + import",
                lambda: pipeline.dtks_import(settings, dtks_file, sizes.dtks_people))
        if result.get("dtks_import"):
            _end_to_end(r, settings, sizes, dtks_file, logs)
        else:
            result.errors["end-to-end"] = "skipped: no DTKS slice (the import stage failed)"
        r.stage("projection rebuild", lambda: pipeline.rebuilds(settings))
    meta["load"]["after"] = env.load()
    meta["load"]["busiest_after"] = env.busy_cpus()
    meta["seconds"] = round(time.monotonic() - started, 1)
    before, after = meta["load"]["before"][0], meta["load"]["after"][0]
    cpus = meta.get("cpus") or 1
    if max(before, after) > 0.5 * cpus:
        meta["load"]["note"] = (f"the machine was busy (1-min load up to {max(before, after):.1f} "
                                f"on {cpus} CPUs, beyond this run's own load): numbers are noisy")
    json_path, md_path = write(result, json_dir=results, markdown_path=docs,
                               analysis_path=ANALYSIS)
    say(f"done in {meta['seconds']:.0f}s: {md_path} and {json_path}")
    return result


def _end_to_end(r: Runner, settings: Any, sizes: Sizes, dtks_file: Path, logs: Path) -> None:
    from bench.loadgen import LoadGenerator, read_people
    from services.dtks_sync.generator import kecamatan_codes

    people = read_people(dtks_file)
    gen = LoadGenerator(people, kecamatan_codes(settings.default_kabupaten), run_tag="bench")
    say("starting the five services and the relay as processes …")
    try:
        with pipeline.stack(settings, logs) as running:
            niks = [p["NIK"] for p in people[: sizes.lookups]]
            r.stage("NIK lookup (replica direct)", lambda: pipeline.lookups_direct(running, niks))
            r.stage("NIK lookup (RPC)", lambda: pipeline.lookups_rpc(running, niks))
            first = 0
            r.stage(f"end-to-end at {sizes.fixed_rate:.0f}/s",
                    lambda: pipeline.e2e_fixed_rate(running, gen, sizes.fixed_rate,
                                                    sizes.fixed_seconds, first=first,
                                                    drain_timeout=sizes.drain_timeout))
            first += int(sizes.fixed_rate * sizes.fixed_seconds)
            r.stage("end-to-end sustained",
                    lambda: pipeline.e2e_sustained(running, gen, sizes.sustained_count,
                                                   sizes.sustained_clients, first=first,
                                                   seconds_cap=sizes.sustained_cap,
                                                   drain_timeout=sizes.drain_timeout))
            first += sizes.sustained_count
            if sizes.day_count:
                r.stage("office day", lambda: pipeline.office_day_run(
                    running, gen, sizes.day_count, sizes.day_seconds, first=first,
                    drain_timeout=sizes.drain_timeout))
    except Exception as exc:  # noqa: BLE001 - the stack failed to start or stop
        r.result.errors["service stack"] = f"{exc.__class__.__name__}: {exc}"
        say(f"stack FAILED: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 3 minutes")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and vhost")
    parser.add_argument("--profile-relay", type=Path, help="write a cProfile of the relay here")
    args = parser.parse_args(argv)
    result = run(args.quick, args.keep, args.profile_relay)
    return 1 if not result.measures else 0


if __name__ == "__main__":
    raise SystemExit(main())
