"""Value objects for Indonesian identity data: NIK, KK, wilayah codes, phone numbers, and
the registration numbers Sedulur gives citizens.

Each type is parsed once at the edge (`X.parse(raw, field=...)`) so the core never re-checks
a string. A failure is the matching `shared.errors` exception carrying the caller's `field`
and a stable `reason` detail. Messages and reprs never contain a full NIK or KK, because
both end up in logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from shared.errors import (
    InvalidInput,
    InvalidKK,
    InvalidNIK,
    InvalidPhone,
    InvalidRegistrationNumber,
    InvalidWilayah,
)

# Kemendagri province codes, which are the ones NIK and KK carry. A NIK issued before the
# 2022 Papua split keeps its old 91/92 prefix: the code names where it was issued.
PROVINCES: dict[str, str] = {
    "11": "Aceh",
    "12": "Sumatera Utara",
    "13": "Sumatera Barat",
    "14": "Riau",
    "15": "Jambi",
    "16": "Sumatera Selatan",
    "17": "Bengkulu",
    "18": "Lampung",
    "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau",
    "31": "DKI Jakarta",
    "32": "Jawa Barat",
    "33": "Jawa Tengah",
    "34": "Daerah Istimewa Yogyakarta",
    "35": "Jawa Timur",
    "36": "Banten",
    "51": "Bali",
    "52": "Nusa Tenggara Barat",
    "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat",
    "62": "Kalimantan Tengah",
    "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur",
    "65": "Kalimantan Utara",
    "71": "Sulawesi Utara",
    "72": "Sulawesi Tengah",
    "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara",
    "75": "Gorontalo",
    "76": "Sulawesi Barat",
    "81": "Maluku",
    "82": "Maluku Utara",
    "91": "Papua",
    "92": "Papua Barat",
    "93": "Papua Selatan",
    "94": "Papua Tengah",
    "95": "Papua Pegunungan",
    "96": "Papua Barat Daya",
}

_WRITTEN_SEPARATORS = re.compile(r"[\s.\-]")  # how people group NIK/KK digits on forms
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_NUMBER_SEPARATORS = re.compile(r"[\s\-]")
_WILAYAH_SEPARATORS = re.compile(r"[\s.]")

_LEVEL_BY_LENGTH = {2: "provinsi", 4: "kabupaten", 6: "kecamatan", 10: "desa"}
_GROUPS = ((0, 2), (2, 4), (4, 6), (6, 10))  # where each level's own digits sit


def _digits(
    raw: object, pattern: re.Pattern[str], *, error: type[InvalidInput], label: str, field: str
) -> str:
    """Strip the separators `pattern` allows and insist on what is left being ASCII digits."""
    if not isinstance(raw, str):
        kind = type(raw).__name__
        raise error(f"{label} must be text, got {kind}", field=field, reason="not_text")
    digits = pattern.sub("", raw)
    if not digits:
        raise error(f"{label} is empty", field=field, reason="empty")
    # str.isdigit alone would let Arabic-Indic or full-width digits through.
    if not (digits.isascii() and digits.isdigit()):
        raise error(f"{label} may contain only the digits 0-9", field=field, reason="not_digits")
    return digits


def _check_area(code: str, *, error: type[InvalidInput], label: str, field: str) -> None:
    """Reject an area code (2, 4, 6 or 10 digits) with an unknown province or a zero part."""
    if code[:2] not in PROVINCES:
        raise error(
            f"{label} starts with {code[:2]}, which is not an Indonesian province code",
            field=field,
            reason="unknown_province",
        )
    for start, end in _GROUPS[1:]:
        part, name = code[start:end], _LEVEL_BY_LENGTH[end]
        if part and int(part) == 0:
            raise error(
                f"{label} has {name} code {part}; no {name} is numbered zero",
                field=field,
                reason=f"{name}_zero",
            )


def _ddmmyy(dd: int, mm: int, yy: int, today: date) -> date:
    """Read a two-digit year as the latest century that keeps the date on or before `today`.

    Raises ValueError when the digits are not a real calendar date.
    """
    year = today.year - today.year % 100 + yy
    if (year, mm, dd) > (today.year, today.month, today.day):
        year -= 100
    return date(year, mm, dd)


def _civil_registry_digits(
    raw: object, *, error: type[InvalidInput], label: str, field: str
) -> str:
    """The checks NIK and KK share: 16 digits, a real kecamatan, a non-zero serial."""
    digits = _digits(raw, _WRITTEN_SEPARATORS, error=error, label=label, field=field)
    if len(digits) != 16:
        raise error(f"{label} must be 16 digits, got {len(digits)}", field=field, reason="length")
    _check_area(digits[:6], error=error, label=label, field=field)
    if digits[12:] == "0000":
        raise error(
            f"{label} serial (last 4 digits) cannot be 0000", field=field, reason="serial_zero"
        )
    return digits


class _CivilRegistryNumber:
    """What NIK and KK share: 16 digits led by the kecamatan that issued them."""

    value: str

    @property
    def province_code(self) -> str:
        return self.value[:2]

    @property
    def kabupaten_code(self) -> str:
        return self.value[:4]

    @property
    def kecamatan_code(self) -> str:
        return self.value[:6]

    @property
    def serial(self) -> str:
        return self.value[12:]

    @property
    def last4(self) -> str:
        return self.value[-4:]

    @property
    def masked(self) -> str:
        """First 4 and last 4 digits: enough for a desk officer to match, too little to misuse."""
        return self.value[:4] + "*" * (len(self.value) - 8) + self.value[-4:]

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked!r})"


# --- NIK -------------------------------------------------------------------------------


def _nik_birth_date(digits: str, today: date) -> date:
    day = int(digits[6:8])
    day = day - 40 if day > 40 else day  # women's NIKs carry the day plus 40
    return _ddmmyy(day, int(digits[8:10]), int(digits[10:12]), today)


@dataclass(frozen=True, repr=False)
class NIK(_CivilRegistryNumber):
    """Nomor Induk Kependudukan, the 16-digit national identity number on a KTP.

    Build it with `parse`, which checks the digits and settles `birth_date`: the digits give
    only a two-digit year, so the century is decided once, not again on every read.
    Equality and hashing look at `value` alone.
    """

    value: str
    birth_date: date = field(compare=False)

    @classmethod
    def parse(cls, raw: str, field: str = "nik", *, today: date | None = None) -> NIK:
        """Validate a NIK as written on a form; `today` decides the birth year's century."""
        digits = _civil_registry_digits(raw, error=InvalidNIK, label="NIK", field=field)
        try:
            born = _nik_birth_date(digits, today or date.today())
        except ValueError:
            raise InvalidNIK(
                "NIK digits 7-12 are not a real birth date DDMMYY (women add 40 to the day)",
                field=field,
                reason="invalid_birth_date",
            ) from None
        return cls(digits, born)

    @property
    def sex(self) -> str:
        """Either "F" or "M": women's NIKs add 40 to the birth day."""
        return "F" if int(self.value[6:8]) > 40 else "M"


