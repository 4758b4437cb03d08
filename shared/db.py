"""PostgreSQL access for projections and service tables (the event store has its own pool).

A wrong host or port would otherwise hang for the driver's default ~30 s and fail
opaquely; every connection here has a short connect timeout and a failure names the
setting to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.config import PgParams, Settings
from shared.errors import ConfigurationError, DependencyUnavailable


def connect(dsn: str, *, timeout: int = 5, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection:
    try:
        return psycopg.connect(dsn, connect_timeout=timeout, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        params = PgParams.from_dsn(dsn)
        raise ConfigurationError(
            f"cannot connect to PostgreSQL at {params.host}:{params.port} database "
            f"{params.dbname!r} as {params.user!r} within {timeout}s: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}. "
            "Check SEDULUR_PG_DSN.",
            field="SEDULUR_PG_DSN",
        ) from None


def check_reachable(dsn: str, timeout: int = 5) -> None:
    """Fail fast at start-up with a clear error instead of hanging in the first request."""
    with connect(dsn, timeout=timeout) as conn:
        conn.execute("SELECT 1")


class Database:
    """A small pool for one service's own tables (projections, deadlines, replica)."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: int = 5):
        check_reachable(dsn, timeout)
        self.dsn = dsn
        self.pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=max(timeout, 10),
            kwargs={"autocommit": True, "connect_timeout": timeout, "row_factory": dict_row},
            open=True,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> Database:
        return cls(settings.pg_dsn, timeout=settings.pg_connect_timeout, **kwargs)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable(f"PostgreSQL unavailable: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor]:
        with self.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def fetchall(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def fetchone(self, sql: str, params: Any = None) -> dict[str, Any] | None:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def execute(self, sql: str, params: Any = None) -> None:
        with self.connection() as conn:
            conn.execute(sql, params)

    def close(self) -> None:
        self.pool.close()
