"""Where a benchmark runs: its own database and RabbitMQ vhost (never the default `sedulur`
ones), and what the machine was doing at the time, so a noisy run can be recognised."""

from __future__ import annotations

import os
import platform
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def busy_cpus() -> list[str]:
    """The processes using most CPU right now (other test runs on a shared box)."""
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [" ".join(line.split()) for line in out.splitlines()[:5] if line.strip()]


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = _git("rev-parse", "--short=10", "HEAD") or "nocommit"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit + ("-dirty" if dirty else ""),
        "machine": f"{platform.system()} {platform.release()} {model}".strip(),
        "cpus": os.cpu_count(),
        "memory": mem,
    }


def versions(settings: Settings) -> dict[str, str]:
    from shared.db import connect

    out = {"python": platform.python_version()}
    for pkg in ("eventsourcing", "psycopg", "amqp", "kombu", "nameko", "eventlet"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    try:
        with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout) as conn:
            out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            out["postgresql fsync / synchronous_commit"] = " / ".join(
                conn.execute(f"SHOW {name}").fetchone()[0]
                for name in ("fsync", "synchronous_commit"))
    except Exception as exc:  # noqa: BLE001 - a version is nice to have, not needed
        out["postgresql"] = f"unknown ({exc.__class__.__name__})"
    try:
        from shared.rabbit import RabbitAdmin

        overview = RabbitAdmin(settings.rabbit_management_url)._call("GET", "/overview")
        out["rabbitmq"] = overview.get("rabbitmq_version", "?")
        out["erlang"] = overview.get("erlang_version", "?")
    except Exception as exc:  # noqa: BLE001
        out["rabbitmq"] = f"unknown ({exc.__class__.__name__})"
    return out


@contextmanager
def isolated(keep: bool = False) -> Iterator[Settings]:
    """A fresh, migrated database and a fresh vhost, exported to the environment so the
    services the benchmark starts as processes use them too; removed afterwards."""
    from shared.migrations import create_database, drop_database, migrate
    from shared.rabbit import RabbitAdmin

    base = Settings()
    run_id = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    name = f"sedulur_bench_{run_id}"
    dsn = create_database(base, name)
    admin = RabbitAdmin(base.rabbit_management_url, timeout=60)
    for attempt in range(6):  # a busy shared broker's management API drops connections
        try:
            admin.create_vhost(name)
            break
        except Exception:
            if attempt == 5:
                drop_database(base, name)
                raise
            time.sleep(10)
    amqp = urlparse(base.amqp_uri)
    saved = {k: os.environ.get(k) for k in ("SEDULUR_PG_DSN", "SEDULUR_AMQP_URI", "SEDULUR_VHOST")}
    os.environ.update({"SEDULUR_PG_DSN": dsn, "SEDULUR_VHOST": name,
                       "SEDULUR_AMQP_URI": f"{amqp.scheme}://{amqp.netloc}/{quote(name, safe='')}"})
    try:
        settings = Settings()
        migrate(settings)
        yield settings
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if not keep:
            # Never lose a run's results to a failed clean-up (a broker restarted by
            # someone else's fault test, say): say what is left behind instead.
            for what, drop in (("database", lambda: drop_database(base, name)),
                               ("vhost", lambda: admin.delete_vhost(name))):
                try:
                    drop()
                except Exception as exc:  # noqa: BLE001
                    print(f"[bench] could not drop {what} {name}: {exc}", flush=True)


def vhost_of(settings: Settings) -> str:
    return unquote(urlparse(settings.amqp_uri).path.lstrip("/")) or "/"