# --- KK --------------------------------------------------------------------------------


def _kk_issue_date(digits: str, today: date) -> date:
    return _ddmmyy(int(digits[6:8]), int(digits[8:10]), int(digits[10:12]), today)


@dataclass(frozen=True, repr=False)
class KK(_CivilRegistryNumber):
    """Nomor Kartu Keluarga, the 16-digit family card number; digits 7-12 are its issue date.

    Build it with `parse`, which checks the digits and settles the century of `issue_date`.
    Equality and hashing look at `value` alone.
    """

    value: str
    issue_date: date = field(compare=False)

    @classmethod
    def parse(cls, raw: str, field: str = "kk", *, today: date | None = None) -> KK:
        """Validate a KK number as written on a form; `today` decides the issue year's century."""
        digits = _civil_registry_digits(raw, error=InvalidKK, label="KK number", field=field)
        try:
            issued = _kk_issue_date(digits, today or date.today())
        except ValueError:
            raise InvalidKK(
                "KK number digits 7-12 are not a real issue date DDMMYY",
                field=field,
                reason="invalid_issue_date",
            ) from None
        return cls(digits, issued)


# --- wilayah ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WilayahCode:
    """A Kemendagri area code: provinsi (2), kabupaten/kota (4), kecamatan (6), desa (10).

    `value` holds the digits only; `dotted` gives the 33.25.01.2001 form people write.
    """

    value: str

    @classmethod
    def parse(cls, raw: str, field: str = "wilayah") -> WilayahCode:
        """Accept the bare digits or the dotted form, where each group must be complete."""
        label = "Wilayah code"
        if isinstance(raw, str) and "." in raw:
            groups = raw.strip().split(".")
            expected = [end - start for start, end in _GROUPS][: len(groups)]
            if [len(group) for group in groups] != expected:
                raise InvalidWilayah(
                    f"{label} {raw.strip()!r} is not grouped as 33.25.01.2001",
                    field=field,
                    reason="grouping",
                )
        digits = _digits(raw, _WILAYAH_SEPARATORS, error=InvalidWilayah, label=label, field=field)
        if len(digits) not in _LEVEL_BY_LENGTH:
            raise InvalidWilayah(
                f"{label} must be 2, 4, 6 or 10 digits, got {len(digits)}",
                field=field,
                reason="length",
            )
        _check_area(digits, error=InvalidWilayah, label=label, field=field)
        return cls(digits)

    @property
    def level(self) -> str:
        """One of provinsi, kabupaten, kecamatan, desa."""
        return _LEVEL_BY_LENGTH[len(self.value)]

    @property
    def province(self) -> str:
        return self.value[:2]

    @property
    def kabupaten(self) -> str | None:
        return self.value[:4] if len(self.value) >= 4 else None

    @property
    def kecamatan(self) -> str | None:
        return self.value[:6] if len(self.value) >= 6 else None

    @property
    def parent(self) -> WilayahCode | None:
        """The area one level up; None for a province."""
        lengths = list(_LEVEL_BY_LENGTH)
        index = lengths.index(len(self.value))
        return WilayahCode(self.value[: lengths[index - 1]]) if index else None

    @property
    def dotted(self) -> str:
        return ".".join(self.value[start:end] for start, end in _GROUPS if start < len(self.value))

    def contains(self, other: WilayahCode) -> bool:
        """True when `other` is this area or lies inside it (a desk's own area is in scope)."""
        return other.value.startswith(self.value)

    def __str__(self) -> str:
        return self.value


