"""Intake throughput: registrations/s through `POST /complaints` (the intake service as its
own process, 10 concurrent clients) and through CSV backfill (batched appends), each beside
the raw single-event append rate measured in the same run (design.md §12: always divide by a
ceiling measured in the same run; this machine is shared and noisy).

    PYTHONPATH=. python bench/intake_bench.py [--posts 2000] [--rows 5218] [--raw 2000]

Uses its own fresh database and RabbitMQ vhost, dropped at the end. Prints a table and one
JSON line. Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")  # green waits (see shared/cli.py)
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote, urlparse  # noqa: E402

import requests  # noqa: E402
from eventlet.greenpool import GreenPool  # noqa: E402

from shared.auth import Principal, bearer_headers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def retry(step, attempts: int = 6) -> None:
    """The shared broker answers slowly when other runs load it: try a set-up step again."""
    for attempt in range(attempts):
        try:
            step()
            return
        except Exception as exc:  # noqa: BLE001
            if attempt == attempts - 1:
                raise
            print(f"set-up step failed ({exc!r}); retrying", file=sys.stderr)
            time.sleep(5)


def nik(rng: random.Random, kec: int) -> str:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
    day = born.day + (40 if rng.random() < 0.5 else 0)
    return f"3325{kec:02d}{day:02d}{born:%m%y}{rng.randrange(1, 10_000):04d}"


def raw_append_rate(settings, n: int) -> float:
    """One Registered event per append, one client, through the same event store."""
    from shared.complaints.domainmodel import Complaint
    from shared.eventstore import ComplaintsApplication

    app = ComplaintsApplication(settings)
    rng = random.Random(1)
    aggregates = [
        Complaint.register(
            complaint_id=uuid.uuid4(), registration_number=f"3325-250101-{i:05d}0",
            kabupaten="3325", desk="332501", channel="desk", category="kis",
            description="raw append", citizen={"nik": nik(rng, 1), "name": "A"},
            wilayah="332501", priority="normal", confidential=False,
            actor={"user_id": "bench", "role": "operator", "desk": "332501"},
            correlation_id="bench")
        for i in range(n)
    ]
    started = time.perf_counter()
    for aggregate in aggregates:
        app.save(aggregate)
    elapsed = time.perf_counter() - started
    app.close()
    return n / elapsed


def post_rate(settings, n: int, clients: int, project_on_write: bool) -> tuple[float, int]:
    port = free_port()
    from shared.auth import ensure_run_key

    ensure_run_key("bench")  # the intake process inherits it
    env = {**os.environ, "SEDULUR_INTAKE_HTTP_PORT": str(port), "PYTHONPATH": str(ROOT),
           "SEDULUR_INTAKE_PROJECT_ON_WRITE": "yes" if project_on_write else "no"}
    log = tempfile.NamedTemporaryFile("w+", prefix="intake-bench-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run", "intake"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"intake did not become healthy; its log: {log.name}")
            time.sleep(0.2)
        rng = random.Random(2)
        bodies = [{"desk": f"3325{k:02d}", "category": rng.choice(["kis", "pkh", "bpnt"]),
                   "description": "bench", "citizen": {"nik": nik(rng, k), "name": "B"}}
                  for k in (rng.randrange(1, 16) for _ in range(n))]
        # one operator per desk the bodies name (an operator registers only at its desk)
        tokens = {b["desk"]: bearer_headers(Principal(user_id=f"bench-{b['desk']}",
                                                      role="operator", desk=b["desk"]))
                  for b in bodies}
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=clients, pool_maxsize=clients)
        session.mount("http://", adapter)

        def post(body: dict) -> int:
            return session.post(f"{url}/complaints", json=body, timeout=60,
                                headers={**tokens[body["desk"]],
                                         "Idempotency-Key": str(uuid.uuid4())}
                                ).status_code

        for body in bodies[:20]:  # warm up connections and the service's pools
            post(body)
        started = time.perf_counter()
        codes = list(GreenPool(clients).imap(post, bodies[20:]))
        elapsed = time.perf_counter() - started
        failures = sum(1 for c in codes if c != 201)
        return len(codes) / elapsed, failures
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def backfill_rate(settings, rows: int, batch: int) -> tuple[float, dict]:
    from services.intake.backfill import run_backfill
    from services.intake.dependencies import build

    rng = random.Random(3)
    today = date.today()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paper.csv"
        with path.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["form_number", "registered_on", "desk", "category", "description",
                          "nik", "name"])
            for i in range(rows):
                kec = rng.randrange(1, 16)
                out.writerow([f"BTG/{i:05d}", (today - timedelta(days=rng.randrange(365)))
                              .isoformat(), f"3325{kec:02d}", rng.choice(["kis", "pkh", "rtlh"]),
                              f"aduan kertas {i}", nik(rng, kec), f"Warga {i}"])
        ctx = build(settings, project_after_save=False)
        try:
            started = time.perf_counter()
            report = run_backfill(ctx.app, path, actor={"user_id": "bench", "role": "admin"},
                                  batch_size=batch)
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            rerun = run_backfill(ctx.app, path, actor={"user_id": "bench", "role": "admin"},
                                 batch_size=batch)
            rerun_elapsed = time.perf_counter() - started
        finally:
            ctx.close()
    return report.registered / elapsed, {
        "registered": report.registered, "refused": len(report.errors),
        "seconds": round(elapsed, 2), "rerun_registered": rerun.registered,
        "rerun_rows_per_s": round(rows / rerun_elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rows", type=int, default=5218, help="Batang's paper complaints")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--raw", type=int, default=2000)
    args = parser.parse_args()

    from shared.config import Settings
    from shared.migrations import create_database, drop_database, migrate
    from shared.rabbit import RabbitAdmin
    from shared.topology import declare

    base = Settings()
    run_id = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    dbname, vhost = f"sedulur_bench_{run_id}", f"sedulur_bench_{run_id}"
    dsn = create_database(base, dbname)
    admin = RabbitAdmin(base.rabbit_management_url)
    retry(lambda: admin.create_vhost(vhost))
    amqp = urlparse(base.amqp_uri)
    amqp_uri = f"{amqp.scheme}://{amqp.netloc}/{quote(vhost, safe='')}"
    os.environ.update({"SEDULUR_PG_DSN": dsn, "SEDULUR_AMQP_URI": amqp_uri})
    settings = Settings()
    try:
        migrate(settings)
        retry(lambda: declare(settings))
        raw_before = raw_append_rate(settings, args.raw)
        posts, failures = post_rate(settings, args.posts, args.clients, True)
        posts_bare, failures_bare = post_rate(settings, args.posts, args.clients, False)
        backfill, detail = backfill_rate(settings, args.rows, args.batch)
        raw_after = raw_append_rate(settings, args.raw)
    finally:
        # A busy shared server may time out a clean-up call: never lose the results for it.
        for cleanup in (lambda: drop_database(base, dbname), lambda: admin.delete_vhost(vhost)):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001
                print(f"clean-up failed (remove by hand): {exc!r}", file=sys.stderr)
    raw = (raw_before + raw_after) / 2
    print(f"raw single-event append, 1 client      {raw:8.0f} events/s "
          f"(before {raw_before:.0f}, after {raw_after:.0f})")
    print(f"POST /complaints, {args.clients} clients          {posts:8.0f} registrations/s "
          f"({posts / raw:.2f}x raw; {failures} non-201; read models updated in the request)")
    print(f"POST /complaints, {args.clients} clients          {posts_bare:8.0f} registrations/s "
          f"({posts_bare / raw:.2f}x raw; {failures_bare} non-201; "
          "SEDULUR_INTAKE_PROJECT_ON_WRITE=no)")
    print(f"backfill {args.rows} rows, batch {args.batch}     {backfill:8.0f} registrations/s "
          f"({backfill / raw:.2f}x raw; re-run registered {detail['rerun_registered']}, "
          f"{detail['rerun_rows_per_s']} rows/s)")
    print(json.dumps({"raw_append_per_s": round(raw), "post_per_s": round(posts),
                      "post_no_project_on_write_per_s": round(posts_bare),
                      "backfill_per_s": round(backfill), "post_failures": failures + failures_bare,
                      **{f"backfill_{k}": v for k, v in detail.items()}}))


if __name__ == "__main__":
    main()
