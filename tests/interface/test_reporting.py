"""Recaps against the real event store: a generated month of traffic (last month, events
stamped with their own instants through eventsourcing's clock), counted directly from the
notification log in this test and compared with every figure of the recap; rebuild == live;
the PDF renders to pages with the expected headings; the XLSX has its sheets and totals;
no NIK, KK, name or phone number of the fixture appears in any generated report.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import eventsourcing.domain
import pytest
import requests

from services.reporting.dependencies import ReportingContext, build
from services.reporting.domainmodel import RESOLVE_BUCKETS
from services.sla.service import SlaService
from shared.complaints.domainmodel import Complaint
from shared.errors import InvalidPeriod, InvalidWilayah, UnknownReportFormat
from tests.helpers import actor_headers, running_service, wait_until

WIB = ZoneInfo("Asia/Jakarta")
# Last calendar month (Jakarta time): the monthly timer recaps the month before today, so a
# fixed month would stop matching it when the calendar moves on.
_TODAY = datetime.now(ZoneInfo("Asia/Jakarta"))
LAST = (_TODAY.replace(day=1) - timedelta(days=1)).replace(day=1, hour=0, minute=0, second=0,
                                                           microsecond=0)
BEFORE_LAST = (LAST - timedelta(days=1)).replace(day=1)
NEXT = (LAST + timedelta(days=32)).replace(day=1)
PERIOD, AREA = f"{LAST:%Y-%m}", "3325"
KECAMATAN = ["332501", "332502", "332503", "332504", "332505", "332506", "332507", "332508"]
CATEGORIES = ["kis", "kip", "bpnt", "pkh", "rtlh", "adminduk"]
CHANNELS = ["desk", "desk", "desk", "web", "whatsapp", "sms"]
AGENCIES = ["DINKES", "BPJSKES", "DISDIK", "DPRKP", "DUKCAPIL"]
REASONS = ["not_in_dtks", "not_in_dtks", "duplicate", "incomplete"]
NAMES = ["Siti Aminah", "Budi Santoso", "Sri Wahyuni", "Agus Setiawan", "Dewi Lestari",
         "Joko Prasetyo", "Rina Marlina", "Slamet Riyadi"]
SYSTEM = {"user_id": "system:verification", "role": "system", "desk": None}
needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None,
                                   reason="poppler-utils (pdftoppm) not installed")


class Clock:
    """eventsourcing stamps events with datetime_now_with_tzinfo(): the fixture sets it."""

    def __init__(self) -> None:
        self.now = LAST

    def __call__(self) -> datetime:
        return self.now.astimezone(ZoneInfo("UTC"))


@pytest.fixture(scope="module")
def month(event_app: Any) -> Iterator[dict[str, Any]]:
    """About 150 complaints last month in kabupaten 3325 (plus a few in 3326 and in
    the month before that the recap must leave out), through the Complaint aggregate's commands."""
    rng = random.Random(15)
    clock = Clock()
    personal: set[str] = set()
    ids: list[uuid.UUID] = []
    patch = pytest.MonkeyPatch()
    patch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", clock)
    run = uuid.uuid4().hex[:6]
    try:
        for i in range(160):
            kab = "3326" if i % 53 == 7 else AREA
            month_start = BEFORE_LAST if i % 61 == 5 else LAST
            kec = kab + rng.choice(KECAMATAN)[4:] if i % 9 else kab + "01"
            start = month_start + timedelta(minutes=rng.randrange(0, 27 * 24 * 60))
            nik = f"{kec}{rng.randrange(41, 71):02d}{rng.randrange(1, 13):02d}85{i + 1:04d}"
            # KK: kecamatan + issue date DDMMYY + serial (verification checks it via DTKS).
            kk = f"{kec}{rng.randrange(1, 29):02d}{rng.randrange(1, 13):02d}1{rng.randrange(10)}" \
                f"{rng.randrange(1, 10 ** 4):04d}"
            name, phone = rng.choice(NAMES) + f" {i}", f"08127{rng.randrange(10 ** 6, 10 ** 7)}"
            personal |= {nik, kk, name, phone}
            operator = {"user_id": f"op-{kec}-{i % 3}", "role": "operator", "desk": kec}
            clock.now = start
            c = Complaint.register(
                complaint_id=uuid.uuid4(), registration_number=f"{kab}-{run}-{i:05d}",
                kabupaten=kab, desk=kec, channel=rng.choice(CHANNELS),
                category=rng.choice(CATEGORIES), description=f"Aduan {name} {phone}",
                citizen={"nik": nik, "kk": kk, "name": name, "phone": phone},
                wilayah=f"{kec}20{rng.randrange(1, 16):02d}", priority="normal",
                confidential=False, actor=operator, correlation_id=f"t-{i}")
            _lifecycle(c, clock, rng, i)
            event_app.save(c)
            ids.append(c.id)
    finally:
        patch.undo()
    yield {"ids": ids, "personal": personal}


