"""Who is calling, and may they: signed tokens and the one authorization policy.

Tokens: JWT, HS256, short-lived (SEDULUR_JWT_TTL_SECONDS, default 15 min). Keys rotate by
listing several in SEDULUR_JWT_KEYS="kid1:secret1,kid2:secret2": the first signs (its kid
goes in the token header), every listed key verifies, so a new key is added in front, and
the old one is dropped once the longest-lived token signed with it has expired.

Authorization: `authorize(principal, action, resource)` is the only place that decides
access; every service calls it (HTTP shells for reads, application methods for writes,
after loading the aggregate and before saving). It raises `Forbidden` or returns None.

Pure module: no nameko, no database (the users table lives in shared/users.py).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import jwt

from shared.agency import DESK_AGENCY
from shared.errors import ConfigurationError, Forbidden, InvalidInput, Unauthenticated

ISSUER = "sedulur"
ALGORITHM = "HS256"
DEFAULT_TTL_SECONDS = 15 * 60
# Minimum secret length: HS256 with a short secret is brute-forceable offline.
MIN_SECRET_BYTES = 32

ROLES = ("operator", "verifier", "supervisor", "agency", "auditor", "admin", "system")

# Which area claims each role must carry (checked at issue time and at verification).
REQUIRED_AREA: dict[str, tuple[str, ...]] = {
    "operator": ("desk",),
    "supervisor": ("kecamatan",),
    "verifier": ("kabupaten",),
    "admin": ("kabupaten",),
    "agency": ("agency", "kabupaten"),
    "auditor": (),
    "system": (),
}

# A confidential complaint is visible only to the roles named on it. The Registered event
# carries `confidential: bool` today, so a confidential complaint names this default set:
# the desk that took it, the verifier deciding it, the agency it was referred to and the
# auditor; a supervisor's live view does not see it. A resource may name its own roles.
CONFIDENTIAL_DEFAULT_ROLES = frozenset({"operator", "verifier", "agency", "auditor", "system"})


# --- principal -------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `as_actor()` is the dict every event records."""

    user_id: str
    role: str
    desk: str | None = None
    kecamatan: str | None = None
    kabupaten: str | None = None
    agency: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise Unauthenticated(f"unknown role {self.role!r}", field="role")
        # Derive the containing areas from the most specific one given (a desk is a
        # kecamatan or desa code, so its first 6 digits are its kecamatan, 4 its kabupaten).
        if self.desk and not self.kecamatan and len(self.desk) >= 6:
            object.__setattr__(self, "kecamatan", self.desk[:6])
        if self.kecamatan and not self.kabupaten:
            object.__setattr__(self, "kabupaten", self.kecamatan[:4])

    @classmethod
    def from_actor(cls, actor: Mapping[str, Any] | Principal) -> Principal:
        if isinstance(actor, Principal):
            return actor
        return cls(user_id=str(actor.get("user_id")), role=str(actor.get("role")),
                   desk=actor.get("desk"), kecamatan=actor.get("kecamatan"),
                   kabupaten=actor.get("kabupaten"), agency=actor.get("agency"))

    def as_actor(self) -> dict[str, Any]:
        return asdict(self)

    def missing_area(self) -> list[str]:
        return [claim for claim in REQUIRED_AREA[self.role] if not getattr(self, claim)]


def system_principal(service: str) -> Principal:
    return Principal(user_id=f"system:{service}", role="system")


