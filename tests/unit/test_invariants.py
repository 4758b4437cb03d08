"""The invariant checker itself: each rule catches the violation it is there for (the
fault suite is only as good as this)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.invariants import (
    DUPLICATED,
    INVALID,
    LOST,
    MISMATCH,
    STUCK,
    Report,
    Store,
    check_accepted,
    check_deadlines,
    check_lifecycle,
    check_queues,
    check_subscriber,
    lifecycle_problem,
)

_classes: dict[str, type] = {}
CID = uuid.UUID(int=1)


def ev(name: str, version: int, cid: uuid.UUID = CID, **fields: Any) -> Any:
    cls = _classes.setdefault(name, type(name, (), {}))
    obj = cls()
    obj.originator_id = cid
    obj.originator_version = version
    obj.__dict__.update(fields)
    return obj


def stream(*names: str, cid: uuid.UUID = CID, **fields: Any) -> list[Any]:
    out = []
    for v, spec in enumerate(names, start=1):
        name, _, agency = spec.partition(":")
        extra = dict(fields)
        if agency:
            extra["agency"] = agency
        if name == "Registered":
            extra.setdefault("registration_number", f"REG-{cid.int}")
        if name == "SlaBreached":
            extra["stage"] = agency or "verification"
            extra.pop("agency", None)
        if name == "ReferredToOPD":
            extra.setdefault("kabupaten", "3325")
        out.append(ev(name, v, cid, **extra))
    return out


def store_of(*streams: list[Any]) -> Store:
    events = [e for s in streams for e in s]
    return Store(events, {s[0].originator_id: s for s in streams})


@pytest.mark.parametrize("names", [
    ("Registered", "Verified", "ReferredToOPD:DINKES", "Resolved:DINKES"),
    ("Registered", "Rejected"),
    ("Registered", "Verified", "ReferredToOPD:DINKES", "ReferralReturned:DINKES",
     "ReferredToOPD:BPJSKES", "ReferralAccepted:BPJSKES", "Resolved:BPJSKES"),
    ("Registered", "Verified", "ReferredToOPD:BAZ", "ReferredToOPD:CSR",
     "ReferralResolved:BAZ", "Resolved:CSR"),
    ("Registered", "SlaBreached:verification", "Verified", "SlaBreached:referral"),
])
def test_valid_lifecycles_pass(names: tuple[str, ...]) -> None:
    assert lifecycle_problem(stream(*names)) is None


@pytest.mark.parametrize("names, kind", [
    (("Registered", "Verified", "Verified"), DUPLICATED),
    (("Registered", "Verified", "Rejected"), DUPLICATED),
    (("Registered", "ReferredToOPD:DINKES"), INVALID),
    (("Registered", "Verified", "ReferredToOPD:DINKES", "ReferredToOPD:DINKES"), DUPLICATED),
    (("Registered", "Verified", "ReferredToOPD:DINKES", "Resolved:DINKES",
      "Resolved:DINKES"), INVALID),
    (("Registered", "Rejected", "ReferredToOPD:DINKES"), INVALID),
    (("Verified",), INVALID),
    (("Registered", "SlaBreached:verification", "SlaBreached:verification"), DUPLICATED),
    (("Registered", "Verified", "ReferredToOPD:BAZ", "ReferredToOPD:CSR", "Resolved:BAZ"),
     INVALID),
    (("Registered", "Verified", "Resolved:DINKES"), INVALID),
])
def test_broken_lifecycles_are_caught(names: tuple[str, ...], kind: str) -> None:
    problem = lifecycle_problem(stream(*names))
    assert problem is not None and problem[0] == kind, problem


def test_a_gap_in_versions_is_caught() -> None:
    s = stream("Registered", "Verified", "ReferredToOPD:DINKES")
    s[2].originator_version = 4
    report = Report()
    check_lifecycle(store_of(s), report)
    assert [f.kind for f in report.findings] == [INVALID]
    assert "contiguous" in report.findings[0].detail


def test_accepted_but_missing_or_renumbered_complaints_are_caught() -> None:
    kept = stream("Registered", "Rejected")
    other = uuid.UUID(int=2)
    report = Report()
    check_accepted(store_of(kept), {CID: "REG-9", other: "REG-2"}, report)
    assert sorted(f.kind for f in report.findings) == [LOST, MISMATCH]


def test_one_number_in_two_streams_is_a_duplicate() -> None:
    a = stream("Registered", cid=uuid.UUID(int=1), registration_number="REG-X")
    b = stream("Registered", cid=uuid.UUID(int=2), registration_number="REG-X")
    report = Report()
    check_accepted(store_of(a, b), {}, report)
    assert [f.kind for f in report.findings] == [DUPLICATED]


def _deadline(stage: str, closed: bool) -> dict[str, Any]:
    return {"complaint_id": CID, "stage": stage,
            "closed_at": datetime.now(UTC) if closed else None}


def test_deadlines_missing_unclosed_or_unexpected_are_caught() -> None:
    s = stream("Registered", "Verified", "ReferredToOPD:DINKES")
    report = Report()
    check_deadlines(store_of(s), [_deadline("verification", True),
                                  _deadline("referral", True),
                                  _deadline("acceptance", False)], report)
    assert report.ok, report.summary()
    report = Report()
    check_deadlines(store_of(s), [_deadline("verification", False),
                                  _deadline("acceptance", False)], report)
    assert sorted(f.kind for f in report.findings) == [LOST, MISMATCH]
    rejected = stream("Registered", "Rejected")
    report = Report()
    check_deadlines(store_of(rejected), [_deadline("verification", True),
                                         _deadline("referral", False)], report)
    assert [f.kind for f in report.findings] == [INVALID]


def _referral(cid: uuid.UUID, version: int, agency: str = "DINKES") -> dict[str, Any]:
    return {"id": f"{cid}:{version}", "complaintid": str(cid), "version": version,
            "data": {"agency": agency}}


def test_subscriber_dedupes_by_id_and_catches_missing_and_phantom_referrals() -> None:
    a = stream("Registered", "Verified", "ReferredToOPD:DINKES", cid=uuid.UUID(int=1))
    b = stream("Registered", "Verified", "ReferredToOPD:DINKES", cid=uuid.UUID(int=2))
    store = store_of(a, b)
    report = Report()
    check_subscriber(store, [_referral(a[0].originator_id, 3)] * 3
                     + [_referral(b[0].originator_id, 3)], report)
    assert report.ok, report.summary()
    report = Report()
    check_subscriber(store, [_referral(a[0].originator_id, 3),
                             _referral(a[0].originator_id, 7)], report)
    assert sorted(f.kind for f in report.findings) == [INVALID, LOST]


def test_only_the_expected_poison_may_sit_in_the_dead_letter_queue() -> None:
    def dead(mid: str) -> dict[str, Any]:
        return {"properties": {"message_id": mid,
                               "headers": {"x-death": [{"queue": "evt-x--y.z"}]}}}

    queues = [{"name": "evt-a--b.c", "messages_ready": 0, "messages_unacknowledged": 0}]
    report = Report()
    check_queues(queues, [dead("poison-1")], report, {"poison-1"})
    assert report.ok, report.summary()
    report = Report()
    check_queues(queues + [{"name": "evt-d--e.f", "messages_ready": 2,
                            "messages_unacknowledged": 1}],
                 [dead("poison-1"), dead("poison-1"), dead("abc:2")], report,
                 {"poison-1", "poison-2"})
    assert sorted(f.kind for f in report.findings) == [DUPLICATED, LOST, LOST, STUCK]
