"""Recap (rekapitulasi) rules: which complaints a recap counts, how, and how it is shown.

Pure: no I/O. Two inputs make the same facts: the reporting projection's rows, and
`facts_from_events`, which walks the event log directly. The reconciliation check builds a
recap from each and compares every figure, so a projection that missed, doubled or
mis-applied an event is caught before a recap leaves the building.

A fact row holds codes, timestamps and outcomes of one complaint, never personal data
(no NIK, KK, name, phone or free text), so nothing personal can reach a recap.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.errors import InvalidPeriod, InvalidWilayah

#: counts from 1 up to this (exclusive) are shown as "<3": a small cell could single out
#: a person in a small desa.
SUPPRESS_BELOW = 3
AGENCY_STAGES = frozenset({"acceptance", "resolution"})
RESOLVE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<= 1 hari", 24.0),
    ("1-3 hari", 72.0),
    ("3-7 hari", 168.0),
    ("> 7 hari", float("inf")),
)


# ---- period and area ------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar day (2026-11-23), ISO week (2026-W48) or month (2026-11) in local time."""

    text: str
    kind: str  # day | week | month
    first: date
    end: date  # exclusive

    @classmethod
    def parse(cls, text: str) -> Period:
        text = (text or "").strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}", text):
                y, m = map(int, text.split("-"))
                first = date(y, m, 1)
                end = date(y + (m == 12), m % 12 + 1, 1)
                return cls(text, "month", first, end)
            if re.fullmatch(r"\d{4}-W\d{2}", text):
                first = date.fromisocalendar(int(text[:4]), int(text[6:]), 1)
                return cls(text, "week", first, first + timedelta(days=7))
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                first = date.fromisoformat(text)
                return cls(text, "day", first, first + timedelta(days=1))
        except ValueError:
            pass
        raise InvalidPeriod(
            f"period must be YYYY-MM, YYYY-Www or YYYY-MM-DD, got {text!r}", field="period")

    @classmethod
    def month_before(cls, day: date) -> Period:
        last = day.replace(day=1) - timedelta(days=1)
        return cls.parse(f"{last.year:04d}-{last.month:02d}")

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(tz)
        return (datetime.combine(self.first, datetime.min.time(), zone),
                datetime.combine(self.end, datetime.min.time(), zone))

    def bucket(self, at: datetime, tz: str) -> str:
        """History bucket: the hour for a day recap, the date otherwise."""
        local = at.astimezone(ZoneInfo(tz))
        return f"{local:%H}:00" if self.kind == "day" else local.date().isoformat()

    def buckets(self) -> list[str]:
        if self.kind == "day":
            return [f"{h:02d}:00" for h in range(24)]
        days = (self.end - self.first).days
        return [(self.first + timedelta(days=i)).isoformat() for i in range(days)]


AREA_LEVELS = {2: "provinsi", 4: "kabupaten", 6: "kecamatan", 10: "desa"}


def parse_area(text: str) -> str:
    digits = (text or "").replace(".", "").strip()
    if not digits.isdigit() or len(digits) not in AREA_LEVELS:
        raise InvalidWilayah(
            f"area must be a wilayah code of 2, 4, 6 or 10 digits, got {text!r}", field="area")
    return digits


def wilayah_parts(kabupaten: str, desk: str, wilayah: str | None) -> dict[str, str | None]:
    """desa → kecamatan → kabupaten → provinsi from the citizen's desa, else the desk."""
    desa = "".join(ch for ch in (wilayah or "") if ch.isdigit())
    desk_digits = "".join(ch for ch in (desk or "") if ch.isdigit())
    kecamatan = desa[:6] if len(desa) >= 6 else (desk_digits[:6] if len(desk_digits) >= 6
                                                else None)
    return {"province": kabupaten[:2], "kabupaten": kabupaten, "kecamatan": kecamatan,
            "desa": desa[:10] if len(desa) >= 10 else None}


