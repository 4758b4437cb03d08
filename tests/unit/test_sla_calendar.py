"""Working-day calendar and deadline arithmetic of the SLA service (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.calendar import (
    CUTI_BERSAMA,
    HOLIDAY_DIR,
    LIBUR_DAERAH,
    LIBUR_NASIONAL,
    WIB,
    WIT,
    WITA,
    Holiday,
    WorkingCalendar,
    add_working_days,
    add_working_time,
    at_risk_at,
    available_holiday_years,
    due_at,
    extend_for_pause,
    for_region,
    is_working_day,
    load_holiday_file,
    national_calendar,
    working_time_between,
    zone_for_wilayah,
)
from services.sla.policies import HOURS, WORKING_DAYS, SlaRule
from shared.errors import ConfigurationError, InvalidInput, InvalidWilayah

JKT = ZoneInfo(WIB)
MKS = ZoneInfo(WITA)
JAP = ZoneInfo(WIT)


def wib(*args: int) -> datetime:
    return datetime(*args, tzinfo=JKT)


def rule(duration: float, unit: str, stage: str = "verification") -> SlaRule:
    return SlaRule(stage, "registered", ("verified",), duration, unit)


# --- data files ----------------------------------------------------------------------------


def test_holiday_files_exist_for_2025_2026_2027():
    assert {2025, 2026, 2027} <= set(available_holiday_years())


def test_2026_list_has_17_national_holidays_and_8_cuti_bersama():
    year = load_holiday_file(HOLIDAY_DIR / "2026.yaml")
    kinds = [h.kind for h in year.holidays]
    assert kinds.count(LIBUR_NASIONAL) == 17
    assert kinds.count(CUTI_BERSAMA) == 8
    assert not year.provisional


def test_2027_list_is_marked_provisional():
    assert 2027 in national_calendar().provisional_years
    assert 2026 not in national_calendar().provisional_years


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 17), True),  # Tuesday before Nyepi
        (date(2026, 3, 18), False),  # cuti bersama Nyepi
        (date(2026, 3, 19), False),  # Nyepi
        (date(2026, 3, 20), False),  # cuti bersama Idul Fitri
        (date(2026, 3, 23), False),  # cuti bersama Idul Fitri (Monday)
        (date(2026, 3, 24), False),  # cuti bersama Idul Fitri (Tuesday)
        (date(2026, 3, 25), True),
        (date(2026, 1, 1), False),  # Tahun Baru
        (date(2026, 1, 2), True),  # Friday after New Year
        (date(2026, 1, 3), False),  # Saturday
        (date(2026, 1, 4), False),  # Sunday
        (date(2026, 12, 25), False),  # Natal
        (date(2025, 4, 7), False),  # cuti bersama Idul Fitri 2025
        (date(2025, 4, 8), True),
    ],
)
def test_is_working_day_knows_weekends_holidays_and_cuti_bersama(day, expected):
    assert is_working_day(day) is expected


def test_is_working_day_refuses_a_year_without_a_holiday_list():
    with pytest.raises(ConfigurationError) as err:
        is_working_day(date(2031, 6, 2))
    assert err.value.field == "holidays.2031"


def test_non_strict_calendar_treats_uncovered_years_as_weekends_only():
    cal = WorkingCalendar([], covered_years=[], strict=False)
    assert cal.is_working_day(date(2031, 6, 2))  # Monday
    assert not cal.is_working_day(date(2031, 6, 1))  # Sunday


def test_is_working_day_refuses_a_datetime():
    with pytest.raises(InvalidInput):
        is_working_day(wib(2026, 3, 17, 9))


def test_malformed_holiday_file_names_the_field(tmp_path):
    path = tmp_path / "2026.yaml"
    path.write_text(
        "year: 2026\nholidays:\n"
        "  - {date: 2026-01-01, name: Tahun Baru, kind: libur_nasional}\n"
        "  - {date: 2026-05-01, name: Hari Buruh, kind: libur}\n"
    )
    with pytest.raises(ConfigurationError) as err:
        load_holiday_file(path)
    assert err.value.field == "holidays[1].kind"


def test_holiday_file_with_a_date_from_another_year_is_refused(tmp_path):
    path = tmp_path / "2026.yaml"
    path.write_text(
        "year: 2026\nholidays:\n  - {date: 2025-12-25, name: Natal, kind: libur_nasional}\n"
    )
    with pytest.raises(ConfigurationError) as err:
        load_holiday_file(path)
    assert err.value.field == "holidays[0].date"


# --- deadline arithmetic table (WIB unless stated) ------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Friday afternoon + 1 working day -> Monday, same clock time
        pytest.param(wib(2026, 2, 6, 14, 30), 1, wib(2026, 2, 9, 14, 30), id="fri+1=mon"),
        # Wednesday + 3 working days crosses a weekend -> Monday
        pytest.param(wib(2026, 2, 4, 9, 0), 3, wib(2026, 2, 9, 9, 0), id="wed+3=mon"),
        pytest.param(wib(2026, 2, 11, 10, 0), 3, wib(2026, 2, 18, 10, 0), id="imlek+cuti"),
        # Idul Fitri 1447 H: 18-24 March 2026 are Nyepi, cuti bersama, weekend, Lebaran
        pytest.param(wib(2026, 3, 17, 10, 0), 1, wib(2026, 3, 25, 10, 0), id="lebaran2026+1"),
        pytest.param(wib(2026, 3, 16, 15, 0), 3, wib(2026, 3, 26, 15, 0), id="lebaran2026+3"),
        # New Year: 31 Dec 2025 (Wed) + 1 -> 2 Jan 2026 (1 Jan is a holiday)
        pytest.param(wib(2025, 12, 31, 11, 0), 1, wib(2026, 1, 2, 11, 0), id="31dec+1=2jan"),
        # Natal + cuti bersama 2025 (Thu 25, Fri 26 Dec) then weekend
        pytest.param(wib(2025, 12, 24, 8, 0), 1, wib(2025, 12, 29, 8, 0), id="natal2025"),
        pytest.param(wib(2026, 3, 17, 10, 0), 0, wib(2026, 3, 17, 10, 0), id="n=0-identity"),
    ],
)
def test_add_working_days_table(start, n, expected):
    got = add_working_days(start, n, WIB)
    assert got == expected
    assert got.tzinfo == UTC


def test_start_on_a_saturday_counts_from_monday_midnight():
    # Saturday 10:00: the clock is stopped until Monday 00:00; the whole Monday is day 1.
    assert add_working_days(wib(2026, 2, 7, 10, 0), 1, WIB) == wib(2026, 2, 10, 0, 0)


def test_start_on_a_holiday_counts_from_the_next_working_day_midnight():
    # Nyepi (Thursday 19 March 2026) -> first working day is Wednesday 25 March.
    assert add_working_days(wib(2026, 3, 19, 13, 0), 1, WIB) == wib(2026, 3, 26, 0, 0)


def test_zero_working_days_from_a_weekend_is_the_next_working_day_midnight():
    assert add_working_days(wib(2026, 2, 8, 22, 0), 0, WIB) == wib(2026, 2, 9, 0, 0)


def test_a_result_at_the_end_of_friday_is_written_as_monday_midnight():
    assert add_working_days(wib(2026, 2, 6, 0, 0), 1, WIB) == wib(2026, 2, 9, 0, 0)


def test_same_instant_gives_different_utc_deadlines_in_wib_wita_wit():
    # Friday 2026-02-06 23:30 UTC is Saturday 06:30 WIB, 07:30 WITA, 08:30 WIT: a weekend
    # everywhere, so each zone counts from its own Monday 00:00.
    start = datetime(2026, 2, 6, 23, 30, tzinfo=UTC)
    in_wib = add_working_days(start, 1, WIB)
    in_wita = add_working_days(start, 1, WITA)
    in_wit = add_working_days(start, 1, WIT)
    assert in_wib == datetime(2026, 2, 9, 17, 0, tzinfo=UTC)
    assert in_wita == datetime(2026, 2, 9, 16, 0, tzinfo=UTC)
    assert in_wit == datetime(2026, 2, 9, 15, 0, tzinfo=UTC)


def test_a_friday_evening_in_wib_is_already_saturday_in_wit():
    start = datetime(2026, 2, 6, 16, 0, tzinfo=UTC)  # Fri 23:00 WIB, Sat 01:00 WIT
    assert add_working_days(start, 1, WIB) == wib(2026, 2, 9, 23, 0)
    assert add_working_days(start, 1, WIT) == datetime(2026, 2, 10, 0, 0, tzinfo=JAP)


def test_naive_datetimes_are_refused():
    with pytest.raises(InvalidInput) as err:
        add_working_days(datetime(2026, 2, 6, 9), 1, WIB)
    assert err.value.field == "start"


def test_negative_working_days_are_refused():
    with pytest.raises(InvalidInput):
        add_working_days(wib(2026, 2, 6, 9), -1, WIB)


# --- regions and zones ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "zone"),
    [
        ("31", WIB),
        ("35.78", WIB),
        ("3578010001", WIB),
        ("61", WIB),
        ("62", WIB),
        ("51", WITA),
        ("5171", WITA),
        ("64", WITA),
        ("73.71", WITA),
        ("76", WITA),
        ("81", WIT),
        ("91", WIT),
        ("96", WIT),
    ],
)
def test_zone_for_wilayah_maps_the_province(code, zone):
    assert zone_for_wilayah(code) == ZoneInfo(zone)


@pytest.mark.parametrize("code", ["", "3", "x1", "00", "99", "37"])
def test_zone_for_wilayah_refuses_unknown_or_malformed_codes(code):
    with pytest.raises(InvalidWilayah):
        zone_for_wilayah(code)


def test_per_kabupaten_extra_holiday_is_not_a_working_day_there_only():
    # A local holiday in Kota Surabaya (35.78) on Tuesday 10 February 2026.
    surabaya = for_region("35.78", [(date(2026, 2, 10), "Hari Jadi (contoh)")])
    assert surabaya.region == "35.78"
    assert not surabaya.is_working_day(date(2026, 2, 10))
    assert is_working_day(date(2026, 2, 10))
    start = wib(2026, 2, 9, 9, 0)
    assert add_working_days(start, 1, WIB, surabaya) == wib(2026, 2, 11, 9, 0)
    assert add_working_days(start, 1, WIB) == wib(2026, 2, 10, 9, 0)
    (local,) = surabaya.holidays_on(date(2026, 2, 10))
    assert local.kind == LIBUR_DAERAH


def test_extra_holidays_via_constructor():
    cal = WorkingCalendar(extra_holidays=[date(2026, 2, 10)])
    assert not cal.is_working_day(date(2026, 2, 10))
    assert 2026 in cal.covered_years


def test_for_region_refuses_a_malformed_kabupaten_code():
    with pytest.raises(InvalidWilayah):
        for_region("357", [])


# --- due_at / at_risk_at -------------------------------------------------------------------


def test_24_clock_hours_is_exactly_24_hours_of_elapsed_time():
    start = datetime(2026, 3, 19, 5, 0, tzinfo=MKS)  # on a holiday: irrelevant for hours
    due = due_at(start, rule(24, HOURS), national_calendar(), WITA)
    assert due - start == timedelta(hours=24)
    assert due == datetime(2026, 3, 19, 21, 0, tzinfo=UTC)


def test_due_at_with_working_days_uses_the_calendar_and_zone():
    start = wib(2026, 2, 6, 14, 30)
    assert due_at(start, rule(1, WORKING_DAYS), None, WIB) == wib(2026, 2, 9, 14, 30)
    local = for_region("35.78", [date(2026, 2, 9)])
    assert due_at(start, rule(1, WORKING_DAYS), local, WIB) == wib(2026, 2, 10, 14, 30)


def test_at_risk_is_at_75_percent_of_the_span():
    start = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
    due = start + timedelta(hours=24)
    assert at_risk_at(start, due, 0.75) == start + timedelta(hours=18)
    assert at_risk_at(start, due) == start + timedelta(hours=18)


def test_at_risk_of_a_working_day_deadline_uses_the_clock_span():
    start = wib(2026, 2, 6, 12, 0)  # Friday noon
    due = add_working_days(start, 1, WIB)  # Monday noon: a 72 h span
    assert at_risk_at(start, due, 0.75) == wib(2026, 2, 8, 18, 0)


@pytest.mark.parametrize("ratio", [0, -0.5, 1.5])
def test_at_risk_ratio_outside_0_1_is_refused(ratio):
    start = datetime(2026, 2, 2, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        at_risk_at(start, start + timedelta(hours=1), ratio)


# --- pauses --------------------------------------------------------------------------------


def test_pause_moves_an_hours_deadline_by_the_paused_time():
    start = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
    due = start + timedelta(hours=24)
    paused, resumed = start + timedelta(hours=5), start + timedelta(hours=8, minutes=30)
    got = extend_for_pause(due, paused, resumed, rule(24, HOURS), None, WIB)
    assert got == due + timedelta(hours=3, minutes=30)


def test_pause_moves_a_working_day_deadline_by_the_working_time_consumed():
    # Rule: 3 working days from Wednesday 4 Feb 2026 09:00 -> Monday 9 Feb 09:00.
    start = wib(2026, 2, 4, 9, 0)
    r = rule(3, WORKING_DAYS)
    due = due_at(start, r, None, WIB)
    assert due == wib(2026, 2, 9, 9, 0)
    # Paused Friday 16:00 -> Monday 02:00: 8 h of Friday + 2 h of Monday = 10 h of work time.
    got = extend_for_pause(due, wib(2026, 2, 6, 16, 0), wib(2026, 2, 9, 2, 0), r, None, WIB)
    assert got == wib(2026, 2, 9, 19, 0)


def test_pause_over_a_weekend_only_does_not_move_a_working_day_deadline():
    r = rule(3, WORKING_DAYS)
    due = wib(2026, 2, 11, 9, 0)
    got = extend_for_pause(due, wib(2026, 2, 7, 8, 0), wib(2026, 2, 8, 20, 0), r, None, WIB)
    assert got == due


def test_working_day_pause_extension_skips_holidays_after_the_deadline():
    # Due Tuesday 17 March 2026 10:00 (before Nyepi/Lebaran); a full working day of pause
    # pushes it across 18-24 March to Wednesday 25 March 10:00.
    r = rule(1, WORKING_DAYS)
    due = wib(2026, 3, 17, 10, 0)
    got = extend_for_pause(due, wib(2026, 3, 16, 10, 0), wib(2026, 3, 17, 10, 0), r, None, WIB)
    assert got == wib(2026, 3, 25, 10, 0)


def test_pause_starting_after_the_deadline_does_not_rescue_a_breach():
    due = datetime(2026, 2, 3, tzinfo=UTC)
    got = extend_for_pause(
        due, due + timedelta(hours=1), due + timedelta(hours=9), rule(24, HOURS), None, WIB
    )
    assert got == due


def test_resume_before_pause_is_refused():
    due = datetime(2026, 2, 3, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        extend_for_pause(
            due, due - timedelta(hours=1), due - timedelta(hours=2), rule(24, HOURS), None, WIB
        )


def test_working_time_between_counts_only_working_days():
    # Friday 12:00 -> Tuesday 12:00 WIB: 12 h Fri + 24 h Mon + 12 h Tue.
    got = working_time_between(wib(2026, 2, 6, 12), wib(2026, 2, 10, 12), WIB)
    assert got == timedelta(hours=48)


def test_add_working_time_is_the_inverse_of_working_time_between():
    start = wib(2026, 3, 16, 15, 0)
    end = add_working_time(start, timedelta(hours=40), WIB)
    assert working_time_between(start, end, WIB) == timedelta(hours=40)


# --- properties ----------------------------------------------------------------------------

_STARTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 10, 31), timezones=st.just(UTC)
)
_ZONES = st.sampled_from([WIB, WITA, WIT])


@settings(max_examples=300, deadline=None)
@given(start=_STARTS, n=st.integers(min_value=1, max_value=40), tz=_ZONES)
def test_add_working_days_lands_on_a_working_day_strictly_after_start(start, n, tz):
    got = add_working_days(start, n, tz)
    assert got > start
    assert is_working_day(got.astimezone(ZoneInfo(tz)).date())


@settings(max_examples=200, deadline=None)
@given(start=_STARTS, n=st.integers(min_value=0, max_value=20), tz=_ZONES)
def test_add_working_days_consumes_exactly_n_days_of_working_time(start, n, tz):
    got = add_working_days(start, n, tz)
    assert working_time_between(start, got, tz) == timedelta(days=n)


@settings(max_examples=200, deadline=None)
@given(start=_STARTS, n=st.integers(min_value=1, max_value=20), tz=_ZONES)
def test_add_working_days_keeps_local_clock_time_when_starting_on_a_working_day(start, n, tz):
    local = start.astimezone(ZoneInfo(tz))
    got = add_working_days(start, n, tz).astimezone(ZoneInfo(tz))
    if is_working_day(local.date()):
        assert got.time() == local.time()
    else:
        assert got.time() == datetime.min.time()


def test_holiday_objects_can_be_passed_explicitly():
    cal = WorkingCalendar([Holiday(date(2030, 1, 1), "Tahun Baru", LIBUR_NASIONAL)])
    assert cal.covered_years == {2030}
    assert not cal.is_working_day(date(2030, 1, 1))
    assert cal.is_working_day(date(2030, 1, 2))