# --- phone -----------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class PhoneNumber:
    """An Indonesian mobile or landline number, held in E.164 form (+62...).

    Build it with `parse`; the constructor trusts its argument.
    """

    value: str

    @classmethod
    def parse(cls, raw: str, field: str = "phone") -> PhoneNumber:
        """Accept 08..., 628... or +628... (and landlines 0AA...), with spaces or dashes."""
        plus = isinstance(raw, str) and raw.lstrip().startswith("+")
        digits = _digits(
            raw.lstrip().removeprefix("+") if plus else raw,
            _PHONE_SEPARATORS,
            error=InvalidPhone,
            label="Phone number",
            field=field,
        )
        if plus and not digits.startswith("62"):
            raise InvalidPhone(
                "Phone number must be Indonesian (+62)", field=field, reason="country_code"
            )
        if digits.startswith("62"):
            national = "0" + digits[2:]
        elif digits.startswith("0") and not plus:
            national = digits
        else:
            raise InvalidPhone(
                "Phone number must start with 0, 62 or +62", field=field, reason="prefix"
            )
        if national.startswith("00"):
            raise InvalidPhone(
                "Phone number has an extra 0: write 08... or +628..., not +6208... or 00...",
                field=field,
                reason="prefix",
            )
        if national.startswith("08"):
            low, high, kind = 10, 13, "mobile"
        else:
            low, high, kind = 9, 11, "landline"
        if not low <= len(national) <= high:
            raise InvalidPhone(
                f"An Indonesian {kind} number has {low}-{high} digits written as 0..., "
                f"got {len(national)}",
                field=field,
                reason="length",
            )
        return cls("+62" + national[1:])

    @property
    def national(self) -> str:
        """The number as dialled inside Indonesia: 0812..."""
        return "0" + self.value[3:]

    @property
    def is_mobile(self) -> bool:
        return self.value.startswith("+628")

    @property
    def masked(self) -> str:
        """Only the last 3 digits survive; the +62 prefix carries no information."""
        return "+62" + "*" * (len(self.value) - 6) + self.value[-3:]

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"PhoneNumber({self.masked!r})"


# --- registration numbers --------------------------------------------------------------

