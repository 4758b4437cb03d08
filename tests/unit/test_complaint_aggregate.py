"""The Complaint aggregate guards the lifecycle; events carry actor and correlation id."""

from __future__ import annotations

from typing import Any

import pytest

from shared.complaints.domainmodel import Complaint, Stage, complaint_id_for
from shared.errors import AlreadyResolved, ComplaintRejected, NotReferredToAgency, WrongStage

OPERATOR = {"user_id": "op-1", "role": "operator", "desk": "332501"}
SYSTEM = {"user_id": "system:verification", "role": "system", "desk": None}


def registered(**overrides: Any) -> Complaint:
    fields: dict[str, Any] = dict(
        registration_number="3325-261123-000015", kabupaten="3325", desk="332501",
        channel="desk", category="kis", description="KIS tidak aktif",
        citizen={"nik": "3325014507900001", "name": "Siti"}, wilayah="3325012001",
        priority="normal", confidential=False, actor=OPERATOR, correlation_id="c-1",
    )
    fields.update(overrides)
    return Complaint.register(complaint_id=complaint_id_for(fields["registration_number"]),
                              **fields)


def verified() -> Complaint:
    c = registered()
    c.verify(rule="dtks.terdaftar", dtks_snapshot="s1", reasons=["ok"], actor=SYSTEM,
             correlation_id="c-2")
    return c


def referred(agency: str = "DINKES") -> Complaint:
    c = verified()
    c.refer(agency=agency, routing_rule="kis-dinkes", actor=SYSTEM, correlation_id="c-3")
    return c


def test_registration_records_one_registered_event_with_actor_and_correlation_id() -> None:
    c = registered()
    [event] = c.collect_events()
    assert type(event).__name__ == "Registered"
    assert event.actor == OPERATOR
    assert event.correlation_id == "c-1"
    assert c.stage is Stage.REGISTERED


def test_complaint_id_is_deterministic_per_key() -> None:
    assert complaint_id_for("a") == complaint_id_for("a")
    assert complaint_id_for("a") != complaint_id_for("b")


def test_full_lifecycle_records_each_step_in_order() -> None:
    c = referred()
    c.resolve(agency="DINKES", outcome="selesai", actor=OPERATOR, correlation_id="c-4")
    names = [type(e).__name__ for e in c.collect_events()]
    assert names == ["Registered", "Verified", "ReferredToOPD", "Resolved"]
    assert c.stage is Stage.RESOLVED
    assert c.outcome == "selesai"


def test_rejected_complaint_cannot_be_referred() -> None:
    c = registered()
    c.reject(reason_code="not_in_dtks", reason="x", rule="dtks.terdaftar", dtks_snapshot="s1",
             actor=SYSTEM, correlation_id="c-2")
    with pytest.raises(ComplaintRejected):
        c.refer(agency="DINKES", routing_rule="r", actor=SYSTEM, correlation_id="c-3")


def test_a_complaint_is_decided_only_once() -> None:
    c = verified()
    with pytest.raises(WrongStage):
        c.verify(rule="r", dtks_snapshot="s", reasons=[], actor=SYSTEM, correlation_id="c")
    with pytest.raises(WrongStage):
        c.reject(reason_code="x", reason="x", rule="r", dtks_snapshot="s", actor=SYSTEM,
                 correlation_id="c")


def test_unverified_complaint_cannot_be_referred() -> None:
    with pytest.raises(WrongStage):
        registered().refer(agency="DINKES", routing_rule="r", actor=SYSTEM, correlation_id="c")


def test_resolving_twice_is_an_error() -> None:
    c = referred()
    c.resolve(agency="DINKES", outcome="ok", actor=OPERATOR, correlation_id="c")
    with pytest.raises(AlreadyResolved):
        c.resolve(agency="DINKES", outcome="ok", actor=OPERATOR, correlation_id="c")


def test_only_the_agency_referred_to_can_resolve() -> None:
    with pytest.raises(NotReferredToAgency):
        referred("DINKES").resolve(agency="DISDIK", outcome="ok", actor=OPERATOR,
                                   correlation_id="c")


def test_same_agency_cannot_be_referred_twice_while_open() -> None:
    c = referred("DINKES")
    with pytest.raises(WrongStage):
        c.refer(agency="DINKES", routing_rule="r", actor=SYSTEM, correlation_id="c")


def test_replaying_events_rebuilds_the_same_state() -> None:
    c = referred()
    events = c.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None
    assert replayed.stage is Stage.REFERRED
    assert replayed.referrals == {"DINKES": "referred"}
    assert replayed.version == c.version


def test_complaint_referred_to_two_agencies_resolves_only_when_both_did() -> None:
    c = verified()
    for agency in ("DINKES", "BPJSKES"):
        c.refer(agency=agency, routing_rule="kis-both", actor=SYSTEM, correlation_id="c")
    c.resolve(agency="DINKES", outcome="ok", actor=OPERATOR, correlation_id="c")
    assert c.stage is Stage.REFERRED
    c.resolve(agency="BPJSKES", outcome="ok", actor=OPERATOR, correlation_id="c")
    names = [type(e).__name__ for e in c.collect_events()]
    assert names[-2:] == ["ReferralResolved", "Resolved"]
    assert c.stage is Stage.RESOLVED


def test_returned_referral_goes_back_to_routing_and_not_to_the_same_agency() -> None:
    c = referred("DINKES")
    c.return_referral(agency="DINKES", reason="bukan wewenang", actor=OPERATOR,
                      correlation_id="c")
    assert c.stage is Stage.VERIFIED
    with pytest.raises(WrongStage):
        c.refer(agency="DINKES", routing_rule="r", actor=SYSTEM, correlation_id="c")
    c.refer(agency="DINSOS", routing_rule="fallback", actor=SYSTEM, correlation_id="c")
    assert c.open_referrals == ["DINSOS"]


def test_accepting_twice_and_acting_without_referral_are_refused() -> None:
    c = referred("DINKES")
    c.accept_referral(agency="DINKES", actor=OPERATOR, correlation_id="c")
    with pytest.raises(WrongStage):
        c.accept_referral(agency="DINKES", actor=OPERATOR, correlation_id="c")
    with pytest.raises(NotReferredToAgency):
        c.note_progress(agency="DISDIK", note="x", actor=OPERATOR, correlation_id="c")


def test_a_stage_breaches_once_and_the_clock_pauses_once() -> None:
    c = referred()
    c.record_breach(stage="resolution", policy="default-24h", due_at="2026-11-24T00:00:00Z",
                    actor=SYSTEM, correlation_id="c")
    with pytest.raises(WrongStage):
        c.record_breach(stage="resolution", policy="default-24h", due_at="x", actor=SYSTEM,
                        correlation_id="c")
    c.pause_clock(reason="menunggu dokumen warga", actor=OPERATOR, correlation_id="c")
    with pytest.raises(WrongStage):
        c.pause_clock(reason="again", actor=OPERATOR, correlation_id="c")
    c.resume_clock(actor=OPERATOR, correlation_id="c")
    assert c.paused is False
