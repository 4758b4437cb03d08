from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.db import Database
from shared.eventstore import ComplaintsApplication
from shared.shell import Provided

from .projections import Deadlines


@dataclass
class SlaContext:
    app: ComplaintsApplication
    db: Database
    deadlines: Deadlines

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings) -> SlaContext:
    db = Database.from_settings(settings)
    app = ComplaintsApplication(settings)
    return SlaContext(app, db, Deadlines(app, db))


def SlaDependency() -> Provided:  # noqa: N802
    return Provided(build)
