"""Wiring of reporting outside the sla service (the CLI): same objects, same store."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.db import Database
from shared.eventstore import ComplaintsApplication

from .adapters import RecapStore
from .application import Reporting
from .projections import RecapProjection


@dataclass
class ReportingContext:
    app: ComplaintsApplication
    db: Database
    recap: RecapProjection
    reporting: Reporting

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings) -> ReportingContext:
    from services.sla.domainmodel import zone_name_for

    app = ComplaintsApplication(settings)
    db = Database.from_settings(settings)
    recap = RecapProjection(app, db)
    reporting = Reporting(app, RecapStore(db, recap.name), recap.catch_up,
                          lambda area: zone_name_for(area[:4], None))
    return ReportingContext(app, db, recap, reporting)
