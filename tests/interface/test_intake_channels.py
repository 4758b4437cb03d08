"""Intake's doors and guarantees, driven over HTTP against the running service: concurrent
retries, probable duplicates, the citizen's status lookup, the public form, the SMS/WhatsApp
gateway and the OpenAPI document."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
import yaml
from eventlet.greenpool import GreenPool

from services.intake.service import IntakeService
from shared.db import connect
from tests.helpers import OPERATOR, actor_headers, count_events, running_service, valid_complaint

GATEWAY_SECRET = "s3kr1t-for-tests"


@pytest.fixture(scope="module")
def intake_url(topology_declared):
    with running_service(IntakeService, topology_declared,
                         SEDULUR_INTAKE_GATEWAY_SECRET=GATEWAY_SECRET,
                         SEDULUR_INTAKE_DUPLICATE_WINDOW_DAYS=30) as url:
        yield url


def _nik(serial: int, kec: str = "01", day: int = 45) -> str:
    return f"3325{kec}{day:02d}0790{serial:04d}"


def _register(url: str, body: dict, **headers: str) -> requests.Response:
    return requests.post(f"{url}/complaints", json=body, headers={**OPERATOR, **headers},
                         timeout=30)


def _event(event_app, complaint_id: str):
    [event] = event_app.stored_events(uuid.UUID(complaint_id))
    return event


# --- idempotency -----------------------------------------------------------------------


def test_ten_concurrent_retries_with_one_idempotency_key_register_one_complaint(
    intake_url, sedulur_env
):
    before = count_events(sedulur_env)
    body = valid_complaint(nik=_nik(101))
    key = f"concurrent-{uuid.uuid4()}"
    pool = GreenPool(10)
    answers = list(pool.imap(lambda _: _register(intake_url, body, **{"Idempotency-Key": key}),
                             range(10)))
    assert sorted(r.status_code for r in answers) == [200] * 9 + [201]
    assert len({r.json()["complaint_id"] for r in answers}) == 1
    assert len({r.json()["registration_number"] for r in answers}) == 1
    assert count_events(sedulur_env) == before + 1


# --- probable duplicates ---------------------------------------------------------------


def test_same_nik_and_category_again_is_registered_and_linked_to_the_earlier_complaint(
    intake_url, event_app
):
    first = _register(intake_url, valid_complaint(nik=_nik(201)))
    again = _register(intake_url, valid_complaint(nik=_nik(201), description="masih belum"))
    assert first.status_code == again.status_code == 201
    assert again.json()["complaint_id"] != first.json()["complaint_id"]
    assert again.json()["duplicate_of"] == first.json()["complaint_id"]
    assert _event(event_app, again.json()["complaint_id"]).duplicate_of == \
        first.json()["complaint_id"]
    assert first.json()["duplicate_of"] is None


def test_same_nik_with_another_category_is_not_a_duplicate(intake_url):
    _register(intake_url, valid_complaint(nik=_nik(202)))
    other = _register(intake_url, valid_complaint(nik=_nik(202), category="pkh"))
    assert other.status_code == 201
    assert other.json()["duplicate_of"] is None


# --- category defaults -----------------------------------------------------------------


def test_category_priority_and_confidential_flag_are_recorded_on_the_complaint(
    intake_url, event_app
):
    resp = _register(intake_url, valid_complaint(nik=_nik(301), category="kekerasan",
                                                 priority="normal"))
    event = _event(event_app, resp.json()["complaint_id"])
    assert (event.priority, event.confidential) == ("urgent", True)


# --- citizen status lookup -------------------------------------------------------------


def test_status_lookup_answers_only_status_stage_agency_and_due_time(intake_url):
    nik = _nik(401)
    reg = _register(intake_url, valid_complaint(nik=nik)).json()
    resp = requests.get(f"{intake_url}/status/{reg['registration_number']}",
                        params={"nik4": nik[-4:]}, timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) <= {"registration_number", "status", "stage", "agency", "due_at"}
    assert body["stage"] == "registered"
    assert nik not in resp.text and "Siti" not in resp.text


def test_status_lookup_with_a_wrong_nik_suffix_is_identical_to_an_unknown_number(intake_url):
    nik = _nik(402)
    number = _register(intake_url, valid_complaint(nik=nik)).json()["registration_number"]
    wrong_suffix = requests.get(f"{intake_url}/status/{number}", params={"nik4": "9999"},
                                timeout=10)
    no_suffix = requests.get(f"{intake_url}/status/{number}", timeout=10)
    from shared.identity import RegistrationNumber

    parsed = RegistrationNumber.parse(number)
    unknown = RegistrationNumber.build(parsed.kabupaten_code, parsed.day, 99999).value
    unknown_number = requests.get(f"{intake_url}/status/{unknown}", params={"nik4": nik[-4:]},
                                  timeout=10)
    typo = requests.get(f"{intake_url}/status/{number[:-1]}{(int(number[-1]) + 1) % 10}",
                        params={"nik4": nik[-4:]}, timeout=10)
    answers = [wrong_suffix, no_suffix, unknown_number, typo]
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1
    assert len({r.headers["content-type"] for r in answers}) == 1


# --- public web form and gateway -------------------------------------------------------


def test_public_web_form_registers_with_the_citizen_as_actor(intake_url, event_app):
    resp = requests.post(f"{intake_url}/public/complaints", timeout=10, json={
        "category": "bpnt", "description": "Sembako tidak diterima 3 bulan",
        "citizen": {"nik": _nik(501, kec="07"), "name": "Warsono"}})
    assert resp.status_code == 201
    event = _event(event_app, resp.json()["complaint_id"])
    assert (event.channel, event.actor["role"], event.desk) == ("web", "citizen", "332507")


def _sms(url: str, text: str, message_id: str, secret: str = GATEWAY_SECRET):
    return requests.post(f"{url}/gateway/messages", timeout=10,
                         headers={"X-Sedulur-Gateway-Secret": secret},
                         json={"message_id": message_id, "channel": "sms",
                               "from": "081234567890", "text": text})


def test_gateway_text_registers_once_even_when_the_gateway_redelivers(
    intake_url, event_app, sedulur_env
):
    message_id = f"sms-{uuid.uuid4()}"
    text = f"{_nik(601)}#KIS#kartu KIS ibu saya tidak aktif # mohon dibantu"
    first = _sms(intake_url, text, message_id)
    before = count_events(sedulur_env)
    again = _sms(intake_url, text, message_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["registration_number"] == first.json()["registration_number"]
    assert first.json()["registration_number"] in first.json()["reply"]
    assert count_events(sedulur_env) == before
    event = _event(event_app, first.json()["complaint_id"])
    assert event.channel == "sms" and event.category == "kis"
    assert event.description == "kartu KIS ibu saya tidak aktif # mohon dibantu"


@pytest.mark.parametrize(("text", "code", "field"), [
    ("tolong KIS saya", "invalid_gateway_message", "text"),
    ("3325013002900001#KIS#x", "invalid_nik", "text.nik"),
    (f"{_nik(602)}#UNICORN#x", "unknown_category", "text.kategori"),
], ids=["no-format", "bad-nik", "bad-category"])
def test_bad_gateway_text_is_refused_with_a_reply_for_the_citizen(
    intake_url, sedulur_env, text, code, field
):
    before = count_events(sedulur_env)
    resp = _sms(intake_url, text, f"bad-{uuid.uuid4()}")
    assert resp.status_code in (400, 422)
    error = resp.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["details"]["reply"]
    assert count_events(sedulur_env) == before


def test_gateway_with_a_wrong_secret_is_refused_and_appends_nothing(intake_url, sedulur_env):
    before = count_events(sedulur_env)
    resp = _sms(intake_url, f"{_nik(603)}#KIS#x", "m-1", secret="guess")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"
    assert count_events(sedulur_env) == before


# --- OpenAPI ---------------------------------------------------------------------------


def _http_routes() -> set[tuple[str, str]]:
    import re

    from nameko.web.handlers import HttpRequestHandler

    routes = set()
    for attr in dir(IntakeService):
        for entry in getattr(getattr(IntakeService, attr), "nameko_entrypoints", ()) or ():
            if isinstance(entry, HttpRequestHandler):
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", entry.url)
                routes.add((entry.method.lower(), path))
    return routes


def test_every_intake_endpoint_is_in_the_served_openapi_document(intake_url):
    doc = requests.get(f"{intake_url}/openapi.json", timeout=10).json()
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    routes = _http_routes()
    assert len(routes) >= 12
    assert routes <= documented


def test_the_saved_openapi_document_matches_the_served_one(intake_url):
    saved = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "intake.yaml"
    served = requests.get(f"{intake_url}/openapi.json", timeout=10).json()
    assert yaml.safe_load(saved.read_text()) == served


def test_registration_status_row_keeps_priority_and_duplicate_link(intake_url, sedulur_env):
    first = _register(intake_url, valid_complaint(nik=_nik(701))).json()
    again = _register(intake_url, valid_complaint(nik=_nik(701))).json()
    with connect(sedulur_env.pg_dsn) as conn:
        row = conn.execute("SELECT priority, duplicate_of::text FROM intake.complaint_status"
                           " WHERE complaint_id = %s", (again["complaint_id"],)).fetchone()
    assert row == ("high", first["complaint_id"])


def test_status_shows_the_sla_due_time_and_the_supervisor_sees_the_deadline_at_risk(
    intake_url, sedulur_env
):
    from datetime import UTC, datetime, timedelta

    nik = _nik(801, kec="16")
    headers = actor_headers("op-risk", "operator", desk="332516")
    reg = requests.post(f"{intake_url}/complaints", headers=headers, timeout=10,
                        json=valid_complaint(nik=nik, desk="332516")).json()
    due = datetime.now(UTC) + timedelta(minutes=30)
    with connect(sedulur_env.pg_dsn) as conn:  # what the sla service's projection writes
        conn.execute("INSERT INTO sla.deadlines (complaint_id, stage, policy, started_at,"
                     " due_at) VALUES (%s, 'verification', 'test', now(), %s)",
                     (reg["complaint_id"], due))
    status = requests.get(f"{intake_url}/status/{reg['registration_number']}",
                          params={"nik4": nik[-4:]}, timeout=10).json()
    assert datetime.fromisoformat(status["due_at"]) == due
    view = requests.get(f"{intake_url}/operators/activity", timeout=10,
                        headers=actor_headers("spv", "supervisor", area="332516")).json()
    [row] = [o for o in view["operators"] if o["operator_id"] == "op-risk"]
    assert row["deadline_at_risk"] is True and row["deadlines_at_risk"] == 1