def in_area(fact: Mapping[str, Any], area: str) -> bool:
    code = fact.get("desa") or fact.get("kecamatan") or fact["kabupaten"]
    return str(code).startswith(area)


# ---- facts straight from the events (the reconciliation path) ------------------------


def facts_from_events(events: Iterable[Any]) -> tuple[dict[Any, dict[str, Any]],
                                                      dict[tuple[Any, str], dict[str, Any]]]:
    """Per complaint and per referral, the same facts the projection keeps, computed in
    Python from the events alone."""
    facts: dict[Any, dict[str, Any]] = {}
    referrals: dict[tuple[Any, str], dict[str, Any]] = {}
    for e in events:
        name = type(e).__name__
        cid = e.originator_id
        if name == "Registered":
            facts[cid] = {
                "complaint_id": cid, **wilayah_parts(e.kabupaten, e.desk, e.wilayah),
                "desk": e.desk, "channel": e.channel, "category": e.category,
                "priority": e.priority, "operator": (e.actor or {}).get("user_id"),
                "registered_at": e.timestamp, "verified_at": None, "rejected_at": None,
                "reason_code": None, "referred_at": None, "agency": None, "referrals": 0,
                "returned": 0, "open_referrals": 0, "resolved_at": None, "breaches": 0,
            }
            continue
        f = facts.get(cid)
        if f is None:
            continue
        if name == "Verified":
            f["verified_at"] = e.timestamp
        elif name == "Rejected":
            f["rejected_at"], f["reason_code"] = e.timestamp, e.reason_code
        elif name == "ReferredToOPD":
            f["referred_at"] = f["referred_at"] or e.timestamp
            f["agency"] = e.agency
            f["referrals"] += 1
            f["open_referrals"] += 1
            referrals[(cid, e.agency)] = {"complaint_id": cid, "agency": e.agency,
                                          "referred_at": e.timestamp, "closed_at": None,
                                          "closed_as": None, "breached": False}
        elif name in ("Resolved", "ReferralResolved", "ReferralReturned"):
            r = referrals.get((cid, e.agency))
            if r is not None and r["closed_at"] is None:
                f["open_referrals"] -= 1
                r["closed_at"] = e.timestamp
                r["closed_as"] = "returned" if name == "ReferralReturned" else "resolved"
            if name == "Resolved":
                f["resolved_at"] = e.timestamp
            elif name == "ReferralReturned":
                f["returned"] += 1
        elif name == "SlaBreached":
            f["breaches"] += 1
            if e.stage in AGENCY_STAGES:
                for r in referrals.values():
                    if r["complaint_id"] == cid and r["closed_at"] is None:
                        r["breached"] = True
    return facts, referrals


# ---- the recap -------------------------------------------------------------------------


@dataclass
class Table:
    """One recap table: key columns then count columns; headers are Indonesian."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    counts_from: int = 1  # columns from this index on are counts (suppressed when small)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass
class Recap:
    period: Period
    area: str
    tz: str
    log_position: int
    tables: dict[str, Table]
    reconciled: bool | None = None
    figures_checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Every figure, flat, keyed table/row-key/column: what reconciliation compares."""
        out: dict[str, Any] = {}
        for t in self.tables.values():
            for row in t.rows:
                key = "/".join(str(v) for v in row[:t.counts_from])
                for col, value in zip(t.columns[t.counts_from:], row[t.counts_from:],
                                      strict=True):
                    out[f"{t.name}/{key}/{col}"] = value
        return out

    def total(self, table: str, column: str) -> int:
        t = self.tables[table]
        i = t.columns.index(column)
        return sum(row[i] for row in t.rows if isinstance(row[i], int))


