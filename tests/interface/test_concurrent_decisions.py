"""Two verifiers deciding the same complaint: exactly one wins, the others get a conflict."""

from __future__ import annotations

import uuid

import eventlet
import pytest
import requests

from services.verification.service import VerificationService
from shared.complaints.domainmodel import Complaint, complaint_id_for
from tests.helpers import actor_headers, running_service


@pytest.fixture(scope="module")
def verification_url(topology_declared):
    with running_service(VerificationService, topology_declared, max_workers=20) as url:
        yield url


def test_twenty_concurrent_verify_or_reject_attempts_append_exactly_one_event(
    verification_url, event_app
):
    key = f"race-{uuid.uuid4()}"
    complaint = Complaint.register(
        complaint_id=complaint_id_for(key), registration_number=key, kabupaten="3325",
        desk="332501", channel="desk", category="kis", description="d",
        citizen={"nik": "3325014507900001", "name": "S"}, wilayah="332501", priority="normal",
        confidential=False, actor={"user_id": "op", "role": "operator", "desk": "332501"},
        correlation_id="c",
    )
    event_app.save_or_conflict(complaint)

    def attempt(i: int) -> requests.Response:
        headers = actor_headers(f"verifier-{i}", "verifier")
        if i % 2:
            return requests.post(f"{verification_url}/complaints/{complaint.id}/verify",
                                 json={"reason": f"checked by {i}"}, headers=headers, timeout=30)
        return requests.post(f"{verification_url}/complaints/{complaint.id}/reject",
                             json={"reason_code": "not_eligible", "reason": f"by {i}"},
                             headers=headers, timeout=30)

    responses = list(eventlet.GreenPool(20).imap(attempt, range(20)))
    winners = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r.status_code != 200]
    assert len(winners) == 1
    assert len(losers) == 19
    assert {r.status_code for r in losers} == {409}
    assert {r.json()["error"]["code"] for r in losers} <= {"concurrency_conflict", "wrong_stage"}
    events = event_app.stored_events(complaint.id)
    assert len(events) == 2
    assert type(events[1]).__name__ in ("Verified", "Rejected")
