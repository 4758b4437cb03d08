"""Health of a process's dependencies, for /health and the CLI.

- "down" (HTTP 503): PostgreSQL or RabbitMQ cannot be reached; the process cannot work, a
  load balancer should stop sending it requests and an orchestrator may restart it.
- "degraded" (HTTP 200): the process works but the flow behind it is late: the relay is
  more than SEDULUR_HEALTH_RELAY_LAG_EVENTS events behind the store, or has had unpublished
  events for more than SEDULUR_HEALTH_RELAY_LAG_SECONDS. Restarting this process would not
  help, so it stays in service; alerts (deploy/prometheus) page a human instead.
"""

from __future__ import annotations

from typing import Any

from shared.config import Settings

DOWN = "down"
DEGRADED = "degraded"
OK = "ok"


def check(settings: Settings) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        from shared.db import connect

        with connect(settings.pg_dsn, timeout=2) as conn:
            conn.execute("SELECT 1")
        checks["postgres"] = OK
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["postgres"] = f"error: {type(exc).__name__}"
    try:
        from kombu import Connection

        with Connection(settings.amqp_uri, connect_timeout=2) as conn:
            conn.connect()
        checks["rabbitmq"] = OK
    except Exception as exc:  # noqa: BLE001
        checks["rabbitmq"] = f"error: {type(exc).__name__}"
    reasons: list[str] = []
    if checks["postgres"] == OK:
        try:
            from shared.relay import relay_lag

            lag = relay_lag(settings)
            checks["relay"] = lag
            if lag["lag"] > settings.health_relay_lag_events:
                reasons.append(f"relay {lag['lag']} events behind "
                               f"(threshold {settings.health_relay_lag_events})")
            if lag["seconds"] > settings.health_relay_lag_seconds:
                reasons.append(f"relay behind for {lag['seconds']:.0f}s "
                               f"(threshold {settings.health_relay_lag_seconds}s)")
        except Exception as exc:  # noqa: BLE001
            checks["relay"] = f"error: {type(exc).__name__}"
            reasons.append("relay position unreadable")
    down = [name for name in ("postgres", "rabbitmq") if checks[name] != OK]
    status = DOWN if down else DEGRADED if reasons else OK
    report: dict[str, Any] = {"status": status, "checks": checks}
    if down:
        report["down"] = down
    if reasons:
        report["degraded"] = reasons
    return report


def http_status(report: dict[str, Any]) -> int:
    return 503 if report["status"] == DOWN else 200