# --- keys and tokens -------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]  # (kid, secret); the first signs

    @classmethod
    def parse(cls, raw: str) -> KeyRing:
        keys: list[tuple[str, bytes]] = []
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            kid, sep, secret = part.partition(":")
            if not sep or not kid or not secret:
                raise ConfigurationError(
                    "SEDULUR_JWT_KEYS must look like kid1:secret1,kid2:secret2",
                    field="SEDULUR_JWT_KEYS")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"SEDULUR_JWT_KEYS: key {kid!r} is shorter than {MIN_SECRET_BYTES} bytes",
                    field="SEDULUR_JWT_KEYS")
            keys.append((kid, secret.encode()))
        if not keys:
            raise ConfigurationError("SEDULUR_JWT_KEYS has no keys", field="SEDULUR_JWT_KEYS")
        return cls(tuple(keys))

    @property
    def signing(self) -> tuple[str, bytes]:
        return self.keys[0]

    def secret_for(self, kid: str) -> bytes | None:
        return next((secret for k, secret in self.keys if k == kid), None)

    def __repr__(self) -> str:  # never print secrets
        return f"KeyRing(kids={[k for k, _ in self.keys]})"


_cached: tuple[str, KeyRing] | None = None


def keyring() -> KeyRing:
    """The key ring from SEDULUR_JWT_KEYS (re-read when the variable changes)."""
    global _cached
    raw = os.environ.get("SEDULUR_JWT_KEYS", "")
    if not raw:
        raise ConfigurationError(
            "SEDULUR_JWT_KEYS is not set: generate one with `sedulur users new-key`",
            field="SEDULUR_JWT_KEYS")
    if _cached is None or _cached[0] != raw:
        _cached = (raw, KeyRing.parse(raw))
    return _cached[1]


def new_key(kid: str | None = None) -> str:
    """A fresh `kid:secret` entry for SEDULUR_JWT_KEYS."""
    import secrets

    return f"{kid or 'k' + time.strftime('%Y%m%d')}:{secrets.token_urlsafe(48)}"


def ensure_run_key(kid: str) -> bool:
    """Give this process (and every process it starts) a signing key for this run only,
    unless SEDULUR_JWT_KEYS is set; True when it made one (demo, benchmarks)."""
    if os.environ.get("SEDULUR_JWT_KEYS"):
        return False
    os.environ["SEDULUR_JWT_KEYS"] = new_key(kid)
    return True


def bearer_headers(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(principal)}"}


def ttl_seconds() -> int:
    raw = os.environ.get("SEDULUR_JWT_TTL_SECONDS", "")
    return int(raw) if raw.isdigit() else DEFAULT_TTL_SECONDS


def issue_token(principal: Principal, *, ttl: int | None = None, keys: KeyRing | None = None,
                now: float | None = None, audience: str = "api") -> str:
    missing = principal.missing_area()
    if missing:
        raise InvalidInput(f"a {principal.role} token needs {', '.join(missing)}", field=missing[0])
    kid, secret = (keys or keyring()).signing
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": audience, "sub": principal.user_id, "role": principal.role,
        "iat": issued, "nbf": issued, "exp": issued + (ttl if ttl is not None else ttl_seconds()),
        "jti": uuid.uuid4().hex,
    }
    for claim in ("desk", "kecamatan", "kabupaten", "agency"):
        value = getattr(principal, claim)
        if value:
            claims[claim] = value
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})


def issue_claims(user_id: str, role: str, area: Mapping[str, str | None], *,
                 ttl: int | None = None, keys: KeyRing | None = None) -> str:
    """A token for `role` with exactly the given area claims, unchecked: for tests and
    tools that must also produce the tokens a service refuses (a role without its area is
    401 at verification). Users get tokens through `issue_token`."""
    kid, secret = (keys or keyring()).signing
    issued = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": "api", "sub": user_id, "role": role, "iat": issued,
        "nbf": issued, "exp": issued + (ttl if ttl is not None else ttl_seconds()),
        "jti": uuid.uuid4().hex,
        **{k: v for k, v in area.items() if v and k in ("desk", "kecamatan", "kabupaten",
                                                        "agency")},
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})


