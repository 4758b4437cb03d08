"""Operators at desks and the supervisor's live view (Server-Sent Events), scoped by
kecamatan; the same data as Prometheus gauges."""

from __future__ import annotations

import json
import uuid

import eventlet
import pytest
import requests

from services.intake.service import IntakeService
from tests.helpers import actor_headers, running_service, valid_complaint, wait_until

IDLE_AFTER = 3  # seconds, so the test sees the idle flag without waiting 15 minutes


@pytest.fixture(scope="module")
def intake_url(topology_declared):
    with running_service(IntakeService, topology_declared,
                         SEDULUR_INTAKE_IDLE_AFTER_SECONDS=IDLE_AFTER,
                         SEDULUR_INTAKE_LIVE_POLL_SECONDS=0.2) as url:
        yield url


def operator(user: str, desk: str) -> dict[str, str]:
    return actor_headers(user, "operator", desk=desk)


def supervisor(user: str, area: str) -> dict[str, str]:
    return actor_headers(user, "supervisor", area=area)


class SseClient:
    """Reads an event stream in a green thread and keeps (event, data) pairs."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.response = requests.get(url, headers=headers, stream=True, timeout=30)
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self.events: list[tuple[str, dict]] = []
        self.thread = eventlet.spawn(self._read)

    def _read(self) -> None:
        name, data = "message", []
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.events.append((name, json.loads("\n".join(data))))
                    name, data = "message", []
        except Exception:
            return

    def about(self, operator_id: str) -> list[tuple[str, dict]]:
        return [(n, d) for n, d in self.events if n != "snapshot"
                and d.get("operator_id") == operator_id]

    def close(self) -> None:
        self.thread.kill()
        self.response.close()


def test_supervisor_sees_an_operators_registration_then_idle_flag_but_not_another_kecamatan(
    intake_url,
):
    op_id = f"op-live-{uuid.uuid4().hex[:6]}"
    mine = SseClient(f"{intake_url}/operators/live", supervisor("spv-a", "332511"))
    other = SseClient(f"{intake_url}/operators/live", supervisor("spv-b", "332512"))
    try:
        wait_until(lambda: mine.events and other.events, timeout=10, message="snapshots")
        assert mine.events[0][0] == "snapshot"
        session = requests.post(f"{intake_url}/operators/session", json={"desk": "332511"},
                                headers=operator(op_id, "332511"), timeout=10)
        assert session.status_code == 201
        resp = requests.post(f"{intake_url}/complaints", timeout=10,
                             headers=operator(op_id, "332511"),
                             json=valid_complaint(nik="3325114507900011", desk="332511"))
        assert resp.status_code == 201

        registration = wait_until(
            lambda: [d for n, d in mine.about(op_id) if n == "registration"],
            timeout=10, message="registration event")[0]
        assert registration["complaints_today"] == 1
        assert registration["last_action"] == "Registered"
        assert registration["online"] and not registration["idle"]

        idle = wait_until(lambda: [d for n, d in mine.about(op_id) if n == "idle"],
                          timeout=IDLE_AFTER + 10, message="idle event")[0]
        assert idle["idle"] and idle["idle_seconds"] >= IDLE_AFTER
        assert other.about(op_id) == []
    finally:
        mine.close()
        other.close()


def test_heartbeat_keeps_the_session_and_an_unknown_session_is_404(intake_url):
    headers = operator("op-hb", "332513")
    session = requests.post(f"{intake_url}/operators/session", headers=headers,
                            timeout=10).json()
    ok = requests.post(f"{intake_url}/operators/session/{session['session_id']}/heartbeat",
                       headers=headers, timeout=10)
    unknown = requests.post(f"{intake_url}/operators/session/{uuid.uuid4()}/heartbeat",
                            headers=headers, timeout=10)
    assert ok.status_code == 204
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "operator_session_not_found"
    out = requests.delete(f"{intake_url}/operators/session/{session['session_id']}",
                          headers=headers, timeout=10)
    assert out.status_code == 204
    view = requests.get(f"{intake_url}/operators/activity",
                        headers=supervisor("spv", "332513"), timeout=10).json()
    [row] = [o for o in view["operators"] if o["operator_id"] == "op-hb"]
    assert row["online"] is False


def test_activity_view_rolls_up_per_desk_kecamatan_and_kabupaten(intake_url):
    for user, desk in (("op-r1", "3325140001"), ("op-r2", "3325140002")):
        requests.post(f"{intake_url}/operators/session", json={"desk": desk},
                      headers=operator(user, desk), timeout=10)
        requests.post(f"{intake_url}/complaints", headers=operator(user, desk), timeout=10,
                      json=valid_complaint(nik="3325144507900021", desk=desk))
    view = requests.get(f"{intake_url}/operators/activity",
                        headers=supervisor("spv", "332514"), timeout=10).json()
    assert [d["desk"] for d in view["desks"]] == ["3325140001", "3325140002"]
    [kec] = view["kecamatan"]
    assert (kec["kecamatan"], kec["operators"], kec["online"], kec["complaints_today"]) == \
        ("332514", 2, 2, 2)
    assert [k["kabupaten"] for k in view["kabupaten"]] == ["3325"]


@pytest.mark.parametrize(("headers", "status"), [
    (actor_headers("op", "operator", desk="332511"), 403),
    # a token must carry its role's area: a supervisor's without a kecamatan is refused
    (actor_headers("spv", "supervisor"), 401),
    ({}, 401),
], ids=["operator", "supervisor-without-area", "nobody"])
def test_live_view_is_only_for_supervisors_with_an_area(intake_url, headers, status):
    resp = requests.get(f"{intake_url}/operators/live", headers=headers, timeout=10)
    assert resp.status_code == status
    assert "error" in resp.json()


def test_supervisor_cannot_widen_the_area_by_query(intake_url):
    resp = requests.get(f"{intake_url}/operators/activity", params={"area": "3325"},
                        headers=supervisor("spv", "332511"), timeout=10)
    assert resp.status_code == 403


def test_operator_activity_is_exported_as_prometheus_gauges(intake_url):
    headers = operator("op-gauge", "332515")
    requests.post(f"{intake_url}/operators/session", headers=headers, timeout=10)
    text = requests.get(f"{intake_url}/metrics", timeout=10).text
    assert 'sedulur_intake_operator_online{desk="332515",kabupaten="3325",' \
           'kecamatan="332515",operator="op-gauge"} 1.0' in text
    assert 'sedulur_intake_kecamatan_online{kecamatan="332515"} 1.0' in text
