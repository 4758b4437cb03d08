"""The routing service against the real broker and database: routing by the table in force
(also while it changes), desil from DTKS, agency actions scoped to the agency, re-routing of
a returned case, multi-agency resolution, the work queue, and rebuild == live."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from nameko.rpc import rpc

from services.routing.domainmodel import KabupatenTable, RoutingTable
from services.routing.projections import AgencyQueue
from services.routing.service import RoutingService
from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.db import Database, connect
from tests.helpers import (
    actor_headers,
    count_events,
    relay_running,
    running_service,
    stored_event_types,
    wait_until,
)

SYSTEM = {"user_id": "system:test", "role": "system", "desk": None}
DESIL: dict[str, int] = {}


class FakeDtks:
    """Stands in for dtks_sync's lookup_nik RPC: a person with a desil, or nobody."""

    name = "dtks_sync"

    @rpc
    def lookup_nik(self, nik: str) -> dict[str, Any]:
        if nik not in DESIL:
            return {"person": None, "snapshot_id": None}
        return {"person": {"nik": nik, "desil": DESIL[nik]}, "snapshot_id": "s1"}


@pytest.fixture(scope="module")
def routing_url(topology_declared):
    with running_service(FakeDtks, topology_declared), \
            running_service(RoutingService, topology_declared) as url, \
            relay_running(topology_declared):
        yield url


def agency(code: str, kab: str = "3325") -> dict[str, str]:
    return actor_headers(f"petugas-{code.lower()}", "agency", agency=code, kabupaten=kab)


def admin(kab: str) -> dict[str, str]:
    return actor_headers("admin-test", "admin", kabupaten=kab)


def verified_complaint(app, *, kabupaten: str = "3325", category: str = "kis",
                       nik: str | None = None) -> uuid.UUID:
    key = f"routing-{uuid.uuid4()}"
    nik = nik or f"{kabupaten}01450790{uuid.uuid4().int % 10000:04d}"
    c = Complaint.register(
        complaint_id=complaint_id_for(key), registration_number=key, kabupaten=kabupaten,
        desk=f"{kabupaten}01", channel="desk", category=category, description="aduan uji",
        citizen={"nik": nik, "name": "Siti"}, wilayah=f"{kabupaten}01", priority="normal",
        confidential=False, actor={"user_id": "op", "role": "operator", "desk": "x"},
        correlation_id=key)
    c.verify(rule="test", dtks_snapshot="s1", reasons=[], actor=SYSTEM, correlation_id=key)
    app.save_or_conflict(c)
    return c.id


def referrals(app, cid) -> list[Any]:
    return [e for e in app.stored_events(cid) if type(e).__name__ == "ReferredToOPD"]


def wait_referred(app, cid, n: int = 1) -> list[Any]:
    return wait_until(lambda: len(referrals(app, cid)) >= n and referrals(app, cid),
                      timeout=60, message=f"{n} ReferredToOPD for {cid}")


def post(url: str, cid, action: str, headers: dict[str, str], **body: Any):
    return requests.post(f"{url}/referrals/{cid}/{action}", json=body, headers=headers,
                         timeout=30)


def queue_rows(url: str, code: str, **params: Any) -> list[dict[str, Any]]:
    resp = requests.get(f"{url}/agencies/{code}/queue", params=params,
                        headers=agency(code, params.get("kabupaten", "3325")), timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["referrals"]


def test_a_table_change_while_complaints_flow_takes_effect_without_a_restart(
        routing_url, event_app):
    kab = "3391"
    before = [verified_complaint(event_app, kabupaten=kab) for _ in range(8)]
    table = {"rules": [{"id": "kis-bpjs", "category": "kis", "agencies": ["BPJSKES"]}],
             "default": {"id": "default-dinsos", "agencies": ["DINSOS"]}, "expected_version": 0}
    resp = requests.put(f"{routing_url}/routing/tables/{kab}", headers=admin(kab), timeout=10,
                        json=table)
    assert resp.status_code == 200, resp.text
    assert resp.json()["version"] == 1
    after = [verified_complaint(event_app, kabupaten=kab) for _ in range(8)]

    file_table = RoutingTable.load().table_for(kab)
    answer = resp.json()
    stored = KabupatenTable.parse(kab, {"rules": answer["rules"], "default": answer["default"]},
                                  RoutingTable.load().agencies, 1)
    for cid in before + after:
        [event] = wait_referred(event_app, cid)
        table = {0: file_table, 1: stored}[event.routing_table_version]
        expected = table.route("kis")
        assert (event.routing_rule, event.agency) == (expected.rule_id, expected.agencies[0])
    for cid in after:
        [event] = referrals(event_app, cid)
        assert (event.routing_table_version, event.routing_rule, event.agency) == (
            1, "kis-bpjs", "BPJSKES"), "a complaint verified after the change used the old table"
    answer = requests.get(f"{routing_url}/routing/tables/{kab}", headers=admin(kab),
                          timeout=10).json()
    assert answer["version"] == 1 and answer["applies"] == kab


def test_a_stale_or_bad_table_or_a_non_admin_changes_nothing(routing_url, sedulur_env):
    kab = "3392"
    good = {"rules": [], "default": {"id": "d", "agencies": ["DINSOS"]}}
    assert requests.put(f"{routing_url}/routing/tables/{kab}", json=good, headers=admin(kab),
                        timeout=10).status_code == 200
    cases = [
        ({**good, "expected_version": 0}, admin(kab), 409, "concurrency_conflict"),
        ({"rules": [], "default": {"id": "d", "agencies": ["NOBODY"]}}, admin(kab), 400,
         "invalid_routing_table"),
        (good, agency("DINKES"), 403, "forbidden"),
        (good, admin("3325"), 403, "forbidden"),  # another kabupaten's admin
    ]
    for body, headers, status, code in cases:
        resp = requests.put(f"{routing_url}/routing/tables/{kab}", json=body, headers=headers,
                            timeout=10)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)
    with connect(sedulur_env.pg_dsn) as conn:
        assert conn.execute("SELECT max(version) FROM routing.tables WHERE kabupaten = %s",
                            (kab,)).fetchone()[0] == 1


