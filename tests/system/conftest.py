"""All five services and the relay as separate processes, on ports free for this run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import SERVICES, Settings
from shared.supervisor import Stack
from tests.helpers import free_port


@pytest.fixture(scope="session")
def system_ports(sedulur_env: Settings) -> Settings:
    for svc in SERVICES:
        os.environ[f"SEDULUR_{svc.upper()}_HTTP_PORT"] = str(free_port())
    os.environ["SEDULUR_RELAY_METRICS_PORT"] = str(free_port())
    return Settings()


@pytest.fixture(scope="session")
def dtks_people(system_ports: Settings, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """A generated DTKS slice, imported through the real import path."""
    import csv

    from services.dtks_sync.generator import generate
    from services.dtks_sync.importer import import_file

    path = tmp_path_factory.mktemp("dtks") / "dtks.csv"
    generate(path, 500, seed=3, kabupaten=system_ports.default_kabupaten)
    import_file(system_ports.pg_dsn, path)
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def stack(system_ports: Settings, dtks_people: list[dict],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from shared.topology import declare

    declare(system_ports)
    log_dir = Path(os.environ.get("SEDULUR_TEST_LOG_DIR") or tmp_path_factory.mktemp("logs"))
    with Stack(system_ports, log_dir) as running:
        running.start_all()
        running.wait_healthy(timeout=90)
        yield running
