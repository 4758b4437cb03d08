"""Hands intake's application objects to nameko workers; all I/O is built here."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.config import Settings
from shared.db import Database
from shared.errors import ConfigurationError
from shared.shell import Provided, settings_from_config
from shared.users import AccessLog

from .adapters import (
    PgActivityReader,
    PgIntakeLookups,
    PgOpen311Clients,
    PgOpen311Requests,
    PgOperatorPresence,
    PgSequenceAllocator,
)
from .application import Intake
from .monitoring import MonitorPolicy
from .projections import (
    CitizenComplaints,
    ComplaintStatus,
    OperatorActivity,
    catch_up_together,
)


@dataclass(frozen=True)
class IntakeOptions:
    """Intake's own settings (env or the nameko container config, which wins)."""

    duplicate_window_days: int = 30
    idle_after_seconds: int = 900
    heartbeat_seconds: int = 60
    at_risk_minutes: int = 120
    live_poll_seconds: float = 0.25
    gateway_secret: str | None = None
    # Bring intake's read models up to date inside the registration request (read-your-
    # writes for the desk, duplicates seen at once, the live view without the relay's lag).
    project_on_write: bool = True

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> IntakeOptions:
        def get(name: str, default: Any, kind: type) -> Any:
            key = f"SEDULUR_INTAKE_{name}"
            raw = config.get(key, os.environ.get(key))
            if raw is None or raw == "":
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ConfigurationError(f"{key} must be a {kind.__name__}, got {raw!r}",
                                         field=key) from None

        return cls(
            duplicate_window_days=get("DUPLICATE_WINDOW_DAYS", 30, int),
            idle_after_seconds=get("IDLE_AFTER_SECONDS", 900, int),
            heartbeat_seconds=get("HEARTBEAT_SECONDS", 60, int),
            at_risk_minutes=get("AT_RISK_MINUTES", 120, int),
            live_poll_seconds=get("LIVE_POLL_SECONDS", 0.25, float),
            gateway_secret=get("GATEWAY_SECRET", None, str),
            project_on_write=get("PROJECT_ON_WRITE", "yes", str).lower()
            in ("1", "yes", "true", "on"),
        )

    @property
    def monitor(self) -> MonitorPolicy:
        return MonitorPolicy(self.idle_after_seconds, self.heartbeat_seconds,
                             self.at_risk_minutes)


@dataclass(eq=False)
class IntakeContext:
    app: Intake
    db: Database
    status: ComplaintStatus
    citizens: CitizenComplaints
    activity: OperatorActivity
    presence: PgOperatorPresence
    reader: PgActivityReader
    options: IntakeOptions
    open311_clients: PgOpen311Clients
    open311_requests: PgOpen311Requests
    access: AccessLog

    @property
    def projections(self) -> tuple[ComplaintStatus, CitizenComplaints, OperatorActivity]:
        return (self.status, self.citizens, self.activity)

    def catch_up(self, complaint_ids: Sequence[UUID]) -> None:
        for cid in complaint_ids:
            catch_up_together(self.projections, cid)

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings, options: IntakeOptions | None = None, *,
          project_after_save: bool = True) -> IntakeContext:
    options = options or IntakeOptions.from_mapping({})
    db = Database.from_settings(settings)
    sequences = PgSequenceAllocator(db)
    holder: dict[str, IntakeContext] = {}
    app = Intake(
        settings,
        sequences,
        lookups=PgIntakeLookups(db),
        allocate_block=sequences.block,
        allocate_blocks=sequences.blocks,
        after_save=(lambda ids: holder["ctx"].catch_up(ids))
        if project_after_save and options.project_on_write else None,
        duplicate_window_days=options.duplicate_window_days,
    )
    ctx = IntakeContext(app, db, ComplaintStatus(app, db), CitizenComplaints(app, db),
                        OperatorActivity(app, db), PgOperatorPresence(db),
                        PgActivityReader(db), options, PgOpen311Clients(db),
                        PgOpen311Requests(db), AccessLog(db))
    holder["ctx"] = ctx
    return ctx


# Running contexts of this process, newest last, for the Prometheus collector (a scrape
# reads the projection tables through the newest one; a stopped container leaves the list).
LIVE: list[IntakeContext] = []


class IntakeProvided(Provided):
    def setup(self) -> None:
        config = self.container.config
        self.instance = build(settings_from_config(config), IntakeOptions.from_mapping(config))
        LIVE.append(self.instance)
        from .metrics import register_collector

        register_collector()

    def stop(self) -> None:
        if self.instance in LIVE:
            LIVE.remove(self.instance)
        super().stop()


def IntakeDependency() -> Provided:  # noqa: N802 - reads like a provider class in service.py
    return IntakeProvided(build)