def _lifecycle(c: Complaint, clock: Clock, rng: random.Random, i: int) -> None:
    def later(hours: float) -> None:
        clock.now += timedelta(hours=hours)

    if i % 11 == 3:
        return  # still waiting for verification
    later(rng.uniform(0.2, 30))
    if i % 5 == 0:
        c.reject(reason_code=rng.choice(REASONS), reason="tidak memenuhi", rule="dtks",
                 dtks_snapshot="s1", actor=SYSTEM, correlation_id="t")
        return
    c.verify(rule="dtks", dtks_snapshot="s1", reasons=["ok"], actor=SYSTEM, correlation_id="t")
    if i % 13 == 4:
        return  # waiting to be routed
    later(rng.uniform(0.1, 20))
    agency = rng.choice(AGENCIES)
    c.refer(agency=agency, routing_rule="r", actor=SYSTEM, correlation_id="t")
    agent = {"user_id": f"ag-{agency}", "role": "agency", "desk": None}
    if i % 7 == 2:
        later(rng.uniform(1, 40))
        c.record_breach(stage="acceptance", policy="default-24h", due_at="x",
                        actor=SYSTEM, correlation_id="t")
    if i % 6 == 1:
        later(rng.uniform(1, 30))
        c.return_referral(agency=agency, reason="bukan wewenang", actor=agent,
                          correlation_id="t")
        later(rng.uniform(1, 10))
        agency = next(a for a in AGENCIES if a != agency)
        c.refer(agency=agency, routing_rule="r2", actor=SYSTEM, correlation_id="t")
        agent = {"user_id": f"ag-{agency}", "role": "agency", "desk": None}
    if i % 4 == 3:
        return  # open at the agency
    later(rng.uniform(0.5, 24))
    c.accept_referral(agency=agency, actor=agent, correlation_id="t")
    later(rng.choice([rng.uniform(1, 20), rng.uniform(30, 100), rng.uniform(100, 300)]))
    c.resolve(agency=agency, outcome="selesai", actor=agent, correlation_id="t")


@pytest.fixture(scope="module")
def ctx(sedulur_env: Any, month: dict[str, Any]) -> Iterator[ReportingContext]:
    context = build(sedulur_env)
    for cid in month["ids"]:  # the live path: what the sla service's handlers do per event
        context.recap.catch_up(cid)
    yield context
    context.close()


@pytest.fixture(scope="module")
def recap(ctx: ReportingContext) -> Any:
    return ctx.reporting.recap(PERIOD, AREA)


# ---- expected figures straight from the notification log (independent of the code) -----


def expected_from_log(ctx: ReportingContext) -> dict[str, Any]:
    since, until = LAST, NEXT
    streams: dict[Any, list[Any]] = defaultdict(list)
    for n in ctx.app.recorder.select_notifications(start=None, limit=10 ** 6):
        e = ctx.app.mapper.to_domain_event(n)
        streams[e.originator_id].append(e)
    counts: Counter[str] = Counter()
    resolved_in_month: Counter[str] = Counter()
    for events in streams.values():
        first = events[0]
        if type(first).__name__ != "Registered" or not str(
                first.wilayah or first.desk or "").startswith(AREA):
            continue
        names = Counter(type(e).__name__ for e in events)
        by_name = {type(e).__name__: e for e in events}
        if "Resolved" in by_name and since <= by_name["Resolved"].timestamp < until:
            resolved_in_month[by_name["Resolved"].timestamp.astimezone(WIB).date().isoformat()] += 1
        if not since <= first.timestamp < until:
            continue
        kec, cat = first.wilayah[:6], first.category
        counts["registered"] += 1
        counts[f"kategori/{cat}"] += 1
        counts[f"kecamatan/{kec}"] += 1
        counts[f"kanal/{first.channel}"] += 1
        counts[f"meja/{first.desk}"] += 1
        counts[f"hari/{first.timestamp.astimezone(WIB).date().isoformat()}"] += 1
        for name in ("Verified", "Rejected", "ReferredToOPD", "Resolved"):
            counts[name] += bool(names[name])
        counts["returned"] += bool(names["ReferralReturned"])
        counts["breached"] += bool(names["SlaBreached"])
        counts["open"] += not (names["Rejected"] or names["Resolved"])
        if names["Rejected"]:
            counts[f"alasan/{by_name['Rejected'].reason_code}"] += 1
        for e in events:
            if type(e).__name__ == "ReferredToOPD":
                counts[f"dinas/{e.agency}/dirujuk"] += 1
            if type(e).__name__ == "ReferralReturned":
                counts[f"dinas/{e.agency}/dikembalikan"] += 1
            if type(e).__name__ == "Resolved":
                counts[f"dinas/{e.agency}/selesai"] += 1
        if names["Resolved"]:
            hours = (by_name["Resolved"].timestamp - first.timestamp).total_seconds() / 3600
            label = next(label for label, limit in RESOLVE_BUCKETS if hours <= limit)
            counts[f"waktu/{label}"] += 1
    return {"counts": counts, "resolved_by_day": resolved_in_month}