def suppress(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < SUPPRESS_BELOW:
        return f"<{SUPPRESS_BELOW}"
    return value


def shown_rows(table: Table) -> list[list[Any]]:
    return [row[:table.counts_from] + [suppress(v) for v in row[table.counts_from:]]
            for row in table.rows]


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / 3600.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _open(f: Mapping[str, Any]) -> bool:
    return f["rejected_at"] is None and f["resolved_at"] is None


def build_recap(facts: Iterable[Mapping[str, Any]], referrals: Iterable[Mapping[str, Any]],
                period: Period, area: str, tz: str, log_position: int,
                kecamatan_names: Mapping[str, str] | None = None) -> Recap:
    """The recap of complaints registered in `period` in `area` (outcomes as of the log
    position), plus the area's "now" figures whatever the registration date."""
    names = kecamatan_names or {}
    since, until = period.bounds(tz)
    area_facts = [f for f in facts if in_area(f, area)]
    ids = set()
    chosen = []
    for f in area_facts:
        if since <= f["registered_at"] < until:
            chosen.append(f)
            ids.add(f["complaint_id"])
    refs = [r for r in referrals if r["complaint_id"] in ids]
    tables: dict[str, Table] = {}

    def add(name: str, title: str, columns: list[str], rows: list[list[Any]],
            counts_from: int = 1) -> None:
        tables[name] = Table(name, title, columns, rows, counts_from)

    n = len(chosen)
    verified = [f for f in chosen if f["verified_at"]]
    rejected = [f for f in chosen if f["rejected_at"]]
    referred = [f for f in chosen if f["referred_at"]]
    resolved = [f for f in chosen if f["resolved_at"]]
    add("ringkasan", "Ringkasan", ["ukuran", "jumlah"], [
        ["Pengaduan terdaftar", n],
        ["Terverifikasi", len(verified)],
        ["Ditolak", len(rejected)],
        ["Dirujuk ke dinas", len(referred)],
        ["Selesai", len(resolved)],
        ["Pernah dikembalikan dinas", sum(1 for f in chosen if f["returned"])],
        ["Masih dalam proses", sum(1 for f in chosen if _open(f))],
        ["Melanggar SLA", sum(1 for f in chosen if f["breaches"])],
    ])
    add("corong", "Alur Penanganan", ["tahap", "jumlah"], [
        ["Terdaftar", n], ["Terverifikasi", len(verified)], ["Dirujuk", len(referred)],
        ["Selesai", len(resolved)]])

    reg_by_bucket = Counter(period.bucket(f["registered_at"], tz) for f in chosen)
    res_by_bucket = Counter(period.bucket(f["resolved_at"], tz) for f in area_facts
                            if f["resolved_at"] and since <= f["resolved_at"] < until)
    add("riwayat", "Riwayat " + ("per Jam" if period.kind == "day" else "Harian"),
        ["waktu", "terdaftar", "selesai"],
        [[b, reg_by_bucket.get(b, 0), res_by_bucket.get(b, 0)] for b in period.buckets()])

    def by(key: str) -> dict[str, list[Mapping[str, Any]]]:
        groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for f in chosen:
            groups[str(f[key] or "-")].append(f)
        return dict(sorted(groups.items()))

    add("kategori", "Pengaduan per Kategori",
        ["kategori", "terdaftar", "terverifikasi", "ditolak", "dirujuk", "selesai"],
        [[k, len(g), sum(1 for f in g if f["verified_at"]),
          sum(1 for f in g if f["rejected_at"]), sum(1 for f in g if f["referred_at"]),
          sum(1 for f in g if f["resolved_at"])] for k, g in by("category").items()])
    add("kecamatan", "Pengaduan per Kecamatan",
        ["kode_kecamatan", "nama_kecamatan", "terdaftar", "terverifikasi", "ditolak",
         "dirujuk", "selesai", "dikembalikan", "dalam_proses", "melanggar_sla"],
        [[k, names.get(k, "-"), len(g), sum(1 for f in g if f["verified_at"]),
          sum(1 for f in g if f["rejected_at"]), sum(1 for f in g if f["referred_at"]),
          sum(1 for f in g if f["resolved_at"]), sum(1 for f in g if f["returned"]),
          sum(1 for f in g if _open(f)), sum(1 for f in g if f["breaches"])]
         for k, g in by("kecamatan").items()], counts_from=2)
    add("desa", "Pengaduan per Desa", ["kode_desa", "terdaftar", "selesai"],
        [[k, len(g), sum(1 for f in g if f["resolved_at"])] for k, g in by("desa").items()])
    add("meja", "Aktivitas Operator per Meja Layanan",
        ["meja", "pengaduan_dicatat", "operator_aktif"],
        [[k, len(g), len({f["operator"] for f in g if f["operator"]})]
         for k, g in by("desk").items()])
    add("kanal", "Pengaduan per Kanal", ["kanal", "terdaftar"],
        [[k, len(g)] for k, g in by("channel").items()])
    add("alasan_penolakan", "Penolakan per Alasan", ["alasan", "jumlah"],
        [[k, len(g)] for k, g in by("reason_code").items() if k != "-"])

    agencies: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in refs:
        agencies[r["agency"]].append(r)
    dinas_rows = []
    for agency, rs in sorted(agencies.items()):
        closed = [r for r in rs if r["closed_at"]]
        in_time = [r for r in closed if not r["breached"]]
        dinas_rows.append([agency, len(rs), sum(1 for r in rs if r["closed_as"] == "resolved"),
                           sum(1 for r in rs if r["closed_as"] == "returned"), len(closed),
                           len(in_time)])
    add("dinas", "Kepatuhan SLA per Dinas",
        ["dinas", "dirujuk", "selesai", "dikembalikan", "ditutup", "tepat_waktu"], dinas_rows)

    hours = [_hours(f["registered_at"], f["resolved_at"]) for f in resolved]
    bucket_counts = Counter()
    for h in hours:
        assert h is not None
        bucket_counts[next(label for label, limit in RESOLVE_BUCKETS if h <= limit)] += 1
    add("waktu_penyelesaian", "Waktu Penyelesaian", ["rentang", "jumlah"],
        [[label, bucket_counts.get(label, 0)] for label, _ in RESOLVE_BUCKETS])
    verify_hours = [h for f in chosen
                    if (h := _hours(f["registered_at"], f["verified_at"] or f["rejected_at"]))
                    is not None]
    add("durasi", "Durasi (median, jam)", ["ukuran", "jam"], [
        ["Terdaftar sampai diputuskan", _median(verify_hours)],
        ["Terdaftar sampai selesai", _median([h for h in hours if h is not None])],
    ])

    add("kini", "Posisi Saat Ini (seluruh wilayah)", ["status", "jumlah"], [
        ["Menunggu verifikasi", sum(1 for f in area_facts if _open(f) and not f["verified_at"])],
        ["Menunggu rujukan", sum(1 for f in area_facts if _open(f) and f["verified_at"]
                                 and not _at_agency(f))],
        ["Di dinas", sum(1 for f in area_facts if _open(f) and _at_agency(f))],
        ["Selesai (kumulatif)", sum(1 for f in area_facts if f["resolved_at"])],
        ["Ditolak (kumulatif)", sum(1 for f in area_facts if f["rejected_at"])],
    ])
    return Recap(period, area, tz, log_position, tables)


def _at_agency(fact: Mapping[str, Any]) -> bool:
    return fact["open_referrals"] > 0


def compliance_pct(row: list[Any]) -> float | None:
    """tepat_waktu / ditutup of a `dinas` row, in percent."""
    closed, in_time = row[4], row[5]
    return round(100.0 * in_time / closed, 1) if closed else None


def compare(recap: Recap, check: Recap) -> list[str]:
    """Every figure of `recap` next to the one recomputed from events; the differences."""
    mine, theirs = recap.figures(), check.figures()
    return [f"{k}: laporan {mine.get(k)!r} != log {theirs.get(k)!r}"
            for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
