"""Working-day calendar and deadline arithmetic for SLA clocks (pure; no I/O but data files).

Vocabulary
----------
* **Working day**: a local calendar date that is not a Saturday or Sunday, not a national
  holiday (``libur_nasional``), not a collective leave day (``cuti_bersama``) and not a local
  holiday added for a kabupaten/kota (``libur_daerah``). National lists live in
  ``data/holidays/<year>.yaml``, one file per year, loaded relative to this module.
* **Local time**: a complaint's clock runs in the zone of its wilayah: WIB ``Asia/Jakarta``,
  WITA ``Asia/Makassar``, WIT ``Asia/Jayapura`` (see :func:`zone_for_wilayah`). None of the
  three observes daylight saving time, so every local day is exactly 24 hours long.
* Every datetime given to or returned by this module is timezone-aware; results are in UTC.
  A naive datetime is refused with :class:`~shared.errors.InvalidInput`.

Semantics chosen (and tested)
-----------------------------
**Office hours are not modelled.** A working day counts in full, 00:00 to 24:00 local time.
This keeps deadlines explainable at a desk ("by this time on that day") and is what the
SP4N-LAPOR! "N hari kerja" promise says.

**Working time.** The *working-time clock* of a complaint advances at normal speed during a
working day and stands still on weekends and holidays. All working-day arithmetic is defined
on that clock:

* ``add_working_days(t, n)`` is ``t`` advanced by ``n × 24`` hours of working time. For ``t``
  on a working day that is **the same local wall-clock time on the n-th following working
  day** (Friday 14:30 + 1 → Monday 14:30 when Monday is a working day).
* A start that falls on a non-working day (any time of day) is first moved to **00:00 local
  of the next working day**, because the clock is stopped until then: Saturday 10:00 + 1 →
  Tuesday 00:00, i.e. the whole of Monday is the budget. ``n == 0`` returns that normalised
  start.
* A result that would land exactly on the end of a working day (24:00) is written as 00:00 of
  the next working day (the two instants are equal in working time; the later one is the one
  the "same clock time on the n-th working day" rule names). Every result of
  :func:`add_working_days` therefore lies on a working day and, for ``n >= 1``, strictly
  after ``start``.

**Clock hours.** A rule in ``hours`` is plain elapsed time: ``start + hours`` (the calendar and
the zone play no part; there is no DST in Indonesia, so 24 hours is always one local day).

**At risk.** :func:`at_risk_at` is ``start + ratio × (due − start)`` in elapsed clock time,
for both units (a working-day deadline's span includes the weekends inside it).

**Pauses** (e.g. waiting for the citizen's documents) — :func:`extend_for_pause`:

* ``hours`` rules: the deadline moves by the elapsed pause, ``resumed_at − paused_at``.
* ``working_days`` rules: the deadline moves by the *working time* that passed during the
  pause (a pause from Friday 16:00 to Monday 10:00 consumed 8 h of Friday + 10 h of Monday =
  18 h of working time; the weekend is free), and that working time is added on the
  working-time clock from the old deadline, skipping non-working days.
* A pause that starts at or after the current deadline does not move it: a breached clock
  stays breached. Several pauses are applied one after another, each to the deadline the
  previous one produced (the working-time measure is additive, so order does not matter).

**Years without data.** Asking about a date in a year that has no holiday file is a
:class:`~shared.errors.ConfigurationError` (``strict=True``, the default): silently treating
Lebaran as a working day would produce wrong deadlines. ``strict=False`` treats such years as
having weekends (and the ``extra_holidays``) only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from services.sla.policies import HOURS, WORKING_DAYS, SlaRule
from shared.errors import ConfigurationError, InvalidInput, InvalidWilayah

__all__ = [
    "CUTI_BERSAMA",
    "DATA_DIR",
    "HOLIDAY_DIR",
    "HOLIDAY_KINDS",
    "LIBUR_DAERAH",
    "LIBUR_NASIONAL",
    "WIB",
    "WIT",
    "WITA",
    "Holiday",
    "HolidayYear",
    "WorkingCalendar",
    "add_working_days",
    "add_working_time",
    "at_risk_at",
    "available_holiday_years",
    "due_at",
    "extend_for_pause",
    "for_region",
    "is_working_day",
    "load_holiday_file",
    "national_calendar",
    "working_time_between",
    "zone",
    "zone_for_wilayah",
]

DATA_DIR = Path(__file__).parent / "data"
HOLIDAY_DIR = DATA_DIR / "holidays"

LIBUR_NASIONAL = "libur_nasional"
CUTI_BERSAMA = "cuti_bersama"
LIBUR_DAERAH = "libur_daerah"
#: kinds allowed in the national ``data/holidays/<year>.yaml`` files
HOLIDAY_KINDS = (LIBUR_NASIONAL, CUTI_BERSAMA)

WIB = "Asia/Jakarta"
WITA = "Asia/Makassar"
WIT = "Asia/Jayapura"

_DAY = timedelta(days=1)

# --- time zones --------------------------------------------------------------------------

#: Province (first two digits of a Kemendagri wilayah code) → zone. Every province code in
#: use is listed, so a mistyped code is refused instead of silently getting WIB.
_WITA_PROVINCES = frozenset(
    {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
)
_WIT_PROVINCES = frozenset({"81", "82", "91", "92", "93", "94", "95", "96"})
_WIB_PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "16", "17", "18", "19", "21"}
    | {"31", "32", "33", "34", "35", "36", "61", "62"}
)
_WILAYAH_RE = re.compile(r"^\d{2}(?:\.?\d+)*$")


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a clear ConfigurationError if the tz database lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(
            f"time zone {name!r} is not available: install the system tz database "
            "(Debian/Ubuntu: apt-get install tzdata) or the 'tzdata' Python package",
            field="tz",
        ) from exc


def zone_for_wilayah(code: str) -> ZoneInfo:
    """The local zone of a wilayah code (province ``"63"``, kabupaten ``"63.71"``/``"6371"``,
    or any longer code): decided by the province, its first two digits.

    WITA: 51 52 53 63 64 65 71–76; WIT: 81 82 91–96; every other province: WIB.
    An unknown province or a malformed code raises :class:`InvalidWilayah`.
    """
    text = str(code).strip()
    if not _WILAYAH_RE.match(text):
        raise InvalidWilayah(
            f"wilayah code {code!r} must start with a two-digit province code",
            field="wilayah_code",
        )
    province = text[:2]
    if province in _WITA_PROVINCES:
        return zone(WITA)
    if province in _WIT_PROVINCES:
        return zone(WIT)
    if province in _WIB_PROVINCES:
        return zone(WIB)
    raise InvalidWilayah(f"unknown province code {province!r}", field="wilayah_code")


def _as_zone(tz: tzinfo | str) -> tzinfo:
    if isinstance(tz, str):
        return zone(tz)
    if isinstance(tz, tzinfo):
        return tz
    raise InvalidInput(f"tz must be a zone name or tzinfo, not {type(tz).__name__}", field="tz")


def _require_aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a datetime", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be timezone-aware (got a naive datetime)", field=field)
    return value


# --- holidays ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holiday:
    """One non-working date. ``kind``: libur_nasional | cuti_bersama | libur_daerah."""

    date: date
    name: str
    kind: str = LIBUR_NASIONAL


@dataclass(frozen=True, slots=True)
class HolidayYear:
    """The contents of one ``data/holidays/<year>.yaml`` file."""

    year: int
    holidays: tuple[Holiday, ...]
    provisional: bool = False
    source: str = ""


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}", field=str(path)) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}", field=str(path)) from exc


def load_holiday_file(path: Path | str) -> HolidayYear:
    """Load and validate one holiday file (see ``data/holidays/2026.yaml`` for the format)."""
    path = Path(path)
    data = _load_yaml(path)

    def bad(message: str, field: str) -> ConfigurationError:
        return ConfigurationError(f"{path.name}: {message}", field=field, source=str(path))

    if not isinstance(data, Mapping):
        raise bad("top level must be a mapping with 'year' and 'holidays'", "year")
    unknown = set(data) - {"year", "holidays", "provisional", "source"}
    if unknown:
        raise bad(f"unknown key(s) {sorted(map(str, unknown))}", str(sorted(map(str, unknown))[0]))
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2999:
        raise bad(f"'year' must be a four-digit integer, got {year!r}", "year")
    provisional = data.get("provisional", False)
    if not isinstance(provisional, bool):
        raise bad("'provisional' must be true or false", "provisional")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise bad("'source' must be a string", "source")
    entries = data.get("holidays")
    if not isinstance(entries, list):
        raise bad("'holidays' must be a list", "holidays")

    seen: dict[tuple[date, str], int] = {}
    holidays: list[Holiday] = []
    for i, entry in enumerate(entries):
        where = f"holidays[{i}]"
        if not isinstance(entry, Mapping):
            raise bad(f"{where} must be a mapping with date, name, kind", where)
        extra = set(entry) - {"date", "name", "kind"}
        if extra:
            key = sorted(map(str, extra))[0]
            raise bad(f"{where} has unknown key {key!r}", f"{where}.{key}")
        day = entry.get("date")
        if isinstance(day, datetime) or not isinstance(day, date):
            raise bad(f"{where}.date must be a date YYYY-MM-DD, got {day!r}", f"{where}.date")
        if day.year != year:
            raise bad(f"{where}.date {day} is not in {year}", f"{where}.date")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise bad(f"{where}.name must be a non-empty string", f"{where}.name")
        kind = entry.get("kind")
        if kind not in HOLIDAY_KINDS:
            raise bad(
                f"{where}.kind must be one of {list(HOLIDAY_KINDS)}, got {kind!r}", f"{where}.kind"
            )
        if (day, kind) in seen:
            raise bad(
                f"{where} repeats {day} {kind} (already holidays[{seen[(day, kind)]}])",
                f"{where}.date",
            )
        seen[(day, kind)] = i
        holidays.append(Holiday(day, name.strip(), kind))
    return HolidayYear(year, tuple(sorted(holidays, key=lambda h: h.date)), provisional, source)


def available_holiday_years() -> tuple[int, ...]:
    """Years that have a national holiday file shipped with this package."""
    years = []
    for path in HOLIDAY_DIR.glob("*.yaml"):
        if path.stem.isdigit():
            years.append(int(path.stem))
    return tuple(sorted(years))


@cache
def _builtin_years() -> tuple[HolidayYear, ...]:
    loaded = []
    for year in available_holiday_years():
        hy = load_holiday_file(HOLIDAY_DIR / f"{year}.yaml")
        if hy.year != year:
            raise ConfigurationError(
                f"{year}.yaml declares year {hy.year}", field="year", source=f"{year}.yaml"
            )
        loaded.append(hy)
    return tuple(loaded)


# --- the calendar ------------------------------------------------------------------------


def _coerce_extra(item: Any, index: int) -> Holiday:
    if isinstance(item, Holiday):
        return item
    if isinstance(item, date) and not isinstance(item, datetime):
        return Holiday(item, "Libur daerah", LIBUR_DAERAH)
    if (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], date)
        and not isinstance(item[0], datetime)
        and isinstance(item[1], str)
    ):
        return Holiday(item[0], item[1], LIBUR_DAERAH)
    raise InvalidInput(
        f"extra_holidays[{index}] must be a date, (date, name) or Holiday, got {item!r}",
        field=f"extra_holidays[{index}]",
    )


class WorkingCalendar:
    """Which local dates are working days.

    ``holidays``: the national list; ``None`` loads every shipped ``data/holidays/*.yaml``.
    ``extra_holidays``: local additions (dates, ``(date, name)`` pairs or :class:`Holiday`).
    ``covered_years``: years for which the national list is complete; defaults to the years
    of the shipped files, or, for an explicit ``holidays`` list, the years it mentions.
    ``strict``: refuse (ConfigurationError) dates in years outside ``covered_years``.
    Instances are immutable; :meth:`with_additions` returns a new calendar.
    """

    __slots__ = ("_by_date", "covered_years", "provisional_years", "region", "strict")

    def __init__(
        self,
        holidays: Iterable[Holiday] | None = None,
        *,
        extra_holidays: Iterable[date | tuple[date, str] | Holiday] = (),
        covered_years: Iterable[int] | None = None,
        strict: bool = True,
        region: str | None = None,
    ) -> None:
        provisional: frozenset[int] = frozenset()
        if holidays is None:
            years = _builtin_years()
            national = [h for hy in years for h in hy.holidays]
            if covered_years is None:
                covered_years = [hy.year for hy in years]
            provisional = frozenset(hy.year for hy in years if hy.provisional)
        else:
            national = list(holidays)
            if covered_years is None:
                covered_years = {h.date.year for h in national}
        by_date: dict[date, tuple[Holiday, ...]] = {}
        for h in national:
            if not isinstance(h, Holiday):
                raise InvalidInput(f"holidays must be Holiday objects, got {h!r}", field="holidays")
            by_date[h.date] = (*by_date.get(h.date, ()), h)
        for i, item in enumerate(extra_holidays):
            h = _coerce_extra(item, i)
            by_date[h.date] = (*by_date.get(h.date, ()), h)
        self._by_date: Mapping[date, tuple[Holiday, ...]] = by_date
        self.covered_years: frozenset[int] = frozenset(covered_years)
        self.provisional_years: frozenset[int] = provisional & self.covered_years
        self.strict = strict
        self.region = region

    def __repr__(self) -> str:
        years = sorted(self.covered_years)
        return (
            f"WorkingCalendar(region={self.region!r}, covered_years={years}, strict={self.strict})"
        )

    def holidays_on(self, day: date) -> tuple[Holiday, ...]:
        """The holidays recorded for ``day`` (empty for an ordinary date or a weekend)."""
        return self._by_date.get(_plain_date(day), ())

    def holidays(self) -> tuple[Holiday, ...]:
        """Every holiday in this calendar, by date."""
        return tuple(h for d in sorted(self._by_date) for h in self._by_date[d])

    def is_working_day(self, day: date) -> bool:
        """True unless ``day`` is a Saturday, Sunday or a recorded holiday."""
        day = _plain_date(day)
        if self.strict and day.year not in self.covered_years:
            raise ConfigurationError(
                f"no holiday list for {day.year}: add services/sla/data/holidays/"
                f"{day.year}.yaml from the published SKB 3 Menteri",
                field=f"holidays.{day.year}",
                year=day.year,
            )
        return day.weekday() < 5 and day not in self._by_date

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day = _plain_date(day) + _DAY
        while not self.is_working_day(day):
            day += _DAY
        return day

    def with_additions(
        self,
        additions: Iterable[date | tuple[date, str] | Holiday],
        *,
        region: str | None = None,
    ) -> WorkingCalendar:
        """A copy of this calendar with more (local) holidays."""
        clone = WorkingCalendar(
            self.holidays(),
            extra_holidays=additions,
            covered_years=self.covered_years,
            strict=self.strict,
            region=region if region is not None else self.region,
        )
        clone.provisional_years = self.provisional_years
        return clone


def _plain_date(day: date) -> date:
    if isinstance(day, datetime):
        raise InvalidInput(
            "pass a local date, not a datetime (convert with dt.astimezone(tz).date())",
            field="day",
        )
    if not isinstance(day, date):
        raise InvalidInput(f"expected a date, got {type(day).__name__}", field="day")
    return day


@lru_cache(maxsize=1)
def national_calendar() -> WorkingCalendar:
    """The shipped national calendar (weekends + libur nasional + cuti bersama), cached."""
    return WorkingCalendar()


_KABUPATEN_RE = re.compile(r"^\d{2}\.?\d{2}$")


def for_region(
    kabupaten_code: str,
    additions: Iterable[date | tuple[date, str] | Holiday],
    base: WorkingCalendar | None = None,
) -> WorkingCalendar:
    """The calendar of one kabupaten/kota: ``base`` (national by default) plus its local
    holidays. ``kabupaten_code`` is the four-digit code, ``"3578"`` or ``"35.78"``."""
    text = str(kabupaten_code).strip()
    if not _KABUPATEN_RE.match(text):
        raise InvalidWilayah(
            f"kabupaten code {kabupaten_code!r} must be four digits, e.g. '35.78'",
            field="kabupaten_code",
        )
    zone_for_wilayah(text)  # validates the province
    normalized = f"{text[:2]}.{text[-2:]}"
    return (base or national_calendar()).with_additions(additions, region=normalized)


def is_working_day(d: date, calendar: WorkingCalendar | None = None) -> bool:
    """Whether local date ``d`` is a working day (national calendar unless given one)."""
    return (calendar or national_calendar()).is_working_day(d)


# --- working-time arithmetic -------------------------------------------------------------
# All of it happens on naive *local wall-clock* datetimes; Indonesian zones have no DST, so
# wall-clock differences equal elapsed time. Results are re-attached to the zone and
# converted to UTC.


def _local(moment: datetime, tz: tzinfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _to_utc(wall: datetime, tz: tzinfo) -> datetime:
    return wall.replace(tzinfo=tz).astimezone(UTC)


def _normalise(wall: datetime, cal: WorkingCalendar) -> datetime:
    """``wall`` itself if on a working day, else 00:00 of the next working day."""
    if cal.is_working_day(wall.date()):
        return wall
    return datetime.combine(cal.next_working_day(wall.date()), time())


def _advance(wall: datetime, amount: timedelta, cal: WorkingCalendar) -> datetime:
    cur = _normalise(wall, cal)
    remaining = amount
    while True:
        day_end = datetime.combine(cur.date() + _DAY, time())
        available = day_end - cur
        if remaining < available:
            return cur + remaining
        remaining -= available
        cur = datetime.combine(cal.next_working_day(cur.date()), time())


def add_working_time(
    start: datetime,
    amount: timedelta,
    tz: tzinfo | str,
    calendar: WorkingCalendar | None = None,
) -> datetime:
    """``start`` advanced by ``amount`` of working time (see module docstring), in UTC."""
    _require_aware(start, "start")
    if amount < timedelta(0):
        raise InvalidInput("amount of working time must not be negative", field="amount")
    tzi = _as_zone(tz)
    cal = calendar or national_calendar()
    return _to_utc(_advance(_local(start, tzi), amount, cal), tzi)


def working_time_between(
    start: datetime,
    end: datetime,
    tz: tzinfo | str,
    calendar: WorkingCalendar | None = None,
) -> timedelta:
    """Working time (time inside working days) elapsed from ``start`` to ``end`` (>= start)."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end < start:
        raise InvalidInput("end must not be before start", field="end")
    tzi = _as_zone(tz)
    cal = calendar or national_calendar()
    a, b = _local(start, tzi), _local(end, tzi)
    total = timedelta(0)
    cur = a
    while cur < b:
        day_end = datetime.combine(cur.date() + _DAY, time())
        segment_end = min(day_end, b)
        if cal.is_working_day(cur.date()):
            total += segment_end - cur
        cur = segment_end
    return total


def add_working_days(
    start: datetime,
    n: int,
    tz: tzinfo | str,
    calendar: WorkingCalendar | None = None,
) -> datetime:
    """``n`` working days after ``start`` in zone ``tz`` (UTC result): the same local clock
    time on the n-th following working day; a start on a non-working day counts from 00:00
    of the next working day. National calendar unless ``calendar`` is given."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidInput(f"n must be an integer number of working days, got {n!r}", field="n")
    if n < 0:
        raise InvalidInput(f"n must not be negative, got {n}", field="n")
    return add_working_time(start, n * _DAY, tz, calendar)


def _unit(rule: SlaRule) -> str:
    if rule.unit not in (HOURS, WORKING_DAYS):
        raise ConfigurationError(f"unknown SLA unit {rule.unit!r}", field="unit")
    return rule.unit


def due_at(
    start: datetime,
    rule: SlaRule,
    calendar: WorkingCalendar | None,
    tz: tzinfo | str,
) -> datetime:
    """The deadline of ``rule``'s clock started at ``start`` (UTC).

    ``hours``: ``start + duration`` hours of elapsed time (calendar and zone unused).
    ``working_days``: :func:`add_working_days` in zone ``tz`` on ``calendar``.
    """
    _require_aware(start, "start")
    if _unit(rule) == HOURS:
        return start.astimezone(UTC) + timedelta(hours=rule.duration)
    return add_working_days(start, int(rule.duration), tz, calendar)


def at_risk_at(start: datetime, due: datetime, ratio: float = 0.75) -> datetime:
    """The instant ``ratio`` of the way from ``start`` to ``due`` (elapsed time), in UTC."""
    _require_aware(start, "start")
    _require_aware(due, "due")
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio <= 1:
        raise InvalidInput(f"ratio must be in (0, 1], got {ratio!r}", field="ratio")
    if due < start:
        raise InvalidInput("due must not be before start", field="due")
    return start.astimezone(UTC) + (due - start) * ratio


def extend_for_pause(
    due: datetime,
    paused_at: datetime,
    resumed_at: datetime,
    rule: SlaRule,
    calendar: WorkingCalendar | None,
    tz: tzinfo | str,
) -> datetime:
    """The deadline after a pause from ``paused_at`` to ``resumed_at`` (UTC).

    ``hours``: moved by the elapsed pause. ``working_days``: moved by the working time that
    elapsed during the pause, added on the working-time clock. A pause starting at or after
    ``due`` changes nothing (the clock had already run out).
    """
    _require_aware(due, "due")
    _require_aware(paused_at, "paused_at")
    _require_aware(resumed_at, "resumed_at")
    if resumed_at < paused_at:
        raise InvalidInput("resumed_at must not be before paused_at", field="resumed_at")
    due_utc = due.astimezone(UTC)
    if paused_at >= due:
        return due_utc

    if _unit(rule) == HOURS:
        return due_utc + (resumed_at - paused_at)
    consumed = working_time_between(paused_at, resumed_at, tz, calendar)
    if consumed == timedelta(0):
        return due_utc
    return add_working_time(due, consumed, tz, calendar)
