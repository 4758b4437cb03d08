"""No NIK, KK or phone number in any service's log file or metric after a run of
registrations through all five services and the relay (UU PDP: masking)."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.helpers import actor_headers, stored_event_types, valid_complaint, wait_until

pytestmark = pytest.mark.system

# Not after a decimal point: a metric's float value (0.0079651234567891) is no NIK.
SIXTEEN_DIGITS = re.compile(r"(?<![\d.])\d{16}(?!\d)")


def test_no_nik_kk_or_phone_reaches_a_log_line_or_a_metric(stack, dtks_people, event_app):
    settings = stack.settings
    intake = settings.http_url("intake")
    operator = actor_headers("op-logs", "operator", desk="332501")
    people = dtks_people[10:16]
    secrets: set[str] = set()
    ids = []
    for i, person in enumerate(people):
        phone = f"08123456{7000 + i:04d}"
        nik = person["NIK"] if i % 3 else person["NIK"][:12] + "9999"  # some not in DTKS
        body = valid_complaint(nik=nik, category="kis")
        body["citizen"].update({"kk": person["NO_KK"], "phone": phone})
        resp = requests.post(f"{intake}/complaints", json=body, headers=operator, timeout=30)
        assert resp.status_code == 201, resp.text
        ids.append(uuid.UUID(resp.json()["complaint_id"]))
        secrets |= {nik, person["NO_KK"], phone, phone[1:]}
    # Failure paths too: a bad NIK, a lookup in another desk's area, a forged token.
    bad = valid_complaint(nik=people[0]["NIK"][:15])
    assert requests.post(f"{intake}/complaints", json=bad, headers=operator,
                         timeout=30).status_code == 400
    elsewhere = actor_headers("op-other", "operator", desk="332509")
    assert requests.get(f"{intake}/complaints/{ids[0]}", timeout=30,
                        headers=elsewhere).status_code == 403
    assert requests.get(f"{intake}/complaints/{ids[0]}", timeout=30,
                        headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    from shared.db import connect

    def settled(cid: uuid.UUID) -> bool:
        # Decided by the rules, or held on the verifiers' manual desk (a NIK not in DTKS
        # whose KK finds a family needs a human).
        if stored_event_types(event_app, cid)[-1:] in (["ReferredToOPD"], ["Rejected"]):
            return True
        with connect(settings.pg_dsn) as conn:
            return conn.execute("SELECT 1 FROM verification.desk_assessments"
                                " WHERE complaint_id = %s", (cid,)).fetchone() is not None

    for cid in ids:
        wait_until(lambda cid=cid: settled(cid), timeout=90, message=f"{cid} decided")

    texts = {}
    for name in ("intake", "verification", "routing", "sla", "dtks_sync"):
        texts[f"{name}/metrics"] = requests.get(f"{settings.http_url(name)}/metrics",
                                                timeout=10).text
    for path in sorted(stack.log_dir.glob("*.log")):
        texts[path.name] = path.read_text(errors="replace")
    assert any(name.endswith(".log") and text for name, text in texts.items()), \
        "no service wrote a log line: the test would prove nothing"

    leaks = [(name, value) for name, text in texts.items() for value in secrets
             if value in text]
    runs = [(name, m.group(0)[:4] + "…") for name, text in texts.items()
            for m in SIXTEEN_DIGITS.finditer(text)]
    assert leaks == [] and runs == []
