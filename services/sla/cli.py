"""`sedulur sla`: policies, one timer pass, rebuilding the deadlines, the board."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import typer

from shared.config import Settings

app = typer.Typer(help="SLA policies, deadlines, timer and board.", no_args_is_help=True)


@app.command()
def policies() -> None:
    """The shipped policies and the active one (with its version hash)."""
    from .domainmodel import PolicySet, policy_version
    from .policies import builtin_policy_names, load_builtin_policy

    active = PolicySet.from_env()
    for name in builtin_policy_names():
        policy = load_builtin_policy(name)
        mark = "*" if policy == active.default else " "
        typer.echo(f"{mark} {name:<14} {policy_version(policy)}  {policy.description}")
    if active.default.name not in builtin_policy_names():
        typer.echo(f"* {active.default.name:<14} {policy_version(active.default)}"
                   f"  (file {active.default.source})")
    for kab, policy in sorted(active.by_kabupaten.items()):
        typer.echo(f"  {kab}: {policy.name} {policy_version(policy)}")


@app.command()
def tick() -> None:
    """Run one pass of the SLA timer now (what every sla instance does periodically)."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        report = ctx.watchdog.tick()
    finally:
        ctx.close()
    typer.echo(f"at risk flagged: {len(report.at_risk)}")
    for cid, stage, step, outcome in report:
        typer.echo(f"{cid} {stage} step {step}: {outcome}")


@app.command()
def rebuild() -> None:
    """Recompute sla.deadlines from the whole event log with the configured policies."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        count = ctx.deadlines.rebuild()
    finally:
        ctx.close()
    typer.echo(f"replayed {count} events")


@app.command()
def board(by: str = typer.Option("stage", help="stage | agency | kecamatan | kabupaten"),
          days: int = typer.Option(30, help="period: the last N days")) -> None:
    """The SLA board as JSON."""
    from shared.db import Database

    from .adapters import BOARD_DIMENSIONS, Board

    if by not in BOARD_DIMENSIONS:
        raise typer.BadParameter(f"by must be one of {sorted(BOARD_DIMENSIONS)}")
    db = Database.from_settings(Settings())
    try:
        now = datetime.now(UTC)
        rows = Board(db).summary(by, now, now - timedelta(days=days), now)
    finally:
        db.close()
    typer.echo(json.dumps(rows, default=str, indent=2))
