"""The RabbitMQ topology, declared before anything is published (design.md §5).

RabbitMQ drops a message published to an exchange with no bound queue, so the relay
declares every consumer queue (named and bound exactly as nameko 2.14 would) before its
first publish; a consumer that starts later finds its queue already holding its events.
Consumer queues are quorum queues; a policy gives them a dead-letter exchange and a
delivery limit, so a message that keeps failing ends in the dead-letter queue after N
tries: RabbitMQ counts, not our code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange, Queue

from shared.complaints.domainmodel import EVENT_CLASSES
from shared.config import SERVICES, Settings

DLX = "sedulur.dlx"
DLQ = "sedulur.dead-letters"
AGENCY_EXCHANGE = "agency.referrals"
NOTIFICATIONS_EXCHANGE = "notifications"
# The SMS / WhatsApp gateway's queue, declared with the exchange so a citizen notification
# published before the gateway ever connected is kept, not returned as unroutable.
NOTIFICATIONS_QUEUE = "notifications.citizen"
CONSUMER_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
CONSUMER_POLICY = "sedulur-consumers"
# Consumer and agency queues get the dead-letter exchange and the delivery limit.
CONSUMER_POLICY_PATTERN = r"^(evt-|agency\.)"


def event_exchange(owner: str) -> Exchange:
    # Exactly nameko 2.14's declaration; any other flag makes RabbitMQ close the channel (406).
    return Exchange(f"{owner}.events", type="topic", durable=True, auto_delete=False)


def owners() -> list[str]:
    return sorted({cls.owner for cls in EVENT_CLASSES.values()} | {"sla"})  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Subscription:
    source: str
    event_type: str
    service: str
    method: str

    @property
    def queue_name(self) -> str:
        return f"evt-{self.source}-{self.event_type}--{self.service}.{self.method}"

    def queue(self) -> Queue:
        return Queue(
            self.queue_name,
            exchange=event_exchange(self.source),
            routing_key=self.event_type,
            durable=True,
            auto_delete=False,
            exclusive=False,
            queue_arguments=dict(CONSUMER_QUEUE_ARGUMENTS),
        )


def subscriptions() -> list[Subscription]:
    """Every event handler of every service, read from the service classes themselves so the
    declared topology can never drift from the code."""
    from nameko.events import EventHandler

    found: list[Subscription] = []
    for svc in SERVICES:
        module = importlib.import_module(f"services.{svc}.service")
        cls = module.SERVICE
        for attr in dir(cls):
            method = getattr(cls, attr)
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, EventHandler):
                    found.append(Subscription(entrypoint.source_service, entrypoint.event_type,
                                              cls.name, attr))
    return sorted(found, key=lambda s: s.queue_name)


def policy_definition(settings: Settings) -> dict[str, Any]:
    return {"dead-letter-exchange": DLX, "delivery-limit": settings.delivery_limit}


def declare(settings: Settings, *, apply_policy: bool = True) -> list[str]:
    """Declare exchanges, consumer queues, the dead-letter path and the policy. Idempotent."""
    declared: list[str] = []
    with Connection(settings.amqp_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        for owner in owners():
            event_exchange(owner)(channel).declare()
        Exchange(AGENCY_EXCHANGE, type="topic", durable=True)(channel).declare()
        notifications = Exchange(NOTIFICATIONS_EXCHANGE, type="topic", durable=True)
        notifications(channel).declare()
        Queue(NOTIFICATIONS_QUEUE, exchange=notifications, routing_key="citizen.#", durable=True,
              queue_arguments=dict(CONSUMER_QUEUE_ARGUMENTS))(channel).declare()
        dlx = Exchange(DLX, type="topic", durable=True)
        dlx(channel).declare()
        Queue(DLQ, exchange=dlx, routing_key="#", durable=True)(channel).declare()
        for sub in subscriptions():
            sub.queue()(channel).declare()
            declared.append(sub.queue_name)
        channel.close()
    if apply_policy:
        from urllib.parse import unquote, urlparse

        from shared.rabbit import RabbitAdmin

        vhost = unquote(urlparse(settings.amqp_uri).path.lstrip("/")) or "/"
        RabbitAdmin(settings.rabbit_management_url).set_policy(
            vhost, CONSUMER_POLICY, CONSUMER_POLICY_PATTERN, policy_definition(settings), priority=0
        )
    return declared