def verify_token(token: str, *, keys: KeyRing | None = None, now: float | None = None,
                 audience: str = "api") -> Principal:
    """The principal a token names, or Unauthenticated. The message never says which check
    failed beyond expiry, so a forger learns nothing."""
    ring = keys or keyring()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthenticated("malformed bearer token") from None
    secret = ring.secret_for(str(header.get("kid", "")))
    if secret is None or header.get("alg") != ALGORITHM:
        raise Unauthenticated("bearer token not signed by a current key") from None
    options: Any = {"require": ["exp", "iat", "sub", "iss", "aud"]}  # jwt's Options TypedDict
    try:
        if now is None:
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience,
                                issuer=ISSUER, options=options)
        else:  # tests: verify as of a given instant
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], audience=audience,
                                issuer=ISSUER, options={**options, "verify_exp": False,
                                                        "verify_iat": False,
                                                        "verify_nbf": False})
            if claims["exp"] <= now:
                raise jwt.ExpiredSignatureError
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("bearer token has expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated("bearer token is invalid") from None
    try:
        principal = Principal(user_id=str(claims["sub"]), role=str(claims.get("role")),
                              desk=claims.get("desk"), kecamatan=claims.get("kecamatan"),
                              kabupaten=claims.get("kabupaten"), agency=claims.get("agency"))
    except Unauthenticated:
        raise Unauthenticated("bearer token is invalid") from None
    if principal.missing_area():
        raise Unauthenticated("bearer token lacks its role's area claims")
    return principal


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("an Authorization: Bearer <token> header is required")
    return token.strip()


# --- authorization ---------------------------------------------------------------------


class Action:
    """What a caller wants to do; resources are described by `Resource`."""

    COMPLAINT_REGISTER = "complaint.register"
    COMPLAINT_READ = "complaint.read"          # personal data: every allowed read is logged
    COMPLAINT_DECIDE = "complaint.decide"      # verify / reject
    REFERRAL_ACT = "referral.act"              # accept / progress / return / resolve
    QUEUE_READ = "agency_queue.read"
    ACTIVITY_READ = "operator_activity.read"
    SLA_READ = "sla.read"                      # one complaint's deadlines
    BOARD_READ = "sla_board.read"              # the board: counts and open deadlines
    SLA_ACT = "sla.act"                        # pause / resume clocks
    CONFIG_READ = "config.read"
    CONFIG_WRITE = "config.write"              # categories, routing table, SLA, holidays
    USERS_MANAGE = "users.manage"
    PERSON_READ = "dtks_person.read"           # DTKS replica lookups (personal data)
    AUDIT_READ = "audit.read"                  # history replay, audit chain, access log
    DESK_READ = "verification_desk.read"       # the manual desk and the usulan list
    DESK_REEVALUATE = "verification_desk.reevaluate"  # re-check held cases now
    OPERATOR_SESSION = "operator_session"      # log in / heartbeat / log out at a desk
    REPORT_READ = "report.read"                # recaps (aggregates, small cells suppressed)
    DESK_LIST_READ = "desk_complaints.read"    # a desk's day: numbers, stages, NIK last 4


@dataclass(frozen=True)
class Resource:
    """The area facts a decision needs; build one with `complaint_resource` or directly."""

    kabupaten: str | None = None
    kecamatan: str | None = None
    desk: str | None = None
    agencies: frozenset[str] = field(default_factory=frozenset)
    confidential_roles: frozenset[str] | None = None  # None: not confidential
    complaint_id: str | None = None
    acting_for: str | None = None  # the agency whose referral an action is on


def complaint_resource(complaint: Any) -> Resource:
    """From a Complaint aggregate (or anything with the same attributes, e.g. a projection
    row wrapped in SimpleNamespace). Agencies are every agency it was ever referred to:
    an agency keeps read access to its own past referral."""
    desk = getattr(complaint, "desk", None)
    referrals = getattr(complaint, "referrals", None) or {}
    agencies = frozenset(referrals) | frozenset(getattr(complaint, "agencies", None) or ())
    confidential = getattr(complaint, "confidential", False)
    named = getattr(complaint, "confidential_roles", None)
    return Resource(
        kabupaten=getattr(complaint, "kabupaten", None) or (desk[:4] if desk else None),
        kecamatan=desk[:6] if desk else None,
        desk=desk,
        agencies=agencies,
        confidential_roles=(frozenset(named) if named else CONFIDENTIAL_DEFAULT_ROLES)
        if confidential else None,
        complaint_id=str(getattr(complaint, "id", "") or "") or None,
    )


def referral_resource(complaint: Any, agency: str) -> Resource:
    """A complaint's referral to `agency`, for REFERRAL_ACT. Whether the complaint really
    is referred to it is the aggregate's rule (409 not_referred_to_agency), not access."""
    return replace(complaint_resource(complaint), acting_for=agency)


def area_resource(*, kabupaten: str | None = None, kecamatan: str | None = None,
                  desk: str | None = None, agency: str | None = None) -> Resource:
    if desk and not kecamatan:
        kecamatan = desk[:6]
    if kecamatan and not kabupaten:
        kabupaten = kecamatan[:4]
    return Resource(kabupaten=kabupaten, kecamatan=kecamatan, desk=desk,
                    agencies=frozenset({agency}) if agency else frozenset())


def _own_desk(p: Principal, r: Resource) -> bool:
    """A kecamatan desk (6 digits) covers its desa desks; a desa desk only itself."""
    return bool(p.desk and r.desk and r.desk.startswith(p.desk))


def _own_kecamatan(p: Principal, r: Resource) -> bool:
    return bool(p.kecamatan and r.kecamatan and r.kecamatan == p.kecamatan)


def _desk_kabupaten(p: Principal, r: Resource) -> bool:
    """An operator's desk lies in one kabupaten: the citizens it serves are registered there."""
    return bool(p.desk and r.kabupaten and r.kabupaten == p.desk[:4])


def _own_kabupaten(p: Principal, r: Resource) -> bool:
    return bool(p.kabupaten and r.kabupaten and r.kabupaten == p.kabupaten)


def _own_referral(p: Principal, r: Resource) -> bool:
    return bool(p.agency and p.agency in r.agencies and _own_kabupaten(p, r))


def _for_own_agency(p: Principal, r: Resource) -> bool:
    return bool(p.agency and r.acting_for == p.agency and _own_kabupaten(p, r))


def _for_the_dinsos_desk(p: Principal, r: Resource) -> bool:
    """Dinas Sosial's verifiers work the DINSOS referrals of their kabupaten."""
    return r.acting_for == DESK_AGENCY and _own_kabupaten(p, r)


def _anything(p: Principal, r: Resource) -> bool:
    return True


# The policy table: (action, role) -> rule over (principal, resource). Absent = denied.
# `system` (a service acting on a message) passes every rule: services are authenticated
# among themselves by signed service tokens (shared.rpc_auth), not by area.
POLICY: dict[str, dict[str, Any]] = {
    Action.COMPLAINT_REGISTER: {"operator": _own_desk},
    Action.COMPLAINT_READ: {"operator": _own_desk, "supervisor": _own_kecamatan,
                            "verifier": _own_kabupaten, "agency": _own_referral,
                            "auditor": _anything},
    Action.COMPLAINT_DECIDE: {"verifier": _own_kabupaten},
    Action.REFERRAL_ACT: {"agency": _for_own_agency, "verifier": _for_the_dinsos_desk,
                          "admin": _own_kabupaten},
    Action.QUEUE_READ: {"agency": _own_referral, "verifier": _own_kabupaten,
                        "auditor": _anything},
    Action.ACTIVITY_READ: {"supervisor": _own_kecamatan, "verifier": _own_kabupaten,
                           "admin": _own_kabupaten, "auditor": _anything},
    Action.SLA_READ: {"supervisor": _own_kecamatan, "verifier": _own_kabupaten,
                      "admin": _own_kabupaten, "agency": _own_referral, "auditor": _anything},
    # Counts and open deadlines, narrowed to the caller's own area by the board's queries.
    Action.BOARD_READ: {"supervisor": _own_kecamatan, "verifier": _own_kabupaten,
                        "admin": _own_kabupaten, "auditor": _anything},
    # pause / resume while waiting on the citizen: the desk that took it, its verifier,
    # the agency it is referred to
    Action.SLA_ACT: {"operator": _own_desk, "verifier": _own_kabupaten,
                     "agency": _own_referral},
    Action.CONFIG_READ: {"admin": _own_kabupaten, "verifier": _own_kabupaten,
                         "auditor": _anything},
    Action.CONFIG_WRITE: {"admin": _own_kabupaten},
    Action.USERS_MANAGE: {"admin": _own_kabupaten},
    # The desk's DTKS hint while the citizen is at the desk (every read access-logged).
    Action.PERSON_READ: {"operator": _desk_kabupaten, "verifier": _own_kabupaten,
                         "auditor": _anything},
    Action.AUDIT_READ: {"auditor": _anything},
    Action.DESK_READ: {"verifier": _own_kabupaten, "auditor": _anything},
    # The same pass the snapshot timer runs, for every kabupaten's held cases: harmless to
    # repeat, so any verifier or admin may ask for it now.
    Action.DESK_REEVALUATE: {"verifier": _anything, "admin": _anything},
    Action.OPERATOR_SESSION: {"operator": _own_desk},
    Action.REPORT_READ: {"supervisor": _own_kecamatan, "verifier": _own_kabupaten,
                         "admin": _own_kabupaten, "auditor": _anything},
    Action.DESK_LIST_READ: {"operator": _own_desk, "supervisor": _own_kecamatan,
                            "verifier": _own_kabupaten, "admin": _own_kabupaten,
                            "auditor": _anything},
}

READ_ONLY_ROLES = frozenset({"auditor"})


def allowed(principal: Principal | Mapping[str, Any], action: str, resource: Resource) -> bool:
    p = Principal.from_actor(principal)
    if action not in POLICY:
        raise ConfigurationError(f"no policy for action {action!r}", field="action")
    if p.role == "system":
        return True
    if resource.confidential_roles is not None and p.role not in resource.confidential_roles:
        return False
    rule = POLICY[action].get(p.role)
    return bool(rule and rule(p, resource))


def authorize(principal: Principal | Mapping[str, Any], action: str,
              resource: Resource) -> Principal:
    """Allow or raise Forbidden. The message names the action, never the resource's data."""
    p = Principal.from_actor(principal)
    if not allowed(p, action, resource):
        raise Forbidden(f"a {p.role} may not {action} here", field="authorization")
    return p


def actions_for(role: str) -> Iterable[str]:
    return [action for action, rules in POLICY.items() if role in rules or role == "system"]


def area_prefix(principal: Principal | Mapping[str, Any]) -> str:
    """For list endpoints: the wilayah-code prefix of what this principal may see ("" for
    the auditor and services: everything). Filter rows with `desk LIKE prefix || '%'`
    after authorize() allowed the list at all."""
    p = Principal.from_actor(principal)
    if p.role in ("auditor", "system"):
        return ""
    return home_area(p) or "-"  # a role without its area claim: "-" matches no wilayah code


def home_area(principal: Principal | Mapping[str, Any]) -> str:
    """The wilayah code a principal is confined to ("" for the auditor and services): an
    operator's desk, a supervisor's kecamatan, anyone else's kabupaten."""
    p = Principal.from_actor(principal)
    if p.role in ("auditor", "system"):
        return ""
    if p.role == "operator":
        return p.desk or ""
    if p.role == "supervisor":
        return p.kecamatan or ""
    return p.kabupaten or ""


def wilayah_resource(code: str) -> Resource:
    """An area given as one wilayah code of any depth (kabupaten 4, kecamatan 6, desa 10
    digits; "" = everywhere) as a Resource, e.g. for the area a supervisor asks to watch."""
    if len(code) >= 10:
        return area_resource(desk=code)
    if len(code) >= 6:
        return area_resource(kecamatan=code[:6])
    if len(code) >= 4:
        return area_resource(kabupaten=code[:4])
    return Resource()
