"""Helpers for interface and system tests: in-process services, a relay thread, polling."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import eventlet

from shared.config import Settings
from shared.relay import Relay
from shared.shell import nameko_config

T = TypeVar("T")



# Tokens signed when a test module is collected must outlive the session (expiry itself is
# tested with explicit clocks in tests/unit/test_auth.py and test_access_control.py).
TEST_TOKEN_TTL = 12 * 3600


def actor_headers(user_id: str, role: str, *, desk: str | None = None, area: str | None = None,
                  agency: str | None = None, kabupaten: str | None = None) -> dict[str, str]:
    """`Authorization: Bearer <jwt>` for this user, signed with the run's key ring
    (SEDULUR_JWT_KEYS, set by tests/conftest.py before any test module is imported). Every
    test builds its credentials here.

    Areas: `desk` for an operator; `area` is the wilayah a supervisor oversees (its
    kecamatan); a verifier / admin / agency works in `kabupaten` (default 3325, the test
    complaints' kabupaten; an `area` given to them counts as their kabupaten). A role
    without its area claims still gets a signed token, which the services refuse (401)."""
    from shared.auth import issue_claims

    claims: dict[str, str | None] = {"desk": desk, "agency": agency}
    if role == "supervisor":
        claims["kecamatan"] = area
    elif role in ("verifier", "admin", "agency"):
        claims["kabupaten"] = kabupaten or (area[:4] if area else None) or "3325"
    return {"Authorization": f"Bearer {issue_claims(user_id, role, claims, ttl=TEST_TOKEN_TTL)}"}


OPERATOR = actor_headers("op-test", "operator", desk="332501")
AUDITOR = actor_headers("aud-test", "auditor")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(probe: Callable[[], T], timeout: float = 30, interval: float = 0.1,
               message: str = "condition") -> T:
    """Poll until `probe` returns something truthy; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        eventlet.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s (last: {last!r})")


@contextmanager
def running_service(service_cls: type, settings: Settings, **extra: Any) -> Iterator[str]:
    """Run a nameko service in this process against the real broker; yields its base URL."""
    from nameko.containers import ServiceContainer

    port = free_port()
    config = nameko_config(service_cls.name, settings)
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port}"
    config.update(extra)
    container = ServiceContainer(service_cls, config)
    container.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        container.stop()


@contextmanager
def relay_running(settings: Settings, relay: Relay | None = None) -> Iterator[Relay]:
    relay = relay or Relay(settings)
    thread = eventlet.spawn(relay.run)
    try:
        yield relay
    finally:
        relay.stop()
        thread.wait()


def stored_event_types(app: Any, complaint_id: Any) -> list[str]:
    return [type(e).__name__ for e in app.stored_events(complaint_id)]


def count_events(settings: Settings) -> int:
    from shared.db import connect

    with connect(settings.pg_dsn) as conn:
        return conn.execute("SELECT count(*) FROM eventstore.sedulur_events").fetchone()[0]


def valid_complaint(nik: str = "3325014507900001", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "desk": "332501",
        "category": "kis",
        "description": "Kartu KIS tidak aktif saat berobat",
        "citizen": {"nik": nik, "name": "Siti Aminah"},
    }
    body.update(overrides)
    return body


def fresh_databases(pg_dsn: str) -> Iterator[Callable[[], Settings]]:
    """A generator for a fixture: yields a factory of fresh migrated databases on the server
    of `pg_dsn` (no broker involved) and drops them when the fixture ends."""
    import os
    import uuid

    from shared.migrations import create_database, drop_database, migrate

    base = Settings(pg_dsn=pg_dsn)
    made: list[str] = []

    def make() -> Settings:
        name = f"sedulur_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        settings = Settings(pg_dsn=create_database(base, name))
        made.append(name)
        migrate(settings)
        return settings

    try:
        yield make
    finally:
        for name in made:
            drop_database(base, name)


def append_registered(app: Any, operator: str, n: int, prefix: str = "t") -> list[Any]:
    """Append n Registered events by `operator` straight through the application layer."""
    import uuid

    from shared.complaints.domainmodel import Complaint, complaint_id_for

    ids = []
    for _ in range(n):
        key = f"{prefix}-{uuid.uuid4()}"
        c = Complaint.register(
            complaint_id=complaint_id_for(key), registration_number=key, kabupaten="3325",
            desk="332501", channel="desk", category="kis", description="d",
            citizen={"nik": "3325014507900001", "name": "S"}, wilayah="332501",
            priority="normal", confidential=False,
            actor={"user_id": operator, "role": "operator", "desk": "332501"},
            correlation_id=key,
        )
        app.save_or_conflict(c)
        ids.append(c.id)
    return ids