def rows(recap: Any, table: str) -> dict[str, dict[str, Any]]:
    t = recap.tables[table]
    return {"/".join(str(v) for v in r[:t.counts_from]): dict(zip(t.columns, r, strict=True))
            for r in t.rows}


def test_every_figure_of_the_month_equals_the_count_taken_directly_from_the_event_log(
    ctx, recap
):
    want = expected_from_log(ctx)
    c = want["counts"]
    assert c["registered"] > 100  # the fixture really is a month of traffic
    summary = {r[0]: r[1] for r in recap.tables["ringkasan"].rows}
    assert summary == {
        "Pengaduan terdaftar": c["registered"], "Terverifikasi": c["Verified"],
        "Ditolak": c["Rejected"], "Dirujuk ke dinas": c["ReferredToOPD"],
        "Selesai": c["Resolved"], "Pernah dikembalikan dinas": c["returned"],
        "Masih dalam proses": c["open"], "Melanggar SLA": c["breached"],
    }
    assert [r[1] for r in recap.tables["corong"].rows] == [
        c["registered"], c["Verified"], c["ReferredToOPD"], c["Resolved"]]
    for table, prefix, column in (("kategori", "kategori", "terdaftar"),
                                  ("kanal", "kanal", "terdaftar"),
                                  ("meja", "meja", "pengaduan_dicatat"),
                                  ("alasan_penolakan", "alasan", "jumlah"),
                                  ("waktu_penyelesaian", "waktu", "jumlah")):
        got = {k: r[column] for k, r in rows(recap, table).items() if r[column]}
        assert got == {k.split("/", 1)[1]: v for k, v in c.items()
                       if k.startswith(prefix + "/")}, table
    kec = {k.split("/")[0]: r["terdaftar"] for k, r in rows(recap, "kecamatan").items()}
    assert kec == {k.split("/")[1]: v for k, v in c.items() if k.startswith("kecamatan/")}
    history = rows(recap, "riwayat")
    assert {k: r["terdaftar"] for k, r in history.items() if r["terdaftar"]} == {
        k.split("/")[1]: v for k, v in c.items() if k.startswith("hari/")}
    assert {k: r["selesai"] for k, r in history.items() if r["selesai"]} == dict(
        want["resolved_by_day"])
    for agency, r in rows(recap, "dinas").items():
        for column in ("dirujuk", "dikembalikan", "selesai"):
            assert r[column] == c[f"dinas/{agency}/{column}"], (agency, column)
    assert recap.total("dinas", "dirujuk") == sum(
        v for k, v in c.items() if k.endswith("/dirujuk"))


def test_the_recap_states_its_log_position_and_its_reconciliation(ctx, recap):
    top = ctx.db.fetchone(
        "SELECT max(notification_id) AS p FROM eventstore.sedulur_events")["p"]
    assert 0 < recap.log_position <= top
    assert recap.reconciled is True
    assert recap.figures_checked == len(recap.figures()) > 100


