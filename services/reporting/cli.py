"""`sedulur report`: a recap to a file, the monthly schedule by hand, rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shared.config import Settings

app = typer.Typer(help="Recap reports (rekapitulasi) for Dinsos, the Bupati and Kemensos.",
                  no_args_is_help=True)


@app.command()
def generate(
    period: Annotated[str, typer.Option(help="YYYY-MM, YYYY-Www or YYYY-MM-DD")],
    area: Annotated[str, typer.Option(help="wilayah code: 2, 4, 6 or 10 digits")],
    out: Annotated[Path, typer.Option(help="file to write")],
    format: Annotated[str, typer.Option("--format", help="pdf | xlsx | csv | json")] = "pdf",
) -> None:
    """Write the recap of `period` in `area`, reconciled with the event log."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        rendered = ctx.reporting.render(period, area, format)
    finally:
        ctx.close()
    out.write_bytes(rendered.data)
    typer.echo(f"{out}: {len(rendered.data)} bytes, log position {rendered.log_position}")


@app.command()
def monthly() -> None:
    """Make last month's recaps per kabupaten that are not stored yet (what the sla
    service's timer does)."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        made = ctx.reporting.generate_monthly(datetime.now(UTC).date())
    finally:
        ctx.close()
    typer.echo("\n".join(made) or "nothing to generate")


@app.command()
def rebuild() -> None:
    """Replay the whole log into the reporting projection."""
    from .dependencies import build

    ctx = build(Settings())
    try:
        count = ctx.recap.rebuild()
    finally:
        ctx.close()
    typer.echo(f"reporting.recap rebuilt from {count} events")
