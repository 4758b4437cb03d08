"""`sedulur rabbit …`: RabbitMQ definitions generated from the code, written or loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlparse

import typer
from rich.console import Console

from shared.config import Settings

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


def settings_vhost(settings: Settings) -> str:
    return unquote(urlparse(settings.amqp_uri).path.lstrip("/")) or "/"


@app.command()
def definitions(
    out: Annotated[Path | None, typer.Option(
        "--out", help="write the JSON here (default: stdout)")] = None,
    load: Annotated[bool, typer.Option(
        "--load", help="load into RabbitMQ via the management API")] = False,
    vhost: Annotated[str | None, typer.Option(
        help="vhost (default: the one in SEDULUR_AMQP_URI)")] = None,
    kabupaten: Annotated[list[str] | None, typer.Option(
        "--kabupaten", help="kabupaten/kota codes with agency users "
                            "(default: SEDULUR_KABUPATEN + routing table)")] = None,
) -> None:
    """Exchanges, quorum consumer queues, dead-letter path, policies, service/relay/agency
    users and permissions. --load sets passwords from SEDULUR_RABBIT_PASSWORD_<USER>;
    users without one are left as they are."""
    from shared.rabbit import RabbitAdmin
    from shared.rabbit_definitions import generate, passwords_from_env, with_passwords

    settings = Settings()
    doc = generate(vhost=vhost or settings_vhost(settings),
                   kabupaten=kabupaten or [settings.default_kabupaten],
                   delivery_limit=settings.delivery_limit)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if out:
        out.write_text(text)
        console.print(f"[green]wrote[/] {out}")
    elif not load:
        typer.echo(text, nl=False)
    if load:
        loadable, skipped = with_passwords(doc, passwords_from_env(doc))
        RabbitAdmin(settings.rabbit_management_url).load_definitions(loadable)
        target = doc["vhosts"][0]["name"]
        console.print(f"[green]loaded[/] {len(doc['queues'])} queues, {len(doc['policies'])} "
                      f"policies, {len(loadable['users'])} users into vhost {target}")
        if skipped:
            console.print(f"[yellow]users without a password in the environment, left as they "
                          f"are:[/] {', '.join(skipped)}")
