"""Nothing lost, nothing applied twice, under every crash we can cause (issue 13).

Each test runs a bounded load against all services as processes, injects one fault while
the load runs, waits until the system settled and runs the invariant checker over the
whole store, the projections, the queues and the agency subscriber's messages. The
numbers go to docs/reliability.md (see conftest.py).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import eventlet
import pytest
import requests

from shared.invariants import check_all
from tests.faults.conftest import COMPLAINTS, SECONDS, FaultSuite, Row
from tests.faults.harness import Load, Resolver, operator_headers, settle
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.system]


def run_fault(suite: FaultSuite, fault: str, inject: Callable[[], None], *,
              at: float = 0.35) -> None:
    """Load; at `at` of it, inject (returns when the fault is over); probe recovery;
    settle; check everything; record the row; fail on any violation."""
    tag = fault.split()[0].replace("-", "")[:12] + str(len(suite.rows))
    load = Load(suite.settings, suite.people, tag, COMPLAINTS, SECONDS).start()
    resolver = Resolver(suite.settings, suite.app)
    wait_until(lambda: load.offered >= COMPLAINTS * at, timeout=SECONDS * 3,
               interval=0.2, message="load under way")
    injected = time.monotonic()
    inject()
    restored = time.monotonic() - injected
    probe_person = suite.people[len(suite.rows) % len(suite.people)]
    recovered: dict[str, Any] = {}

    def probe() -> None:
        got = load.register_one(f"probe-{tag}", probe_person)
        if got is None:
            return
        url = f"{suite.settings.http_url('intake')}/complaints/{got.complaint_id}"
        desk = probe_person["KODE_WILAYAH"][:6]
        headers = operator_headers(desk, f"op-{tag}-probe")
        while "at" not in recovered:
            try:
                resp = requests.get(url, timeout=5, headers=headers)
                if resp.status_code == 200 and resp.json()["stage"] in ("referred", "rejected"):
                    recovered["at"] = time.monotonic()
                    return
            except requests.RequestException:
                pass
            eventlet.sleep(0.2)

    prober = eventlet.spawn(probe)
    while not all(t.dead for t in load._threads):
        resolver.add(load)
        resolver.step()
        eventlet.sleep(0.5)
    load.join()
    resolver.add(load)
    left = settle(suite.settings, suite.app, suite.admin, suite.vhost, load.accepted, resolver,
                  probe=lambda: "at" in recovered)
    prober.kill()
    suite.accepted.update({cid: a.registration_number for cid, a in load.accepted.items()})
    suite.subscriber.drain()
    checking = time.monotonic()
    report = check_all(suite.settings, accepted=suite.accepted,
                       received=suite.subscriber.received,
                       subscribed=suite.subscriber.subscribed,
                       expected_dead=suite.expected_dead, vhost=suite.vhost)
    suite.check_seconds += time.monotonic() - checking
    known = [f for f in report.findings if suite.known(f)]
    for f in known:
        name = suite.known(f) or ""
        suite.known_seen.setdefault(name, set()).add(f.subject)
    report.findings = [f for f in report.findings if f not in known]
    lost = report.lost + len(load.refused) + (1 if left else 0)
    recovery = recovered["at"] - injected if "at" in recovered else None
    ok = report.ok and not left and not load.refused and not resolver.errors
    suite.rows.append(Row(fault, load.offered, len(load.accepted), load.retries,
                          load.longest_stall, lost, report.duplicated, recovery, ok, len(known),
                          restored))
    problems = [str(f) for f in report.findings[:10]] + load.refused[:5] + resolver.errors[:5]
    if left:
        problems.append(f"did not settle: {left}")
    for text in problems:
        suite.findings.append((fault, text))
    assert ok, f"{fault}: " + "; ".join(problems) + "\n" + report.summary()


# -- kill -9 each process in turn, and restart it ---------------------------------------------

@pytest.mark.parametrize("name", ["intake", "verification", "routing", "sla", "dtks_sync",
                                  "relay"])
def test_kill_9_and_restart_loses_and_doubles_nothing(suite: FaultSuite, name: str) -> None:
    def inject() -> None:
        suite.stack.kill(name, signal.SIGKILL)
        suite.restart(name)

    run_fault(suite, f"kill -9 {name}, restart", inject)


# -- the broker restarts ------------------------------------------------------------------------

def _rabbitmqctl(*args: str) -> None:
    # subprocess is green under eventlet: the desks keep running while rabbitmqctl works
    # (not tpool: a green subprocess inside an OS thread deadlocked the run)
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_rabbitmq_restart_loses_and_doubles_nothing(suite: FaultSuite) -> None:
    """RabbitMQ is shared with other runs on this machine: one short outage, and the test
    waits for the broker and this run's queues to be back."""

    def inject() -> None:
        _rabbitmqctl("stop_app")
        try:
            eventlet.sleep(2)
        finally:
            _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")

        def queues_back() -> bool:
            try:
                return len(suite.admin.queues(suite.vhost)) > 0
            except Exception:  # noqa: BLE001
                return False

        wait_until(queues_back, timeout=60, interval=0.5, message="broker and vhost back")

    run_fault(suite, "RabbitMQ stop_app/start_app", inject)


