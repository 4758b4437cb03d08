"""A recap as PDF (reportlab, charts by matplotlib), XLSX (openpyxl), CSV or JSON.

Every count goes through `shown_rows` / `suppress`, so a cell of 1 or 2 shows as "<3" in
tables and charts alike. Column layout of the raw tables: docs/reports.md.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from openpyxl import Workbook  # noqa: E402
from openpyxl.styles import Font, PatternFill  # noqa: E402
from reportlab.lib import colors  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # noqa: E402
from reportlab.lib.units import cm  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from .domainmodel import (  # noqa: E402
    AREA_LEVELS,
    SUPPRESS_BELOW,
    Recap,
    compliance_pct,
    shown_rows,
    suppress,
)

TITLE = "Rekapitulasi Pengaduan Layanan Sosial"
KEMENSOS_COLUMNS = [
    "NO", "PERIODE", "KODE_PROVINSI", "KODE_KABUPATEN", "KODE_KECAMATAN", "NAMA_KECAMATAN",
    "JUMLAH_PENGADUAN", "TERVERIFIKASI", "DITOLAK", "DIRUJUK", "SELESAI", "DIKEMBALIKAN",
    "DALAM_PROSES", "MELANGGAR_SLA", "POSISI_LOG",
]
# The map-like table in the PDF: kode, nama, terdaftar, ditolak, selesai, dalam proses,
# melanggar SLA (the full row is in the XLSX / CSV).
MAP_COLUMNS = (0, 1, 2, 4, 6, 8, 9)
KIND_WORDS = {"day": "harian", "week": "mingguan", "month": "bulanan"}
SHEETS = {  # table -> sheet name (XLSX), in order
    "kategori": "Kategori", "desa": "Desa", "meja": "Meja Layanan", "kanal": "Kanal",
    "dinas": "Dinas", "alasan_penolakan": "Alasan Penolakan",
    "waktu_penyelesaian": "Waktu Penyelesaian", "durasi": "Durasi", "riwayat": "Riwayat",
    "corong": "Alur Penanganan", "kini": "Posisi Saat Ini",
}


def filename(recap: Recap, fmt: str) -> str:
    return f"rekap-{recap.area}-{recap.period.text}.{fmt}"


def _area_label(recap: Recap) -> str:
    return f"{AREA_LEVELS[len(recap.area)].capitalize()} {recap.area}"


def _reconciliation_text(recap: Recap) -> str:
    state = "cocok" if recap.reconciled else "BELUM dicek"
    return (f"Posisi log peristiwa: {recap.log_position} (notification id tertinggi). "
            f"Rekonsiliasi dengan log: {state}, {recap.figures_checked} angka dihitung ulang "
            f"langsung dari peristiwa.")


# ---- raw tables: CSV (Kemensos layout) -----------------------------------------------


def kemensos_rows(recap: Recap) -> list[list[Any]]:
    rows = []
    for i, row in enumerate(shown_rows(recap.tables["kecamatan"]), start=1):
        code = str(row[0])
        rows.append([i, recap.period.text, code[:2], code[:4], code, row[1], *row[2:],
                     recap.log_position])
    totals = [recap.total("kecamatan", c) for c in recap.tables["kecamatan"].columns[2:]]
    rows.append(["", recap.period.text, recap.area[:2], recap.area[:4], "", "JUMLAH",
                 *[suppress(v) for v in totals], recap.log_position])
    return rows


def to_csv(recap: Recap) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(KEMENSOS_COLUMNS)
    writer.writerows(kemensos_rows(recap))
    return out.getvalue().encode("utf-8")


def to_json(recap: Recap) -> bytes:
    body = {
        "period": recap.period.text, "period_kind": recap.period.kind, "area": recap.area,
        "timezone": recap.tz, "log_position": recap.log_position,
        "reconciled": recap.reconciled, "figures_checked": recap.figures_checked,
        "suppressed_below": SUPPRESS_BELOW,
        "tables": {name: {"title": t.title, "columns": t.columns,
                          "rows": shown_rows(t)} for name, t in recap.tables.items()},
    }
    return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")


# ---- XLSX ------------------------------------------------------------------------------


def to_xlsx(recap: Recap) -> bytes:
    wb = Workbook()
    bold = Font(bold=True)
    head = PatternFill("solid", fgColor="DDE7F0")
    ws = wb.active
    ws.title = "Ringkasan"
    ws.append([TITLE])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["Periode", recap.period.text])
    ws.append(["Wilayah", _area_label(recap)])
    ws.append(["Posisi log", recap.log_position])
    ws.append(["Rekonsiliasi", "cocok" if recap.reconciled else "belum dicek"])
    ws.append(["Sel kecil disembunyikan", f"< {SUPPRESS_BELOW}"])
    ws.append([])
    _sheet_table(ws, ["ukuran", "jumlah"], shown_rows(recap.tables["ringkasan"]), bold, head)

    ws = wb.create_sheet("Rekap Kecamatan")
    _sheet_table(ws, KEMENSOS_COLUMNS, kemensos_rows(recap), bold, head)
    for name, sheet in SHEETS.items():
        t = recap.tables[name]
        rows = shown_rows(t)
        columns = list(t.columns)
        if name == "dinas":
            columns.append("kepatuhan_persen")
            rows = [r + [compliance_pct(raw)] for r, raw in zip(rows, t.rows, strict=True)]
        _sheet_table(wb.create_sheet(sheet), columns, rows, bold, head)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_table(ws: Any, columns: list[str], rows: list[list[Any]], bold: Font,
                 fill: PatternFill) -> None:
    ws.append([c.upper() for c in columns])
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = bold, fill
    for row in rows:
        ws.append(row)
    for i, column in enumerate(columns, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(
            12, len(column) + 4)


# ---- charts --------------------------------------------------------------------------


def _png(fig: Any) -> io.BytesIO:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return buf


def _bars(labels: list[str], values: list[int], title: str, *, horizontal: bool = True,
          color: str = "#2f6f9f", unit: str = "") -> io.BytesIO:
    """Bars of counts; a suppressed count is drawn as nothing and labelled "<3"."""
    fig, ax = plt.subplots(figsize=(7.2, max(2.2, 0.32 * len(labels) + 1.0)
                                    if horizontal else 3.2))
    heights = [v if not isinstance(suppress(v), str) else 0 for v in values]
    if horizontal:
        bars = ax.barh(labels[::-1], heights[::-1], color=color)
        ax.set_xlabel(unit or "jumlah pengaduan")
    else:
        bars = ax.bar(labels, heights, color=color)
        ax.set_ylabel(unit or "jumlah pengaduan")
        ax.tick_params(axis="x", rotation=45)
    shown = [str(suppress(v)) for v in (values[::-1] if horizontal else values)]
    ax.bar_label(bars, labels=shown, padding=2, fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _funnel(labels: list[str], values: list[int]) -> io.BytesIO:
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    top = max(values) if values and max(values) else 1
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        width = v if not isinstance(suppress(v), str) else 0
        ax.barh(len(labels) - 1 - i, width, left=(top - width) / 2, color="#3b8f6a")
        ax.text(top / 2, len(labels) - 1 - i, f"{label}: {suppress(v)}", ha="center",
                va="center", fontsize=9, color="black")
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_title("Terdaftar -> Terverifikasi -> Dirujuk -> Selesai", fontsize=11)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def _history(recap: Recap) -> io.BytesIO:
    t = recap.tables["riwayat"]
    labels = [str(r[0])[-5:] for r in t.rows]
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    for col, color in ((1, "#2f6f9f"), (2, "#3b8f6a")):
        # A count of 1 or 2 is a small cell: left out of the line (a gap), as in the tables.
        values = [float("nan") if isinstance(suppress(r[col]), str) else r[col]
                  for r in t.rows]
        ax.plot(labels, values, marker="o", markersize=3, color=color, label=t.columns[col])
    ax.tick_params(axis="x", rotation=90, labelsize=7)
    ax.legend(fontsize=8)
    ax.set_title(f"{t.title} (titik 1-{SUPPRESS_BELOW - 1} tidak ditampilkan)", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


# ---- PDF -----------------------------------------------------------------------------


_HEAD = ParagraphStyle("head", fontName="Helvetica-Bold", fontSize=7, leading=8)
_PAGE_WIDTH = 17.8 * cm


def _pdf_table(columns: list[str], rows: list[list[Any]], widths: list[float] | None = None,
               heat_column: int | None = None, keys: int = 1) -> Table:
    """A table that fits the page: headers wrap, key columns get more room."""
    data: list[list[Any]] = [[Paragraph(c.replace("_", " ").upper(), _HEAD) for c in columns]]
    data += [["" if v is None else str(v) for v in row] for row in rows]
    if widths is None:
        key_w = min(3.2 * cm, _PAGE_WIDTH / len(columns) * 1.6)
        count_w = min(2.4 * cm, (_PAGE_WIDTH - keys * key_w) / max(1, len(columns) - keys))
        widths = [key_w] * keys + [count_w] * (len(columns) - keys)
    table = Table(data, colWidths=widths, repeatRows=1)
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde7f0")),
        ("FONTSIZE", (0, 1), (-1, -1), 7.5),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (keys, 1), (-1, -1), "RIGHT"),
    ]
    if heat_column is not None:
        # The map-like table: each kecamatan's cell shaded by its share of the busiest.
        values = [r[heat_column] if isinstance(r[heat_column], int) else 0 for r in rows]
        top = max(values) if values and max(values) else 1
        for i, v in enumerate(values, start=1):
            shade = 1.0 - 0.6 * (v / top)
            style.append(("BACKGROUND", (heat_column, i), (heat_column, i),
                          colors.Color(shade, shade + 0.3 * (1 - shade), 1.0)))
    table.setStyle(TableStyle(style))
    return table


def to_pdf(recap: Recap) -> bytes:
    styles = getSampleStyleSheet()
    h1, h2, body = styles["Title"], styles["Heading2"], styles["BodyText"]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, title=f"{TITLE} {recap.period.text}",
                            leftMargin=1.6 * cm, rightMargin=1.6 * cm,
                            topMargin=1.4 * cm, bottomMargin=1.4 * cm)
    chart_w = 17 * cm

    def chart(buf: io.BytesIO, height: float) -> Image:
        return Image(buf, width=chart_w, height=height)

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    story: list[Any] = [
        Paragraph(TITLE, h1),
        Paragraph(f"{_area_label(recap)} &mdash; periode {recap.period.text} "
                  f"({KIND_WORDS[recap.period.kind]}), zona waktu {recap.tz}", body),
        Paragraph(f"Dibuat {now}. {_reconciliation_text(recap)} Angka 1&ndash;"
                  f"{SUPPRESS_BELOW - 1} ditampilkan sebagai &lt;{SUPPRESS_BELOW}. "
                  "Tidak memuat data pribadi.", body),
        Spacer(1, 8),
        Paragraph("Ringkasan", h2),
        _pdf_table(["ukuran", "jumlah"], shown_rows(recap.tables["ringkasan"]),
                   [9 * cm, 3 * cm]),
        Spacer(1, 6),
        _pdf_table(["ukuran", "jam"], shown_rows(recap.tables["durasi"]), [9 * cm, 3 * cm]),
        Paragraph("Posisi Saat Ini", h2),
        _pdf_table(["status", "jumlah"], shown_rows(recap.tables["kini"]), [9 * cm, 3 * cm]),
        Paragraph("Alur Penanganan", h2),
        chart(_funnel([r[0] for r in recap.tables["corong"].rows],
                      [r[1] for r in recap.tables["corong"].rows]), 6.6 * cm),
        PageBreak(),
    ]
    cat = recap.tables["kategori"]
    story += [Paragraph("Pengaduan per Kategori", h2),
              chart(_bars([r[0] for r in cat.rows], [r[1] for r in cat.rows],
                          "Pengaduan per Kategori"), 0.5 * cm * len(cat.rows) + 3 * cm),
              _pdf_table(cat.columns, shown_rows(cat))]
    kec = recap.tables["kecamatan"]
    story += [Paragraph("Pengaduan per Kecamatan", h2),
              chart(_bars([f"{r[1]} ({r[0]})" for r in kec.rows], [r[2] for r in kec.rows],
                          "Pengaduan per Kecamatan", color="#7a5c9e"),
                    0.5 * cm * len(kec.rows) + 3 * cm),
              PageBreak(),
              Paragraph("Peta Kecamatan", h2),
              Paragraph("Setiap baris satu kecamatan; warna kolom TERDAFTAR makin tua makin "
                        "banyak pengaduan. Tabel lengkap ada di lembar XLSX / CSV.", body),
              _pdf_table([kec.columns[i] for i in MAP_COLUMNS],
                         [[r[i] for i in MAP_COLUMNS] for r in shown_rows(kec)],
                         heat_column=2, keys=2),
              Paragraph("Riwayat", h2), chart(_history(recap), 6.6 * cm),
              PageBreak()]
    waktu = recap.tables["waktu_penyelesaian"]
    story += [Paragraph("Waktu Penyelesaian", h2),
              chart(_bars([r[0] for r in waktu.rows], [r[1] for r in waktu.rows],
                          "Sebaran waktu terdaftar sampai selesai", horizontal=False,
                          color="#c0873f"), 6.5 * cm)]
    dinas = recap.tables["dinas"]
    pct = [compliance_pct(r) for r in dinas.rows]
    story += [Paragraph("Kepatuhan SLA per Dinas", h2),
              chart(_compliance([r[0] for r in dinas.rows], pct),
                    0.5 * cm * len(dinas.rows) + 3 * cm),
              _pdf_table(dinas.columns + ["kepatuhan_persen"],
                         [r + [p] for r, p in zip(shown_rows(dinas), pct, strict=True)])]
    meja = recap.tables["meja"]
    story += [PageBreak(), Paragraph("Aktivitas Operator per Meja Layanan", h2),
              chart(_bars([r[0] for r in meja.rows], [r[1] for r in meja.rows],
                          "Pengaduan dicatat per meja layanan", color="#4f7f8f"),
                    0.5 * cm * len(meja.rows) + 3 * cm),
              _pdf_table(meja.columns, shown_rows(meja))]
    for name in ("kanal", "alasan_penolakan"):
        t = recap.tables[name]
        story += [Paragraph(t.title, h2), _pdf_table(t.columns, shown_rows(t))]
    story += [Paragraph("Rekonsiliasi dengan Log Peristiwa", h2),
              Paragraph(_reconciliation_text(recap), body)]
    doc.build(story)
    return out.getvalue()


def _compliance(labels: list[str], pct: list[float | None]) -> io.BytesIO:
    fig, ax = plt.subplots(figsize=(7.2, max(2.2, 0.32 * len(labels) + 1.0)))
    values = [p or 0.0 for p in pct]
    bars = ax.barh(labels[::-1], values[::-1],
                   color=["#3b8f6a" if v >= 80 else "#c0503f" for v in values[::-1]])
    ax.bar_label(bars, labels=["-" if p is None else f"{p:.0f}%" for p in pct[::-1]],
                 padding=2, fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("% rujukan ditutup tepat waktu")
    ax.set_title("Kepatuhan SLA per Dinas", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


RENDERERS: dict[str, Callable[[Recap], bytes]] = {
    "pdf": to_pdf, "xlsx": to_xlsx, "csv": to_csv, "json": to_json,
}
