"""RabbitMQ definitions (deploy/rabbitmq/definitions.json) generated from the code.

Everything here is derived from `shared.topology` (exchanges, consumer queues read from the
services' event handlers, the dead-letter path, the consumer policy) and from the routing
table (which agencies exist), so the file cannot drift from what the services declare:
a test regenerates it and compares.

Users: one per service (reads and binds only its own consumer queues, plus nameko RPC),
one for the relay (declares the whole topology, sets policies), a monitoring user that
reads queue depths for /metrics and touches no message, one for the citizen-notification
gateway (reads `notifications.citizen` only), and one per agency of each
kabupaten/kota that may only *read* its own `agency.<kab>.<agency>` queue. The committed
file carries no secrets: users have an empty password hash (RabbitMQ refuses password login
for them) until `sedulur rabbit definitions --load` sets passwords from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from shared import topology
from shared.agency import agency_queue_name
from shared.config import SERVICES

NAMEKO_RPC_EXCHANGE = "nameko-rpc"
RELAY_USER = "sedulur-relay"
# Reads queue depths from the management API for /metrics; may not touch any message.
MONITOR_USER = "sedulur-monitor"
# The SMS / WhatsApp gateway: reads the citizen notifications queue, nothing else.
NOTIFICATIONS_USER = "notifications-gateway"
PASSWORD_ENV_PREFIX = "SEDULUR_RABBIT_PASSWORD_"


def service_user(service: str) -> str:
    return f"sedulur-{service.replace('_', '-')}"


def agency_user(kabupaten: str, agency: str) -> str:
    return f"agency-{kabupaten}-{agency.lower()}"


def password_env(user: str) -> str:
    """SEDULUR_RABBIT_PASSWORD_SEDULUR_INTAKE for user sedulur-intake."""
    return PASSWORD_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", user.upper())


def rabbit_password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def agencies_from_routing() -> tuple[list[str], list[str]]:
    """(agency codes, kabupaten codes named explicitly) from the routing table."""
    from services.routing.domainmodel import RoutingTable

    table = RoutingTable.load()
    return sorted(table.agencies), sorted(k for k in table.tables if k != "*")


def _queue(vhost: str, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, "vhost": vhost, "durable": True, "auto_delete": False,
            "arguments": dict(arguments)}


def _exchange(vhost: str, name: str) -> dict[str, Any]:
    return {"name": name, "vhost": vhost, "type": "topic", "durable": True,
            "auto_delete": False, "internal": False, "arguments": {}}


def _binding(vhost: str, exchange: str, queue: str, key: str) -> dict[str, Any]:
    return {"source": exchange, "vhost": vhost, "destination": queue,
            "destination_type": "queue", "routing_key": key, "arguments": {}}


def _perm(vhost: str, user: str, configure: str, write: str, read: str) -> dict[str, Any]:
    return {"user": user, "vhost": vhost, "configure": configure, "write": write, "read": read}


def _alternation(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in names)


def generate(*, vhost: str = "/", kabupaten: Iterable[str] = ("3325",),
             delivery_limit: int = 5) -> dict[str, Any]:
    """The full definitions document (no passwords) for one vhost."""
    subscriptions = topology.subscriptions()
    agencies, named_kabupaten = agencies_from_routing()
    kabs = sorted(set(kabupaten) | set(named_kabupaten))

    exchanges = [_exchange(vhost, f"{owner}.events") for owner in topology.owners()]
    exchanges += [_exchange(vhost, n) for n in
                  (topology.AGENCY_EXCHANGE, topology.NOTIFICATIONS_EXCHANGE, topology.DLX,
                   NAMEKO_RPC_EXCHANGE)]

    queues = [_queue(vhost, s.queue_name, topology.CONSUMER_QUEUE_ARGUMENTS)
              for s in subscriptions]
    bindings = [_binding(vhost, f"{s.source}.events", s.queue_name, s.event_type)
                for s in subscriptions]
    # The dead-letter queue exactly as topology.declare declares it (a classic durable queue):
    # a definition with other arguments would make that declaration fail with 406.
    queues.append(_queue(vhost, topology.DLQ, {}))
    bindings.append(_binding(vhost, topology.DLX, topology.DLQ, "#"))
    queues.append(_queue(vhost, topology.NOTIFICATIONS_QUEUE, topology.CONSUMER_QUEUE_ARGUMENTS))
    bindings.append(_binding(vhost, topology.NOTIFICATIONS_EXCHANGE, topology.NOTIFICATIONS_QUEUE,
                             "citizen.#"))
    for kab in kabs:
        for agency in agencies:
            name = agency_queue_name(kab, agency)
            queues.append(_queue(vhost, name, topology.CONSUMER_QUEUE_ARGUMENTS))
            bindings.append(_binding(vhost, topology.AGENCY_EXCHANGE, name, f"{kab}.{agency}"))

    consumer_policy = {"dead-letter-exchange": topology.DLX, "delivery-limit": delivery_limit}
    # Exactly what topology.declare sets, so either may run first.
    policies = [
        {"vhost": vhost, "name": topology.CONSUMER_POLICY,
         "pattern": topology.CONSUMER_POLICY_PATTERN, "apply-to": "queues", "priority": 0,
         "definition": consumer_policy},
    ]

    users: list[dict[str, Any]] = []
    permissions: list[dict[str, Any]] = []

    def add_user(name: str, tags: str) -> None:
        users.append({"name": name, "password_hash": "",
                      "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags})

    add_user(RELAY_USER, "policymaker")
    # The relay (and the one-off `sedulur topology` job run with its credentials) declares
    # every exchange and queue and publishes to the event exchanges and agency.referrals.
    permissions.append(_perm(vhost, RELAY_USER, ".*", ".*", ".*"))
    add_user(MONITOR_USER, "monitoring")
    permissions.append(_perm(vhost, MONITOR_USER, "^$", "^$", "^$"))
    add_user(NOTIFICATIONS_USER, "")
    permissions.append(_perm(vhost, NOTIFICATIONS_USER, "^$", "^$",
                             f"^{re.escape(topology.NOTIFICATIONS_QUEUE)}$"))
    owner_exchanges = _alternation(f"{o}.events" for o in topology.owners())
    for svc in SERVICES:
        user = service_user(svc)
        add_user(user, "")
        mine = [s.queue_name for s in subscriptions if s.service == svc]
        own_queues = _alternation(mine) if mine else "(?!)"
        # nameko declares the source exchanges and its own queues, binds them, consumes;
        # RPC: its own rpc-<service> queue and per-client reply queues on nameko-rpc.
        rpc = rf"rpc-{re.escape(svc)}|rpc\.reply-{re.escape(svc)}-.*|{NAMEKO_RPC_EXCHANGE}"
        permissions.append(_perm(
            vhost, user,
            configure=f"^({own_queues}|{owner_exchanges}|{rpc})$",
            write=f"^({own_queues}|{rpc})$",
            read=f"^({own_queues}|{owner_exchanges}|{rpc})$",
        ))
    for kab in kabs:
        for agency in agencies:
            user = agency_user(kab, agency)
            add_user(user, "")
            permissions.append(_perm(vhost, user, "^$", "^$",
                                     f"^{re.escape(agency_queue_name(kab, agency))}$"))

    return {
        "rabbitmq_version": "3.10.8",
        "vhosts": [{"name": vhost}],
        "users": users,
        "permissions": permissions,
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
        "policies": policies,
    }


def retarget(definitions: dict[str, Any], *, vhost: str, user_prefix: str = "") -> dict[str, Any]:
    """The same definitions for another vhost (and, for tests, prefixed user names, since
    users are cluster-wide while vhosts are not)."""
    out: dict[str, Any] = {k: v for k, v in definitions.items()}
    out["vhosts"] = [{"name": vhost}]
    for key in ("permissions", "exchanges", "queues", "bindings", "policies"):
        out[key] = [{**item, "vhost": vhost} for item in definitions.get(key, [])]
    if user_prefix:
        out["users"] = [{**u, "name": user_prefix + u["name"]} for u in definitions["users"]]
        out["permissions"] = [{**p, "user": user_prefix + p["user"]} for p in out["permissions"]]
    return out


def with_passwords(definitions: dict[str, Any], passwords: Mapping[str, str]) -> tuple[
        dict[str, Any], list[str]]:
    """Fill password hashes for users with a password; users without one are left out of
    the document with their permissions (loading them would wipe a password set earlier, and
    RabbitMQ refuses permissions for an unknown user). Returns the skipped names."""
    out = dict(definitions)
    users, skipped = [], []
    for user in definitions["users"]:
        password = passwords.get(user["name"])
        if password:
            users.append({**user, "password_hash": rabbit_password_hash(password)})
        else:
            skipped.append(user["name"])
    out["users"] = users
    kept = {u["name"] for u in users}
    out["permissions"] = [p for p in definitions["permissions"] if p["user"] in kept]
    return out, skipped


def passwords_from_env(definitions: dict[str, Any],
                       environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {u["name"]: env[password_env(u["name"])] for u in definitions["users"]
            if env.get(password_env(u["name"]))}
