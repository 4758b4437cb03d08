"""Configuration from the environment, read once per process.

Every setting has a default that works on a developer machine with PostgreSQL and RabbitMQ
running locally; deployments override through env (ConfigMap / Secret in deploy/k8s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from shared.errors import ConfigurationError

SERVICES = ("intake", "verification", "routing", "sla", "dtks_sync")

DEFAULT_HTTP_PORTS = {
    "intake": 8701,
    "verification": 8702,
    "routing": 8703,
    "sla": 8704,
    "dtks_sync": 8705,
}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}", field=name) from None


@dataclass(frozen=True)
class Settings:
    pg_dsn: str = field(
        default_factory=lambda: _env(
            "SEDULUR_PG_DSN", "postgresql://postgres@127.0.0.1:5432/sedulur"
        )
    )
    amqp_uri: str = field(
        default_factory=lambda: _env("SEDULUR_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    )
    rabbit_management_url: str = field(
        default_factory=lambda: _env(
            "SEDULUR_RABBIT_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"
        )
    )
    pg_connect_timeout: int = field(default_factory=lambda: _int("SEDULUR_PG_CONNECT_TIMEOUT", 5))
    pg_pool_size: int = field(default_factory=lambda: _int("SEDULUR_PG_POOL_SIZE", 5))
    # Deliveries of one message before RabbitMQ dead-letters it (quorum queue delivery-limit).
    delivery_limit: int = field(default_factory=lambda: _int("SEDULUR_DELIVERY_LIMIT", 5))
    relay_window: int = field(default_factory=lambda: _int("SEDULUR_RELAY_WINDOW", 2000))
    relay_batch: int = field(default_factory=lambda: _int("SEDULUR_RELAY_BATCH", 500))
    default_kabupaten: str = field(default_factory=lambda: _env("SEDULUR_KABUPATEN", "3325"))
    max_workers: int = field(default_factory=lambda: _int("SEDULUR_MAX_WORKERS", 10))
    http_host: str = field(default_factory=lambda: _env("SEDULUR_HTTP_HOST", "127.0.0.1"))
    # Browser origins allowed to call the HTTP APIs (the web console, served by intake, calls
    # the other services across ports). Comma-separated; empty = intake's own address.
    console_origins: str = field(default_factory=lambda: _env("SEDULUR_CONSOLE_ORIGINS", ""))
    # /health turns "degraded" (still HTTP 200) beyond these; see shared/health.py.
    health_relay_lag_events: int = field(
        default_factory=lambda: _int("SEDULUR_HEALTH_RELAY_LAG_EVENTS", 10_000))
    health_relay_lag_seconds: int = field(
        default_factory=lambda: _int("SEDULUR_HEALTH_RELAY_LAG_SECONDS", 120))
    # Wraps every person's data key (shared/personal.py): 32 bytes, base64. The default is a
    # public development key; deployments set it from a Secret. Never logged.
    master_key: str = field(default_factory=lambda: _env("SEDULUR_MASTER_KEY", ""), repr=False)
    # How long a process may keep using a data key after `sedulur audit erase` destroyed it.
    key_cache_ttl: int = field(default_factory=lambda: _int("SEDULUR_KEY_CACHE_TTL", 60))

    def http_port(self, service: str) -> int:
        return _int(f"SEDULUR_{service.upper()}_HTTP_PORT", DEFAULT_HTTP_PORTS.get(service, 8700))

    def http_url(self, service: str) -> str:
        return f"http://{self.http_host}:{self.http_port(service)}"

    def allowed_origins(self) -> frozenset[str]:
        listed = [o.strip().rstrip("/") for o in self.console_origins.split(",") if o.strip()]
        if listed:
            return frozenset(listed)
        port = self.http_port("intake")
        return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})

    @property
    def pg(self) -> PgParams:
        return PgParams.from_dsn(self.pg_dsn)


@dataclass(frozen=True)
class PgParams:
    host: str
    port: int
    dbname: str
    user: str
    password: str

    @classmethod
    def from_dsn(cls, dsn: str) -> PgParams:
        parsed = urlparse(dsn)
        if parsed.scheme not in ("postgresql", "postgres") or not parsed.path.strip("/"):
            raise ConfigurationError(
                "SEDULUR_PG_DSN must look like postgresql://user[:password]@host:port/dbname, "
                f"got {dsn!r}",
                field="SEDULUR_PG_DSN",
            )
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            dbname=unquote(parsed.path.strip("/")),
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
        )

    def with_dbname(self, dbname: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"


def settings() -> Settings:
    return Settings()
