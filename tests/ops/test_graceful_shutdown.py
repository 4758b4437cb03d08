"""SIGTERM drains in-flight messages: a service process stopped in the middle of a stream
of events exits by itself, and after its restart every event has been applied exactly once.
(The all-services rolling restart under traffic is in tests/system/test_operations.py.)"""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from shared.db import connect
from shared.rabbit import RabbitAdmin
from shared.supervisor import Stack
from shared.topology import DLQ
from tests.helpers import free_port, wait_until
from tests.ops.test_observability import append_complaints

pytestmark = pytest.mark.slow


def applied(settings, operator: str) -> int:
    with connect(settings.pg_dsn) as conn:
        return conn.execute("SELECT coalesce(sum(complaints), 0) FROM intake.operator_activity"
                            " WHERE operator_id = %s", (operator,)).fetchone()[0]


def test_sigterm_mid_stream_drains_in_flight_messages_and_loses_none(
    topology_declared, event_app, monkeypatch, tmp_path
):
    settings = topology_declared
    monkeypatch.setenv("SEDULUR_INTAKE_HTTP_PORT", str(free_port()))
    monkeypatch.setenv("SEDULUR_RELAY_METRICS_PORT", str(free_port()))
    operator = f"op-drain-{uuid.uuid4().hex[:8]}"
    total = 300

    vhost = os.environ["SEDULUR_VHOST"]
    # Other tests of the session dead-letter on purpose; only this test's count matters.
    dlq_before = RabbitAdmin(settings.rabbit_management_url).queue(vhost, DLQ)["messages"]
    with Stack(settings, tmp_path / "logs") as stack:
        stack.start("relay")
        stack.start("intake")
        stack.wait_healthy(timeout=90)
        append_complaints(event_app, total, operator=operator)
        wait_until(lambda: applied(settings, operator) >= 20, timeout=120, interval=0.05,
                   message="intake consuming")
        stack.kill("intake", signal.SIGTERM)
        code = stack.processes["intake"].popen.returncode
        at_stop = applied(settings, operator)
        log = (tmp_path / "logs" / "intake.log").read_text()
        stack.start("intake")
        stack.wait_healthy(timeout=90)
        wait_until(lambda: applied(settings, operator) >= total, timeout=180, interval=0.5,
                   message="every Registered applied after the restart")

    assert code == 0, log[-3000:]  # exited by itself after draining, not killed
    assert "service.stopping" in log
    assert at_stop < total, "the stop did not happen mid-stream; the test proves nothing"
    assert applied(settings, operator) == total  # nothing lost, nothing applied twice
    assert RabbitAdmin(settings.rabbit_management_url).queue(vhost, DLQ)["messages"] == dlq_before
