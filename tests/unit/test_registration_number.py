"""Registration numbers are read over the phone, so every likely slip must be refused."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidRegistrationNumber, InvalidWilayah
from shared.identity import PROVINCES, RegistrationNumber, damm_check_digit

kabupaten_codes = st.builds(
    lambda province, kabupaten: f"{province}{kabupaten:02d}",
    st.sampled_from(sorted(PROVINCES)),
    st.integers(1, 99),
)
days = st.dates(date(2000, 1, 1), date(2099, 12, 31))
# Mostly the five-digit range, sometimes past it, where the sequence grows a digit.
sequences = st.one_of(st.integers(0, 99_999), st.integers(100_000, 999_999_999))


def reason(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.details["reason"]


def dashed(digits: str) -> str:
    """Digits laid out KKKK-YYMMDD-NNNNNC, as a citizen would read them back."""
    return f"{digits[:4]}-{digits[4:10]}-{digits[10:]}"


@pytest.mark.parametrize(
    ("digits", "check"),
    [("572", "4"), ("5724", "0"), ("", "0"), ("0", "0"), ("1", "3")],
)
def test_damm_check_digit_matches_known_values(digits, check):
    assert damm_check_digit(digits) == check


def test_build_lays_out_kabupaten_day_padded_sequence_and_check_digit():
    number = RegistrationNumber.build("3325", date(2026, 11, 23), 427)
    body = "3325" + "261123" + "00427"
    assert str(number) == number.value == f"3325-261123-00427{damm_check_digit(body)}"


def test_sequence_past_99999_grows_a_digit_instead_of_wrapping():
    number = RegistrationNumber.build("3325", date(2026, 11, 23), 123_456)
    assert number.value.startswith("3325-261123-123456")
    assert len(number.digits) == 17
    assert RegistrationNumber.parse(number.value).sequence == 123_456


@given(kabupaten_codes, days, sequences)
def test_build_then_parse_gives_back_kabupaten_day_and_sequence(kabupaten, day, sequence):
    number = RegistrationNumber.build(kabupaten, day, sequence)
    for written in (number.value, number.digits, number.value.replace("-", " ")):
        parsed = RegistrationNumber.parse(f" {written} ")
        assert parsed == number
        assert (parsed.kabupaten_code, parsed.day, parsed.sequence) == (kabupaten, day, sequence)


@given(kabupaten_codes, days, sequences)
def test_every_single_digit_substitution_is_refused(kabupaten, day, sequence):
    number = RegistrationNumber.build(kabupaten, day, sequence)
    digits = number.digits
    for position, original in enumerate(digits):
        for replacement in "0123456789":
            if replacement == original:
                continue
            typo = digits[:position] + replacement + digits[position + 1 :]
            with pytest.raises(InvalidRegistrationNumber) as excinfo:
                RegistrationNumber.parse(dashed(typo))
            assert reason(excinfo) == "check_digit", typo


@given(kabupaten_codes, days, sequences)
def test_every_adjacent_transposition_of_different_digits_is_refused(kabupaten, day, sequence):
    number = RegistrationNumber.build(kabupaten, day, sequence)
    digits = number.digits
    swaps = 0
    for position in range(len(digits) - 1):
        left, right = digits[position], digits[position + 1]
        if left == right:
            continue
        swapped = digits[:position] + right + left + digits[position + 2 :]
        with pytest.raises(InvalidRegistrationNumber) as excinfo:
            RegistrationNumber.parse(swapped)
        assert reason(excinfo) == "check_digit", swapped
        swaps += 1
    assert swaps > 0


def test_damm_table_catches_every_transposition_whatever_came_before():
    # Exhaustive over the check state: x then y never ends where y then x does.
    for prefix in range(10):
        for x in "0123456789":
            for y in "0123456789":
                if x != y:
                    assert damm_check_digit(f"{prefix}{x}{y}") != damm_check_digit(
                        f"{prefix}{y}{x}"
                    )


def valid_with(body: str) -> str:
    return body + damm_check_digit(body)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "empty"),
        ("3325-261123-0042", "length"),
        ("3325-261123-00427", "length"),  # the check digit is missing
        ("3325-261123-0042x", "not_digits"),
        ("3325–261123–004275", "not_digits"),  # en dashes are not separators
        (valid_with("9925" + "261123" + "00427"), "unknown_province"),
        (valid_with("3300" + "261123" + "00427"), "kabupaten_zero"),
        (valid_with("3325" + "260230" + "00427"), "invalid_date"),
        (valid_with("3325" + "261323" + "00427"), "invalid_date"),
        (valid_with("3325" + "261123" + "0012345"), "format"),  # padded past 5 digits
        (12345, "not_text"),
    ],
)
def test_parse_refuses_with_a_precise_reason(raw, expected):
    with pytest.raises(InvalidRegistrationNumber) as excinfo:
        RegistrationNumber.parse(raw, field="nomor_registrasi")
    assert reason(excinfo) == expected
    assert excinfo.value.field == "nomor_registrasi"


@pytest.mark.parametrize(
    ("kabupaten", "day", "sequence", "error", "expected"),
    [
        ("33", date(2026, 1, 1), 1, InvalidWilayah, "level"),
        ("332501", date(2026, 1, 1), 1, InvalidWilayah, "level"),
        ("3300", date(2026, 1, 1), 1, InvalidWilayah, "kabupaten_zero"),
        ("3325", date(1999, 12, 31), 1, InvalidRegistrationNumber, "date_range"),
        ("3325", date(2100, 1, 1), 1, InvalidRegistrationNumber, "date_range"),
        ("3325", date(2026, 1, 1), -1, InvalidRegistrationNumber, "sequence_range"),
        ("3325", date(2026, 1, 1), 10**9, InvalidRegistrationNumber, "sequence_range"),
    ],
)
def test_build_refuses_inputs_that_cannot_make_a_number(kabupaten, day, sequence, error, expected):
    with pytest.raises(error) as excinfo:
        RegistrationNumber.build(kabupaten, day, sequence)
    assert reason(excinfo) == expected
