"""Synthetic DTKS data: structurally valid people in families, streamed to CSV.

The output is the import format of `docs/dtks-import-format.md`. Every NIK agrees with the
person's birth date (day + 40 for women), sex and kecamatan; family members share a KK
whose digits 7-12 are a real issue date; desil is drawn per family, skewed towards the
poorer deciles the way a kabupaten's DTKS slice is, and program membership follows desil.

Speed (10M rows in minutes) comes from doing everything expensive once: Faker is asked
for its `id_ID` name lists up front and full names are combined from those pools, every
date the generator can draw is pre-rendered in all the forms it is written in, and rows
are joined into large blocks before they reach a buffered file. Output depends only on
(people, seed, kabupaten): the reference date is a constant, not today.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from shared.errors import InvalidInput, InvalidWilayah
from shared.identity import WilayahCode

HEADER = "NIK,NO_KK,NAMA,TGL_LAHIR,JNS_KEL,KODE_WILAYAH,DESIL,PKH,BPNT,PBI_JK,KIP,PIP"
COLUMNS = tuple(HEADER.split(","))

DATA_DIR = Path(__file__).resolve().parent / "data"

# Ages are measured against this date so that a seed always gives the same file.
REFERENCE_DATE = date(2026, 1, 1)
OLDEST_BIRTH = date(1931, 1, 1)  # nobody older than ~95: a 2-digit NIK year stays unambiguous
FIRST_KK_ISSUE = date(2005, 1, 1)

# Share of families per desil 1..10. A kabupaten slice of the registry is poorer than the
# national population it is ranked against, so the low deciles are the big ones.
DESIL_WEIGHTS = (16, 14, 13, 12, 10, 9, 8, 7, 6, 5)
# Probability of holding a program, by desil 1..10 (index 0 is desil 1).
P_PKH = (0.45, 0.35, 0.20, 0.08, 0.03, 0.01, 0.0, 0.0, 0.0, 0.0)  # family
P_BPNT = (0.70, 0.60, 0.45, 0.25, 0.10, 0.03, 0.01, 0.0, 0.0, 0.0)  # family (Sembako)
P_PBI = (0.92, 0.88, 0.75, 0.55, 0.35, 0.15, 0.05, 0.02, 0.01, 0.01)  # family (KIS)
P_KIP = (0.70, 0.60, 0.45, 0.25, 0.10, 0.02, 0.0, 0.0, 0.0, 0.0)  # pupils aged 6-21
P_PIP_WITH_KIP = 0.85
FAMILY_SIZES = (3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5)  # 35/40/25 %
SINGLE_PARENT_SHARE = 0.10
TITLED_SHARE = 0.003  # adults whose name carries an academic title: "SITI AMINAH, S.PD"
TITLES = ("S.PD", "S.H.", "S.E.", "S.KOM", "S.SOS", "A.MD", "S.AG", "S.KEP")

BLOCK_ROWS = 50_000  # rows joined into one write; also the progress granularity

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerateResult:
    path: Path
    rows: int
    families: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class Desa:
    code: str  # 10 digits
    weight: float


def kecamatan_codes(kabupaten: str) -> list[str]:
    """Kecamatan codes under `kabupaten`: the real list when data/ has one, else 01..12."""
    listing = DATA_DIR / f"kecamatan_{kabupaten}.csv"
    if listing.exists():
        with listing.open(newline="") as fh:
            return [row["kode"] for row in csv.DictReader(fh)]
    return [f"{kabupaten}{n:02d}" for n in range(1, 13)]


def desa_list(kabupaten: str) -> list[Desa]:
    """10-digit desa codes with population weights, the same for a kabupaten on every run.

    Desa numbers are synthetic (2001.. for a desa, 1001.. for a kelurahan in a kota, whose
    kabupaten part is 71 or above); only the kecamatan codes come from data/ when known.
    """
    is_kota = int(kabupaten[2:4]) >= 71
    desas: list[Desa] = []
    for kec in kecamatan_codes(kabupaten):
        rng = random.Random(int(kec))
        first = 1001 if is_kota else 2001
        for n in range(rng.randint(8, 20)):
            desas.append(Desa(f"{kec}{first + n:04d}", rng.uniform(0.4, 1.6)))
    return desas


def _name_pools(seed: int) -> tuple[list[str], list[str]]:
    """Full names for men and women, combined from the names Faker `id_ID` knows."""
    from faker import Faker

    fake = Faker("id_ID")
    fake.seed_instance(seed)
    draws = 4000

    def pool(method: Callable[[], str]) -> list[str]:
        # sorted: set order depends on string hashing, which changes between processes
        return sorted({method().upper() for _ in range(draws)})

    first_m, last_m = pool(fake.first_name_male), pool(fake.last_name_male)
    first_f, last_f = pool(fake.first_name_female), pool(fake.last_name_female)
    # Mostly "GIVEN FAMILY", some one-word names (common in Java), some two given names.
    men = [f"{a} {b}" for a in first_m for b in last_m]
    men += first_m * 8 + [f"{a} {b}" for a in first_m[::7] for b in first_m[::11]]
    women = [f"{a} {b}" for a in first_f for b in last_f]
    women += first_f * 8 + [f"{a} {b}" for a in first_f[::5] for b in first_f[::7]]
    return men, women


def _weighted_table(items: list[str], weights: list[float], size: int = 8192) -> list[str]:
    """A list where each item appears in proportion to its weight: pick = table[int(r * n)]."""
    total = sum(weights)
    table: list[str] = []
    for item, weight in zip(items, weights, strict=True):
        table += [item] * max(1, round(size * weight / total))
    return table


def _too_many(prefix: str, kabupaten: str) -> None:
    raise InvalidInput(
        f"more than 9999 people share the NIK/KK prefix {prefix}: too many people for "
        f"kabupaten {kabupaten}; generate fewer or split them across kabupaten",
        field="people",
    )


def generate(
    path: str | Path,
    people: int,
    seed: int = 1,
    kabupaten: str = "3325",
    progress: Progress | None = None,
) -> GenerateResult:
    """Write `people` rows (plus the header) to `path`; the same arguments give the same file.

    Families have 3-5 members (the last one may be cut short to hit `people` exactly).
    `progress(rows_written, people)` is called after every block of rows.
    """
    if people < 0:
        raise InvalidInput(f"people must be >= 0, got {people}", field="people")
    kab = WilayahCode.parse(kabupaten, field="kabupaten")
    if kab.level != "kabupaten":
        raise InvalidWilayah(
            f"kabupaten must be a 4-digit kabupaten/kota code, got a {kab.level} code",
            field="kabupaten",
            reason="level",
        )
    started = time.perf_counter()
    rng = random.Random(seed)
    rnd = rng.random
    men, women = _name_pools(seed)
    n_men, n_women = len(men), len(women)

    desas = desa_list(kab.value)
    desa_table = _weighted_table([d.code for d in desas], [d.weight for d in desas])
    n_desa = len(desa_table)
    desil_table = [d for d, w in enumerate(DESIL_WEIGHTS, start=1) for _ in range(w)]
    n_desil = len(desil_table)

    # Every date we can draw, pre-rendered: ISO for TGL_LAHIR, DDMMYY for KK and men's NIK,
    # (DD+40)MMYY for women's NIK.
    n_days = (REFERENCE_DATE - OLDEST_BIRTH).days
    iso: list[str] = []
    ddmmyy: list[str] = []
    ddmmyy_f: list[str] = []
    for i in range(n_days):
        d = OLDEST_BIRTH + timedelta(days=i)
        iso.append(d.isoformat())
        tail = f"{d.month:02d}{d.year % 100:02d}"
        ddmmyy.append(f"{d.day:02d}{tail}")
        ddmmyy_f.append(f"{d.day + 40:02d}{tail}")
    year = 365.25
    first_kk_day = (FIRST_KK_ISSUE - OLDEST_BIRTH).days

    # Age classes by birth-day index: adults may carry a title, pupils may hold KIP/PIP.
    adult_until = n_days - 1 - int(22 * year)  # day <= this: aged 22 or more
    pupil_until = n_days - 1 - int(6 * year)  # adult_until < day <= this: aged 6-21
    serials = [f"{i:04d}" for i in range(10000)]
    nik_serial: dict[str, int] = {}
    kk_serial: dict[str, int] = {}

    out = Path(path)
    rows = 0
    families = 0
    block: list[str] = []
    append = block.append
    with out.open("w", encoding="utf-8", newline="\n", buffering=8 << 20) as fh:
        fh.write(HEADER + "\n")
        while rows < people:
            families += 1
            desa = desa_table[int(rnd() * n_desa)]
            kec = desa[:6]
            desil = desil_table[int(rnd() * n_desil)]
            di = desil - 1
            pkh = "1" if rnd() < P_PKH[di] else "0"
            bpnt = "1" if rnd() < P_BPNT[di] else "0"
            pbi = "1" if rnd() < P_PBI[di] else "0"
            family_tail = f",{desa},{desil},{pkh},{bpnt},{pbi},"
            p_kip = P_KIP[di]
            size = FAMILY_SIZES[int(rnd() * 20)]
            if size > people - rows:
                size = people - rows

            # Members as (birth day index, female). Head first.
            head_day = n_days - 1 - int((23 + 52 * rnd()) * year)
            members: list[tuple[int, bool]]
            if rnd() < SINGLE_PARENT_SHARE:
                members = [(head_day, rnd() < 0.7)]
                youngest_parent = head_day
            else:
                wife_day = head_day + int((-2 + 10 * rnd()) * year)  # wife a bit younger
                youngest_parent = min(wife_day, n_days - 1 - 19 * 365)
                members = [(head_day, False), (youngest_parent, True)]
                if head_day > youngest_parent:
                    youngest_parent = head_day
            del members[size:]  # the last family may be cut short to hit `people` exactly
            span = min((n_days - youngest_parent) - int(18 * year), int(30 * year))
            while len(members) < size:
                members.append((n_days - 1 - (int(rnd() * span) if span > 0 else 0), rnd() < 0.5))

            # KK issued after the head turned 18 and not before the electronic KK era.
            earliest = max(head_day + int(18 * year), first_kk_day)
            key = kec + ddmmyy[earliest + int(rnd() * (n_days - 1 - earliest))]
            serial = kk_serial.get(key, 0) + 1
            if serial > 9999:
                _too_many(key, kab.value)
            kk_serial[key] = serial
            kk_field = f",{key}{serials[serial]},"

            for day, female in members:
                if female:
                    key = kec + ddmmyy_f[day]
                    name = women[int(rnd() * n_women)]
                    sex = "P"
                else:
                    key = kec + ddmmyy[day]
                    name = men[int(rnd() * n_men)]
                    sex = "L"
                serial = nik_serial.get(key, 0) + 1
                if serial > 9999:
                    _too_many(key, kab.value)
                nik_serial[key] = serial
                if day <= adult_until:
                    if rnd() < TITLED_SHARE:
                        name = f'"{name}, {TITLES[int(rnd() * len(TITLES))]}"'
                    programs = "0,0\n"
                elif day <= pupil_until and rnd() < p_kip:
                    programs = "1,1\n" if rnd() < P_PIP_WITH_KIP else "1,0\n"
                else:
                    programs = "0,0\n"
                append(
                    f"{key}{serials[serial]}{kk_field}{name},{iso[day]},{sex}{family_tail}{programs}"
                )
            rows += len(members)
            if len(block) >= BLOCK_ROWS:
                fh.write("".join(block))
                block.clear()
                if progress:
                    progress(rows, people)
        fh.write("".join(block))
    if progress:
        progress(rows, people)
    return GenerateResult(out, rows, families, time.perf_counter() - started)
