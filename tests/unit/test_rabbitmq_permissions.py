"""deploy/rabbitmq/definitions.json (`sedulur rabbit definitions`): each service's broker user
reaches its own queues and nothing that would let it publish events or consume another
service's queue (only the relay publishes events)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.config import SERVICES
from shared.topology import owners, subscriptions

DEFINITIONS = json.loads(
    (Path(__file__).resolve().parents[2] / "deploy/rabbitmq/definitions.json").read_text())
PERMS = {p["user"]: p for p in DEFINITIONS["permissions"]}


def may(service: str, kind: str, name: str) -> bool:
    return re.fullmatch(PERMS[f"sedulur-{service.replace('_', '-')}"][kind], name) is not None


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_reaches_its_own_queues_and_publishes_no_events(service):
    own = [s.queue_name for s in subscriptions() if s.service == service] + [f"rpc-{service}"]
    others = [s.queue_name for s in subscriptions() if s.service != service]
    for queue in own:
        assert may(service, "read", queue) and may(service, "configure", queue), queue
    for queue in others:
        assert not may(service, "read", queue), queue
    for owner in owners():
        assert not may(service, "write", f"{owner}.events")
    assert not may(service, "write", "agency.referrals")
    assert may(service, "write", "nameko-rpc")
