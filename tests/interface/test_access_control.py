"""Access by role and area over HTTP (issue 9): each role x each endpoint x own / other area
-> allowed or 403, nothing appended on a denied write; bad tokens -> 401; the access log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import jwt
import pytest
import requests

from services.intake.service import IntakeService
from services.routing.service import RoutingService
from services.verification.service import VerificationService
from shared.auth import Principal, issue_token
from shared.complaints.domainmodel import Complaint, complaint_id_for
from shared.rpc_auth import service_token
from tests.helpers import actor_headers, count_events, running_service, valid_complaint

ROLES = ("operator", "supervisor", "verifier", "agency", "auditor", "admin")

# The complaints under test sit at desk 332501 (kabupaten 3325) and are referred to DINKES.
AREA = {
    "operator": ({"desk": "332501"}, {"desk": "332502"}),
    "supervisor": ({"area": "332501"}, {"area": "332502"}),
    "verifier": ({"kabupaten": "3325"}, {"kabupaten": "3326"}),
    "admin": ({"kabupaten": "3325"}, {"kabupaten": "3326"}),
    "agency": ({"agency": "DINKES", "kabupaten": "3325"},
               {"agency": "DISDIK", "kabupaten": "3325"}),
    "auditor": ({}, {}),
}


def headers(role: str, own: bool) -> dict[str, str]:
    return actor_headers(f"{role}-{'own' if own else 'other'}", role,
                         **AREA[role][0 if own else 1])


@pytest.fixture(scope="module")
def urls(topology_declared) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {svc.name: stack.enter_context(running_service(svc, topology_declared))
               for svc in (IntakeService, VerificationService, RoutingService)}


def _complaint(event_app, *, stage: str = "registered", confidential: bool = False) -> uuid.UUID:
    key = f"acl-{uuid.uuid4()}"
    c = Complaint.register(
        complaint_id=complaint_id_for(key), registration_number=key, kabupaten="3325",
        desk="332501", channel="desk", category="kis", description="Kartu KIS tidak aktif",
        citizen={"nik": "3325014507900001", "name": "Siti"}, wilayah="332501",
        priority="normal", confidential=confidential,
        actor={"user_id": "op", "role": "operator", "desk": "332501"}, correlation_id="c")
    system = {"user_id": "system:test", "role": "system", "desk": None}
    if stage in ("verified", "referred"):
        c.verify(rule="r", dtks_snapshot="s", reasons=[], actor=system, correlation_id="c")
    if stage == "referred":
        c.refer(agency="DINKES", routing_rule="kis-dinkes", actor=system, correlation_id="c")
    event_app.save_or_conflict(c)
    return c.id


def _project(cid: uuid.UUID, settings) -> None:
    from services.intake.dependencies import build

    ctx = build(settings)
    try:
        for projection in ctx.projections:
            projection.catch_up(cid)
    finally:
        ctx.close()


# endpoint -> (roles allowed in their own area, roles allowed in another area)
MATRIX = {
    "register": ({"operator"}, set()),
    "read": ({"operator", "supervisor", "verifier", "agency", "auditor"}, {"auditor"}),
    "verify": ({"verifier"}, set()),
    "reject": ({"verifier"}, set()),
    "resolve": ({"agency", "admin"}, set()),  # admin: its kabupaten (routing's rule)
    "access_log": ({"auditor"}, {"auditor"}),
}


def _call(endpoint: str, urls: dict[str, str], cid: uuid.UUID | None,
          hdrs: dict[str, str]) -> requests.Response:
    intake, verification, routing = urls["intake"], urls["verification"], urls["routing"]
    if endpoint == "register":
        return requests.post(f"{intake}/complaints", json=valid_complaint(), headers=hdrs,
                             timeout=10)
    if endpoint == "read":
        return requests.get(f"{intake}/complaints/{cid}", headers=hdrs, timeout=10)
    if endpoint == "verify":
        return requests.post(f"{verification}/complaints/{cid}/verify",
                             json={"reason": "cek lapangan"}, headers=hdrs, timeout=10)
    if endpoint == "reject":
        return requests.post(f"{verification}/complaints/{cid}/reject",
                             json={"reason_code": "not_eligible", "reason": "mampu"},
                             headers=hdrs, timeout=10)
    if endpoint == "resolve":
        return requests.post(f"{routing}/referrals/{cid}/resolve",
                             json={"agency": "DINKES", "outcome": "KIS aktif"}, headers=hdrs,
                             timeout=10)
    if endpoint == "access_log":
        return requests.get(f"{intake}/audit/access-log", headers=hdrs, timeout=10)
    raise AssertionError(endpoint)


STAGE_FOR = {"read": "referred", "verify": "registered", "reject": "registered",
             "resolve": "referred"}
OK_STATUS = {"register": 201}


@pytest.mark.parametrize("own", [True, False], ids=["own-area", "other-area"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_each_role_on_each_endpoint_in_own_and_other_area(
    urls, event_app, sedulur_env, endpoint, role, own
):
    cid = None
    if endpoint in STAGE_FOR:
        cid = _complaint(event_app, stage=STAGE_FOR[endpoint])
        if endpoint == "read":
            _project(cid, sedulur_env)
    expected_allowed = role in MATRIX[endpoint][0 if own else 1]
    before = count_events(sedulur_env)
    resp = _call(endpoint, urls, cid, headers(role, own))
    if expected_allowed:
        assert resp.status_code == OK_STATUS.get(endpoint, 200), resp.text
    else:
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "forbidden"
        assert count_events(sedulur_env) == before, "a denied request appended an event"


def test_a_confidential_complaint_is_not_shown_to_the_kecamatan_supervisor(urls, event_app,
                                                                           sedulur_env):
    cid = _complaint(event_app, stage="referred", confidential=True)
    _project(cid, sedulur_env)
    assert _call("read", urls, cid, headers("supervisor", True)).status_code == 403
    assert _call("read", urls, cid, headers("operator", True)).status_code == 200


def test_list_endpoints_show_only_the_callers_area(urls, event_app, sedulur_env):
    cid = _complaint(event_app, stage="referred")
    from services.routing.dependencies import build

    ctx = build(sedulur_env)
    try:
        ctx.queue.catch_up(cid)
    finally:
        ctx.close()
    queue = f"{urls['routing']}/agencies/DINKES/queue"
    own = requests.get(queue, headers=headers("agency", True), timeout=10)
    assert own.status_code == 200
    assert str(cid) in {r["complaint_id"] for r in own.json()["referrals"]}
    assert requests.get(queue, headers=headers("agency", False), timeout=10).status_code == 403
    other_kab = requests.get(queue, headers=headers("verifier", False), timeout=10)
    assert other_kab.status_code == 200 and other_kab.json()["referrals"] == []
    assert requests.get(queue, headers=headers("operator", True), timeout=10).status_code == 403

    activity = f"{urls['intake']}/operators/activity"
    assert requests.get(activity, headers=headers("operator", True), timeout=10
                        ).status_code == 403
    other = requests.get(activity, headers=headers("supervisor", False), timeout=10)
    assert other.status_code == 200
    assert all((r["desk"] or "").startswith("332502") for r in other.json()["operators"])


# --- authentication --------------------------------------------------------------------


def _bad_tokens() -> dict[str, str]:
    op = Principal(user_id="op-x", role="operator", desk="332501")
    from shared.auth import KeyRing

    forger = KeyRing.parse("test:" + "f" * 48)  # the right kid, the wrong secret
    stranger = KeyRing.parse("nope:" + "s" * 48)
    now = time.time()
    return {
        "missing": "",
        "forged": issue_token(op, keys=forger),
        "wrong-key": issue_token(op, keys=stranger),
        "expired": issue_token(op, now=now - 3600),
        "unsigned": jwt.encode({"iss": "sedulur", "aud": "api", "sub": "x", "role": "auditor",
                                "iat": now, "exp": now + 60}, None, algorithm="none",
                               headers={"kid": "test"}),
        "service-token-over-http": service_token("intake"),
    }


BAD_TOKEN_CASES = ["missing", "forged", "wrong-key", "expired", "unsigned",
                   "service-token-over-http"]


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
@pytest.mark.parametrize("endpoint", ["register", "read", "verify", "resolve", "access_log"])
def test_a_forged_expired_or_wrong_key_token_is_401_and_appends_nothing(
    urls, event_app, sedulur_env, case, endpoint
):
    cid = _complaint(event_app, stage=STAGE_FOR.get(endpoint, "referred"))
    token = _bad_tokens()[case]
    hdrs = {"Authorization": f"Bearer {token}"} if token else {}
    before = count_events(sedulur_env)
    resp = _call(endpoint, urls, cid, hdrs)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "unauthenticated"
    assert count_events(sedulur_env) == before


def test_the_walking_skeletons_identity_headers_are_no_credentials(urls, sedulur_env):
    legacy = {"X-Sedulur-User": "op", "X-Sedulur-Role": "auditor", "X-Sedulur-Desk": "332501"}
    before = count_events(sedulur_env)
    assert _call("register", urls, None, legacy).status_code == 401
    assert _call("access_log", urls, None, legacy).status_code == 401
    assert count_events(sedulur_env) == before


# --- limits on the public endpoints ------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["status", "web_form"])
def test_the_public_status_lookup_and_web_form_are_rate_limited(urls, monkeypatch, endpoint):
    name = {"status": "STATUS_LOOKUP", "web_form": "PUBLIC_FORM"}[endpoint]
    monkeypatch.setenv(f"SEDULUR_RATE_{name}", "0.001/2")

    def call() -> requests.Response:
        if endpoint == "status":
            return requests.get(f"{urls['intake']}/status/3325-010101-000001",
                                params={"nik4": "0000"}, timeout=10)
        return requests.post(f"{urls['intake']}/public/complaints", json={}, timeout=10)

    codes = [call().status_code for _ in range(2)]
    assert all(c in (400, 404) for c in codes), codes  # let through, refused on content
    limited = call()
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1


def test_an_oversized_body_is_413_and_appends_nothing(urls, sedulur_env):
    body = valid_complaint()
    body["description"] = "x" * 70_000
    before = count_events(sedulur_env)
    resp = requests.post(f"{urls['intake']}/complaints", json=body,
                         headers=headers("operator", True), timeout=10)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_too_large"
    assert count_events(sedulur_env) == before


# --- access log ------------------------------------------------------------------------


def test_every_read_of_a_complaint_is_in_the_access_log_for_the_auditor(urls, event_app,
                                                                        sedulur_env):
    cid = _complaint(event_app, stage="referred")
    _project(cid, sedulur_env)
    assert _call("read", urls, cid, headers("operator", True)).status_code == 200
    assert _call("read", urls, cid, headers("operator", False)).status_code == 403
    resp = requests.get(f"{urls['intake']}/audit/access-log", params={"complaint_id": str(cid)},
                        headers=headers("auditor", True), timeout=10)
    assert resp.status_code == 200
    entries = sorted(resp.json()["entries"], key=lambda e: e["id"])
    assert [(e["user_id"], e["role"], e["allowed"], e["endpoint"]) for e in entries] == [
        ("operator-own", "operator", True, "GET /complaints/<id>"),
        ("operator-other", "operator", False, "GET /complaints/<id>"),
    ]
    assert all(e["at"] and e["action"] == "complaint.read" for e in entries)


def test_the_access_log_query_rejects_a_bad_complaint_id(urls):
    resp = requests.get(f"{urls['intake']}/audit/access-log", params={"complaint_id": "x"},
                        headers=headers("auditor", True), timeout=10)
    assert resp.status_code == 400


# --- DTKS replica lookups (personal data) ------------------------------------------------


@pytest.fixture(scope="module")
def dtks_url(topology_declared) -> Iterator[str]:
    from services.dtks_sync.service import DtksSyncService

    with running_service(DtksSyncService, topology_declared) as url:
        yield url


def test_a_dtks_person_lookup_is_for_the_kabupatens_verifier_and_desks_and_is_logged(
        dtks_url, urls):
    nik = "3325014507900077"
    person = f"{dtks_url}/dtks/persons/{nik}"
    # Allowed (an empty replica has nobody): the kabupaten's verifier, and an operator at a
    # desk of the citizen's kabupaten (the desk's DTKS hint).
    for role in ("verifier", "operator"):
        own = requests.get(person, headers=headers(role, True), timeout=10)
        assert own.status_code in (200, 404), (role, own.text)
    for role, own_area in (("verifier", False), ("agency", True), ("supervisor", True)):
        resp = requests.get(person, headers=headers(role, own_area), timeout=10)
        assert resp.status_code == 403, (role, resp.text)
    elsewhere = actor_headers("op-3326", "operator", desk="332601")  # another kabupaten
    assert requests.get(person, headers=elsewhere, timeout=10).status_code == 403
    assert requests.get(person, timeout=10).status_code == 401
    log = requests.get(f"{urls['intake']}/audit/access-log", params={"user_id": "verifier-own"},
                       headers=headers("auditor", True), timeout=10).json()["entries"]
    [entry] = [e for e in log if e["endpoint"] == "GET /dtks/persons/<nik>"][:1]
    assert entry["allowed"] is True and entry["subject"] == "3325********0077"
    assert nik not in str(log)


def test_sedulur_users_creates_a_user_whose_token_the_services_accept(urls, event_app,
                                                                      sedulur_env):
    from typer.testing import CliRunner

    from shared.users_cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["create", "op-cli", "--role", "operator", "--desk", "332501"])
    assert made.exit_code == 0, made.output
    assert "op-cli" in runner.invoke(app, ["list", "--role", "operator"]).output
    token = runner.invoke(app, ["token", "op-cli"]).output.strip()
    cid = _complaint(event_app, stage="referred")
    _project(cid, sedulur_env)
    resp = requests.get(f"{urls['intake']}/complaints/{cid}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    refused = runner.invoke(app, ["create", "dinkes-x", "--role", "agency", "--agency", "DINKES"])
    assert refused.exit_code != 0  # an agency user needs its kabupaten
