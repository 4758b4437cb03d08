"""Schema-driven fuzzing (schemathesis) of intake's HTTP endpoints from the OpenAPI document
the service serves (services/intake/openapi.py), signed in as an operator and as the auditor
and with a garbage token: no 5xx, no stack trace and no personal data (16-digit NIK / KK) in
any answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from services.intake.openapi import document
from services.intake.service import IntakeService
from tests.helpers import AUDITOR, OPERATOR, running_service

SIXTEEN_DIGITS = re.compile(r"(?<!\d)\d{16}(?!\d)")
# An event stream never ends (the live view has its own tests); the rest is fuzzed.
NOT_FUZZED = ("/operators/live",)


def _document() -> dict[str, Any]:
    doc = document()
    doc["paths"] = {p: ops for p, ops in doc["paths"].items() if p not in NOT_FUZZED}
    return doc


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module")
def intake(topology_declared):
    with running_service(IntakeService, topology_declared) as url:
        yield url


def _check(resp: Any) -> None:  # schemathesis' Response: headers map to lists
    text = resp.text
    assert resp.status_code < 500, text[:500]
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    if resp.status_code >= 400:
        assert not SIXTEEN_DIGITS.search(text), "an error answer echoed a 16-digit number"
        # nameko's router answers an unroutable path / method with werkzeug's own HTML page
        # (404 / 405) before any handler runs; every answer of ours is a JSON named error.
        content_type = resp.headers.get("content-type") or [""]
        if "application/json" in str(content_type):
            body = resp.json()
            if isinstance(body, list):  # Open311 GeoReport v2: [{code, description}, ...]
                assert body and all(e["code"] and e["description"] for e in body), text[:500]
            else:
                assert body["error"]["code"], text[:500]
        elif "xml" in str(content_type):  # Open311 .xml: <errors><error>...
            assert "<errors>" in text and "<description>" in text, text[:500]
        else:
            assert resp.status_code in (404, 405), text[:500]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_never_5xx_nor_leak(case, intake):
    # Each role in turn, so authorization paths are fuzzed too (operator of the fuzzed
    # complaints' usual desk, and the auditor who may read everything).
    for who in (OPERATOR, AUDITOR):
        resp = case.call(base_url=intake, headers=who, timeout=10)
        _check(resp)
    _check(case.call(base_url=intake, headers={"Authorization": "Bearer garbage"},
                     timeout=10))
