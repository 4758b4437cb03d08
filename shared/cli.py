"""`sedulur`: the operations command line."""

# Services run on eventlet: patch before anything imports socket, threading or psycopg.
import os
import warnings

# psycopg's C build (psycopg-binary) waits for the server in C, which would block the
# eventlet hub: make it wait through the (green) select module instead.
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import importlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402

from shared.supervisor import stop_with_parent  # noqa: E402

stop_with_parent()

from shared.config import SERVICES, Settings  # noqa: E402
from shared.errors import SedulurError  # noqa: E402

app = typer.Typer(help="Sedulur: complaint and referral backbone for Puskesos / SLRT desks.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True)


def _mount_optional(name: str, module: str, help_text: str) -> None:
    """Service CLIs live with their service; mount them when present."""
    try:
        sub = importlib.import_module(module).app
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return
        raise
    app.add_typer(sub, name=name, help=help_text)


@app.command()
def migrate() -> None:
    """Create or update the database schema (event store, projections, replica)."""
    from shared.migrations import migrate as run

    applied = run(Settings())
    console.print(f"[green]schema up to date[/] ({len(applied)} migrations applied)")


@app.command()
def topology() -> None:
    """Declare exchanges, consumer queues, dead-letter path and policies in RabbitMQ."""
    from shared.topology import declare

    queues = declare(Settings())
    console.print(f"[green]declared[/] {len(queues)} consumer queues")


@app.command()
def run(service: str = typer.Argument(..., help=" | ".join(SERVICES))) -> None:
    """Run one service in the foreground (SIGTERM drains in-flight work)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    from shared.shell import run_service

    run_service(service)


@app.command()
def relay() -> None:
    """Run the outbox relay (safe to run several: one leads, the others wait)."""
    import signal

    from prometheus_client import start_http_server

    from shared import logging as slog
    from shared.relay import Relay

    slog.configure("relay")
    port = int(os.environ.get("SEDULUR_RELAY_METRICS_PORT", "8706"))
    try:
        start_http_server(port, addr=Settings().http_host)
    except OSError:
        console.print(f"[yellow]relay metrics port {port} busy; metrics not served[/]")
    from shared.metrics import register_queue_depth

    register_queue_depth(Settings())  # every queue of the vhost: DLQ, agency and consumers
    import logging
    import time

    log = logging.getLogger("sedulur.relay")
    stopping = False
    current: Relay | None = None

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        if current is not None:
            current.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    backoff = 1.0
    # A lost database or broker connection ends one run; the next run re-acquires the
    # leader lock and resumes from the saved position. The wait stays short (at most 5 s):
    # every second the relay is not running is a second no consumer hears of new events,
    # and a reconnect attempt costs one TCP connect. A run that lasted a while resets it.
    while not stopping:
        current = Relay(Settings())
        began = time.monotonic()
        try:
            current.run()
            backoff = 1.0
        except Exception:
            if time.monotonic() - began > 30:
                backoff = 1.0
            log.exception("relay.crashed restarting in %.0fs", backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 5)


@app.command()
def check(
    rabbit: bool = typer.Option(True, help="also check the consumer and dead-letter queues"),
) -> None:
    """Check the guarantees over what is stored: valid lifecycles, projections equal to a
    rebuild (replayed in a rolled-back transaction), one SLA deadline per stage, no stuck
    consumer queue. Run it on a quiet system; exit code 1 when something is violated."""
    from rich.table import Table

    from shared.invariants import check_all, vhost_of

    settings = Settings()
    report = check_all(settings, vhost=vhost_of(settings) if rabbit else None)
    counts = Table(title="checked", title_justify="left")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for key, value in sorted(report.counts.items()):
        counts.add_row(key, str(value))
    Console().print(counts)
    if report.ok:
        console.print("[green]all guarantees hold[/]")
        return
    table = Table(title=f"{len(report.findings)} violations", title_justify="left")
    for col in ("check", "kind", "subject", "detail"):
        table.add_column(col)
    for f in report.findings[:200]:
        table.add_row(f.check, f.kind, f.subject, f.detail)
    Console().print(table)
    raise typer.Exit(1)


@app.command()
def up(demo: int = typer.Option(0, help="register this many simulated complaints, then stop"),
       log_dir: Path = typer.Option(Path("var/log"), help="where service logs go")) -> None:
    """Run everything: schema, topology, the five services and the relay."""
    from shared.demo import run_stack

    run_stack(Settings(), log_dir=log_dir, complaints=demo, console=console)


@app.command()
def demo(complaints: int = typer.Option(60, help="how many complaints the simulated day has"),
         log_dir: Path = typer.Option(Path("var/log"), help="where service logs go")) -> None:
    """The main job: all services + relay + a simulated day of complaints, narrated."""
    from shared.demo import run_stack

    run_stack(Settings(), log_dir=log_dir, complaints=max(complaints, 2), console=console)


_mount_optional("dtks", "services.dtks_sync.cli", "DTKS replica: generate, import, lookup.")
_mount_optional("routing", "services.routing.cli", "Routing tables and agency work queues.")
_mount_optional("sla", "services.sla.cli", "SLA policies, timer pass, deadlines, board.")
_mount_optional("rabbit", "shared.rabbit_cli", "RabbitMQ definitions: generate, load.")
_mount_optional("intake", "services.intake.cli", "Intake: backfill paper complaints from CSV.")
_mount_optional("open311", "services.intake.open311_cli",
                "Open311 GeoReport v2: client applications and their api keys.")
_mount_optional("audit", "shared.audit.cli", "Auditor tools: history, state, verify, anchor.")
_mount_optional("projections", "shared.projections_cli", "Read models: list, rebuild, check.")
_mount_optional("bench", "bench.cli", "Benchmarks beside the raw PostgreSQL / RabbitMQ ceilings.")
_mount_optional("verification", "services.verification.cli", "Verification: usulan export.")
_mount_optional("report", "services.reporting.cli", "Recap reports (rekapitulasi): PDF, XLSX, CSV.")
_mount_optional("users", "shared.users_cli", "Users, roles and areas; signed tokens.")


def main() -> None:
    try:
        app()
    except SedulurError as exc:
        console.print(f"[red]error[/] [{exc.code}] {exc.message}")
        sys.exit(2)


if __name__ == "__main__":
    main()
