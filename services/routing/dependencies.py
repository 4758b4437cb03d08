from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.db import Database
from shared.shell import Provided

from .application import Routing
from .projections import AgencyQueue


@dataclass
class RoutingContext:
    app: Routing
    db: Database
    queue: AgencyQueue

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings) -> RoutingContext:
    db = Database.from_settings(settings)
    app = Routing(settings)
    return RoutingContext(app, db, AgencyQueue(app, db))


def RoutingDependency() -> Provided:  # noqa: N802
    return Provided(build)
