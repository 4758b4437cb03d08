"""The auditor's read-only HTTP endpoints on intake: history (JSON / CSV) and point in time."""

from __future__ import annotations

import csv
import io
import random

import pytest
import requests

from services.intake.service import IntakeService
from tests.helpers import AUDITOR, OPERATOR, running_service, valid_complaint


@pytest.fixture(scope="module")
def intake_url(topology_declared):
    with running_service(IntakeService, topology_declared) as url:
        yield url


@pytest.fixture(scope="module")
def registered(intake_url):
    # A NIK of its own: an earlier complaint of the same citizen would be linked
    # (duplicate_of) and its story shown in this history too.
    nik = f"3325014507{random.Random().randrange(50, 99)}{random.Random().randrange(1, 9999):04d}"
    resp = requests.post(f"{intake_url}/complaints", json=valid_complaint(nik),
                         headers={**OPERATOR, "X-Correlation-Id": "corr-audit-http"}, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_auditor_reads_the_history_by_registration_number_and_by_id(intake_url, registered):
    for ref in (registered["registration_number"], registered["complaint_id"]):
        resp = requests.get(f"{intake_url}/audit/complaints/{ref}/history", headers=AUDITOR,
                            timeout=10)
        assert resp.status_code == 200, resp.text
        (event,) = resp.json()["events"]
        assert event["event"] == "Registered" and event["version"] == 1
        assert event["actor"] == {"user_id": "op-test", "role": "operator", "desk": "332501",
                                  "agency": None}
        assert event["complaint_id"] == registered["complaint_id"]
        assert len(event["hash"]) == 64 and event["position"] >= 1


def test_history_exports_as_csv(intake_url, registered):
    resp = requests.get(
        f"{intake_url}/audit/complaints/{registered['registration_number']}/history",
        params={"format": "csv"}, headers=AUDITOR, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert [(r["event"], r["user_id"], r["role"]) for r in rows] == [
        ("Registered", "op-test", "operator")]


def test_state_as_of_a_version_and_a_time(intake_url, registered):
    base = f"{intake_url}/audit/complaints/{registered['complaint_id']}/state"
    by_version = requests.get(base, params={"version": 1}, headers=AUDITOR, timeout=10).json()
    assert by_version["stage"] == "registered" and by_version["version"] == 1
    by_time = requests.get(base, params={"at": by_version["as_of"]}, headers=AUDITOR,
                           timeout=10).json()
    assert by_time == by_version
    too_early = requests.get(base, params={"at": "2000-01-01T00:00:00+07:00"}, headers=AUDITOR,
                             timeout=10)
    assert too_early.status_code == 404
    bad = requests.get(base, params={"version": 9}, headers=AUDITOR, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "version"


def test_only_the_auditor_role_reads_audit_histories(intake_url, registered):
    resp = requests.get(f"{intake_url}/audit/complaints/{registered['complaint_id']}/history",
                        headers=OPERATOR, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"


def test_an_unknown_complaint_is_a_404(intake_url):
    resp = requests.get(f"{intake_url}/audit/complaints/3325-991231-9999/history",
                        headers=AUDITOR, timeout=10)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "complaint_not_found"
