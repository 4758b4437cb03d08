"""nameko glue of the sla service: the context every worker shares, and the timer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nameko.timer import Timer

from services.reporting.adapters import RecapStore
from services.reporting.application import Reporting
from services.reporting.projections import RecapProjection
from shared.config import Settings
from shared.db import Database
from shared.errors import ConfigurationError
from shared.shell import Provided, settings_from_config, system_actor

from .adapters import Board, DeadlineStore
from .application import Sla, Watchdog
from .domainmodel import (
    PolicySet,
    RegionalCalendars,
    escalation_levels_from_env,
    zone_name_for,
)
from .projections import Deadlines

SERVICE_NAME = "sla"
DEFAULT_TIMER_SECONDS = 15.0
# The monthly recap check: cheap when last month's recaps exist, so a few times a day.
DEFAULT_REPORT_TIMER_SECONDS = 6 * 3600.0


@dataclass
class SlaContext:
    app: Sla
    db: Database
    deadlines: Deadlines
    store: DeadlineStore
    board: Board
    watchdog: Watchdog
    policies: PolicySet
    recap: RecapProjection
    reporting: Reporting

    def close(self) -> None:
        self.app.close()
        self.db.close()


def _env(config: Mapping[str, Any]) -> dict[str, str]:
    """The process environment with the container's SEDULUR_* config on top (tests run
    several containers with different settings in one process)."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in config.items() if k.startswith("SEDULUR_")})
    return env


def build(settings: Settings, env: Mapping[str, str] | None = None) -> SlaContext:
    env = dict(os.environ) if env is None else env
    policies = PolicySet.from_env(env)
    levels = escalation_levels_from_env(env)
    db = Database.from_settings(settings)
    app = Sla(settings, escalation_levels=levels)
    deadlines = Deadlines(app, db, policies, levels, RegionalCalendars.from_env(env))
    store = DeadlineStore(db, deadlines.name)
    watchdog = Watchdog(app, store, deadlines.catch_up, actor=system_actor(SERVICE_NAME))
    recap = RecapProjection(app, db)
    reporting = Reporting(app, RecapStore(db, recap.name), recap.catch_up,
                          lambda area: zone_name_for(area[:4], None))
    return SlaContext(app, db, deadlines, store, Board(db), watchdog, policies, recap,
                      reporting)


class SlaDependency(Provided):
    def __init__(self) -> None:
        super().__init__(build)

    def setup(self) -> None:
        config = self.container.config
        self.instance = build(settings_from_config(config), _env(config))


def _interval(config: Mapping[str, Any], name: str, default: float) -> float:
    raw = _env(config).get(name)
    if not raw:
        return default
    try:
        interval = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}",
                                 field=name) from None
    if not interval > 0:
        raise ConfigurationError(f"{name} must be positive", field=name)
    return interval


class ReportTimer(Timer):
    """nameko's timer for the monthly recap check (SEDULUR_REPORT_TIMER_SECONDS)."""

    def setup(self) -> None:
        self.interval = _interval(self.container.config, "SEDULUR_REPORT_TIMER_SECONDS",
                                  self.interval)
        super().setup()


report_timer = ReportTimer.decorator


class SlaTimer(Timer):
    """nameko's timer, its interval read from the container config / environment
    (SEDULUR_SLA_TIMER_SECONDS) at setup, so tests can tick fast. The deadlines it acts on
    live in PostgreSQL: a restart loses nothing, the first tick catches up."""

    def setup(self) -> None:
        raw = _env(self.container.config).get("SEDULUR_SLA_TIMER_SECONDS")
        if raw:
            try:
                self.interval = float(raw)
            except ValueError:
                raise ConfigurationError(
                    f"SEDULUR_SLA_TIMER_SECONDS must be a number of seconds, got {raw!r}",
                    field="SEDULUR_SLA_TIMER_SECONDS") from None
            if not self.interval > 0:
                raise ConfigurationError("SEDULUR_SLA_TIMER_SECONDS must be positive",
                                         field="SEDULUR_SLA_TIMER_SECONDS")
        super().setup()


sla_timer = SlaTimer.decorator
