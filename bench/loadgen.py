"""A realistic day of complaints at Puskesos desks, for benchmarks (and anyone who wants a
day's traffic): desks across the kabupaten's kecamatan with a few operators each,
categories in the seeds' mix (mostly KIS, bansos, KIP), NIKs from the generated DTKS with
about one in five not in it, and arrivals bunched in office hours (a queue when the desk
opens, a lull at lunch, a second wave after it).

Always bounded: a schedule has a count and a duration, and requests go to loopback only.
"""

from __future__ import annotations

import bisect
import csv
import ipaddress
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from shared.auth import Principal, bearer_headers
from shared.demo import CATEGORY_MIX

# Share of a desk's complaints per hour (WIB). Desks open at 08:00; the queue that formed
# before opening is the morning burst; 12:00 is lunch and Friday prayers.
OFFICE_HOURS = {8: 16, 9: 18, 10: 15, 11: 11, 12: 4, 13: 12, 14: 13, 15: 8, 16: 3}
NOT_IN_DTKS_SHARE = 0.2
MAX_COUNT = 1_000_000
MAX_SECONDS = 3_600


class NotLoopback(ValueError):
    """The load generator only ever targets this machine."""


def require_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise NotLoopback(f"cannot resolve {host!r}: {exc}") from None
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise NotLoopback(f"{url} is not a loopback address; the load generator stays local")


def read_people(dtks_file: Path, limit: int = 50_000) -> list[dict[str, str]]:
    people: list[dict[str, str]] = []
    with dtks_file.open() as fh:
        for row in csv.DictReader(fh):
            people.append(row)
            if len(people) >= limit:
                break
    return people


@dataclass(frozen=True)
class Desk:
    code: str
    operators: tuple[str, ...]


class LoadGenerator:
    def __init__(self, people: list[dict[str, str]], kecamatan: list[str], *, seed: int = 11,
                 run_tag: str = "bench", operators_per_desk: int = 3) -> None:
        if not people:
            raise ValueError("the load generator needs DTKS people to draw citizens from")
        self.rng = random.Random(seed)
        self.people = people
        self.known = {p["NIK"] for p in people}
        self.run_tag = run_tag
        self.desks = [Desk(code, tuple(f"op-{code}-{i}" for i in range(operators_per_desk)))
                      for code in kecamatan]
        # Busier desks where more people live: weight each kecamatan by its DTKS people.
        per_kec: dict[str, int] = {}
        for p in people:
            per_kec[p["KODE_WILAYAH"][:6]] = per_kec.get(p["KODE_WILAYAH"][:6], 0) + 1
        self.desk_weights = [per_kec.get(d.code, 1) for d in self.desks]
        self.categories = [c for c, _ in CATEGORY_MIX]
        self.category_weights = [w for _, w in CATEGORY_MIX]

    def _not_in_dtks(self, nik: str) -> str:
        for _ in range(50):
            candidate = nik[:12] + f"{self.rng.randint(5000, 9999):04d}"
            if candidate not in self.known:
                return candidate
        raise RuntimeError("no free NIK serial near " + nik[:12])

    def complaint(self, i: int) -> tuple[dict[str, Any], dict[str, str]]:
        """The i-th complaint of the day: JSON body and headers for POST /complaints."""
        rng = self.rng
        desk = rng.choices(self.desks, weights=self.desk_weights)[0]
        local = [p for p in (rng.choice(self.people) for _ in range(4))
                 if p["KODE_WILAYAH"].startswith(desk.code)]
        person = local[0] if local else rng.choice(self.people)
        nik = person["NIK"]
        if rng.random() < NOT_IN_DTKS_SHARE:
            nik = self._not_in_dtks(nik)
        body = {"desk": desk.code,
                "category": rng.choices(self.categories, weights=self.category_weights)[0],
                "description": "Aduan warga di meja Puskesos (beban uji)",
                "citizen": {"nik": nik, "name": person["NAMA"], "kk": person["NO_KK"]},
                "wilayah": person["KODE_WILAYAH"]}
        operator = rng.choice(desk.operators)
        headers = {**bearer_headers(Principal(user_id=operator, role="operator",
                                              desk=desk.code)),
                   "Idempotency-Key": f"{self.run_tag}-{i}"}
        return body, headers

    def complaints(self, count: int) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
        _bounded(count, 0)
        for i in range(count):
            yield self.complaint(i)


def _bounded(count: int, seconds: float) -> None:
    if not 0 <= count <= MAX_COUNT or not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"a load run is bounded: ≤ {MAX_COUNT} complaints, ≤ {MAX_SECONDS} s")


def fixed_rate(rate: float, seconds: float) -> list[float]:
    """Arrival offsets (s) for a steady `rate` per second over `seconds`."""
    _bounded(int(rate * seconds), seconds)
    return [i / rate for i in range(int(rate * seconds))]


def office_day(count: int, seconds: float, seed: int = 5) -> list[float]:
    """`count` arrivals over a working day compressed into `seconds`: hourly shares from
    OFFICE_HOURS, and within an hour people arrive in small bunches (a family, a village
    head bringing several cases), not evenly."""
    _bounded(count, seconds)
    rng = random.Random(seed)
    hours = sorted(OFFICE_HOURS)
    cumulative, total = [], 0
    for h in hours:
        total += OFFICE_HOURS[h]
        cumulative.append(total)
    span = seconds / len(hours)
    offsets: list[float] = []
    while len(offsets) < count:
        slot = bisect.bisect_right(cumulative, rng.random() * total)
        start = slot * span + rng.random() * span
        for k in range(min(rng.choice((1, 1, 1, 2, 3, 5)), count - len(offsets))):
            offsets.append(min(seconds, start + k * rng.uniform(0.001, 0.05) * span / 60))
    return sorted(offsets)


def hourly_histogram(offsets: list[float], seconds: float) -> list[int]:
    """Arrivals per compressed office hour (for the report)."""
    hours = len(OFFICE_HOURS)
    counts = [0] * hours
    for t in offsets:
        counts[min(hours - 1, int(t / seconds * hours))] += 1
    return counts
