"""deploy/rabbitmq/definitions.json: generated from the code, loadable, and what it promises
(quorum queues, dead-letter path, policies, least-privilege users) holds in a real broker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from kombu import Connection

from shared import topology
from shared.config import SERVICES
from shared.rabbit import RabbitAdmin
from shared.rabbit_definitions import (
    agency_user,
    generate,
    password_env,
    rabbit_password_hash,
    retarget,
    service_user,
    with_passwords,
)
from tests.helpers import wait_until

DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq" / "definitions.json"


def committed() -> dict:
    return json.loads(DEFINITIONS.read_text())


def test_committed_definitions_equal_what_the_code_generates(monkeypatch):
    monkeypatch.delenv("SEDULUR_ROUTING_FILE", raising=False)
    fresh = json.loads(json.dumps(generate(vhost="/", kabupaten=["3325"], delivery_limit=5)))
    assert committed() == fresh, (
        "deploy/rabbitmq/definitions.json is stale: regenerate with "
        "`sedulur rabbit definitions --vhost / --out deploy/rabbitmq/definitions.json`")


def test_every_consumer_queue_of_the_code_is_a_quorum_queue_in_the_definitions():
    queues = {q["name"]: q for q in committed()["queues"]}
    for sub in topology.subscriptions():
        assert queues[sub.queue_name]["arguments"] == {"x-queue-type": "quorum"}
        assert queues[sub.queue_name]["durable"] is True


def test_consumer_policy_dead_letters_after_the_delivery_limit():
    [policy] = [p for p in committed()["policies"] if p["name"] == topology.CONSUMER_POLICY]
    assert policy["pattern"] == topology.CONSUMER_POLICY_PATTERN
    assert policy["apply-to"] == "queues"
    assert policy["definition"] == {"dead-letter-exchange": topology.DLX, "delivery-limit": 5}
    bindings = committed()["bindings"]
    assert {"source": topology.DLX, "destination": topology.DLQ, "routing_key": "#"}.items() <= \
        next(b for b in bindings if b["destination"] == topology.DLQ).items()


def test_committed_definitions_carry_no_password():
    assert all(u["password_hash"] == "" for u in committed()["users"])


def test_every_agency_of_the_routing_table_has_a_read_only_user_for_its_own_queue():
    from services.routing.domainmodel import RoutingTable

    perms = {p["user"]: p for p in committed()["permissions"]}
    for agency in RoutingTable.load().agencies:
        perm = perms[agency_user("3325", agency)]
        assert perm["configure"] == "^$" and perm["write"] == "^$"
        assert perm["read"] == f"^agency\\.3325\\.{agency}$"


def test_password_hash_matches_rabbitmq_sha256_scheme():
    import base64
    import hashlib

    raw = base64.b64decode(rabbit_password_hash("rahasia", salt=b"\x01\x02\x03\x04"))
    assert raw[:4] == b"\x01\x02\x03\x04"
    assert raw[4:] == hashlib.sha256(b"\x01\x02\x03\x04rahasia").digest()


def test_users_without_a_password_are_left_out_of_a_load():
    doc = generate(vhost="/", kabupaten=["3325"])
    loadable, skipped = with_passwords(doc, {service_user("intake"): "pw"})
    assert [u["name"] for u in loadable["users"]] == [service_user("intake")]
    assert {p["user"] for p in loadable["permissions"]} == {service_user("intake")}
    assert service_user("routing") in skipped
    assert password_env("agency-3325-dinkes") == "SEDULUR_RABBIT_PASSWORD_AGENCY_3325_DINKES"


@pytest.fixture(scope="module")
def loaded_vhost(sedulur_env):
    """The committed definitions loaded into a fresh vhost, users prefixed for this module
    (loaded once: creating ~40 quorum queues is slow on a busy broker)."""
    admin = RabbitAdmin(sedulur_env.rabbit_management_url, timeout=120)
    vhost = f"sedulur_defs_{uuid.uuid4().hex[:8]}"
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    doc = retarget(committed(), vhost=vhost, user_prefix=prefix)
    passwords = {u["name"]: "pw-" + u["name"] for u in doc["users"]}
    loadable, _ = with_passwords(doc, passwords)
    admin.create_vhost(vhost)
    try:
        admin.load_definitions(loadable)
        amqp = urlparse(sedulur_env.amqp_uri)
        yield {"admin": admin, "vhost": vhost, "prefix": prefix, "doc": doc,
               "amqp": f"{amqp.scheme}://{{user}}:{{password}}@{amqp.hostname}:{amqp.port or 5672}"
                       f"/{quote(vhost, safe='')}"}
    finally:
        admin.delete_vhost(vhost)
        for user in doc["users"]:
            admin.delete_user(user["name"])


def test_loaded_definitions_create_quorum_queues_with_the_dead_letter_policy(loaded_vhost):
    admin, vhost = loaded_vhost["admin"], loaded_vhost["vhost"]

    def policies_applied():
        found = {q["name"]: q for q in admin.queues(vhost)}
        return all(found.get(s.queue_name, {}).get("policy") for s in topology.subscriptions()) \
            and found

    # Queue stats (where the applied policy shows) are refreshed every few seconds.
    queues = wait_until(policies_applied, timeout=30, message="policy shown on every queue")
    for sub in topology.subscriptions():
        q = queues[sub.queue_name]
        assert q["type"] == "quorum"
        assert q["policy"] == topology.CONSUMER_POLICY
        assert q["effective_policy_definition"]["dead-letter-exchange"] == topology.DLX
    assert topology.DLQ in queues
    assert queues["agency.3325.DINKES"]["type"] == "quorum"
    policies = {p["name"] for p in admin._call("GET", f"/policies/{quote(vhost, safe='')}")}
    assert topology.CONSUMER_POLICY in policies
    exchanges = {e["name"] for e in admin._call("GET", f"/exchanges/{quote(vhost, safe='')}")}
    assert {topology.DLX, topology.AGENCY_EXCHANGE, "intake.events", "routing.events"} <= exchanges


def test_code_declarations_agree_with_the_loaded_definitions(loaded_vhost, sedulur_env):
    """topology.declare on top of the loaded vhost must not hit a 406 (argument mismatch)."""
    from dataclasses import replace

    amqp = urlparse(sedulur_env.amqp_uri)
    settings = replace(sedulur_env, amqp_uri=f"{amqp.scheme}://{amqp.netloc}/"
                                             f"{quote(loaded_vhost['vhost'], safe='')}")
    declared = topology.declare(settings, apply_policy=False)
    assert sorted(declared) == sorted(s.queue_name for s in topology.subscriptions())


def test_agency_user_reads_its_own_queue_and_nothing_else(loaded_vhost):
    user = loaded_vhost["prefix"] + agency_user("3325", "DINKES")
    uri = loaded_vhost["amqp"].format(user=user, password="pw-" + user)
    with Connection(uri, connect_timeout=10) as conn:
        channel = conn.channel()
        channel.basic_consume("agency.3325.DINKES", callback=lambda m: None)
        channel.close()
    with Connection(uri, connect_timeout=10) as conn:
        channel = conn.channel()
        with pytest.raises(Exception, match="ACCESS_REFUSED"):
            channel.basic_consume("agency.3325.DINSOS", callback=lambda m: None)
    with Connection(uri, connect_timeout=10) as conn:
        channel = conn.channel()
        with pytest.raises(Exception, match="ACCESS_REFUSED"):
            channel.basic_consume("evt-intake-Registered--intake.on_registered",
                                  callback=lambda m: None)


def test_service_user_cannot_consume_another_services_queue(loaded_vhost):
    user = loaded_vhost["prefix"] + service_user("routing")
    uri = loaded_vhost["amqp"].format(user=user, password="pw-" + user)
    mine = next(s.queue_name for s in topology.subscriptions() if s.service == "routing")
    other = next(s.queue_name for s in topology.subscriptions() if s.service == "intake")
    with Connection(uri, connect_timeout=10) as conn:
        channel = conn.channel()
        channel.basic_consume(mine, callback=lambda m: None)
        channel.close()
    with Connection(uri, connect_timeout=10) as conn:
        channel = conn.channel()
        with pytest.raises(Exception, match="ACCESS_REFUSED"):
            channel.basic_consume(other, callback=lambda m: None)


def test_cli_load_creates_the_vhost_objects_and_leaves_passwordless_users_alone(
    sedulur_env, monkeypatch
):
    from typer.testing import CliRunner

    from shared.cli import app

    vhost = f"sedulur_cli_{uuid.uuid4().hex[:8]}"
    amqp = urlparse(sedulur_env.amqp_uri)
    monkeypatch.setenv("SEDULUR_AMQP_URI", f"{amqp.scheme}://{amqp.netloc}/{vhost}")
    for user in committed()["users"]:
        monkeypatch.delenv(password_env(user["name"]), raising=False)
    admin = RabbitAdmin(sedulur_env.rabbit_management_url)
    try:
        result = CliRunner().invoke(app, ["rabbit", "definitions", "--load"])
        assert result.exit_code == 0, result.output
        names = {q["name"] for q in admin.queues(vhost)}
        assert {s.queue_name for s in topology.subscriptions()} | {topology.DLQ} <= names
        assert "users without a password in the environment" in result.output
    finally:
        admin.delete_vhost(vhost)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_with_only_its_own_rabbitmq_user(loaded_vhost, topology_declared,
                                                           service):
    """The service's permissions are enough for everything nameko declares and consumes
    (its event queues, its RPC queue and reply queues): the container starts and serves."""
    import importlib

    import requests

    from tests.helpers import running_service

    user = loaded_vhost["prefix"] + service_user(service)
    uri = loaded_vhost["amqp"].format(user=user, password="pw-" + user)
    cls = importlib.import_module(f"services.{service}.service").SERVICE
    with running_service(cls, topology_declared, AMQP_URI=uri, SEDULUR_AMQP_URI=uri,
                         SEDULUR_HEALTH_RELAY_LAG_EVENTS=10**9,
                         SEDULUR_HEALTH_RELAY_LAG_SECONDS=10**9) as url:
        resp = requests.get(f"{url}/health", timeout=15)
        assert resp.status_code == 200, resp.text
    consumers = {q["name"]: q for q in loaded_vhost["admin"].queues(loaded_vhost["vhost"])}
    mine = [s.queue_name for s in topology.subscriptions() if s.service == service]
    assert all(name in consumers for name in mine)