def test_a_lagging_projection_is_caught_up_before_the_recap_is_counted(ctx, event_app, month):
    cid = month["ids"][0]
    ctx.db.execute("UPDATE reporting.projection_tracking SET version = 0"
                   " WHERE projection = 'reporting.recap' AND complaint_id = %s", (cid,))
    ctx.db.execute("DELETE FROM reporting.recap WHERE complaint_id = %s", (cid,))
    ctx.db.execute("DELETE FROM reporting.recap_referrals WHERE complaint_id = %s", (cid,))
    again = ctx.reporting.recap(PERIOD, AREA)
    assert again.reconciled
    assert ctx.db.fetchone("SELECT 1 AS x FROM reporting.recap WHERE complaint_id = %s", (cid,))


def test_a_projection_that_disagrees_with_the_log_is_refused(ctx, month):
    from shared.errors import ReportNotReconciled

    cid = month["ids"][1]
    ctx.db.execute("UPDATE reporting.recap SET category = 'dipalsukan' WHERE complaint_id = %s",
                   (cid,))
    try:
        with pytest.raises(ReportNotReconciled) as caught:
            ctx.reporting.recap(PERIOD, AREA)
        assert any("dipalsukan" in m for m in caught.value.details["mismatches"])
    finally:
        ctx.recap.rebuild()
    assert ctx.reporting.recap(PERIOD, AREA).reconciled


def test_rebuilding_the_reporting_projection_gives_the_rows_the_live_path_wrote(ctx, month):
    ids = month["ids"]

    def mine() -> list[Any]:
        return (ctx.db.fetchall("SELECT * FROM reporting.recap WHERE complaint_id = ANY(%s)"
                                " ORDER BY complaint_id", (ids,)),
                ctx.db.fetchall("SELECT * FROM reporting.recap_referrals"
                                " WHERE complaint_id = ANY(%s) ORDER BY 1, 2", (ids,)))

    live = mine()
    assert len(live[0]) == len(ids) and live[1]
    ctx.recap.rebuild()
    assert mine() == live


def test_small_cells_are_suppressed_in_every_rendered_table(ctx, recap):
    import json

    body = json.loads(ctx.reporting.render(PERIOD, AREA, "json").data)
    cells = [v for t in body["tables"].values() for r in t["rows"] for v in r[1:]]
    assert "<3" in cells
    assert not [v for v in cells if isinstance(v, int) and 0 < v < 3]
    raw = [v for t in recap.tables.values() for r in t.rows for v in r[t.counts_from:]
           if isinstance(v, int) and 0 < v < 3]
    assert raw  # the fixture has small cells, so the check above could fail


@needs_poppler
def test_the_pdf_renders_to_pages_with_the_expected_headings(ctx, tmp_path):
    from PIL import Image

    out = ctx.reporting.render(PERIOD, AREA, "pdf")
    pdf = tmp_path / "rekap.pdf"
    pdf.write_bytes(out.data)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")],
                   check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    for page in pages:
        with Image.open(page) as img:
            colours = img.convert("L").getextrema()
            assert colours[0] < 100 < colours[1], f"{page.name} is blank"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    for heading in ("Rekapitulasi Pengaduan Layanan Sosial", "Ringkasan", "Alur Penanganan",
                    "Pengaduan per Kategori", "Pengaduan per Kecamatan", "Peta Kecamatan",
                    "Waktu Penyelesaian", "Kepatuhan SLA per Dinas",
                    "Aktivitas Operator per Meja Layanan", "Rekonsiliasi dengan Log Peristiwa",
                    f"Posisi log peristiwa: {out.log_position}", "Wonotunggal"):
        assert heading in text, heading
    keep = Path("/tmp/sedulur-report-pages")
    keep.mkdir(exist_ok=True)
    shutil.copy(pages[0], keep / "page-1.png")
    shutil.copy(pages[1], keep / "page-2.png")


def test_the_xlsx_opens_with_its_sheets_and_totals(ctx, recap):
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(ctx.reporting.render(PERIOD, AREA, "xlsx").data))
    assert wb.sheetnames[:3] == ["Ringkasan", "Rekap Kecamatan", "Kategori"]
    assert {"Dinas", "Meja Layanan", "Waktu Penyelesaian", "Posisi Saat Ini"} <= set(
        wb.sheetnames)
    sheet = wb["Rekap Kecamatan"]
    header = [c.value for c in sheet[1]]
    assert header[:7] == ["NO", "PERIODE", "KODE_PROVINSI", "KODE_KABUPATEN",
                          "KODE_KECAMATAN", "NAMA_KECAMATAN", "JUMLAH_PENGADUAN"]
    total = [c.value for c in sheet[sheet.max_row]]
    assert total[5] == "JUMLAH"
    assert total[6] == recap.total("kecamatan", "terdaftar") == recap.tables[
        "ringkasan"].rows[0][1]
    assert total[-1] == recap.log_position


