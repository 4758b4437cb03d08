"""What leaves Sedulur over AMQP for those without Sedulur code: an agency's referrals to the
plain-pika example subscriber under a user that may read only its own queue, citizen
notifications for an SMS / WhatsApp gateway, and a poison message that ends in the
dead-letter queue (visible in routing's /metrics) while the next messages still flow."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest
import requests
from kombu import Connection, Exchange, Producer

from services.routing.service import RoutingService
from shared import topology
from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.nameko_ext import event_handler
from tests.helpers import relay_running, running_service, wait_until

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = {"user_id": "system:test", "role": "system", "desk": None}


def referred(app, *, kabupaten: str, agency: str, phone: str | None = None,
             resolve: bool = False) -> tuple[uuid.UUID, str]:
    key = f"sub-{uuid.uuid4()}"
    nik = f"{kabupaten}01450790{uuid.uuid4().int % 10000:04d}"
    citizen = {"nik": nik, "name": "Siti", **({"phone": phone} if phone else {})}
    c = Complaint.register(
        complaint_id=complaint_id_for(key), registration_number=key, kabupaten=kabupaten,
        desk=f"{kabupaten}01", channel="desk", category="kis", description="KIS tidak aktif",
        citizen=citizen, wilayah=f"{kabupaten}01", priority="normal", confidential=False,
        actor={"user_id": "op", "role": "operator", "desk": "x"}, correlation_id=key)
    c.verify(rule="t", dtks_snapshot="s", reasons=[], actor=SYSTEM, correlation_id=key)
    c.refer(agency=agency, routing_rule="test-rule", routing_table_version=0, actor=SYSTEM,
            correlation_id=key)
    if resolve:
        c.resolve(agency=agency, outcome="selesai", actor=SYSTEM, correlation_id=key)
    app.save_or_conflict(c)
    return c.id, nik


def relay_caught_up(settings, app) -> bool:
    from shared.db import connect

    with connect(settings.pg_dsn) as conn:
        row = conn.execute("SELECT position FROM relay.positions WHERE name = 'main'").fetchone()
    return bool(row) and row[0] >= (app.recorder.max_notification_id() or 0)


@pytest.fixture(scope="module")
def published(topology_declared, event_app) -> dict[str, Any]:
    """Referrals to DINKES 3325 (the subscriber's), BPJSKES 3325 and DINKES 3394, relayed."""
    made = {
        "mine": [referred(event_app, kabupaten="3325", agency="DINKES", phone="+6281234567890")
                 for _ in range(3)],
        "other_agency": [referred(event_app, kabupaten="3325", agency="BPJSKES")],
        "other_kab": [referred(event_app, kabupaten="3394", agency="DINKES")],
        "resolved": [referred(event_app, kabupaten="3395", agency="DINKES", resolve=True)],
    }
    with relay_running(topology_declared):
        wait_until(lambda: relay_caught_up(topology_declared, event_app), timeout=60,
                   message="relay caught up")
    return made


@pytest.fixture(scope="module")
def dinkes_user(sedulur_env, rabbit_admin, vhost):
    """A RabbitMQ user for DINKES of 3325 that may read its own queue and nothing else."""
    user, password = f"agency-3325-DINKES-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    rabbit_admin.create_user(user, password)
    rabbit_admin.set_permissions(vhost, user, configure="^$", write="^$",
                                 read=r"^agency\.3325\.DINKES$")
    amqp = urlparse(sedulur_env.amqp_uri)
    yield (f"amqp://{quote(user)}:{password}@{amqp.hostname}:{amqp.port or 5672}/"
           f"{quote(vhost, safe='')}")
    rabbit_admin.delete_user(user)


def subscriber(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: the example must run without Sedulur on the path.
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "agency_subscriber.py"), "--url", url, *args],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"},
        cwd="/")


def test_the_example_subscriber_imports_nothing_from_sedulur():
    source = (ROOT / "examples" / "agency_subscriber.py").read_text()
    assert "import pika" in source
    assert not [line for line in source.splitlines()
                if line.startswith(("import ", "from ")) and ("shared" in line
                                                              or "services" in line)]


def test_the_subscriber_as_dinkes_receives_exactly_its_own_referrals(published, dinkes_user):
    done = subscriber(dinkes_user, "--kabupaten", "3325", "--agency", "DINKES",
                      "--idle-timeout", "3")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events and all(e["routing_key"] == "3325.DINKES" for e in events)
    assert all(e["data"]["agency"] == "DINKES" and e["data"]["kabupaten"] == "3325"
               for e in events)
    received = {e["complaintid"] for e in events}
    assert {str(cid) for cid, _ in published["mine"]} <= received
    others = published["other_agency"] + published["other_kab"]
    assert not received & {str(cid) for cid, _ in others}
    mine = [e for e in events if e["complaintid"] in {str(c) for c, _ in published["mine"]}]
    for event, (_, nik) in zip(sorted(mine, key=lambda e: e["complaintid"]),
                               sorted(published["mine"], key=lambda p: str(p[0])),
                               strict=True):
        assert event["specversion"] == "1.0" and event["type"].endswith("ReferredToOPD")
        assert event["data"]["nik"] == nik[:4] + "********" + nik[-4:]
        assert nik not in json.dumps(event) and "+6281234567890" not in json.dumps(event)


