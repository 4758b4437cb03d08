"""`sedulur open311 clients add|list|revoke`: the client applications (311 apps, city
integrations) allowed to post GeoReport v2 requests, each with its own api key and the
channel its complaints are counted under. Only the key's SHA-256 is stored: the key is
printed once, at `add`."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.config import Settings
from shared.db import Database

app = typer.Typer(no_args_is_help=True)
clients = typer.Typer(no_args_is_help=True, help="Client applications and their api keys.")
app.add_typer(clients, name="clients")
console = Console(stderr=True)


def _store():  # type: ignore[no-untyped-def]
    from .adapters import PgOpen311Clients

    return PgOpen311Clients(Database.from_settings(Settings(), max_size=1))


@clients.command("add")
def add(
    client_id: Annotated[str, typer.Argument(help="short id, e.g. lapor-kota-batang")],
    name: Annotated[str, typer.Option(help="who runs the application")],
    channel: Annotated[str, typer.Option(
        help="channel its complaints are registered under: open311 or open311-<name>")]
    = "open311",
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON on stdout")] = False,
) -> None:
    """Register a client application and print its api key (shown only this once)."""
    from psycopg.errors import UniqueViolation

    from .open311 import check_channel

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", client_id):
        raise typer.BadParameter("lowercase letters, digits, - and _", param_hint="CLIENT_ID")
    try:
        check_channel(channel)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--channel") from None
    store = _store()
    try:
        api_key = store.add(client_id, name, channel)
    except UniqueViolation:
        console.print(f"[red]client {client_id} exists already[/]")
        raise typer.Exit(1) from None
    finally:
        store.db.close()
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "name": name, "channel": channel,
                               "api_key": api_key}))
        return
    console.print(f"[green]client {client_id}[/] ({name}) posts as channel {channel}")
    typer.echo(api_key)
    console.print("[yellow]store the api key now: only its hash is kept[/]")


@clients.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every client application (never the keys)."""
    store = _store()
    try:
        rows = store.all()
    finally:
        store.db.close()
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    table = Table("client_id", "name", "channel", "created", "revoked")
    for r in rows:
        table.add_row(r["client_id"], r["name"], r["channel"], f"{r['created_at']:%Y-%m-%d}",
                      f"{r['revoked_at']:%Y-%m-%d %H:%M}" if r["revoked_at"] else "")
    console.print(table)


@clients.command("revoke")
def revoke(client_id: str) -> None:
    """Revoke a client's api key at once; its complaints stay as they are."""
    store = _store()
    try:
        done = store.revoke(client_id)
    finally:
        store.db.close()
    if not done:
        console.print(f"[red]no active client {client_id}[/]")
        raise typer.Exit(1)
    console.print(f"[green]revoked[/] {client_id}")
