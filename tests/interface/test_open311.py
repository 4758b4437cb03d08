"""Open311 GeoReport v2 over HTTP against the running intake service: discover, define,
post and follow a request to `closed` in JSON and XML; the specification's error list with
the right status for every bad request, appending nothing; idempotent retries; client
applications managed with `sedulur open311 clients`; and no personal data in any GET
answer over a generated day of complaints."""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
import requests
from typer.testing import CliRunner

from services.intake.service import IntakeService
from shared.db import connect
from tests.helpers import count_events, relay_running, running_service, wait_until

V2 = "/open311/v2"
SYSTEM = {"user_id": "system:test", "role": "system", "desk": None}


@pytest.fixture(scope="module")
def intake_url(topology_declared):
    with running_service(IntakeService, topology_declared) as url:
        yield url


def cli(*args: str) -> Any:
    from shared.cli import app

    result = CliRunner().invoke(app, ["open311", "clients", *args])
    assert result.exit_code == 0, result.output
    return result


def add_client(client_id: str, channel: str = "open311") -> str:
    out = cli("add", client_id, "--name", f"Aplikasi {client_id}", "--channel", channel,
              "--json")
    return json.loads(out.stdout)["api_key"]


@pytest.fixture(scope="module")
def api_key(sedulur_env) -> str:
    return add_client(f"kota-{uuid.uuid4().hex[:6]}", channel="open311-kota")


def _nik(serial: int, kec: str = "01", day: int = 45) -> str:
    return f"3325{kec}{day:02d}0790{serial:04d}"


