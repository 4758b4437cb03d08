"""`sedulur users …`: create users, list them, issue tokens (demo, tests, operations)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shared.auth import ROLES, Principal, new_key
from shared.config import Settings

app = typer.Typer(no_args_is_help=True)
out = Console()


@contextmanager
def _store() -> Iterator[Any]:
    """Built lazily so `--help` needs no database; the pool closes with the command."""
    from shared.db import Database
    from shared.users import UserStore

    db = Database.from_settings(Settings(), min_size=1, max_size=2)
    try:
        yield UserStore(db)
    finally:
        db.close()


@app.command()
def create(user_id: str,
           role: str = typer.Option(..., help=" | ".join(ROLES)),
           desk: str = typer.Option(None, help="operator: the desk's wilayah code"),
           kecamatan: str = typer.Option(None, help="supervisor: kecamatan code (6 digits)"),
           kabupaten: str = typer.Option(None, help="verifier / admin / agency: 4 digits"),
           agency: str = typer.Option(None, help="agency: its code, e.g. DINKES"),
           name: str = typer.Option(None, help="display name")) -> None:
    """Create (or update) a user with a role and an area."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    with _store() as store:
        p = store.create(Principal(user_id=user_id, role=role, desk=desk, kecamatan=kecamatan,
                                   kabupaten=kabupaten, agency=agency), display_name=name)
    out.print(f"[green]user[/] {p.user_id} ({p.role})")


@app.command("list")
def list_users(role: str = typer.Option(None, help="only this role")) -> None:
    """List users with their role and area."""
    table = Table("user", "role", "desk", "kecamatan", "kabupaten", "agency", "active")
    with _store() as store:
        rows = store.list(role)
    for row in rows:
        table.add_row(*(str(row[k] or "") for k in ("user_id", "role", "desk", "kecamatan",
                                                     "kabupaten", "agency", "active")))
    out.print(table)


@app.command()
def token(user_id: str,
          ttl: int = typer.Option(None, help="seconds (default SEDULUR_JWT_TTL_SECONDS/900)"),
          as_json: bool = typer.Option(False, "--json", help="print claims too")) -> None:
    """Issue a signed token for a user (prints only the token, for scripts)."""
    with _store() as store:
        value = store.token(user_id, ttl)
        claims = store.get(user_id).as_actor() if as_json else {}
    print(json.dumps({"token": value, **claims}) if as_json else value)


@app.command("new-key")
def new_key_cmd(kid: str = typer.Option(None, help="key id (default: k<date>)")) -> None:
    """Print a new `kid:secret` to put in front of SEDULUR_JWT_KEYS (rotation)."""
    print(new_key(kid))