@pytest.mark.parametrize(
    "args",
    [("--kabupaten", "3325", "--agency", "DINKES", "--bind", "3325.BPJSKES"),
     ("--kabupaten", "3325", "--agency", "BPJSKES"),
     ("--kabupaten", "3394", "--agency", "DINKES")],
    ids=["bind-other-agency-key", "read-other-agency-queue", "read-other-kabupaten-queue"],
)
def test_the_subscriber_as_dinkes_is_refused_another_agencys_referrals(
        published, dinkes_user, args):
    done = subscriber(dinkes_user, *args, "--idle-timeout", "2")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "ACCESS_REFUSED" in done.stderr
    assert done.stdout == ""


def drain(settings, queue: str) -> list[dict[str, Any]]:
    """Take everything from a queue the topology declared (not re-declaring it)."""
    got = []
    with Connection(settings.amqp_uri) as conn:
        channel = conn.channel()
        while (msg := channel.basic_get(queue, no_ack=False)) is not None:
            got.append(json.loads(msg.body))
            channel.basic_ack(msg.delivery_tag)
        channel.close()
    return got


def test_an_agency_whose_role_needs_it_gets_the_full_nik(published, topology_declared):
    [(cid, nik)] = published["other_agency"]
    [event] = [e for e in drain(topology_declared, "agency.3325.BPJSKES")
               if e["complaintid"] == str(cid)]
    assert event["data"]["nik"] == nik and event["data"]["nik_masked"] is False


def test_citizens_get_referred_and_resolved_notifications_in_indonesian(
        published, topology_declared):
    messages = drain(topology_declared, topology.NOTIFICATIONS_QUEUE)
    by_complaint: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        by_complaint.setdefault(m["complaintid"], []).append(m)
    for cid, _ in published["mine"]:
        [note] = by_complaint[str(cid)]
        assert note["type"] == "id.sedulur.notification.citizen.referred"
        assert note["data"]["phone"] == "+6281234567890"
        assert "diteruskan ke Dinas Kesehatan" in note["data"]["text"]
    [(cid, _)] = published["resolved"]
    kinds = [m["data"]["status"] for m in by_complaint[str(cid)]]
    assert kinds == ["referred", "resolved"]
    assert all("phone" not in m["data"] for m in by_complaint[str(cid)])


# --- dead letters ------------------------------------------------------------------------

SEEN: list[str] = []
ATTEMPTS: dict[str, int] = {}


class PoisonProbe:
    """A consumer that raises on one message and handles every other."""

    name = "poisonprobe"

    @event_handler("poisontest", "Poke")
    def handle(self, payload: dict[str, Any]) -> None:
        ATTEMPTS[payload["id"]] = ATTEMPTS.get(payload["id"], 0) + 1
        if payload.get("poison"):
            raise RuntimeError("cannot handle this one")
        SEEN.append(payload["id"])


def dlq_metric(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(f'sedulur_dead_letters{{queue="{topology.DLQ}"}}'):
            return float(line.split()[-1])
    raise AssertionError("sedulur_dead_letters missing from /metrics")


def test_a_poison_message_ends_in_the_dead_letter_queue_and_the_next_ones_are_processed(
        topology_declared, rabbit_admin, vhost):
    settings = topology_declared
    run = uuid.uuid4().hex[:8]
    poison = f"poison-{run}"
    fine = [f"fine-{run}-{i}" for i in range(5)]
    with running_service(RoutingService, settings) as routing_url, \
            running_service(PoisonProbe, settings):
        before = dlq_metric(routing_url)
        with Connection(settings.amqp_uri) as conn:
            producer = Producer(conn.channel(), serializer="json")
            exchange = Exchange("poisontest.events", type="topic", durable=True,
                                auto_delete=False)
            for msg_id in [poison, *fine]:
                producer.publish({"id": msg_id, "poison": msg_id == poison}, exchange=exchange,
                                 routing_key="Poke", delivery_mode=2, mandatory=True,
                                 declare=[exchange])
        wait_until(lambda: set(fine) <= set(SEEN), timeout=60,
                   message="the messages after the poison processed")
        wait_until(lambda: dlq_metric(routing_url) >= before + 1, timeout=90,
                   message="the poison message counted in the dead-letter metric")

    # RabbitMQ dead-letters once the returns exceed the limit: 1 + delivery-limit tries
    # (3.10 here); count either way in case a broker counts the first delivery too.
    assert ATTEMPTS[poison] in (settings.delivery_limit, settings.delivery_limit + 1)
    assert all(ATTEMPTS[m] == 1 for m in fine)
    dead = rabbit_admin._call("POST", f"/queues/{quote(vhost, safe='')}/{topology.DLQ}/get",
                              {"count": 1000, "ackmode": "ack_requeue_true",
                               "encoding": "auto"})
    ours = [m for m in dead if json.loads(m["payload"]).get("id") == poison]
    assert len(ours) == 1
    assert ours[0]["properties"]["headers"]["x-death"][0]["queue"] == \
        "evt-poisontest-Poke--poisonprobe.handle"
