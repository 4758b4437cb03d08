"""`sedulur routing ...`: routing tables and the agency work queue from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from shared.config import Settings

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@app.command("show-table")
def show_table(kabupaten: str = typer.Argument(..., help="kab/kota code, or '*'")) -> None:
    """Print the routing table in force for a kabupaten/kota (YAML) and its version."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        table = ctx.app.tables.current(kabupaten)
        console.print(f"version {table.version} (from {table.kabupaten!r})")
        typer.echo(yaml.safe_dump(table.to_document(), sort_keys=False, allow_unicode=True))
    finally:
        ctx.close()


@app.command("put-table")
def put_table(
    kabupaten: Annotated[str, typer.Argument(help="kab/kota code, or '*'")],
    file: Annotated[Path, typer.Argument(exists=True, help="YAML with rules + default")],
    user: Annotated[str, typer.Option(help="the admin making the change (recorded)")],
    expected_version: Annotated[int | None, typer.Option(help="refuse if it moved on")] = None,
) -> None:
    """Validate and store a new version of a kabupaten's table; in force at once."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        table = ctx.app.replace_table(kabupaten, yaml.safe_load(file.read_text()),
                                      # the CLI holds database credentials: deployment-level
                                      # access, checked by PostgreSQL, not by shared.auth
                                      actor={"user_id": user, "role": "system"},
                                      expected_version=expected_version)
        console.print(f"[green]stored[/] {kabupaten} version {table.version}")
    finally:
        ctx.close()


@app.command("rebuild-queue")
def rebuild_queue() -> None:
    """Rebuild the agency work queue projection from the event log (readers keep the old
    rows until the rebuild commits)."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        count = ctx.queue.rebuild()
        rows = ctx.db.fetchone("SELECT count(*) AS n FROM routing.agency_queue")
        typer.echo(json.dumps({"events_replayed": count, "queue_rows": rows and rows["n"]}))
    finally:
        ctx.close()