# Damm's totally anti-symmetric quasigroup of order 10 (zero diagonal): a single check
# digit that catches every single-digit error and every adjacent transposition.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_check_digit(digits: str) -> str:
    """The Damm check digit of an ASCII digit string; a string ending in its own is "0"."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - ord("0")]
    return str(interim)


_MAX_SEQUENCE_DIGITS = 9  # a billion registrations per kabupaten per day is plenty


@dataclass(frozen=True)
class RegistrationNumber:
    """The number a citizen is given for a complaint, short enough to read over the phone.

    `value` is KKKK-YYMMDD-NNNNNC: kabupaten code, registration day, a zero-padded daily
    sequence (longer once it passes 99999) and a Damm check digit over all the digits, so a
    mistyped or swapped digit is refused instead of finding someone else's complaint.
    Days run from 2000 to 2099.
    """

    value: str

    @classmethod
    def build(cls, kabupaten_code: str, day: date, sequence: int) -> RegistrationNumber:
        """Issue the number for the `sequence`-th registration of `day` in a kabupaten."""
        kabupaten = WilayahCode.parse(kabupaten_code, field="kabupaten_code")
        if kabupaten.level != "kabupaten":
            raise InvalidWilayah(
                f"A registration number needs a 4-digit kabupaten code, got a {kabupaten.level}",
                field="kabupaten_code",
                reason="level",
            )
        if not 2000 <= day.year <= 2099:
            raise InvalidRegistrationNumber(
                f"Registration day must be in 2000-2099, got {day.isoformat()}",
                field="day",
                reason="date_range",
            )
        if isinstance(sequence, bool) or not 0 <= sequence < 10**_MAX_SEQUENCE_DIGITS:
            raise InvalidRegistrationNumber(
                f"Sequence must be 0 to {10**_MAX_SEQUENCE_DIGITS - 1}, got {sequence}",
                field="sequence",
                reason="sequence_range",
            )
        yymmdd = day.strftime("%y%m%d")
        tail = f"{sequence:05d}"
        check = damm_check_digit(kabupaten.value + yymmdd + tail)
        return cls(f"{kabupaten.value}-{yymmdd}-{tail}{check}")

    @classmethod
    def parse(cls, raw: str, field: str = "registration_number") -> RegistrationNumber:
        """Accept the number with or without its dashes or spaces; refuse any typo."""
        label = "Registration number"
        digits = _digits(
            raw, _NUMBER_SEPARATORS, error=InvalidRegistrationNumber, label=label, field=field
        )
        if not 16 <= len(digits) <= 11 + _MAX_SEQUENCE_DIGITS:
            raise InvalidRegistrationNumber(
                f"{label} must have 16 to {11 + _MAX_SEQUENCE_DIGITS} digits, got {len(digits)}",
                field=field,
                reason="length",
            )
        if damm_check_digit(digits) != "0":
            raise InvalidRegistrationNumber(
                f"{label} fails its check digit: a digit is mistyped or two are swapped",
                field=field,
                reason="check_digit",
            )
        try:
            WilayahCode.parse(digits[:4])
        except InvalidWilayah as error:
            raise InvalidRegistrationNumber(
                f"{label} does not start with a kabupaten code: {error.message}",
                field=field,
                reason=error.details["reason"],
            ) from None
        try:
            day = date(2000 + int(digits[4:6]), int(digits[6:8]), int(digits[8:10]))
        except ValueError:
            raise InvalidRegistrationNumber(
                f"{label} digits 5-10 ({digits[4:10]}) are not a real date YYMMDD",
                field=field,
                reason="invalid_date",
            ) from None
        number = cls.build(digits[:4], day, int(digits[10:-1]))
        if number.digits != digits:
            # Only a long sequence written with extra leading zeros gets here.
            raise InvalidRegistrationNumber(
                f"{label} has a zero-padded sequence longer than 5 digits",
                field=field,
                reason="format",
            )
        return number

    @property
    def digits(self) -> str:
        return self.value.replace("-", "")

    @property
    def kabupaten_code(self) -> str:
        return self.value[:4]

    @property
    def day(self) -> date:
        return date(2000 + int(self.value[5:7]), int(self.value[7:9]), int(self.value[9:11]))

    @property
    def sequence(self) -> int:
        return int(self.value[12:-1])

    def __str__(self) -> str:
        return self.value
