"""Every named error maps to one HTTP status and a stable code (style.md rule 6)."""

from __future__ import annotations

import inspect

import pytest

from shared import errors
from shared.web import error_response, status_for

ALL_ERRORS = [
    cls for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.SedulurError)
]

EXPECTED_FAMILY = {
    errors.InvalidInput: 400,
    errors.NotFound: 404,
    errors.DomainRuleViolation: 409,
    errors.ConcurrencyConflict: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.DependencyUnavailable: 503,
}


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_each_error_has_a_status_and_a_unique_stable_code(cls: type[errors.SedulurError]) -> None:
    exc = cls("something went wrong", field="f")
    status = status_for(exc)
    assert 400 <= status <= 599
    for family, family_status in EXPECTED_FAMILY.items():
        if issubclass(cls, family) and cls is not errors.UnknownCategory:
            assert status == family_status, (cls, family)
    codes = [c.code for c in ALL_ERRORS]
    assert codes.count(cls.code) == 1, f"code {cls.code!r} is not unique"


def test_error_body_names_code_and_field() -> None:
    resp = error_response(errors.InvalidNIK("NIK must be 16 digits", field="citizen.nik"))
    assert resp.status_code == 400
    assert resp.json == {"error": {"code": "invalid_nik", "message": "NIK must be 16 digits",
                                   "field": "citizen.nik"}}