def test_desil_from_dtks_routes_to_two_agencies_and_it_resolves_only_when_both_did(
        routing_url, event_app):
    poor = "3576014507900011"
    DESIL[poor] = 2
    cid = verified_complaint(event_app, kabupaten="3576", category="rtlh", nik=poor)
    events = wait_referred(event_app, cid, 2)
    assert {(e.agency, e.routing_rule) for e in events} == {
        ("DPRKP", "rtlh-desil-1-3"), ("BAZ", "rtlh-desil-1-3")}

    first = post(routing_url, cid, "resolve", agency("DPRKP", "3576"), agency="DPRKP",
                 outcome="RTLH masuk usulan 2027")
    assert first.status_code == 200, first.text
    assert first.json()["stage"] == "referred"
    assert stored_event_types(event_app, cid)[-1] == "ReferralResolved"
    second = post(routing_url, cid, "resolve", agency("BAZ", "3576"), agency="BAZ",
                  outcome="bantuan bahan bangunan")
    assert second.status_code == 200 and second.json()["stage"] == "resolved"
    assert stored_event_types(event_app, cid)[-1] == "Resolved"

    rich = "3576014507900012"
    DESIL[rich] = 8
    other = verified_complaint(event_app, kabupaten="3576", category="rtlh", nik=rich)
    [event] = wait_referred(event_app, other)
    assert (event.agency, event.routing_rule) == ("DPRKP", "rtlh-dprkp")


def test_returned_as_not_our_authority_goes_to_the_fallback_then_the_dinsos_desk(
        routing_url, event_app):
    cid = verified_complaint(event_app)
    [first] = wait_referred(event_app, cid)
    assert first.agency == "DINKES"
    resp = post(routing_url, cid, "accept", agency("DINKES"), agency="DINKES")
    assert resp.status_code == 200 and resp.json()["referral_status"] == "accepted"
    resp = post(routing_url, cid, "return", agency("DINKES"), agency="DINKES",
                reason="bukan wewenang: kepesertaan PBI-JK di BPJS Kesehatan")
    assert resp.status_code == 200, resp.text

    second = wait_referred(event_app, cid, 2)[-1]
    assert (second.agency, second.routing_rule) == ("BPJSKES", "kis-dinkes/fallback")
    assert post(routing_url, cid, "return", agency("BPJSKES"), agency="BPJSKES",
                reason="bukan wewenang").status_code == 200
    third = wait_referred(event_app, cid, 3)[-1]
    assert (third.agency, third.routing_rule) == ("DINSOS", "dinsos-desk")
    assert stored_event_types(event_app, cid) == [
        "Registered", "Verified", "ReferredToOPD", "ReferralAccepted", "ReferralReturned",
        "ReferredToOPD", "ReferralReturned", "ReferredToOPD"]

    [row] = [r for r in queue_rows(routing_url, "DINKES", status="returned")
             if r["complaint_id"] == str(cid)]
    assert row["return_reason"].startswith("bukan wewenang") and row["accepted_at"]


