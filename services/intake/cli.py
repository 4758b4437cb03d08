"""`sedulur intake …`: operations on intake (backfill of paper complaints)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.config import Settings

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def backfill(
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True,
        help="CSV with header: desk,category,description,nik,name[,form_number,"
             "registered_on,kk,phone,wilayah,priority,confidential]")],
    batch_size: Annotated[int, typer.Option(min=1, max=5000,
                                            help="complaints per append")] = 500,
    actor: Annotated[str, typer.Option(help="user id recorded as the actor")] = "backfill",
    errors: Annotated[Path | None, typer.Option(
        help="also write refused rows to this CSV")] = None,
    as_json: Annotated[bool, typer.Option("--json",
                                          help="print the report as JSON on stdout")] = False,
) -> None:
    """Register paper complaints from a CSV. A bad row is listed (line, code, reason) and
    never stops the good ones; running the same file again registers nothing new."""
    from .backfill import count_rows, run_backfill
    from .dependencies import build

    ctx = build(Settings(), project_after_save=False)
    who = {"user_id": actor, "role": "admin", "desk": None}
    try:
        with Progress(TextColumn("[bold]backfill"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=as_json) as bar:
            task = bar.add_task("rows", total=count_rows(file))
            report = run_backfill(ctx.app, file, actor=who, batch_size=batch_size,
                                  progress=lambda n: bar.advance(task, n))
    finally:
        ctx.close()
    if errors is not None:
        with errors.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["line", "code", "field", "reason"])
            for e in report.errors:
                out.writerow([e.line, e.code, e.field or "", e.reason])
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    console.print(
        f"[green]{report.registered} registered[/], {report.already_registered} already "
        f"registered, {report.duplicates_linked} linked as probable duplicates, "
        f"[red]{len(report.errors)} refused[/] of {report.rows} rows"
    )
    if report.errors:
        table = Table("line", "code", "field", "reason", title="refused rows")
        for e in report.errors[:200]:
            table.add_row(str(e.line), e.code, e.field or "", e.reason)
        console.print(table)
        if len(report.errors) > 200:
            console.print(f"… and {len(report.errors) - 200} more (use --errors FILE)")
