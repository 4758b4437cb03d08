"""NIK, KK, wilayah and phone value objects: what they accept, and why they refuse."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidKK, InvalidNIK, InvalidPhone, InvalidWilayah
from shared.identity import KK, NIK, PROVINCES, PhoneNumber, WilayahCode

# Written out here rather than read from the module, so a typo there cannot hide.
PROVINCE_CODES = (
    "11 12 13 14 15 16 17 18 19 21 31 32 33 34 35 36 51 52 53 61 62 63 64 65 71 72 73 74 75 76"
    " 81 82 91 92 93 94 95 96"
).split()


def reason(excinfo: pytest.ExceptionInfo) -> str:
    return excinfo.value.details["reason"]


# --- NIK -------------------------------------------------------------------------------


@st.composite
def valid_niks(draw: st.DrawFn) -> tuple[str, date, str]:
    """A NIK someone could really hold, with the birth date and sex it encodes."""
    province = draw(st.sampled_from(PROVINCE_CODES))
    kabupaten, kecamatan = draw(st.integers(1, 99)), draw(st.integers(1, 99))
    born = draw(st.dates(date(1930, 1, 1), date(2020, 12, 31)))
    sex = draw(st.sampled_from("FM"))
    serial = draw(st.integers(1, 9999))
    day = born.day + 40 if sex == "F" else born.day
    nik = f"{province}{kabupaten:02d}{kecamatan:02d}{day:02d}{born:%m%y}{serial:04d}"
    return nik, born, sex


def test_the_province_table_holds_exactly_the_38_current_provinces():
    assert sorted(PROVINCES) == PROVINCE_CODES
    assert PROVINCES["33"] == "Jawa Tengah"
    assert PROVINCES["96"] == "Papua Barat Daya"


@given(valid_niks())
def test_every_real_nik_parses_and_decodes_its_birth_date_and_sex(case):
    raw, born, sex = case
    nik = NIK.parse(raw)
    assert nik.value == raw
    assert nik.birth_date == born
    assert nik.sex == sex
    assert nik.province_code == raw[:2]
    assert nik.kabupaten_code == raw[:4]
    assert nik.kecamatan_code == raw[:6]
    assert nik.serial == nik.last4 == raw[12:]
    assert str(nik) == raw


@given(valid_niks(), st.sampled_from([" ", ".", "-"]))
def test_nik_separators_people_write_are_ignored(case, separator):
    raw = case[0]
    written = separator.join([raw[:6], raw[6:12], raw[12:]])
    assert NIK.parse(f"  {written} ") == NIK.parse(raw)


@given(valid_niks(), st.sampled_from([-1, 1]))
def test_nik_of_15_or_17_digits_is_refused_for_length(case, change):
    raw = case[0]
    wrong = raw[:-1] if change < 0 else raw + "1"
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(wrong)
    assert reason(excinfo) == "length"


@given(valid_niks(), st.integers(0, 15), st.sampled_from("aOlI"))
def test_nik_with_a_letter_is_refused_as_not_digits(case, position, letter):
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(raw[:position] + letter + raw[position + 1 :])
    assert reason(excinfo) == "not_digits"


def test_nik_in_non_ascii_digits_is_refused():
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in "3325015203900001")
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(arabic_indic)
    assert reason(excinfo) == "not_digits"


@given(valid_niks(), st.sampled_from(["30", "31"]))
def test_nik_born_on_february_30_or_31_is_refused(case, day):
    raw, _, sex = case
    encoded = int(day) + 40 if sex == "F" else int(day)
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(f"{raw[:6]}{encoded}02{raw[10:]}")
    assert reason(excinfo) == "invalid_birth_date"


@given(valid_niks(), st.sampled_from(["72", "80", "32", "39", "40", "00"]))
def test_nik_whose_birth_day_is_not_a_day_of_any_month_is_refused(case, day):
    # 72 is a woman born on the 32nd, 80 on the 40th; 32-40 fit neither sex; 00 is no day.
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(f"{raw[:6]}{day}{raw[8:]}")
    assert reason(excinfo) == "invalid_birth_date"


@given(valid_niks(), st.sampled_from(["00", "13"]))
def test_nik_with_month_00_or_13_is_refused(case, month):
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(f"{raw[:8]}{month}{raw[10:]}")
    assert reason(excinfo) == "invalid_birth_date"


@given(valid_niks())
def test_nik_with_serial_0000_is_refused(case):
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(raw[:12] + "0000")
    assert reason(excinfo) == "serial_zero"


@given(valid_niks(), st.sampled_from(sorted({f"{n:02d}" for n in range(100)} - set(PROVINCES))))
def test_nik_from_an_unknown_province_is_refused(case, province):
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(province + raw[2:])
    assert reason(excinfo) == "unknown_province"


@pytest.mark.parametrize("province", ["99", "00", "20", "37"])
def test_named_non_province_codes_are_refused(province):
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(province + "25015203900001")
    assert reason(excinfo) == "unknown_province"


@given(valid_niks())
def test_nik_with_kabupaten_00_is_refused(case):
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(raw[:2] + "00" + raw[4:])
    assert reason(excinfo) == "kabupaten_zero"


@given(valid_niks())
def test_nik_with_kecamatan_00_is_refused(case):
    raw = case[0]
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(raw[:4] + "00" + raw[6:])
    assert reason(excinfo) == "kecamatan_zero"


@pytest.mark.parametrize(
    ("birth", "today", "expected"),
    [
        ("010125", date(2025, 6, 1), date(2025, 1, 1)),  # this year, already past
        ("010625", date(2025, 6, 1), date(2025, 6, 1)),  # born today
        ("010725", date(2025, 6, 1), date(1925, 7, 1)),  # later this year: a century ago
        ("010126", date(2025, 6, 1), date(1926, 1, 1)),  # YY after this year's: 19YY
        ("290200", date(2025, 6, 1), date(2000, 2, 29)),  # 2000 was a leap year
        ("690224", date(2025, 6, 1), date(2024, 2, 29)),  # a woman born on a leap day
    ],
)
def test_two_digit_birth_year_takes_the_century_that_is_not_in_the_future(birth, today, expected):
    nik = NIK.parse(f"332501{birth}0001", today=today)
    assert nik.birth_date == expected


@pytest.mark.parametrize("birth", ["290223", "690223", "290201"])
def test_february_29_outside_a_leap_year_is_refused(birth):
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(f"332501{birth}0001", today=date(2025, 6, 1))
    assert reason(excinfo) == "invalid_birth_date"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", "empty"), (" . - ", "empty"), (3325015203900001, "not_text"), (None, "not_text")],
)
def test_nik_that_is_blank_or_not_text_is_refused(raw, expected):
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(raw)
    assert reason(excinfo) == expected


def test_nik_error_names_the_callers_field_and_does_not_echo_the_number():
    raw = "3325015203900000"
    with pytest.raises(InvalidNIK) as excinfo:
        NIK.parse(raw, field="pelapor.nik")
    error = excinfo.value
    assert error.field == "pelapor.nik"
    assert error.code == "invalid_nik"
    assert raw not in str(error.to_dict())


@given(valid_niks())
def test_nik_repr_and_masked_form_never_show_the_full_number(case):
    raw = case[0]
    nik = NIK.parse(raw)
    assert raw not in repr(nik)
    assert raw not in repr([nik])
    assert nik.masked == raw[:4] + "*" * 8 + raw[12:]
    assert nik.masked in repr(nik)


# --- KK --------------------------------------------------------------------------------

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("raw", "issued"),
    [
        ("3325011503190002", date(2019, 3, 15)),
        ("3325.0115.0319.0002", date(2019, 3, 15)),
        ("1101 0131 1299 9999", date(1999, 12, 31)),
        ("9601012902240001", date(2024, 2, 29)),
    ],
)
def test_kk_accepts_a_real_family_card_number(raw, issued):
    kk = KK.parse(raw, today=TODAY)
    assert kk.issue_date == issued
    assert kk.value == raw.replace(".", "").replace(" ", "")
    assert kk.kabupaten_code == kk.value[:4]
    assert kk.kecamatan_code == kk.value[:6]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("332501150319000", "length"),
        ("33250115031900021", "length"),
        ("33250115031900O2", "not_digits"),
        ("9925011503190002", "unknown_province"),
        ("0025011503190002", "unknown_province"),
        ("3300011503190002", "kabupaten_zero"),
        ("3325001503190002", "kecamatan_zero"),
        ("3325013002190002", "invalid_issue_date"),
        ("3325015503190002", "invalid_issue_date"),  # no +40 rule on a family card
        ("3325012902230002", "invalid_issue_date"),
        ("3325011513190002", "invalid_issue_date"),
        ("3325011503190000", "serial_zero"),
        ("", "empty"),
    ],
)
def test_kk_refuses_with_a_precise_reason(raw, expected):
    with pytest.raises(InvalidKK) as excinfo:
        KK.parse(raw, field="keluarga.kk", today=TODAY)
    assert reason(excinfo) == expected
    assert excinfo.value.field == "keluarga.kk"


def test_kk_repr_does_not_contain_the_full_number():
    kk = KK.parse("3325011503190002")
    assert "3325011503190002" not in repr(kk)
    assert repr(kk) == "KK('3325********0002')"
    assert str(kk) == "3325011503190002"


# --- wilayah ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "level", "kabupaten", "kecamatan"),
    [
        ("33", "33", "provinsi", None, None),
        ("3325", "3325", "kabupaten", "3325", None),
        ("33.25", "3325", "kabupaten", "3325", None),
        ("332501", "332501", "kecamatan", "3325", "332501"),
        ("3325012001", "3325012001", "desa", "3325", "332501"),
        ("33.25.01.2001", "3325012001", "desa", "3325", "332501"),
        (" 33.25.01.2001 ", "3325012001", "desa", "3325", "332501"),
    ],
)
def test_wilayah_code_accepts_every_level_bare_or_dotted(raw, value, level, kabupaten, kecamatan):
    code = WilayahCode.parse(raw)
    assert (code.value, code.level, code.province) == (value, level, "33")
    assert (code.kabupaten, code.kecamatan) == (kabupaten, kecamatan)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", "length"),
        ("332", "length"),
        ("33250120", "length"),
        ("33250120011", "length"),
        ("33.2501", "grouping"),
        ("332.5", "grouping"),
        ("33.25.", "grouping"),
        ("33.2x", "not_digits"),
        ("99", "unknown_province"),
        ("00.00", "unknown_province"),
        ("3300", "kabupaten_zero"),
        ("332500", "kecamatan_zero"),
        ("3325010000", "desa_zero"),
        ("", "empty"),
    ],
)
def test_wilayah_code_refuses_with_a_precise_reason(raw, expected):
    with pytest.raises(InvalidWilayah) as excinfo:
        WilayahCode.parse(raw, field="alamat.desa")
    assert reason(excinfo) == expected
    assert excinfo.value.field == "alamat.desa"


def test_wilayah_parents_climb_one_level_at_a_time_to_the_province():
    desa = WilayahCode.parse("3325012001")
    chain = []
    code: WilayahCode | None = desa
    while code is not None:
        chain.append(code.value)
        code = code.parent
    assert chain == ["3325012001", "332501", "3325", "33"]
    assert desa.dotted == "33.25.01.2001"


@pytest.mark.parametrize(
    ("outer", "inner", "contains"),
    [
        ("33", "3325012001", True),
        ("3325", "332501", True),
        ("332501", "332501", True),  # a desk's own area is within its scope
        ("332501", "3325", False),  # a kecamatan does not contain its kabupaten
        ("3325", "3326012001", False),
        ("33", "3425", False),
    ],
)
def test_wilayah_contains_only_areas_inside_it(outer, inner, contains):
    assert WilayahCode.parse(outer).contains(WilayahCode.parse(inner)) is contains


# --- phone -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164", "mobile"),
    [
        ("081234567890", "+6281234567890", True),
        ("0812-3456-7890", "+6281234567890", True),
        ("+62 812 3456 7890", "+6281234567890", True),
        ("6281234567890", "+6281234567890", True),
        ("0812345678", "+62812345678", True),  # 10 digits, the shortest mobile
        ("0812345678901", "+62812345678901", True),  # 13 digits, the longest
        ("(021) 555-1234", "+62215551234", False),  # Jakarta, 2-digit area code
        ("0274 512345", "+62274512345", False),  # Yogyakarta, 3-digit area code
        ("+62 274 512345", "+62274512345", False),
        ("022123456", "+6222123456", False),  # 9 digits, the shortest landline
    ],
)
def test_phone_accepts_indonesian_numbers_and_normalises_to_e164(raw, e164, mobile):
    phone = PhoneNumber.parse(raw)
    assert phone.value == str(phone) == e164
    assert phone.is_mobile is mobile
    assert phone.national == "0" + e164[3:]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081234567", "length"),  # 9-digit mobile
        ("08123456789012", "length"),  # 14-digit mobile
        ("02155512", "length"),  # 8-digit landline
        ("021555123456", "length"),  # 12-digit landline
        ("+1 415 555 0100", "country_code"),
        ("+44 20 7946 0958", "country_code"),
        ("81234567890", "prefix"),  # the leading 0 was forgotten
        ("+62 0812 3456 7890", "prefix"),
        ("0062812345678", "prefix"),
        ("0812-3456-78ab", "not_digits"),
        ("", "empty"),
        (81234567890, "not_text"),
    ],
)
def test_phone_refuses_with_a_precise_reason(raw, expected):
    with pytest.raises(InvalidPhone) as excinfo:
        PhoneNumber.parse(raw, field="kontak.hp")
    assert reason(excinfo) == expected
    assert excinfo.value.field == "kontak.hp"


def test_phone_masked_form_and_repr_keep_only_the_last_three_digits():
    phone = PhoneNumber.parse("0812-3456-7890")
    assert phone.masked == "+62" + "*" * 8 + "890"
    assert "81234567890" not in repr(phone)


def test_the_same_nik_parsed_on_different_days_is_the_same_nik():
    raw = "3325010107250001"  # 1 July '25: a baby in August 2025, a centenarian in June
    before, after = NIK.parse(raw, today=date(2025, 6, 1)), NIK.parse(raw, today=date(2025, 8, 1))
    assert (before.birth_date.year, after.birth_date.year) == (1925, 2025)
    assert before == after
    assert len({before, after}) == 1


# --- KK properties (the NIK ones above; the issue asks for both) --------------------------


@st.composite
def valid_kks(draw: st.DrawFn) -> tuple[str, date]:
    """A family card number: area code, issue date DDMMYY (no +40), serial >= 0001."""
    province = draw(st.sampled_from(PROVINCE_CODES))
    kabupaten, kecamatan = draw(st.integers(1, 99)), draw(st.integers(1, 99))
    issued = draw(st.dates(date(2000, 1, 1), TODAY))
    serial = draw(st.integers(1, 9999))
    return f"{province}{kabupaten:02d}{kecamatan:02d}{issued:%d%m%y}{serial:04d}", issued


@given(valid_kks())
def test_every_generated_kk_parses_and_decodes_its_issue_date(case):
    raw, issued = case
    kk = KK.parse(raw, today=TODAY)
    assert kk.value == raw and kk.issue_date == issued


@given(valid_kks(), st.sampled_from([
    ("length", lambda r: r[:-1]),
    ("length", lambda r: r + "7"),
    ("not_digits", lambda r: r[:5] + "x" + r[6:]),
    ("invalid_issue_date", lambda r: r[:6] + "3002" + r[10:]),
    ("invalid_issue_date", lambda r: r[:6] + "72" + r[8:]),
    ("serial_zero", lambda r: r[:12] + "0000"),
    ("unknown_province", lambda r: "99" + r[2:]),
]))
def test_each_kk_corruption_is_refused_with_its_reason(case, corruption):
    expected, corrupt = corruption
    with pytest.raises(InvalidKK) as excinfo:
        KK.parse(corrupt(case[0]), today=TODAY)
    assert reason(excinfo) == expected
