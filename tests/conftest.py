"""Real PostgreSQL and RabbitMQ for every test run (design.md §11).

testcontainers when a Docker engine answers; otherwise the local servers named by
SEDULUR_PG_DSN / SEDULUR_AMQP_URI. Either way each run gets a fresh database and a fresh
RabbitMQ vhost, removed at the end (set SEDULUR_KEEP_TEST_DB=1 to keep them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlparse

import pytest

from shared.auth import new_key
from shared.config import Settings
from shared.rabbit import RabbitAdmin

# Signed tokens (shared.auth) are on in every run, with a key of this run only. Set at import,
# not in a fixture: tests/helpers.py signs OPERATOR / AUDITOR when test modules are collected,
# and the in-process services and the stacks a test spawns read the same variable.
os.environ.setdefault("SEDULUR_JWT_KEYS", new_key("test"))
# Every test calls the public endpoints from 127.0.0.1: the run's limits are wide, and the
# tests of the limits themselves narrow them (SEDULUR_RATE_<NAME> is read per request).
os.environ.setdefault("SEDULUR_RATE_STATUS_LOOKUP", "1000/100000")
os.environ.setdefault("SEDULUR_RATE_PUBLIC_FORM", "1000/100000")


def _docker_answers() -> bool:
    try:
        import docker

        return bool(docker.from_env(timeout=2).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def _servers() -> Iterator[dict[str, str]]:
    """Base connection settings: containers if Docker works, else the local servers."""
    if os.environ.get("SEDULUR_USE_TESTCONTAINERS", "auto") != "no" and _docker_answers():
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        with PostgresContainer("postgres:15") as pg, RabbitMqContainer(
            "rabbitmq:3.10-management"
        ) as rmq:
            host = rmq.get_container_host_ip()
            yield {
                "pg": pg.get_connection_url().replace("+psycopg2", ""),
                "amqp": f"amqp://guest:guest@{host}:{rmq.get_exposed_port(5672)}/",
                "mgmt": f"http://guest:guest@{host}:{rmq.get_exposed_port(15672)}",
            }
        return
    base = Settings()
    yield {"pg": base.pg_dsn, "amqp": base.amqp_uri, "mgmt": base.rabbit_management_url}


@pytest.fixture(scope="session")
def sedulur_env(_servers: dict[str, str]) -> Iterator[Settings]:
    """A fresh database (migrated) and vhost for this run, exported to the environment so
    that services started as subprocesses see the same ones."""
    from shared.migrations import create_database, drop_database, migrate

    _remove_leftovers_of_dead_runs(_servers)
    run_id = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    dbname = f"sedulur_test_{run_id}"
    vhost = f"sedulur_test_{run_id}"

    os.environ["SEDULUR_PG_DSN"] = _servers["pg"]
    base = Settings()
    dsn = create_database(base, dbname)
    admin = RabbitAdmin(_servers["mgmt"])
    admin.create_vhost(vhost)
    amqp = urlparse(_servers["amqp"])
    amqp_uri = f"{amqp.scheme}://{amqp.netloc}/{quote(vhost, safe='')}"

    os.environ.update(
        {
            "SEDULUR_PG_DSN": dsn,
            "SEDULUR_AMQP_URI": amqp_uri,
            "SEDULUR_RABBIT_MANAGEMENT_URL": _servers["mgmt"],
            "SEDULUR_VHOST": vhost,
        }
    )
    settings = Settings()
    migrate(settings)
    yield settings
    if not os.environ.get("SEDULUR_KEEP_TEST_DB"):
        drop_database(base, dbname)
        admin.delete_vhost(vhost)


def _remove_leftovers_of_dead_runs(servers: dict[str, str]) -> None:
    """A killed test run leaves its database and its vhost (full of quorum queues) behind;
    enough of those wedge the broker. Run ids embed the pid: remove the ones whose
    process is gone."""
    import re

    from shared.db import connect

    def dead(name: str) -> bool:
        m = re.match(r"sedulur_test_(\d+)_[0-9a-f]+$", name)
        if not m:
            return False
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    admin = RabbitAdmin(servers["mgmt"])
    try:
        for vhost in admin.vhosts():
            if dead(vhost):
                admin.delete_vhost(vhost)
        admin_dsn = Settings(pg_dsn=servers["pg"]).pg.with_dbname("postgres")
        with connect(admin_dsn) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'sedulur_test_%'")]
            for name in names:
                if dead(name):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001 - housekeeping must not fail the run
        print(f"warning: could not remove leftovers of dead test runs: {exc!r}")


@pytest.fixture(scope="session")
def rabbit_admin(sedulur_env: Settings) -> RabbitAdmin:
    return RabbitAdmin(sedulur_env.rabbit_management_url)


@pytest.fixture(scope="session")
def vhost(sedulur_env: Settings) -> str:
    return os.environ["SEDULUR_VHOST"]


@pytest.fixture(scope="session")
def topology_declared(sedulur_env: Settings) -> Settings:
    from shared.topology import declare

    declare(sedulur_env)
    return sedulur_env


@pytest.fixture(scope="session")
def event_app(sedulur_env: Settings) -> Iterator[object]:
    from shared.eventstore import ComplaintsApplication

    app = ComplaintsApplication(sedulur_env)
    yield app
    app.close()
