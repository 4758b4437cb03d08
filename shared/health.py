"""Health of a process's dependencies, for /health and the CLI."""

from __future__ import annotations

from typing import Any

from shared.config import Settings


def check(settings: Settings) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        from shared.db import connect

        with connect(settings.pg_dsn, timeout=2) as conn:
            conn.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["postgres"] = f"error: {type(exc).__name__}"
    try:
        from kombu import Connection

        with Connection(settings.amqp_uri, connect_timeout=2) as conn:
            conn.connect()
        checks["rabbitmq"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["rabbitmq"] = f"error: {type(exc).__name__}"
    try:
        from shared.relay import relay_lag

        checks["relay"] = relay_lag(settings)
    except Exception as exc:  # noqa: BLE001
        checks["relay"] = f"error: {type(exc).__name__}"
    ok = checks["postgres"] == "ok" and checks["rabbitmq"] == "ok"
    return {"status": "ok" if ok else "degraded", "checks": checks}
