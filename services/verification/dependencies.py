"""nameko glue of the verification service: the context every worker shares, and the
timer that notices a new DTKS snapshot."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nameko.timer import Timer

from shared.config import Settings
from shared.db import Database
from shared.errors import ConfigurationError
from shared.shell import Provided

from .adapters import DeskStore
from .application import Verification
from .projections import VerificationCases
from .rules import RuleFile

DEFAULT_SNAPSHOT_CHECK_SECONDS = 60.0


@dataclass
class VerificationContext:
    app: Verification
    db: Database
    cases: VerificationCases
    desk: DeskStore
    rules: RuleFile

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings) -> VerificationContext:
    db = Database.from_settings(settings)
    rules = RuleFile()
    desk = DeskStore(db)
    app = Verification(settings, rules=rules.current, desk=desk)
    return VerificationContext(app, db, VerificationCases(app, db), desk, rules)


def VerificationDependency() -> Provided:  # noqa: N802
    return Provided(build)


class SnapshotTimer(Timer):
    """nameko's timer; interval from SEDULUR_VERIFICATION_SNAPSHOT_CHECK_SECONDS (container
    config first, then the environment)."""

    KEY = "SEDULUR_VERIFICATION_SNAPSHOT_CHECK_SECONDS"

    def setup(self) -> None:
        raw = self.container.config.get(self.KEY) or os.environ.get(self.KEY)
        if raw:
            try:
                self.interval = float(raw)
            except ValueError:
                raise ConfigurationError(f"{self.KEY} must be a number of seconds, got {raw!r}",
                                         field=self.KEY) from None
            if not self.interval > 0:
                raise ConfigurationError(f"{self.KEY} must be positive", field=self.KEY)
        super().setup()


snapshot_timer = SnapshotTimer.decorator
