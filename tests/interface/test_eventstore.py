"""The event store: ordered appends, optimistic concurrency, actor in the stored log."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.db import connect
from shared.errors import ConcurrencyConflict

OPERATOR = {"user_id": "op-store", "role": "operator", "desk": "332501"}


def new_complaint(key: str) -> Complaint:
    return Complaint.register(
        complaint_id=complaint_id_for(key), registration_number=key, kabupaten="3325",
        desk="332501", channel="desk", category="kis", description="d",
        citizen={"nik": "3325014507900001", "name": "S"}, wilayah="332501", priority="normal",
        confidential=False, actor=OPERATOR, correlation_id=f"corr-{key}",
    )


def test_a_second_registration_with_the_same_id_is_a_conflict_not_a_second_stream(event_app):
    key = f"store-{uuid.uuid4()}"
    event_app.save_or_conflict(new_complaint(key))
    with pytest.raises(ConcurrencyConflict):
        event_app.save_or_conflict(new_complaint(key))
    assert len(event_app.stored_events(complaint_id_for(key))) == 1


def test_every_stored_event_records_actor_and_correlation_id(event_app, sedulur_env):
    key = f"store-{uuid.uuid4()}"
    c = new_complaint(key)
    c.verify(rule="r", dtks_snapshot="s", reasons=["x"],
             actor={"user_id": "v-1", "role": "verifier", "desk": None}, correlation_id="corr-2")
    event_app.save_or_conflict(c)
    with connect(sedulur_env.pg_dsn) as conn:
        rows = conn.execute(
            "SELECT originator_version, state FROM eventstore.sedulur_events"
            " WHERE originator_id = %s ORDER BY originator_version", (c.id,)).fetchall()
    states = [json.loads(bytes(state)) for _, state in rows]
    assert [s["actor"]["user_id"] for s in states] == ["op-store", "v-1"]
    assert [s["correlation_id"] for s in states] == [f"corr-{key}", "corr-2"]


def test_notification_ids_follow_commit_order(event_app, sedulur_env):
    """The insert function takes the table lock, so ids are handed out in commit order and a
    reader tailing by id never passes over a lower id committed later."""
    with connect(sedulur_env.pg_dsn) as conn:
        body = conn.execute(
            "SELECT prosrc FROM pg_proc WHERE proname = 'sedulur_insert_events_uuid'"
        ).fetchone()[0]
    assert "LOCK TABLE" in body
    before = event_app.recorder.max_notification_id() or 0
    ids = [event_app.save_or_conflict(new_complaint(f"order-{uuid.uuid4()}"))[0]
           for _ in range(5)]
    assert ids == sorted(ids) and ids[0] > before
