"""Hands intake's application objects to nameko workers; all I/O is built here."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.db import Database
from shared.shell import Provided

from .adapters import PgSequenceAllocator
from .application import Intake
from .projections import ComplaintStatus, OperatorActivity


@dataclass
class IntakeContext:
    app: Intake
    db: Database
    status: ComplaintStatus
    activity: OperatorActivity

    @property
    def projections(self) -> tuple[ComplaintStatus, OperatorActivity]:
        return (self.status, self.activity)

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings) -> IntakeContext:
    db = Database.from_settings(settings)
    app = Intake(settings, PgSequenceAllocator(db))
    return IntakeContext(app, db, ComplaintStatus(app, db), OperatorActivity(app, db))


def IntakeDependency() -> Provided:  # noqa: N802 - reads like a provider class in service.py
    return Provided(build)
