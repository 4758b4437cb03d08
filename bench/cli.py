"""`sedulur bench [--quick]`: runs bench/run.py in a plain Python process (no eventlet
monkey-patching, which `sedulur` itself applies for the services)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Benchmarks against the raw PostgreSQL / RabbitMQ ceilings.")


@app.callback(invoke_without_command=True)
def bench(
    quick: Annotated[bool, typer.Option("--quick", help="a short run (~3 minutes)")] = False,
    keep: Annotated[bool, typer.Option(help="keep the benchmark database and vhost")] = False,
    profile_relay: Annotated[Path | None,
                             typer.Option(help="write a cProfile of the relay here")] = None,
) -> None:
    """Measure the pipeline beside the raw ceilings; write docs/benchmarks.md and
    bench/results/<date>-<commit>.json."""
    args = [sys.executable, "-m", "bench.run"]
    if quick:
        args.append("--quick")
    if keep:
        args.append("--keep")
    if profile_relay:
        args += ["--profile-relay", str(profile_relay)]
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    raise typer.Exit(subprocess.call(args, env=env))
