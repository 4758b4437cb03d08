"""`sedulur projections …`: list, rebuild online, check rebuilt == live."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from shared.config import Settings

app = typer.Typer(help="Read models: rebuild from the log while live, compare with live.",
                  no_args_is_help=True)
out = Console()
Names = Annotated[list[str] | None, typer.Argument(help="projection names (default: all)")]
err = Console(stderr=True)


def _selected(names: list[str] | None) -> list[Any]:
    from shared.db import Database
    from shared.eventstore import ComplaintsApplication
    from shared.projection_rebuild import select

    settings = Settings()
    return select(names, ComplaintsApplication(settings), Database.from_settings(settings))


def _updater(bar: Progress, task: Any) -> Any:
    return lambda n: bar.update(task, completed=n)


@app.command("list")
def list_() -> None:
    """Every projection of every service, with its tables."""
    for p in _selected(None):
        out.print(f"{p.name}: {', '.join(p.tables)}")


@app.command()
def rebuild(names: Names = None, batch: int = 5000) -> None:
    """Replay the log into shadow tables while live traffic continues, then swap atomically."""
    from shared.projection_rebuild import rebuild as run

    for p in _selected(names):
        with Progress(TextColumn(f"rebuilding {p.name}"), BarColumn(),
                      TextColumn("{task.completed} events"), console=err) as bar:
            task = bar.add_task(p.name, total=None)
            result = run(p, batch=batch, progress=_updater(bar, task))
        err.print(f"[green]{p.name}[/] rebuilt from {result['events']} events "
                  f"({result['caught_up']} caught up at the switch), {result['streams']} streams")


@app.command()
def check(names: Names = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Rebuild a copy and compare it with the live tables row by row."""
    from shared.projection_rebuild import check as run

    reports = []
    for p in _selected(names):
        with Progress(TextColumn(f"replaying {p.name}"), BarColumn(),
                      TextColumn("{task.completed} events"), console=err) as bar:
            task = bar.add_task(p.name, total=None)
            reports.append(run(p, progress=_updater(bar, task)))
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], default=str, indent=2) + "\n")
    table = Table(title="rebuilt vs live")
    for col in ("projection", "table", "live rows", "rebuilt rows", "missing", "extra",
                "changed", "streams behind"):
        table.add_column(col)
    for r in reports:
        for t in r.tables:
            table.add_row(r.projection, t.table, str(t.live_rows), str(t.rebuilt_rows),
                          str(len(t.missing_from_live)), str(len(t.extra_in_live)),
                          str(len(t.changed)), str(r.streams_behind))
    err.print(table)
    for r in reports:
        for t in r.tables:
            for c in t.changed[:5]:
                err.print(f"[yellow]{t.table}[/] {c['key']}: live {c['live']}"
                          f" != rebuilt {c['rebuilt']}")
    if not all(r.ok for r in reports):
        raise typer.Exit(1)
