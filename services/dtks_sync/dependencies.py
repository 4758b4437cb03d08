from __future__ import annotations

from typing import Any

from shared.config import Settings
from shared.db import Database
from shared.shell import Provided


class ReplicaHandle:
    """The replica plus its pool, closed together when the container stops."""

    def __init__(self, settings: Settings) -> None:
        from .application import DtksReplica

        self.db = Database.from_settings(settings)
        self.replica = DtksReplica(self.db)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.replica, name)

    def close(self) -> None:
        self.db.close()


def ReplicaDependency() -> Provided:  # noqa: N802
    return Provided(ReplicaHandle)
