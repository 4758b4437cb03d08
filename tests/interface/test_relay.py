"""The outbox relay: never skips, never calls a returned message a success, and a crash
between the broker's confirm and the saved position only causes duplicates that the
consumers absorb."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue

from services.intake.service import IntakeService
from shared.db import connect
from shared.relay import PublishFailed, Relay, WindowedPublisher
from tests.helpers import relay_running, running_service, wait_until


def register(app: Any, operator: str, n: int) -> list[uuid.UUID]:
    from tests.helpers import append_registered

    return append_registered(app, operator, n, "relay")


class CrashAfterConfirm(Relay):
    """Dies after the broker confirmed a batch but before the position is saved."""

    def save_position(self, conn: Any, position: int) -> None:
        raise RuntimeError("simulated crash between confirm and save")


def drain(settings: Any, queue: Queue) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    with Connection(settings.amqp_uri) as conn:
        simple = conn.SimpleQueue(queue)
        while True:
            try:
                msg = simple.get(timeout=1)
            except simple.Empty:
                break
            got.append(json.loads(msg.body))
            msg.ack()
        simple.close()
    return got


def test_a_returned_message_is_a_failure_not_a_success(topology_declared):
    with Connection(topology_declared.amqp_uri) as conn:
        Exchange("test.nobody.listens", type="topic", durable=False)(conn.channel()).declare()
    publisher = WindowedPublisher(topology_declared.amqp_uri, window=10)
    try:
        publisher.publish("test.nobody.listens", "Registered", b"{}", "m-1")
        with pytest.raises(PublishFailed, match="returned"):
            publisher.flush()
    finally:
        publisher.close()


def test_crash_between_confirm_and_save_republishes_and_consumers_apply_once(
    topology_declared, event_app
):
    settings = topology_declared
    operator = f"op-relay-{uuid.uuid4().hex[:8]}"
    tap = Queue(f"test.tap.{operator}", exchange=Exchange("intake.events", type="topic",
                                                          durable=True),
                routing_key="Registered", durable=False, auto_delete=False)
    with Connection(settings.amqp_uri) as conn:
        tap(conn.channel()).declare()
    ids = register(event_app, operator, 30)

    crashing = CrashAfterConfirm(settings)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.run()
    with connect(settings.pg_dsn) as conn:
        saved = conn.execute("SELECT position FROM relay.positions WHERE name = 'main'").fetchone()[0]
    assert saved < max(event_app.recorder.max_notification_id(), 0)

    with running_service(IntakeService, settings), relay_running(settings):
        def projected() -> bool:
            with connect(settings.pg_dsn) as conn:
                return conn.execute(
                    "SELECT count(*) FROM intake.complaint_status WHERE complaint_id = ANY(%s)",
                    (ids,)).fetchone()[0] == len(ids)

        wait_until(projected, timeout=30, message="all 30 complaints projected")
        wait_until(lambda: _relay_caught_up(settings, event_app), timeout=30,
                   message="relay caught up")

    delivered = [m for m in drain(settings, tap) if m["data"]["actor"]["user_id"] == operator]
    seen = [m["id"] for m in delivered]
    assert {f"{cid}:1" for cid in ids} == set(seen), "an event was skipped"
    assert len(seen) > len(set(seen)), "the crash should have caused re-published duplicates"
    with connect(settings.pg_dsn) as conn:
        registered_today = conn.execute(
            "SELECT sum(complaints) FROM intake.operator_activity WHERE operator_id = %s",
            (operator,)).fetchone()[0]
    assert registered_today == 30, "a duplicate delivery was applied twice"


def _relay_caught_up(settings: Any, app: Any) -> bool:
    with connect(settings.pg_dsn) as conn:
        position = conn.execute(
            "SELECT position FROM relay.positions WHERE name = 'main'").fetchone()[0]
    return position >= (app.recorder.max_notification_id() or 0)


def test_a_second_relay_waits_while_the_first_leads(topology_declared):
    from shared.relay import RELAY_LOCK

    with relay_running(topology_declared) as leader:
        wait_until(lambda: _holds_lock(topology_declared), timeout=10, message="leader lock")
        follower = Relay(topology_declared)
        lock_conn = connect(topology_declared.pg_dsn)
        try:
            import eventlet

            thread = eventlet.spawn(follower._acquire_leadership, lock_conn)
            eventlet.sleep(1.5)
            assert not thread.dead, "the follower must still be waiting"
            follower.stop()
            assert thread.wait() is False
        finally:
            lock_conn.close()
        assert leader.stop_event.is_set() is False
    assert RELAY_LOCK


def _holds_lock(settings: Any) -> bool:
    from shared.relay import RELAY_LOCK

    with connect(settings.pg_dsn) as conn:
        return bool(conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
            (RELAY_LOCK & 0xFFFFFFFF,)).fetchone()[0])
