"""`sedulur dtks ...`: generate synthetic DTKS files and import them as snapshots."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from services.dtks_sync import generator, importer
from shared.config import Settings
from shared.errors import SedulurError

app = typer.Typer(
    help="DTKS replica: generate synthetic registry files and import them as snapshots.",
    no_args_is_help=True,
)
console = Console(stderr=True)


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _fail(error: SedulurError) -> typer.Exit:
    console.print(f"[red]error[/red] {error.code}: {error.message}")
    return typer.Exit(code=1)


@app.command()
def generate(
    people: Annotated[int, typer.Option("--people", "-n", help="How many people (rows).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write.")],
    seed: Annotated[int, typer.Option(help="Same seed, same file.")] = 1,
    kabupaten: Annotated[
        str | None,
        typer.Option(help="4-digit kabupaten/kota code [default: SEDULUR_KABUPATEN or 3325]."),
    ] = None,
) -> None:
    """Write a synthetic DTKS file: valid NIKs, families sharing a KK, Faker id_ID names."""
    with _bar() as bar:
        task = bar.add_task("generate", total=people, rate="")
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, rate=f"{rate:,.0f} rows/s")

        try:
            result = generator.generate(
                out,
                people,
                seed=seed,
                kabupaten=kabupaten or Settings().default_kabupaten,
                progress=progress,
            )
        except SedulurError as error:
            raise _fail(error) from None
    console.print(
        f"wrote {result.rows:,} people in {result.families:,} families to {result.path} "
        f"in {result.seconds:.1f}s: [bold]{result.rows_per_second:,.0f} rows/s[/bold]"
    )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="DTKS CSV file (docs/dtks-import-format.md).")],
    reject_file: Annotated[
        Path | None, typer.Option("--reject-file", help="Write rejected lines here (CSV).")
    ] = None,
    max_reject_share: Annotated[
        float,
        typer.Option(help="Refuse the snapshot if more than this share of rows is rejected."),
    ] = importer.DEFAULT_MAX_REJECT_SHARE,
) -> None:
    """Load FILE as a new snapshot and make it current once it is complete."""
    settings = Settings()
    tasks: dict[str, TaskID] = {}
    with _bar() as bar:

        def progress(event: importer.ImportProgress) -> None:
            if event.phase == "done":
                return
            task = tasks.get(event.phase)
            if task is None:
                # finish the earlier phases' bars when a new phase starts
                for earlier in tasks.values():
                    total = bar.tasks[earlier].total
                    if total is not None:
                        bar.update(earlier, completed=total)
                task = tasks[event.phase] = bar.add_task(event.phase, total=event.total, rate="")
            rate = f"{event.rows_per_second:,.0f} rows/s" if event.rows_per_second else ""
            bar.update(task, completed=event.done, total=event.total, rate=rate)

        try:
            result = importer.import_file(
                settings.pg_dsn,
                file,
                progress=progress,
                reject_path=reject_file,
                max_reject_share=max_reject_share,
            )
        except SedulurError as error:
            raise _fail(error) from None
    if result.noop:
        console.print(
            f"{file} is already the current snapshot {result.snapshot_id} "
            f"({result.rows_loaded:,} people): nothing to do"
        )
        return
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in result.phases.items())
    console.print(
        f"snapshot [bold]{result.snapshot_id}[/bold] is current: {result.rows_loaded:,} "
        f"loaded, {result.rows_rejected:,} rejected of {result.rows_read:,} read "
        f"({phases})"
    )
    if result.rows_rejected and reject_file is not None:
        console.print(f"rejected lines: {reject_file}")
    console.print(
        f"{result.rows_read:,} rows in {result.seconds:.1f}s: "
        f"[bold]{result.rows_per_second:,.0f} rows/s[/bold]"
    )


@app.command()
def diff(
    old: Annotated[str | None, typer.Argument(help="Older snapshot [default: previous].")] = None,
    new: Annotated[str | None, typer.Argument(help="Newer snapshot [default: current].")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Write every change to this CSV file.")
    ] = None,
    show: Annotated[int, typer.Option(help="Print this many changes.")] = 20,
) -> None:
    """Who was added, removed, or changed desil / programs between two snapshots."""
    import csv

    from shared.db import Database

    from .application import changes

    db = Database.from_settings(Settings())
    try:
        report = changes(db, old, new, limit=None if csv_out else show)
    except SedulurError as error:
        raise _fail(error) from None
    finally:
        db.close()
    s = report["summary"]
    print(f"{report['from']} -> {report['to']}: {s['added']} added, {s['removed']} removed, "
          f"{s['desil_changed']} desil changed, {s['program_changed']} program changed")
    for c in report["changes"][:show]:
        print(f"  {c['nik']} {','.join(c['changes'])}: desil {c['old_desil']}->{c['new_desil']}"
              f" programs {c['old_programs']}->{c['new_programs']}")
    if csv_out is not None:
        with csv_out.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["NIK", "KK", "NAMA", "KODE_WILAYAH", "PERUBAHAN", "DESIL_LAMA",
                        "DESIL_BARU", "PROGRAM_LAMA", "PROGRAM_BARU"])
            for c in report["changes"]:
                w.writerow([c["nik"], c["kk"], c["name"], c["wilayah"], "|".join(c["changes"]),
                            c["old_desil"] or "", c["new_desil"] or "",
                            "|".join(c["old_programs"] or []), "|".join(c["new_programs"] or [])])
        console.print(f"wrote {len(report['changes']):,} changes to {csv_out}")


def main() -> None:  # pragma: no cover - `python -m services.dtks_sync.cli`
    app(prog_name="sedulur dtks")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