# -- PostgreSQL connections cut ------------------------------------------------------------------

def test_postgres_connections_cut_loses_and_doubles_nothing(suite: FaultSuite) -> None:
    """Every backend of this run's database terminated, three times in a row, while desks
    register (the server itself is shared with other runs and stays up)."""
    from shared.db import connect

    dbname = suite.settings.pg.dbname

    def inject() -> None:
        with connect(suite.settings.pg.with_dbname("postgres")) as conn:
            for _ in range(3):
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))
                eventlet.sleep(1.5)

    run_fault(suite, "PostgreSQL connections terminated (3x)", inject)


# -- duplicate and out-of-order deliveries --------------------------------------------------

def republish_shuffled(suite: FaultSuite, copies: int = 2, last: int = 400,
                       seed: int = 5) -> int:
    """Publish `copies` more of each of the `last` events already published, to its
    `<owner>.events` exchange, in shuffled order: what a relay crash before saving its
    position, a network partition or a redelivery storm looks like to consumers."""
    from shared.complaints.domainmodel import owner_of
    from shared.envelope import encode, event_type_name, to_cloudevent
    from shared.invariants import Store
    from shared.relay import WindowedPublisher, relay_lag

    upto = relay_lag(suite.settings)["position"]
    store = Store.load(suite.app)
    numbers = {cid: s[0].registration_number for cid, s in store.streams.items()}
    messages = []
    published = [(p, e) for p, e in zip(store.positions, store.events, strict=True)
                 if p <= upto][-last:]
    for position, event in published:
        name = event_type_name(event)
        owner = owner_of(name)
        envelope = to_cloudevent(event, position=position, owner=owner,
                                 registration_number=numbers[event.originator_id])
        for _ in range(copies):
            messages.append((f"{owner}.events", name, encode(envelope), envelope["id"],
                             {"nameko.correlation_id": envelope.get("correlationid") or ""}))
    random.Random(seed).shuffle(messages)
    publisher = WindowedPublisher(suite.settings.amqp_uri, window=500)
    try:
        for exchange, key, body, mid, headers in messages:
            publisher.publish(exchange, key, body, mid, headers)
        publisher.flush(timeout=60)
    finally:
        publisher.close()
    return len(messages)


def test_duplicate_and_out_of_order_deliveries_apply_nothing_twice(suite: FaultSuite) -> None:
    def inject() -> None:
        republish_shuffled(suite)

    run_fault(suite, "duplicate + shuffled redelivery of the last 400 events", inject)


# -- a poison message ------------------------------------------------------------------------

POISON_QUEUES = ["evt-intake-Registered--verification.on_registered",
                 "evt-verification-Verified--routing.on_verified"]


def test_poison_messages_end_in_the_dead_letter_queue_while_everything_flows(
        suite: FaultSuite) -> None:
    """A JSON body that is no CloudEvent, and a body that is no JSON at all, each sent
    straight to a consumer queue: both dead-lettered after the delivery limit, nothing
    else, and the load around them is untouched."""
    from shared.relay import WindowedPublisher

    poisons = {
        "poison-not-a-cloudevent": (POISON_QUEUES[0], json.dumps({"hello": "world"}).encode()),
        "poison-not-json": (POISON_QUEUES[1], b"\x00\xffnot json at all"),
    }

    def inject() -> None:
        publisher = WindowedPublisher(suite.settings.amqp_uri)
        try:
            for mid, (queue, body) in poisons.items():
                publisher.publish("", queue, body, mid)
            publisher.flush()
        finally:
            publisher.close()
        suite.expected_dead.update(poisons)

    run_fault(suite, "poison messages to two consumer queues", inject)


# -- two relays and two sla instances --------------------------------------------------------

def test_two_relays_and_two_sla_instances_publish_and_track_everything_once(
        suite: FaultSuite) -> None:
    """A second relay waits on the leader lock and takes over when the leader is killed;
    two sla processes consume the same queues at once."""
    stack = suite.stack
    stack.start("relay", instance=2, env={"SEDULUR_RELAY_METRICS_PORT": str(free_port())})
    stack.start("sla", instance=2, env={"SEDULUR_SLA_HTTP_PORT": str(free_port())})
    stack.wait_healthy(timeout=90)
    try:
        def inject() -> None:
            stack.kill("relay", signal.SIGKILL)   # the leader: #2 must take over
            stack.start("relay")                  # and #1 comes back as the follower

        run_fault(suite, "two relays (leader killed) + two sla", inject)
    finally:
        stack.remove("relay#2")
        stack.remove("sla#2")