@pytest.mark.parametrize(
    ("who", "body_agency"),
    [
        (("BPJSKES", "3325"), "BPJSKES"),  # not referred to BPJSKES: 409 below
        (("BPJSKES", "3325"), "DINKES"),   # acting as another agency
        (("DINKES", "3576"), "DINKES"),    # the same agency of another kabupaten
        (None, "DINKES"),                  # an operator
    ],
    ids=["own-code-not-referred", "other-agency", "other-kabupaten", "operator"],
)
@pytest.mark.parametrize("action", ["resolve", "accept", "progress", "return"])
def test_acting_on_another_agencys_referral_is_refused_and_appends_nothing(
        routing_url, event_app, sedulur_env, who, body_agency, action):
    headers = agency(*who) if who else actor_headers("op-test", "operator", desk="332501")
    cid = verified_complaint(event_app)
    wait_referred(event_app, cid)
    before = count_events(sedulur_env)
    text = {"resolve": {"outcome": "x"}, "progress": {"note": "x"}, "return": {"reason": "x"},
            "accept": {}}[action]
    resp = post(routing_url, cid, action, headers, agency=body_agency, **text)
    expected = 409 if who and body_agency == who[0] == "BPJSKES" else 403
    assert resp.status_code == expected, resp.text
    assert resp.json()["error"]["code"] in ("forbidden", "not_referred_to_agency")
    assert stored_event_types(event_app, cid) == ["Registered", "Verified", "ReferredToOPD"]
    assert count_events(sedulur_env) == before


def test_the_work_queue_filters_pages_shows_due_time_and_rebuilds_equal_to_live(
        routing_url, event_app, sedulur_env):
    kab = "3393"
    ids = [verified_complaint(event_app, kabupaten=kab) for _ in range(5)]
    for cid in ids:
        wait_referred(event_app, cid)
    assert post(routing_url, ids[0], "accept", agency("DINKES", kab), agency="DINKES").ok
    assert post(routing_url, ids[0], "progress", agency("DINKES", kab), agency="DINKES",
                note="menunggu verifikasi BPJS").ok
    with connect(sedulur_env.pg_dsn) as conn:
        conn.execute("INSERT INTO sla.deadlines (complaint_id, stage, policy, started_at, due_at)"
                     " VALUES (%s, 'resolution', 'test', now() - interval '3 days',"
                     " now() - interval '1 day') ON CONFLICT (complaint_id, stage) DO UPDATE"
                     " SET due_at = EXCLUDED.due_at", (ids[1],))

    wait_until(lambda: len(queue_rows(routing_url, "DINKES", kabupaten=kab)) == 5, timeout=30,
               message="five rows in the queue")
    pages, cursor = [], None
    while True:
        params = {"kabupaten": kab, "limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = requests.get(f"{routing_url}/agencies/DINKES/queue", params=params,
                            headers=agency("DINKES", kab), timeout=10)
        pages.append(resp.json()["referrals"])
        cursor = resp.json()["next_cursor"]
        if not cursor:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(r["complaint_id"] for p in pages for r in p) == sorted(map(str, ids))

    [accepted] = queue_rows(routing_url, "DINKES", kabupaten=kab, status="accepted")
    assert accepted["complaint_id"] == str(ids[0]) and accepted["notes"] == 1
    assert accepted["last_note"] == "menunggu verifikasi BPJS"
    [late] = queue_rows(routing_url, "DINKES", kabupaten=kab, overdue="true")
    assert late["complaint_id"] == str(ids[1]) and late["due_at"] and late["overdue"] is True
    on_time = queue_rows(routing_url, "DINKES", kabupaten=kab, overdue="false")
    assert len(on_time) == 4 and all(r["due_at"] is None for r in on_time)
    assert all(r["age_seconds"] >= 0 for r in on_time)
    assert queue_rows(routing_url, "DINKES", kabupaten=kab, category="rtlh") == []
    bad = requests.get(f"{routing_url}/agencies/DINKES/queue", params={"cursor": "@@"},
                       headers=agency("DINKES"), timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "cursor"
    assert requests.get(f"{routing_url}/agencies/DINKES/queue", headers=agency("BAZ"),
                        timeout=10).status_code == 403

    # rebuild == live: the queue rows, once the live consumers are quiet.
    from services.routing.adapters import TableStore
    from services.routing.application import Routing, RoutingTables

    db = Database.from_settings(sedulur_env)
    app = Routing(sedulur_env, RoutingTables(TableStore(db)))
    try:
        projection = AgencyQueue(app, db)

        def quiet_snapshot():
            first = projection.snapshot_rows()["routing.agency_queue"]
            return first if first == projection.snapshot_rows()["routing.agency_queue"] else None

        def facts(rows):
            # The replay also records facts of complaints never referred (the live side only
            # reads streams it is nudged about): compare those the queue uses.
            ids = {r["complaint_id"] for r in rows}
            return [f for f in projection.snapshot_rows()["routing.complaint_facts"]
                    if f["complaint_id"] in ids]

        live = wait_until(quiet_snapshot, timeout=30, message="live queue settled")
        live_facts = facts(live)
        projection.rebuild()
        rebuilt = projection.snapshot_rows()["routing.agency_queue"]
        assert rebuilt == live
        assert facts(rebuilt) == live_facts
        assert len(live) >= 5 and len(live_facts) >= 5
    finally:
        app.close()
        db.close()