def form(key: str, /, **overrides: str | None) -> dict[str, str]:
    body: dict[str, str | None] = {
        "api_key": key, "service_code": "kis-nonaktif",
        "description": "Kartu KIS tidak aktif saat berobat ke puskesmas",
        "attribute[nik]": _nik(random.randrange(1, 9999)), "attribute[nama]": "Siti Aminah",
        "lat": "-6.9", "long": "109.7",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def post(url: str, fmt: str, body: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}{V2}/requests.{fmt}", data=body, timeout=30)


def parsed(resp: requests.Response, fmt: str) -> Any:
    """The answer as plain data: JSON as is; XML turned into the same lists and dicts."""
    if fmt == "json":
        assert resp.headers["content-type"].startswith("application/json")
        return resp.json()
    assert resp.headers["content-type"].startswith("text/xml")
    assert resp.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(resp.content)


def xml_items(root: ET.Element) -> list[dict[str, str]]:
    return [{child.tag: (child.text or "") for child in item} for item in root]


def complaint_id(sedulur_env, number: str) -> uuid.UUID:
    with connect(sedulur_env.pg_dsn) as conn:
        return conn.execute("SELECT complaint_id FROM intake.complaint_status"
                            " WHERE registration_number = %s", (number,)).fetchone()[0]


# --- discover, define, post, follow ------------------------------------------------------


def follow(url: str, fmt: str, number: str) -> dict[str, str]:
    resp = requests.get(f"{url}{V2}/requests/{number}.{fmt}", timeout=10)
    assert resp.status_code == 200, resp.text
    body = parsed(resp, fmt)
    if fmt == "json":
        [item] = body
        return {k: "" if v is None else v for k, v in item.items()}
    assert body.tag == "service_requests"
    [item] = xml_items(body)
    return item


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_round_trip_discover_define_post_and_follow_to_closed(
    intake_url, api_key, event_app, sedulur_env, topology_declared, fmt
):
    services = parsed(requests.get(f"{intake_url}{V2}/services.{fmt}", timeout=10), fmt)
    if fmt == "json":
        by_code = {s["service_code"]: s for s in services}
        kis = by_code["kis-nonaktif"]
        assert kis["metadata"] is True and kis["type"] == "realtime"
    else:
        assert services.tag == "services"
        by_code = {s["service_code"]: s for s in xml_items(services)}
        kis = by_code["kis-nonaktif"]
        assert (kis["metadata"], kis["type"]) == ("true", "realtime")
    assert set(kis) >= {"service_code", "service_name", "description", "metadata", "type",
                        "keywords", "group"}
    assert kis["group"] == "Jaminan kesehatan (KIS / PBI-JK)"
    assert {"kis", "pkh", "bpnt-kks", "lainnya"} <= set(by_code)

    resp = requests.get(f"{intake_url}{V2}/services/kis-nonaktif.{fmt}", timeout=10)
    definition = parsed(resp, fmt)
    if fmt == "json":
        assert definition["service_code"] == "kis-nonaktif"
        attrs = {a["code"]: a for a in definition["attributes"]}
        assert attrs["nik"]["required"] is True and attrs["nik"]["datatype"] == "string"
        assert [v["key"] for v in attrs["prioritas"]["values"]] == ["normal", "high", "urgent"]
    else:
        assert definition.tag == "service_definition"
        assert definition.findtext("service_code") == "kis-nonaktif"
        attrs = {a.findtext("code"): a for a in definition.find("attributes")}
        assert attrs["nik"].findtext("required") == "true"
        assert [v.findtext("key") for v in attrs["prioritas"].find("values")] == \
            ["normal", "high", "urgent"]
    assert {"nik", "nama", "kk", "desk", "wilayah"} <= set(attrs)

    resp = post(intake_url, fmt, form(api_key, **{"attribute[kk]": "3325011503150007",
                                                  "phone": "0812-3456-7890"}))
    assert resp.status_code == 201, resp.text
    answer = parsed(resp, fmt)
    number = answer[0]["service_request_id"] if fmt == "json" else \
        xml_items(answer)[0]["service_request_id"]

    seen = follow(intake_url, fmt, number)
    assert (seen["status"], seen["service_code"]) == ("open", "kis-nonaktif")
    assert seen["status_notes"].startswith("Aduan diterima")
    assert seen["agency_responsible"] == "" and seen["expected_datetime"] == ""
    assert datetime.fromisoformat(seen["requested_datetime"]).tzinfo is not None

    cid = complaint_id(sedulur_env, number)
    due = (datetime.now(UTC) + timedelta(hours=24)).replace(microsecond=0)
    with connect(sedulur_env.pg_dsn) as conn:  # what the sla service's projection writes
        conn.execute("INSERT INTO sla.deadlines (complaint_id, stage, policy, started_at,"
                     " due_at) VALUES (%s, 'verification', 'test', now(), %s)", (cid, due))
    assert datetime.fromisoformat(follow(intake_url, fmt, number)["expected_datetime"]) == due

    with relay_running(topology_declared):
        c = event_app.get_complaint(cid)
        c.verify(rule="t", dtks_snapshot="s", reasons=[], actor=SYSTEM, correlation_id="v")
        c.refer(agency="BPJSKES", routing_rule="t", actor=SYSTEM, correlation_id="r")
        event_app.save_or_conflict(c)
        referred = wait_until(lambda: (lambda s: s if s["agency_responsible"] else None)(
            follow(intake_url, fmt, number)), message="referral seen")
        assert referred["status"] == "open"
        assert referred["agency_responsible"] == "BPJSKES"
        assert "BPJSKES" in referred["status_notes"]
        c = event_app.get_complaint(cid)
        c.resolve(agency="BPJSKES", outcome="KIS aktif kembali", actor=SYSTEM,
                  correlation_id="x")
        event_app.save_or_conflict(c)
        closed = wait_until(lambda: (lambda s: s if s["status"] == "closed" else None)(
            follow(intake_url, fmt, number)), message="closed")
    assert closed["status_notes"] == "Selesai ditangani BPJSKES."
    assert closed["updated_datetime"] >= closed["requested_datetime"]

    listed = requests.get(f"{intake_url}{V2}/requests.{fmt}", timeout=10, params={
        "status": "closed", "service_code": "kis-nonaktif"})
    items = parsed(listed, fmt)
    ids = [i["service_request_id"] for i in (items if fmt == "json" else xml_items(items))]
    assert number in ids
    still_open = requests.get(f"{intake_url}{V2}/requests.{fmt}", params={"status": "open"},
                              timeout=10)
    items = parsed(still_open, fmt)
    assert number not in [i["service_request_id"]
                          for i in (items if fmt == "json" else xml_items(items))]


def test_get_requests_filters_by_ids_and_dates(intake_url, api_key):
    numbers = [post(intake_url, "json", form(api_key, description=f"aduan {i}"))
               .json()[0]["service_request_id"] for i in range(3)]
    by_ids = requests.get(f"{intake_url}{V2}/requests.json", timeout=10,
                          params={"service_request_id": ",".join(numbers[:2])}).json()
    assert sorted(r["service_request_id"] for r in by_ids) == sorted(numbers[:2])
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert requests.get(f"{intake_url}{V2}/requests.json", params={"start_date": future},
                        timeout=10).json() == []
    recent = requests.get(f"{intake_url}{V2}/requests.json", timeout=10, params={
        "start_date": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "end_date": future}).json()
    assert set(numbers) <= {r["service_request_id"] for r in recent}


# --- errors: the specification's list, the right status, nothing appended ----------------


ERROR_CASES = [
    ("nik-missing", {"attribute[nik]": None}, 400, "attribute[nik]"),
    ("name-missing", {"attribute[nama]": None}, 400, "attribute[nama]"),
    ("description-missing", {"description": None}, 400, "description"),
    ("nik-not-16-digits", {"attribute[nik]": "12345"}, 400, "attribute[nik]"),
    ("nik-letters", {"attribute[nik]": "33250145079O0001"}, 400, "attribute[nik]"),
    ("nik-no-birth-date", {"attribute[nik]": "3325019913900001"}, 400, "attribute[nik]"),
    ("kk-wrong", {"attribute[kk]": "33250199"}, 400, "attribute[kk]"),
    ("desk-kabupaten", {"attribute[desk]": "3325"}, 400, "attribute[desk]"),
    ("wilayah-not-desa", {"attribute[wilayah]": "332501"}, 400, "attribute[wilayah]"),
    ("priority-not-in-list", {"attribute[prioritas]": "sangat"}, 400, "attribute[prioritas]"),
    ("phone-wrong", {"phone": "12345"}, 400, "phone"),
    ("unknown-attribute", {"attribute[warna]": "merah"}, 400, "attribute[warna]"),
    ("service-code-missing", {"service_code": None}, 400, "service_code"),
    ("service-code-unknown", {"service_code": "unicorn"}, 404, "service_code"),
    ("api-key-missing", {"api_key": None}, 403, "api_key"),
    ("api-key-wrong", {"api_key": "o311_guess"}, 403, "api_key"),
    ("api-key-wrong-and-bad-fields", {"api_key": "x", "attribute[nik]": "1"}, 403, "api_key"),
]


def errors_of(resp: requests.Response, fmt: str) -> list[dict[str, Any]]:
    body = parsed(resp, fmt)
    if fmt == "json":
        assert isinstance(body, list)
        for e in body:
            assert set(e) == {"code", "description"} and isinstance(e["code"], int)
        return body
    assert body.tag == "errors"
    items = xml_items(body)
    assert all(set(i) == {"code", "description"} and body[0].tag == "error" for i in items)
    return [{"code": int(i["code"]), "description": i["description"]} for i in items]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(("overrides", "status", "field"),
                         [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_bad_post_answers_the_standard_error_list_and_appends_nothing(
    intake_url, api_key, sedulur_env, fmt, overrides, status, field
):
    before = count_events(sedulur_env)
    resp = post(intake_url, fmt, form(api_key, **overrides))
    assert resp.status_code == status, resp.text
    errors = errors_of(resp, fmt)
    assert errors and all(e["code"] == status for e in errors)
    assert any(e["description"].startswith(field) for e in errors), errors
    assert count_events(sedulur_env) == before


def test_every_bad_field_is_named_at_once(intake_url, api_key, sedulur_env):
    before = count_events(sedulur_env)
    resp = post(intake_url, "json", form(api_key, **{
        "attribute[nik]": "1", "attribute[nama]": None, "attribute[kk]": "2",
        "attribute[prioritas]": "x"}))
    assert resp.status_code == 400
    named = {e["description"].split(":")[0] for e in resp.json()}
    assert named == {"attribute[nik]", "attribute[nama]", "attribute[kk]",
                     "attribute[prioritas]"}
    assert count_events(sedulur_env) == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_unknown_service_definition_and_request_are_404_in_the_error_shape(intake_url, fmt):
    for path in (f"services/unicorn.{fmt}", f"requests/3325-251123-000019.{fmt}",
                 f"requests/bukan-nomor.{fmt}"):
        resp = requests.get(f"{intake_url}{V2}/{path}", timeout=10)
        assert resp.status_code == 404
        assert [e["code"] for e in errors_of(resp, fmt)] == [404]


def test_bad_filters_and_formats_are_errors_in_the_error_shape(intake_url):
    bad_status = requests.get(f"{intake_url}{V2}/requests.json", params={"status": "x"},
                              timeout=10)
    bad_date = requests.get(f"{intake_url}{V2}/requests.xml", params={"start_date": "kemarin"},
                            timeout=10)
    assert (bad_status.status_code, bad_date.status_code) == (400, 400)
    assert errors_of(bad_status, "json")[0]["code"] == 400
    assert errors_of(bad_date, "xml")[0]["code"] == 400
    csv = requests.get(f"{intake_url}{V2}/services.csv", timeout=10)
    assert csv.status_code == 404 and errors_of(csv, "json")[0]["code"] == 404


# --- idempotency, channel, clients ---------------------------------------------------------


def test_a_retried_identical_post_answers_the_same_id_and_appends_nothing(
    intake_url, api_key, sedulur_env
):
    body = form(api_key, **{"attribute[nik]": _nik(4242)})
    first = post(intake_url, "json", body)
    before = count_events(sedulur_env)
    again = post(intake_url, "xml", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert xml_items(parsed(again, "xml"))[0]["service_request_id"] == \
        first.json()[0]["service_request_id"]
    assert count_events(sedulur_env) == before
    other = post(intake_url, "json", {**body, "description": "Kartu KIS ditolak apotek"})
    assert other.status_code == 201
    assert other.json()[0]["service_request_id"] != first.json()[0]["service_request_id"]


def test_complaints_carry_the_client_channel_and_the_client_as_actor(
    intake_url, sedulur_env, event_app
):
    client_id = f"bot-{uuid.uuid4().hex[:6]}"
    key = add_client(client_id, channel="open311-bot")
    resp = post(intake_url, "json", form(key, **{"attribute[desk]": "3325012001",
                                                 "attribute[prioritas]": "urgent"}))
    assert resp.status_code == 201
    [event] = event_app.stored_events(complaint_id(sedulur_env,
                                                   resp.json()[0]["service_request_id"]))
    assert (event.channel, event.actor["user_id"]) == ("open311-bot", f"open311:{client_id}")
    assert (event.desk, event.priority, event.category) == ("3325012001", "urgent",
                                                           "kis-nonaktif")
    # The channel statistics and per-desk operator activity of the recap count the client.
    from services.reporting.domainmodel import Period, build_recap, facts_from_events

    facts, referrals = facts_from_events([event])
    today = event.timestamp.astimezone(ZoneInfo("Asia/Jakarta")).date().isoformat()
    recap = build_recap(facts.values(), referrals.values(), Period.parse(today), "3325",
                        "Asia/Jakarta", 0)
    assert recap.tables["kanal"].rows == [["open311-bot", 1]]
    assert recap.tables["meja"].rows == [["3325012001", 1, 1]]


def test_clients_are_listed_without_keys_and_a_revoked_key_is_refused(
    intake_url, sedulur_env
):
    client_id = f"rev-{uuid.uuid4().hex[:6]}"
    key = add_client(client_id)
    assert post(intake_url, "json", form(key)).status_code == 201
    listed = json.loads(cli("list", "--json").stdout)
    [mine] = [c for c in listed if c["client_id"] == client_id]
    assert mine["channel"] == "open311" and mine["revoked_at"] is None
    assert key not in json.dumps(listed) and "key_hash" not in mine
    with connect(sedulur_env.pg_dsn) as conn:
        stored = conn.execute("SELECT key_hash FROM intake.open311_clients WHERE client_id"
                              " = %s", (client_id,)).fetchone()[0]
    assert key not in stored
    cli("revoke", client_id)
    before = count_events(sedulur_env)
    refused = post(intake_url, "json", form(key, description="setelah dicabut"))
    assert refused.status_code == 403
    assert count_events(sedulur_env) == before


# --- privacy --------------------------------------------------------------------------------

FIRST = ["Sulastri", "Warsono", "Endang", "Sugiyanto", "Paryem", "Tukinah", "Rohmadi",
         "Karsinah", "Slamet", "Mujiyem"]
LAST = ["Wibowo", "Pranoto", "Lestari", "Hartono", "Rahayu", "Susanto", "Kusumawati"]


def test_no_personal_data_in_any_get_answer_over_a_day_of_complaints(
    intake_url, api_key, sedulur_env, event_app
):
    from services.intake.dependencies import build

    rng = random.Random(311)
    people, numbers = [], []
    codes = ["kis-nonaktif", "pkh-tidak-cair", "bpnt-kks", "kip", "rtlh", "lansia",
             "adminduk-kk", "disabilitas", "kekerasan", "lainnya"]
    for i in range(40):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        nik = _nik(5000 + i, kec=f"{rng.randrange(1, 20):02d}", day=rng.choice([5, 45]))
        kk = (f"3325{rng.randrange(1, 20):02d}{rng.randrange(1, 28):02d}0315"
              f"{rng.randrange(1, 9999):04d}")
        phone = f"08{rng.randrange(10**9, 10**10)}"
        people.append((nik, kk, phone, first, last))
        fields = {"attribute[nik]": nik, "attribute[kk]": kk, "phone": phone,
                  "description": f"Saya {first} {last} (NIK {nik}, HP {phone}): bantuan belum "
                                 "diterima", "service_code": rng.choice(codes),
                  "email": f"{first.lower()}@example.org"}
        if i % 2:
            fields.update({"attribute[nama]": None, "first_name": first, "last_name": last})
        else:
            fields["attribute[nama]"] = f"{first} {last}"
        resp = post(intake_url, "json", form(api_key, **fields))
        assert resp.status_code == 201, resp.text
        numbers.append(resp.json()[0]["service_request_id"])
    # Move the day along: some rejected, some referred, some resolved.
    ids = [complaint_id(sedulur_env, n) for n in numbers]
    for k, cid in enumerate(ids):
        c = event_app.get_complaint(cid)
        if k % 4 == 1:
            c.reject(reason_code="not_in_dtks", reason=f"NIK {people[k][0]} tidak di DTKS",
                     rule="t", dtks_snapshot="s", actor=SYSTEM, correlation_id="j")
        elif k % 4 >= 2:
            c.verify(rule="t", dtks_snapshot="s", reasons=[], actor=SYSTEM, correlation_id="v")
            c.refer(agency="DINSOS", routing_rule="t", actor=SYSTEM, correlation_id="r")
            if k % 4 == 3:
                c.resolve(agency="DINSOS", outcome=f"Diserahkan ke {people[k][3]}",
                          actor=SYSTEM, correlation_id="x")
        event_app.save_or_conflict(c)
    ctx = build(sedulur_env, project_after_save=False)
    try:
        ctx.catch_up(ids)  # what the service's handlers do when the relay delivers
    finally:
        ctx.close()

    answers = []
    for fmt in ("json", "xml"):
        for params in ({}, {"status": "open"}, {"status": "closed"},
                       {"service_request_id": ",".join(numbers)},
                       {"service_code": "kekerasan,disabilitas,kis-nonaktif"}):
            answers.append(requests.get(f"{intake_url}{V2}/requests.{fmt}", params=params,
                                        timeout=30))
        answers += [requests.get(f"{intake_url}{V2}/requests/{n}.{fmt}", timeout=10)
                    for n in numbers]
    assert {r.status_code for r in answers} == {200}
    everything = "\n".join(r.text for r in answers)
    assert set(numbers) <= set(re.findall(r"\d{4}-\d{6}-\d{6}", everything))
    assert "closed" in everything and "DINSOS" in everything
    assert not re.search(r"\d{16}", everything), "a 16-digit number (NIK / KK) leaked"
    assert not re.search(r"(\+62|\b0)8\d{8,}", everything), "a phone number leaked"
    for nik, kk, phone, first, last in people:
        for secret in (nik, kk, phone, phone[1:], first, last, f"{first.lower()}@"):
            assert secret not in everything, f"{secret} leaked"
    assert "example.org" not in everything and "bantuan belum" not in everything
