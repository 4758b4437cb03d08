"""Bad input at the desk: a 400 JSON answer naming the field, and nothing appended."""

from __future__ import annotations

import pytest
import requests

from services.intake.service import IntakeService
from tests.helpers import OPERATOR, count_events, running_service, valid_complaint


@pytest.fixture(scope="module")
def intake_url(topology_declared):
    with running_service(IntakeService, topology_declared) as url:
        yield url


def _without(body: dict, *path: str) -> dict:
    body = {k: (dict(v) if isinstance(v, dict) else v) for k, v in body.items()}
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (_without(valid_complaint(), "category"), "missing_field", "category"),
        (_without(valid_complaint(), "citizen"), "missing_field", "citizen"),
        (_without(valid_complaint(), "citizen", "nik"), "missing_field", "citizen.nik"),
        (valid_complaint(nik="332501450790001"), "invalid_nik", "citizen.nik"),
        (valid_complaint(nik="3325013002900001"), "invalid_nik", "citizen.nik"),
        (valid_complaint(category="unicorns"), "unknown_category", "category"),
        (valid_complaint(desk="99"), "invalid_wilayah", "desk"),
    ],
    ids=["no-category", "no-citizen", "no-nik", "nik-15-digits", "nik-feb-30",
         "unknown-category", "bad-desk"],
)
def test_bad_complaint_is_refused_with_the_field_and_appends_nothing(
    intake_url, sedulur_env, body, code, field
):
    before = count_events(sedulur_env)
    resp = requests.post(f"{intake_url}/complaints", json=body, headers=OPERATOR,
                         timeout=10)
    assert resp.status_code in (400, 422)
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"]["code"] == code
    assert resp.json()["error"]["field"] == field
    assert count_events(sedulur_env) == before


@pytest.mark.parametrize("raw", [b"{bad", b"[1, 2]", b""], ids=["broken", "array", "empty"])
def test_malformed_json_is_a_400_naming_the_body(intake_url, sedulur_env, raw):
    before = count_events(sedulur_env)
    resp = requests.post(f"{intake_url}/complaints", data=raw,
                         headers={**OPERATOR, "Content-Type": "application/json"},
                         timeout=10)
    assert resp.status_code == 400
    assert resp.json()["error"] == {**resp.json()["error"], "code": "malformed_json",
                                    "field": "body"}
    assert count_events(sedulur_env) == before


def test_registration_without_an_actor_is_unauthenticated(intake_url, sedulur_env):
    before = count_events(sedulur_env)
    resp = requests.post(f"{intake_url}/complaints", json=valid_complaint(), timeout=10)
    assert resp.status_code == 401
    assert count_events(sedulur_env) == before


def test_valid_registration_answers_201_with_a_registration_number(intake_url, event_app):
    resp = requests.post(f"{intake_url}/complaints", json=valid_complaint(),
                         headers=OPERATOR, timeout=10)
    assert resp.status_code == 201
    body = resp.json()
    from shared.identity import RegistrationNumber

    assert RegistrationNumber.parse(body["registration_number"]).kabupaten_code == "3325"
    [event] = event_app.stored_events(__import__("uuid").UUID(body["complaint_id"]))
    assert event.registration_number == body["registration_number"]
    assert event.actor["user_id"] == "op-test"


def test_a_retry_with_the_same_idempotency_key_returns_the_first_result(
    intake_url, sedulur_env
):
    headers = {**OPERATOR, "Idempotency-Key": "retry-me-1"}
    first = requests.post(f"{intake_url}/complaints", json=valid_complaint(), headers=headers,
                          timeout=10)
    before = count_events(sedulur_env)
    second = requests.post(f"{intake_url}/complaints", json=valid_complaint(), headers=headers,
                           timeout=10)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == first.json()
    assert count_events(sedulur_env) == before