def test_the_csv_has_the_kemensos_layout_with_one_row_per_kecamatan_and_a_total(ctx, recap):
    import csv

    text = ctx.reporting.render(PERIOD, AREA, "csv").data.decode()
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [r["KODE_KECAMATAN"] for r in lines[:-1]] == [
        r[0] for r in recap.tables["kecamatan"].rows]
    assert lines[-1]["NAMA_KECAMATAN"] == "JUMLAH"
    assert int(lines[-1]["JUMLAH_PENGADUAN"]) == recap.total("kecamatan", "terdaftar")


@needs_poppler
def test_no_nik_kk_name_or_phone_appears_in_any_generated_report(ctx, month, tmp_path):
    from openpyxl import load_workbook

    texts = {}
    for fmt in ("csv", "json"):
        texts[fmt] = ctx.reporting.render(PERIOD, AREA, fmt).data.decode()
    wb = load_workbook(io.BytesIO(ctx.reporting.render(PERIOD, AREA, "xlsx").data))
    texts["xlsx"] = "\n".join(str(c.value) for ws in wb for row in ws.iter_rows()
                              for c in row if c.value is not None)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(ctx.reporting.render(PERIOD, AREA, "pdf").data)
    texts["pdf"] = subprocess.run(["pdftotext", str(pdf), "-"], check=True,
                                  capture_output=True, text=True).stdout
    texts["pdf-bytes"] = pdf.read_bytes().decode("latin-1")
    assert "Pengaduan" in texts["pdf"]  # the text layer is there to search
    for fmt, text in texts.items():
        leaked = [p for p in month["personal"] if p in text]
        assert not leaked, (fmt, leaked[:5])


@pytest.mark.parametrize("period, area, fmt, error", [
    ("2026-13", AREA, "pdf", InvalidPeriod), ("november", AREA, "pdf", InvalidPeriod),
    (PERIOD, "33251", "pdf", InvalidWilayah), (PERIOD, AREA, "docx", UnknownReportFormat),
])
def test_a_bad_period_area_or_format_is_a_named_error(ctx, period, area, fmt, error):
    with pytest.raises(error):
        ctx.reporting.render(period, area, fmt)


def test_http_recap_and_the_monthly_schedule_store_a_downloadable_recap(
    topology_declared, ctx, recap
):
    with running_service(SlaService, topology_declared,
                         SEDULUR_REPORT_TIMER_SECONDS="0.5") as url:
        # the kabupaten's Dinsos verifier; another kabupaten's may not read this recap
        own = actor_headers("verifier-recap", "verifier", kabupaten=AREA)
        other = actor_headers("verifier-elsewhere", "verifier", kabupaten="3326")
        assert requests.get(f"{url}/reports/recap", params={"period": PERIOD, "area": AREA},
                            headers=other, timeout=30).status_code == 403
        resp = requests.get(f"{url}/reports/recap",
                            params={"period": PERIOD, "area": AREA, "format": "csv"},
                            headers=own, timeout=120)
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert int(resp.headers["X-Sedulur-Log-Position"]) >= recap.log_position
        bad = requests.get(f"{url}/reports/recap", params={"period": "x", "area": AREA},
                           headers=own, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_period"

        def stored() -> list[dict[str, Any]]:
            listing = requests.get(f"{url}/reports/generated", headers=own,
                                   timeout=30).json()["generated"]
            return [g for g in listing if g["period"] == PERIOD and g["area"] == AREA]

        listed = wait_until(lambda: len(stored()) == 3 and stored(), timeout=240,
                            message="last month's recaps generated by the timer")
        assert {g["format"] for g in listed} == {"pdf", "xlsx", "csv"}
        pdf = requests.get(f"{url}/reports/generated/{PERIOD}/{AREA}/pdf", headers=own,
                           timeout=30)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["X-Sedulur-Log-Position"] == str(
            next(g["log_position"] for g in listed if g["format"] == "pdf"))
        missing = requests.get(f"{url}/reports/generated/1999-01/{AREA}/pdf", headers=own,
                               timeout=30)
        assert missing.status_code == 404
