"""Auditing against the real event store: history, point in time, tamper evidence,
old-shape events. Each test that tampers gets its own database (verify walks everything)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.audit.chain import anchor, verify
from shared.audit.history import AuditTrail, aggregate_state, history_csv
from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.config import Settings
from shared.db import Database, connect
from shared.errors import InvalidInput
from shared.eventstore import ComplaintsApplication
from tests.helpers import fresh_databases

OPERATOR = {"user_id": "op-ani", "role": "operator", "desk": "332501", "agency": None}
VERIFIER = {"user_id": "ver-budi", "role": "verifier", "desk": None, "agency": None}
ROUTER = {"user_id": "system:routing", "role": "system", "desk": None, "agency": None}
DINKES = {"user_id": "opd-citra", "role": "agency", "desk": None, "agency": "DINKES"}
TOPIC_REFERRED = "shared.complaints.domainmodel:Complaint.ReferredToOPD"
BPJS = {"user_id": "opd-dewi", "role": "agency", "desk": None, "agency": "BPJSKES"}


@pytest.fixture
def fresh_settings(_servers: dict[str, str]) -> Iterator[Callable[[], Settings]]:
    """Factory of fresh migrated databases (no broker needed); dropped afterwards."""
    yield from fresh_databases(_servers["pg"])


Store = tuple[Settings, ComplaintsApplication, Database]


@pytest.fixture
def store(fresh_settings: Callable[[], Settings]) -> Iterator[Store]:
    settings = fresh_settings()
    app = ComplaintsApplication(settings)
    db = Database.from_settings(settings, max_size=3)
    yield settings, app, db
    app.close()
    db.close()


def complaint(number: str, **extra: Any) -> Complaint:
    return Complaint.register(
        complaint_id=complaint_id_for(f"registration:{number}"), registration_number=number,
        kabupaten="3325", desk="332501", channel="desk", category="kis",
        description="kartu KIS tidak aktif", citizen={"nik": "3325014507900001", "name": "Sri"},
        wilayah="3325012001", priority="normal", confidential=False, actor=OPERATOR,
        correlation_id=f"corr-reg-{number}", **extra,
    )


def reject_then_reregister_and_resolve(app: ComplaintsApplication) -> tuple[Complaint, Complaint]:
    """reject → re-register → refer → return → refer → resolve, one save per step."""
    first = complaint("3325-251123-0001")
    app.save(first)
    first.reject(reason_code="not_in_dtks", reason="NIK tidak ada di DTKS", rule="dtks-membership",
                 dtks_snapshot="dtks-2025-11", actor=VERIFIER, correlation_id="corr-reject")
    app.save(first)
    second = complaint("3325-251123-0002", duplicate_of=str(first.id))
    app.save(second)
    second.verify(rule="manual", dtks_snapshot="dtks-2025-11", reasons=["surat keterangan desa"],
                  actor=VERIFIER, correlation_id="corr-verify")
    app.save(second)
    second.refer(agency="DINKES", routing_rule="kis-dinkes", actor=ROUTER, correlation_id="corr-r1")
    app.save(second)
    second.return_referral(agency="DINKES", reason="bukan wewenang: kepesertaan BPJS",
                           actor=DINKES, correlation_id="corr-return")
    app.save(second)
    second.refer(agency="BPJSKES", routing_rule="manual-reroute", actor=ROUTER,
                 correlation_id="corr-r2")
    app.save(second)
    second.resolve(agency="BPJSKES", outcome="KIS diaktifkan kembali", actor=BPJS,
                   correlation_id="corr-resolve")
    app.save(second)
    return first, second


def test_history_shows_every_step_and_actor_in_order_across_a_re_registration(store):
    _, app, db = store
    first, second = reject_then_reregister_and_resolve(app)
    entries = AuditTrail(app, db).history("3325-251123-0002")
    assert [(e["registration_number"], e["event"], e["actor"]["user_id"]) for e in entries] == [
        ("3325-251123-0001", "Registered", "op-ani"),
        ("3325-251123-0001", "Rejected", "ver-budi"),
        ("3325-251123-0002", "Registered", "op-ani"),
        ("3325-251123-0002", "Verified", "ver-budi"),
        ("3325-251123-0002", "ReferredToOPD", "system:routing"),
        ("3325-251123-0002", "ReferralReturned", "opd-citra"),
        ("3325-251123-0002", "ReferredToOPD", "system:routing"),
        ("3325-251123-0002", "Resolved", "opd-dewi"),
    ]
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    assert [e["correlation_id"] for e in entries][1] == "corr-reject"
    # The decision's reasons travel with each step; personal data does not.
    assert entries[1]["details"]["rule"] == "dtks-membership"
    assert entries[1]["details"]["dtks_snapshot"] == "dtks-2025-11"
    assert entries[4]["details"]["routing_rule"] == "kis-dinkes"
    assert entries[5]["details"]["reason"].startswith("bukan wewenang")
    assert entries[5]["actor"]["agency"] == "DINKES"
    assert entries[2]["details"]["duplicate_of"] == str(first.id)
    assert "citizen" not in entries[0]["details"]
    assert entries[0]["details"]["citizen_nik_last4"] == "0001"
    assert all(e["hash"] and len(e["hash"]) == 64 for e in entries)
    # By complaint id, without following the link, only the second complaint's six steps.
    assert len(AuditTrail(app, db).history(str(second.id), follow_links=False)) == 6
    rows = history_csv(entries).splitlines()
    assert len(rows) == 9 and rows[0].startswith("complaint_id,registration_number,version")


def test_state_at_each_version_and_time_equals_the_stream_replayed_up_to_it(store):
    _, app, db = store
    _, second = reject_then_reregister_and_resolve(app)
    trail = AuditTrail(app, db)
    events = list(app.events.get(second.id))
    for i, event in enumerate(events, start=1):
        replayed: Any = None
        for e in events[:i]:
            replayed = e.mutate(replayed)
        expected = aggregate_state(replayed)
        assert trail.state_at(second.registration_number, version=i) == expected
        assert trail.state_at(str(second.id), at=event.timestamp) == expected
        if i < len(events):  # any moment before the next event sees the same state
            just_before_next = events[i].timestamp - timedelta(microseconds=1)
            assert trail.state_at(str(second.id), at=just_before_next) == expected
    assert trail.state_at(str(second.id), version=3)["stage"] == "referred"
    assert trail.state_at(str(second.id), version=4)["stage"] == "verified"
    assert trail.state_at(str(second.id))["stage"] == "resolved"
    with pytest.raises(InvalidInput):
        trail.state_at(str(second.id), version=len(events) + 1)


def test_verify_passes_an_untouched_store_and_anchors_cover_the_log(store):
    settings, app, _ = store
    reject_then_reregister_and_resolve(app)
    first = anchor(settings.pg_dsn)
    assert first is not None and first["events"] == 8
    assert anchor(settings.pg_dsn) is None
    app.save(complaint("3325-251123-0003"))
    assert anchor(settings.pg_dsn)["events"] == 9
    report = verify(settings.pg_dsn)
    assert report.ok, report.problems
    assert (report.events, report.streams, report.anchors_checked) == (9, 3, 2)


def _row(settings: Settings, complaint_id: uuid.UUID, version: int) -> tuple[int, bytes]:
    with connect(settings.pg_dsn) as conn:
        nid, state = conn.execute(
            "SELECT notification_id, state FROM eventstore.sedulur_events"
            " WHERE originator_id = %s AND originator_version = %s", (complaint_id, version)
        ).fetchone()
    return nid, bytes(state)


def test_an_event_edited_in_sql_is_reported_with_its_position_and_complaint(store):
    settings, app, _ = store
    _, second = reject_then_reregister_and_resolve(app)
    position, state = _row(settings, second.id, 2)
    forged = json.loads(state)
    forged["actor"]["user_id"] = "someone-else"
    with connect(settings.pg_dsn) as conn:
        conn.execute("UPDATE eventstore.sedulur_events SET state = %s WHERE notification_id = %s",
                     (json.dumps(forged).encode(), position))
    report = verify(settings.pg_dsn)
    assert not report.ok
    first = report.first
    assert (first.position, first.complaint_id, first.version, first.kind) == (
        position, str(second.id), 2, "content_changed")
    assert first.registration_number == "3325-251123-0002"


def test_an_event_edited_with_its_hash_rewritten_breaks_the_next_link(store):
    settings, app, _ = store
    _, second = reject_then_reregister_and_resolve(app)
    position, state = _row(settings, second.id, 3)
    forged = state.replace(b"kis-dinkes", b"kis-dinsos")
    with connect(settings.pg_dsn) as conn:
        conn.execute("UPDATE eventstore.sedulur_events SET state = %s WHERE notification_id = %s",
                     (forged, position))
        # A careful forger recomputes this event's hash too; the next event still links to
        # the old one.
        conn.execute(
            "UPDATE audit.event_hashes SET hash = sha256(coalesce(prev_hash, ''::bytea)"
            " || uuid_send(originator_id) || int8send(originator_version)"
            " || int4send(octet_length(convert_to(%s, 'UTF8'))) || convert_to(%s, 'UTF8') || %s)"
            " WHERE notification_id = %s",
            (TOPIC_REFERRED, TOPIC_REFERRED, forged, position),
        )
    report = verify(settings.pg_dsn)
    assert report.first is not None
    assert (report.first.version, report.first.kind) == (4, "broken_link")


def test_an_event_deleted_in_sql_is_reported_with_its_position(store):
    settings, app, _ = store
    _, second = reject_then_reregister_and_resolve(app)
    position, _ = _row(settings, second.id, 4)
    with connect(settings.pg_dsn) as conn:
        conn.execute("DELETE FROM eventstore.sedulur_events WHERE notification_id = %s",
                     (position,))
    report = verify(settings.pg_dsn)
    assert (report.first.position, report.first.complaint_id, report.first.kind) == (
        position, str(second.id), "event_deleted")
    assert any(p.kind == "missing_event" and p.version == 5 for p in report.problems)


def test_the_last_event_deleted_with_its_hash_is_caught_by_the_anchor(store):
    settings, app, _ = store
    _, second = reject_then_reregister_and_resolve(app)
    anchored = anchor(settings.pg_dsn)
    position, _ = _row(settings, second.id, 6)
    with connect(settings.pg_dsn) as conn:
        conn.execute("DELETE FROM eventstore.sedulur_events WHERE notification_id = %s",
                     (position,))
        conn.execute("DELETE FROM audit.event_hashes WHERE notification_id = %s", (position,))
    report = verify(settings.pg_dsn)
    assert [p.kind for p in report.problems] == ["anchor_mismatch"]
    assert report.first.position == anchored["up_to_notification_id"]


def test_every_append_path_gets_a_chained_hash_in_the_same_transaction(store):
    """Several events of one stream in one insert statement chain to each other."""
    settings, app, _ = store
    c = complaint("3325-251123-0009")
    c.verify(rule="r", dtks_snapshot="s", reasons=[], actor=VERIFIER, correlation_id="c")
    c.refer(agency="DINKES", routing_rule="kis-dinkes", actor=ROUTER, correlation_id="c")
    app.save(c)
    with connect(settings.pg_dsn) as conn:
        rows = conn.execute(
            "SELECT originator_version, prev_hash, hash FROM audit.event_hashes"
            " WHERE originator_id = %s ORDER BY originator_version", (c.id,)).fetchall()
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[0][1] is None and rows[1][1] == rows[0][2] and rows[2][1] == rows[1][2]
    assert verify(settings.pg_dsn).ok


def test_a_registered_event_stored_in_the_v1_shape_still_loads(store):
    """v1 Registered had no duplicate_of and no class_version; the upcaster adds it."""
    settings, app, _ = store
    current = complaint("3325-251123-0100")
    app.save(current)
    _, state = _row(settings, current.id, 1)
    old_shape = json.loads(state)
    # v1 predates per-person keys too: its personal fields were stored in plaintext.
    old_shape.pop("_pii")
    old_shape |= {"citizen": current.citizen, "description": current.description}
    del old_shape["duplicate_of"]
    old_shape.pop("class_version", None)
    old_id = uuid.uuid4()
    encoded = json.dumps(old_shape).encode()
    assert b"duplicate_of" not in encoded and b"class_version" not in encoded
    with connect(settings.pg_dsn) as conn:
        conn.execute(
            "INSERT INTO eventstore.sedulur_events"
            " (originator_id, originator_version, topic, state) VALUES (%s, 1, %s, %s)",
            (old_id, "shared.complaints.domainmodel:Complaint.Registered", encoded),
        )
    loaded = app.repository.get(old_id)
    assert loaded.duplicate_of is None
    assert loaded.registration_number == "3325-251123-0100"
    assert loaded.citizen == current.citizen  # plaintext personal fields pass through
    assert loaded.stage.value == "registered"
    # And the old event carries a hash like any other: the trigger fires on every insert.
    assert verify(settings.pg_dsn).ok


def test_the_audit_command_line_exports_history_and_fails_verify_on_tampering(store, monkeypatch):
    from typer.testing import CliRunner

    from shared.audit.cli import app as audit_cli

    settings, app, _ = store
    _, second = reject_then_reregister_and_resolve(app)
    monkeypatch.setenv("SEDULUR_PG_DSN", settings.pg_dsn)
    runner = CliRunner()
    result = runner.invoke(audit_cli, ["history", "3325-251123-0002", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [e["event"] for e in json.loads(result.stdout)][-1] == "Resolved"
    assert runner.invoke(audit_cli, ["verify"]).exit_code == 0
    position, state = _row(settings, second.id, 6)
    with connect(settings.pg_dsn) as conn:
        conn.execute("UPDATE eventstore.sedulur_events SET state = %s WHERE notification_id = %s",
                     (state.replace(b"opd-dewi", b"opd-lain"), position))
    result = runner.invoke(audit_cli, ["verify", "--json"])
    assert result.exit_code == 1
    assert f"position {position}" in result.output
    assert str(second.id) in result.output
