"""`sedulur verification ...`: export usulan (proposals for the DTKS update) per desa."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from shared.config import Settings
from shared.db import Database

from .adapters import DeskStore

app = typer.Typer(help="Verification: usulan export for the DTKS update cycle.",
                  no_args_is_help=True)
console = Console(stderr=True)

# docs/usulan-format.md: the DTKS person columns first (as in docs/dtks-import-format.md),
# then what the update cycle needs to trace the proposal back.
USULAN_HEADER = ("NIK", "NO_KK", "NAMA", "KODE_WILAYAH", "KATEGORI_ADUAN", "ALASAN_USULAN",
                 "NO_REGISTRASI", "DIUSULKAN_OLEH", "TANGGAL_USULAN")


def usulan_row(r: dict[str, Any]) -> list[str]:
    return [r["nik"], r["kk"] or "", r["citizen_name"], r["desa"], r["category"], r["reason"],
            r["registration_number"], r["proposed_by"], r["proposed_at"][:10]]


def export(db: Database, kabupaten: str, out: Path) -> dict[str, int]:
    """One file per desa: usulan_<kabupaten>_<desa>.csv; returns rows per desa."""
    out.mkdir(parents=True, exist_ok=True)
    by_desa: dict[str, list[dict[str, Any]]] = {}
    for r in DeskStore(db).usulan(kabupaten=kabupaten):
        by_desa.setdefault(r["desa"], []).append(r)
    for desa, rows in by_desa.items():
        path = out / f"usulan_{kabupaten}_{desa}.csv"
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(USULAN_HEADER)
            w.writerows(usulan_row(r) for r in rows)
        tmp.replace(path)  # a reader never sees half a file
    return {desa: len(rows) for desa, rows in by_desa.items()}


@app.command("usulan-export")
def usulan_export(
    kabupaten: Annotated[str, typer.Option(help="4-digit kabupaten/kota code.")],
    out: Annotated[Path, typer.Option(help="Directory for the per-desa CSV files.")],
) -> None:
    """Write the usulan of KABUPATEN, one CSV file per desa (docs/usulan-format.md)."""
    db = Database.from_settings(Settings())
    try:
        counts = export(db, kabupaten, out)
    finally:
        db.close()
    for desa, n in sorted(counts.items()):
        print(f"{desa}\t{n}")
    console.print(f"{sum(counts.values())} usulan in {len(counts)} desa written to {out}")
