"""Signed tokens and the one authorization policy (shared.auth)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import jwt
import pytest

from shared.auth import (
    POLICY,
    ROLES,
    Action,
    KeyRing,
    Principal,
    Resource,
    allowed,
    area_prefix,
    area_resource,
    authorize,
    complaint_resource,
    issue_token,
    verify_token,
)
from shared.errors import ConfigurationError, Forbidden, InvalidInput, Unauthenticated

OLD = "old:" + "o" * 40
NEW = "new:" + "n" * 40
OTHER = "new:" + "x" * 40  # same kid, different secret: a forger's key

OPERATOR = Principal(user_id="op-1", role="operator", desk="332501")


def ring(raw: str) -> KeyRing:
    return KeyRing.parse(raw)


def test_a_token_round_trips_user_role_and_area():
    token = issue_token(OPERATOR, keys=ring(NEW))
    p = verify_token(token, keys=ring(NEW))
    assert p == OPERATOR
    assert p.kecamatan == "332501" and p.kabupaten == "3325"
    assert jwt.get_unverified_header(token)["kid"] == "new"
    assert jwt.decode(token, options={"verify_signature": False})["exp"] - time.time() <= 900


def test_rotation_the_first_key_signs_and_every_listed_key_verifies():
    old_token = issue_token(OPERATOR, keys=ring(OLD))
    rotated = ring(f"{NEW},{OLD}")
    assert verify_token(old_token, keys=rotated).user_id == "op-1"
    assert jwt.get_unverified_header(issue_token(OPERATOR, keys=rotated))["kid"] == "new"
    with pytest.raises(Unauthenticated):  # once the old key is dropped
        verify_token(old_token, keys=ring(NEW))


@pytest.mark.parametrize("case", ["forged", "wrong-key", "expired", "not-yet-valid", "none-alg",
                                  "garbage", "tampered-role", "wrong-audience"])
def test_a_forged_expired_or_wrong_key_token_is_unauthenticated(case):
    keys = ring(NEW)
    now = time.time()
    token = {
        "forged": lambda: issue_token(OPERATOR, keys=ring(OTHER)),
        "wrong-key": lambda: issue_token(OPERATOR, keys=ring("zzz:" + "z" * 40)),
        "expired": lambda: issue_token(OPERATOR, keys=keys, now=now - 3600),
        "not-yet-valid": lambda: jwt.encode(
            {"iss": "sedulur", "aud": "api", "sub": "x", "role": "auditor", "iat": now,
             "nbf": now + 3600, "exp": now + 7200}, "n" * 40, algorithm="HS256",
            headers={"kid": "new"}),
        "none-alg": lambda: jwt.encode(
            {"iss": "sedulur", "aud": "api", "sub": "x", "role": "auditor", "iat": now,
             "exp": now + 60}, None, algorithm="none", headers={"kid": "new"}),
        "garbage": lambda: "not.a.token",
        "tampered-role": lambda: _swap_payload(issue_token(OPERATOR, keys=keys), role="auditor"),
        "wrong-audience": lambda: issue_token(OPERATOR, keys=keys, audience="rpc"),
    }[case]()
    with pytest.raises(Unauthenticated) as err:
        verify_token(token, keys=keys)
    assert "n" * 40 not in err.value.message


def _swap_payload(token: str, **claims: str) -> str:
    import base64
    import json

    head, body, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data.update(claims)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def test_a_role_without_its_area_gets_no_token():
    with pytest.raises(InvalidInput):
        issue_token(Principal(user_id="a", role="agency", kabupaten="3325"), keys=ring(NEW))


@pytest.mark.parametrize("raw", ["", "nokid", "k:short", ":" + "s" * 40])
def test_a_bad_key_list_is_a_configuration_error(raw):
    with pytest.raises(ConfigurationError):
        KeyRing.parse(raw)


def test_the_key_ring_never_prints_its_secrets():
    assert "n" * 40 not in repr(ring(NEW))


# --- policy ----------------------------------------------------------------------------

COMPLAINT = SimpleNamespace(id="c1", kabupaten="3325", desk="3325012001",
                            referrals={"DINKES": "referred"}, confidential=False)


def principal(role: str, own: bool) -> Principal:
    area = {
        "operator": {"desk": "3325012001" if own else "3325022001"},
        "supervisor": {"kecamatan": "332501" if own else "332502"},
        "verifier": {"kabupaten": "3325" if own else "3326"},
        "admin": {"kabupaten": "3325" if own else "3326"},
        "agency": {"agency": "DINKES" if own else "DISDIK", "kabupaten": "3325"},
        "auditor": {},
        "system": {},
    }[role]
    return Principal(user_id=f"{role}-1", role=role, **area)


READ_ALLOWED = {"operator", "supervisor", "verifier", "agency", "auditor", "system"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("own", [True, False], ids=["own-area", "other-area"])
def test_complaint_read_follows_role_and_area(role, own):
    expected = role in READ_ALLOWED and (own or role in ("auditor", "system"))
    assert allowed(principal(role, own), Action.COMPLAINT_READ,
                   complaint_resource(COMPLAINT)) is expected


def test_the_auditor_reads_everything_and_writes_nothing():
    auditor = principal("auditor", True)
    writes = [Action.COMPLAINT_REGISTER, Action.COMPLAINT_DECIDE, Action.REFERRAL_ACT,
              Action.CONFIG_WRITE, Action.USERS_MANAGE, Action.SLA_ACT]
    for action in writes:
        assert not allowed(auditor, action, complaint_resource(COMPLAINT)), action
    for action in (Action.COMPLAINT_READ, Action.AUDIT_READ, Action.QUEUE_READ):
        assert allowed(auditor, action, complaint_resource(COMPLAINT)), action


def test_an_admin_configures_only_its_own_kabupaten():
    assert allowed(principal("admin", True), Action.CONFIG_WRITE, area_resource(kabupaten="3325"))
    assert not allowed(principal("admin", False), Action.CONFIG_WRITE,
                       area_resource(kabupaten="3325"))
    assert not allowed(principal("admin", True), Action.COMPLAINT_READ,
                       complaint_resource(COMPLAINT))


def test_a_confidential_complaint_is_hidden_from_roles_not_named_on_it():
    secret = SimpleNamespace(**{**vars(COMPLAINT), "confidential": True})
    assert not allowed(principal("supervisor", True), Action.COMPLAINT_READ,
                       complaint_resource(secret))
    assert allowed(principal("operator", True), Action.COMPLAINT_READ,
                   complaint_resource(secret))
    named = SimpleNamespace(**{**vars(secret), "confidential_roles": ["auditor"]})
    assert not allowed(principal("operator", True), Action.COMPLAINT_READ,
                       complaint_resource(named))
    assert allowed(principal("auditor", True), Action.COMPLAINT_READ, complaint_resource(named))


def test_forbidden_names_the_action_and_never_the_data():
    with pytest.raises(Forbidden) as err:
        authorize(principal("operator", False), Action.COMPLAINT_READ,
                  complaint_resource(COMPLAINT))
    assert "3325012001" not in err.value.message and err.value.code == "forbidden"


def test_every_action_has_a_policy_and_unknown_actions_are_refused():
    for name, value in vars(Action).items():
        if name.isupper():
            assert value in POLICY
    with pytest.raises(ConfigurationError):
        allowed(OPERATOR, "complaint.delete", Resource())


def test_list_endpoints_filter_by_the_principals_area_prefix():
    assert area_prefix(principal("supervisor", True)) == "332501"
    assert area_prefix(principal("verifier", True)) == "3325"
    assert area_prefix(principal("auditor", True)) == ""
    assert area_prefix(principal("operator", True)) == "3325012001"


# --- the shell reads the token, nothing else --------------------------------------------


def _request(headers: dict[str, str]):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    return Request(EnvironBuilder(path="/x", headers=headers).get_environ())


@pytest.mark.parametrize(("principal", "area"), [
    (Principal(user_id="op", role="operator", desk="3325012001"), "3325012001"),
    (Principal(user_id="spv", role="supervisor", kecamatan="332501"), "332501"),
    (Principal(user_id="v", role="verifier", kabupaten="3325"), "3325"),
    (Principal(user_id="d", role="agency", agency="DINKES", kabupaten="3325"), "3325"),
    (Principal(user_id="a", role="auditor"), None),
], ids=["operator", "supervisor", "verifier", "agency", "auditor"])
def test_request_actor_and_area_come_from_the_bearer_token(monkeypatch, principal, area):
    from shared.shell import request_actor, request_area

    monkeypatch.setenv("SEDULUR_JWT_KEYS", NEW)
    req = _request({"Authorization": f"Bearer {issue_token(principal)}",
                    # the walking skeleton's headers are ignored, never merged in
                    "X-Sedulur-Role": "auditor", "X-Sedulur-Area": "33"})
    actor = request_actor(req)
    assert (actor["user_id"], actor["role"]) == (principal.user_id, principal.role)
    assert request_area(req) == area


@pytest.mark.parametrize("headers", [
    {}, {"X-Sedulur-User": "op", "X-Sedulur-Role": "operator", "X-Sedulur-Desk": "332501"},
    {"Authorization": "Basic b3A6b3A="}, {"Authorization": "Bearer "},
], ids=["nothing", "identity-headers", "basic", "empty-bearer"])
def test_without_a_bearer_token_the_request_is_unauthenticated(monkeypatch, headers):
    from shared.shell import request_actor, request_area

    monkeypatch.setenv("SEDULUR_JWT_KEYS", NEW)
    for read in (request_actor, request_area):
        with pytest.raises(Unauthenticated):
            read(_request(headers))


def test_a_token_without_its_roles_area_is_refused(monkeypatch):
    from shared.auth import issue_claims

    monkeypatch.setenv("SEDULUR_JWT_KEYS", NEW)
    with pytest.raises(Unauthenticated):
        verify_token(issue_claims("spv", "supervisor", {}))
    assert verify_token(issue_claims("spv", "supervisor", {"kecamatan": "332501"})).kabupaten \
        == "3325"


def test_a_kecamatan_desk_covers_its_desas_and_a_desa_desk_only_itself():
    kecamatan_desk = Principal(user_id="o1", role="operator", desk="332501")
    desa_desk = Principal(user_id="o2", role="operator", desk="3325012001")
    at_desa = area_resource(desk="3325012001")
    at_other_desa = area_resource(desk="3325012002")
    assert allowed(kecamatan_desk, Action.COMPLAINT_REGISTER, at_desa)
    assert allowed(desa_desk, Action.COMPLAINT_REGISTER, at_desa)
    assert not allowed(desa_desk, Action.COMPLAINT_REGISTER, at_other_desa)
    assert not allowed(desa_desk, Action.COMPLAINT_REGISTER, area_resource(desk="332501"))


@pytest.mark.parametrize(("code", "supervisor", "verifier", "auditor"), [
    ("3325012001", True, True, True),   # a desa of the supervisor's kecamatan
    ("332501", True, True, True),
    ("332502", False, True, True),      # another kecamatan of the kabupaten
    ("3325", False, True, True),        # the whole kabupaten: wider than a kecamatan
    ("3326", False, False, True),
    ("", False, False, True),           # everywhere
])
def test_areas_given_as_one_wilayah_code(code, supervisor, verifier, auditor):
    from shared.auth import home_area, wilayah_resource

    people = {"supervisor": Principal(user_id="s", role="supervisor", kecamatan="332501"),
              "verifier": Principal(user_id="v", role="verifier", kabupaten="3325"),
              "auditor": Principal(user_id="a", role="auditor")}
    resource = wilayah_resource(code)
    for role, expected in (("supervisor", supervisor), ("verifier", verifier),
                           ("auditor", auditor)):
        assert allowed(people[role], Action.ACTIVITY_READ, resource) is expected, role
        assert allowed(people[role], Action.REPORT_READ, resource) is expected, role
    assert [home_area(p) for p in people.values()] == ["332501", "3325", ""]
