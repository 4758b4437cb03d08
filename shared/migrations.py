"""Applies the schema: the event store (eventsourcing's own DDL), then each component's SQL
files (`shared/sql`, `services/<name>/sql`), one object per file, in file-name order, each
once, under an advisory lock so concurrent starts cannot race."""

from __future__ import annotations

import hashlib
from pathlib import Path

from shared.config import SERVICES, Settings
from shared.db import connect

ROOT = Path(__file__).resolve().parent.parent
MIGRATION_LOCK = 0x5ED0_1001
COMPONENTS = ("reporting",)


def migration_dirs() -> list[tuple[str, Path]]:
    dirs = [("shared", ROOT / "shared" / "sql")]
    dirs += [(svc, ROOT / "services" / svc / "sql") for svc in SERVICES]
    # Components that are not services of their own (fed by a service's handlers).
    dirs += [(name, ROOT / "services" / name / "sql") for name in COMPONENTS]
    return [(name, d) for name, d in dirs if d.is_dir()]


def pending_files() -> list[tuple[str, Path]]:
    return [(name, f) for name, d in migration_dirs() for f in sorted(d.glob("*.sql"))]


def migrate(settings: Settings | None = None) -> list[str]:
    settings = settings or Settings()
    applied: list[str] = []
    with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS public.sedulur_migrations ("
                " component text NOT NULL, filename text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (component, filename))"
            )
            conn.execute("CREATE SCHEMA IF NOT EXISTS eventstore")
            _create_event_store(settings)
            done = {
                (r[0], r[1]): r[2]
                for r in conn.execute(
                    "SELECT component, filename, checksum FROM public.sedulur_migrations"
                )
            }
            for component, path in pending_files():
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                key = (component, path.name)
                if key in done:
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO public.sedulur_migrations (component, filename, checksum)"
                        " VALUES (%s, %s, %s)",
                        (component, path.name, checksum),
                    )
                applied.append(f"{component}/{path.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return applied


def _create_event_store(settings: Settings) -> None:
    from shared.eventstore import ComplaintsApplication

    app = ComplaintsApplication(settings, create_table=True)
    app.close()


def create_database(settings: Settings, dbname: str) -> str:
    """Create an empty database next to the configured one; returns its DSN."""
    admin = settings.pg.with_dbname("postgres")
    with connect(admin, timeout=settings.pg_connect_timeout) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    return settings.pg.with_dbname(dbname)


def drop_database(settings: Settings, dbname: str) -> None:
    admin = settings.pg.with_dbname("postgres")
    with connect(admin, timeout=settings.pg_connect_timeout) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
