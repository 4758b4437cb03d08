"""`sedulur audit …`: history, point-in-time state, chain verification and anchors."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from shared.config import Settings

app = typer.Typer(help="Auditor tools: history, state as of a time, tamper evidence.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _trail() -> Any:
    from shared.audit.history import AuditTrail
    from shared.db import Database
    from shared.eventstore import ComplaintsApplication

    settings = Settings()
    return AuditTrail(ComplaintsApplication(settings), Database.from_settings(settings, max_size=2))


_SHOWN = {"registration_number", "kabupaten", "desk"}  # already in their own columns


def _details(details: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in details.items()
                     if k not in _SHOWN and v not in (None, "", [], {}))


@app.command()
def history(
    complaint: str = typer.Argument(..., help="registration number or complaint id"),
    format: str = typer.Option("table", "--format", "-f", help="table | json | csv"),
    follow_links: bool = typer.Option(True, help="include the earlier complaint it re-registers"),
) -> None:
    """Every event of a complaint in order: time, actor, correlation id, reasons."""
    from shared.audit.history import history_csv

    entries = _trail().history(complaint, follow_links=follow_links)
    if format == "json":
        sys.stdout.write(json.dumps(entries, ensure_ascii=False, indent=2) + "\n")
        return
    if format == "csv":
        sys.stdout.write(history_csv(entries))
        return
    if format != "table":
        raise typer.BadParameter("format is one of table, json, csv")
    table = Table(title=f"history of {complaint}", show_lines=False)
    for col in ("complaint", "v", "pos", "time", "event", "actor", "role", "desk",
                "correlation", "reasons"):
        table.add_column(col, overflow="fold")
    for e in entries:
        a = e["actor"]
        table.add_row(e["registration_number"] or e["complaint_id"][:8], str(e["version"]),
                      str(e["position"]), e["time"][:19], e["event"], a["user_id"] or "",
                      a["role"] or "", a["desk"] or a["agency"] or "", e["correlation_id"] or "",
                      _details(e["details"]))
    out.print(table)


@app.command()
def state(
    complaint: str = typer.Argument(..., help="registration number or complaint id"),
    version: int = typer.Option(None, help="state after this version"),
    at: str = typer.Option(None, help="state as of this ISO time with zone, e.g. "
                           "2025-11-23T10:00:00+07:00"),
) -> None:
    """The complaint as it was at a version or a moment (point in time)."""
    from shared.errors import InvalidInput

    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise InvalidInput("--at must be an ISO 8601 time with zone", field="at") from None
    sys.stdout.write(json.dumps(_trail().state_at(complaint, version=version, at=moment),
                                ensure_ascii=False, indent=2) + "\n")


@app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="print the report as JSON")) -> None:
    """Walk the whole store, recompute every hash and link, check the anchors."""
    from shared.audit.chain import verify as run

    with Progress(TextColumn("verifying"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("verify", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = run(Settings().pg_dsn, progress=progress)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    first = report.first
    if first is None:
        err.print(f"[green]chain intact[/]: {report.events} events in {report.streams} streams,"
                  f" {report.anchors_checked} anchors")
        return
    err.print(f"[red]broken[/] at position {first.position}: complaint {first.complaint_id}"
              f" ({first.registration_number or '?'}) version {first.version}:"
              f" {first.kind} — {first.detail}")
    if len(report.problems) > 1:
        err.print(f"{len(report.problems) - 1} more problem(s) after it")
    raise typer.Exit(1)


@app.command()
def anchor() -> None:
    """Record the rolling hash of the whole log so far (also run by intake's timer)."""
    from shared.audit.chain import anchor as run

    result = run(Settings().pg_dsn)
    if result is None:
        err.print("nothing appended since the last anchor")
    else:
        out.print(f"anchored {result['events']} events up to position "
                  f"{result['up_to_notification_id']}: {result['rolling_hash']}")


@app.command()
def erase(
    nik: str = typer.Argument(..., help="the NIK of the person who asked to be erased"),
    reason: str = typer.Option(..., help="the request and its legal basis (UU PDP)"),
    actor: str = typer.Option(..., help="the officer carrying out the erasure"),
) -> None:
    """Crypto-shred a person's personal data: destroy their keys, record the erasure, blank
    the read models. The log and its hash chain stay as they are."""
    from shared.audit.erasure import erase as run

    result = run(Settings(), nik, reason=reason, actor=actor)
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    err.print(f"erased: {result['keys_shredded']} key(s) destroyed, "
              f"{len(result['complaints'])} complaint(s) now read as [dihapus]")
    if result["plaintext_complaints"]:
        err.print(f"[yellow]{len(result['plaintext_complaints'])} complaint(s) were stored "
                  "before per-person keys and stay in plaintext in the log[/] (docs/audit.md)")
