"""Recap rules without servers: periods, areas, small-cell suppression, and facts taken
straight from a complaint's events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from services.reporting.domainmodel import (
    Period,
    build_recap,
    compare,
    facts_from_events,
    parse_area,
    shown_rows,
    suppress,
)
from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.errors import InvalidPeriod, InvalidWilayah

OPERATOR = {"user_id": "op-1", "role": "operator", "desk": "332501"}
SYSTEM = {"user_id": "system", "role": "system", "desk": None}


def complaint(n: int, wilayah: str = "3325012001") -> Complaint:
    return Complaint.register(
        complaint_id=complaint_id_for(f"r-{n}"), registration_number=f"r-{n}",
        kabupaten="3325", desk=wilayah[:6], channel="desk", category="kis",
        description="x", citizen={"nik": "3325014507900001", "name": "Siti"},
        wilayah=wilayah, priority="normal", confidential=False, actor=OPERATOR,
        correlation_id="c")


def test_periods_parse_to_local_bounds_and_buckets():
    month = Period.parse("2026-11")
    assert month.bounds("Asia/Jakarta")[0].isoformat() == "2026-11-01T00:00:00+07:00"
    assert len(month.buckets()) == 30
    assert Period.parse("2026-W48").first == date(2026, 11, 23)
    assert Period.parse("2026-12-31").end == date(2027, 1, 1)
    assert len(Period.parse("2026-12-31").buckets()) == 24
    assert Period.month_before(date(2026, 1, 5)).text == "2025-12"


@pytest.mark.parametrize("text", ["2026-13", "november", "2026-W60", "", "2026-02-30"])
def test_a_malformed_period_is_refused(text):
    with pytest.raises(InvalidPeriod):
        Period.parse(text)


@pytest.mark.parametrize("text", ["3", "33251", "abcd", "3325.01.2001.1"])
def test_an_area_must_be_a_wilayah_code_of_a_known_level(text):
    with pytest.raises(InvalidWilayah):
        parse_area(text)


def test_counts_of_one_and_two_are_suppressed_zero_and_three_are_shown():
    assert [suppress(v) for v in (0, 1, 2, 3, 40)] == [0, "<3", "<3", 3, 40]


def test_facts_follow_the_lifecycle_and_hold_no_personal_data():
    c = complaint(1)
    c.verify(rule="r", dtks_snapshot="s", reasons=[], actor=SYSTEM, correlation_id="c")
    c.refer(agency="DINKES", routing_rule="r", actor=SYSTEM, correlation_id="c")
    c.record_breach(stage="acceptance", policy="p", due_at="d", actor=SYSTEM,
                    correlation_id="c")
    c.return_referral(agency="DINKES", reason="bukan", actor=SYSTEM, correlation_id="c")
    c.refer(agency="BPJSKES", routing_rule="r", actor=SYSTEM, correlation_id="c")
    c.resolve(agency="BPJSKES", outcome="ok", actor=SYSTEM, correlation_id="c")
    facts, referrals = facts_from_events(c.collect_events())
    [f] = facts.values()
    assert (f["kecamatan"], f["desa"], f["province"]) == ("332501", "3325012001", "33")
    assert (f["referrals"], f["returned"], f["open_referrals"], f["breaches"]) == (2, 1, 0, 1)
    assert f["resolved_at"] is not None and f["agency"] == "BPJSKES"
    assert {(r["agency"], r["closed_as"], r["breached"]) for r in referrals.values()} == {
        ("DINKES", "returned", True), ("BPJSKES", "resolved", False)}
    assert "3325014507900001" not in repr(facts) and "Siti" not in repr(facts)


def _recap(facts: dict[Any, Any], referrals: dict[Any, Any], when: datetime) -> Any:
    period = Period.parse(f"{when:%Y-%m}")
    return build_recap(facts.values(), referrals.values(), period, "3325", "Asia/Jakarta", 9)


def test_a_recap_counts_its_area_only_and_compare_names_each_differing_figure():
    events: list[Any] = []
    for n, wilayah in enumerate(["3325012001", "3325012002", "3325022001", "3326012001"]):
        c = complaint(n, wilayah)
        if n == 0:
            c.reject(reason_code="not_in_dtks", reason="x", rule="r", dtks_snapshot="s",
                     actor=SYSTEM, correlation_id="c")
        events += c.collect_events()
    facts, referrals = facts_from_events(events)
    when = events[0].timestamp
    recap = _recap(facts, referrals, when)
    assert recap.tables["ringkasan"].rows[0] == ["Pengaduan terdaftar", 3]
    assert {r[0]: r[2] for r in recap.tables["kecamatan"].rows} == {"332501": 2, "332502": 1}
    assert shown_rows(recap.tables["kecamatan"])[0][2] == "<3"
    assert compare(recap, _recap(facts, referrals, when)) == []
    facts[events[-1].originator_id]["kabupaten"] = "3325"
    facts[events[-1].originator_id].update(desa="3325012009", kecamatan="332501")
    assert "kecamatan/332501/-/terdaftar: laporan 2 != log 3" in compare(
        recap, _recap(facts, referrals, when))
