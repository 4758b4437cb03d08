"""One complaint through all five services over real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import requests

from shared.db import connect
from tests.helpers import AUDITOR, actor_headers, stored_event_types, valid_complaint, wait_until

pytestmark = pytest.mark.system


def register(settings, body) -> uuid.UUID:
    resp = requests.post(f"{settings.http_url('intake')}/complaints", json=body,
                         headers=actor_headers("op-system", "operator", desk="332501"), timeout=30)
    assert resp.status_code == 201, resp.text
    return uuid.UUID(resp.json()["complaint_id"])


def stage_of(settings, complaint_id) -> str | None:
    resp = requests.get(f"{settings.http_url('intake')}/complaints/{complaint_id}",
                        headers=AUDITOR, timeout=10)
    return resp.json()["stage"] if resp.status_code == 200 else None


def not_in_dtks(people) -> str:
    known = {p["NIK"] for p in people}
    base = people[0]["NIK"]
    return next(base[:12] + f"{s:04d}" for s in range(9999, 0, -1)
                if base[:12] + f"{s:04d}" not in known)


def eligible(people, program: str, n: int = 0) -> dict:
    """The n-th person the rules (services/verification/data/rules.yaml) verify for a
    category with max_desil 5 that must not already hold `program`."""
    return [p for p in people if int(p["DESIL"]) <= 5 and p[program] == "0"][n]


def test_complaint_in_dtks_is_verified_referred_and_resolved(stack, dtks_people, event_app):
    settings = stack.settings
    person = eligible(dtks_people, "PBI_JK")
    cid = register(settings, valid_complaint(nik=person["NIK"], category="kis",
                                             citizen={"nik": person["NIK"],
                                                      "name": person["NAMA"]}))

    wait_until(lambda: stored_event_types(event_app, cid)[-1:] == ["ReferredToOPD"],
               timeout=60, message="ReferredToOPD appended")
    assert stored_event_types(event_app, cid) == ["Registered", "Verified", "ReferredToOPD"]
    verified = event_app.stored_events(cid)[1]
    assert verified.rule == "kis.eligible" and verified.dtks_snapshot.startswith("20")

    def in_dinkes_queue():
        # The projection row itself: other tests of the session fill the queue's first pages.
        with connect(settings.pg_dsn) as conn:
            rows = conn.execute(
                "SELECT status, routing_rule FROM routing.agency_queue"
                " WHERE complaint_id = %s AND agency = 'DINKES'", (cid,)).fetchall()
        return [{"status": s, "routing_rule": r} for s, r in rows]

    [row] = wait_until(in_dinkes_queue, timeout=30, message="referral in DINKES queue")
    assert row["status"] == "referred" and row["routing_rule"] == "kis-dinkes"
    wait_until(lambda: stage_of(settings, cid) == "referred", timeout=30,
               message="status projection at referred")

    resp = requests.post(
        f"{settings.http_url('routing')}/referrals/{cid}/resolve",
        json={"agency": "DINKES", "outcome": "KIS diaktifkan kembali"},
        headers=actor_headers("petugas-dinkes", "agency", agency="DINKES"), timeout=30)
    assert resp.status_code == 200, resp.text
    assert stored_event_types(event_app, cid) == [
        "Registered", "Verified", "ReferredToOPD", "Resolved"]
    wait_until(lambda: stage_of(settings, cid) == "resolved", timeout=30,
               message="status projection at resolved")
    wait_until(lambda: [r for r in in_dinkes_queue() if r["status"] == "resolved"], timeout=30,
               message="queue row resolved")

    def deadlines_closed():
        with connect(settings.pg_dsn) as conn:
            rows = conn.execute("SELECT stage, closed_at FROM sla.deadlines"
                                " WHERE complaint_id = %s", (cid,)).fetchall()
        # default-24h: verification, referral, acceptance and the overall clock; the
        # resolution closes every clock still running
        return (sorted(stage for stage, _ in rows) == ["acceptance", "overall", "referral",
                                                       "verification"]
                and all(closed for _, closed in rows) and rows)

    wait_until(deadlines_closed, timeout=30, message="all four SLA clocks recorded and closed")


def test_complaint_not_in_dtks_is_rejected_with_a_reason(stack, dtks_people, event_app):
    settings = stack.settings
    cid = register(settings, valid_complaint(nik=not_in_dtks(dtks_people), category="bpnt"))
    wait_until(lambda: stored_event_types(event_app, cid)[-1:] == ["Rejected"], timeout=60,
               message="Rejected appended")
    assert stored_event_types(event_app, cid) == ["Registered", "Rejected"]
    rejected = event_app.stored_events(cid)[1]
    assert rejected.reason_code == "not_in_dtks"
    assert rejected.actor["user_id"] == "system:verification"
    wait_until(lambda: stage_of(settings, cid) == "rejected", timeout=30,
               message="status projection at rejected")


def test_an_agency_cannot_resolve_another_agencys_referral(stack, dtks_people, event_app):
    settings = stack.settings
    person = eligible(dtks_people, "KIP", 1)
    cid = register(settings, valid_complaint(nik=person["NIK"], category="kip",
                                             citizen={"nik": person["NIK"],
                                                      "name": person["NAMA"]}))
    wait_until(lambda: stored_event_types(event_app, cid)[-1:] == ["ReferredToOPD"],
               timeout=60, message="referred")
    before = stored_event_types(event_app, cid)
    resp = requests.post(
        f"{settings.http_url('routing')}/referrals/{cid}/resolve",
        json={"agency": "DISDIK", "outcome": "x"},
        headers=actor_headers("petugas-dinkes", "agency", agency="DINKES"), timeout=30)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"
    assert stored_event_types(event_app, cid) == before
