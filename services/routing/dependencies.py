from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Gauge

from shared import topology
from shared.config import Settings
from shared.db import Database
from shared.shell import Provided

from .adapters import QueueReader, TableStore
from .application import Routing, RoutingTables
from .projections import AgencyQueue

DEAD_LETTERS = Gauge("sedulur_dead_letters",
                     "Messages in the dead-letter queue (failed N deliveries or rejected)",
                     ["queue"])
DEAD_LETTER_PROBE_FAILED = Gauge("sedulur_dead_letters_probe_failed",
                                 "1 when the dead-letter queue depth could not be read")


class DeadLetterProbe:
    """Reads the dead-letter queue's depth with a passive declare (no management API
    needed), so a message that ended there shows in routing's /metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def refresh(self) -> int | None:
        from kombu import Connection

        try:
            with Connection(self.settings.amqp_uri, connect_timeout=5) as conn:
                channel = conn.channel()
                _, messages, _ = channel.queue_declare(topology.DLQ, passive=True)
                channel.close()
        except Exception:  # noqa: BLE001 - a failed probe is itself reported as a metric
            DEAD_LETTER_PROBE_FAILED.set(1)
            return None
        DEAD_LETTER_PROBE_FAILED.set(0)
        DEAD_LETTERS.labels(topology.DLQ).set(messages)
        return int(messages)


@dataclass
class RoutingContext:
    app: Routing
    db: Database
    queue: AgencyQueue
    reader: QueueReader
    dead_letters: DeadLetterProbe

    def close(self) -> None:
        self.app.close()
        self.db.close()


def build(settings: Settings) -> RoutingContext:
    db = Database.from_settings(settings)
    app = Routing(settings, RoutingTables(TableStore(db)))
    return RoutingContext(app, db, AgencyQueue(app, db), QueueReader(db),
                          DeadLetterProbe(settings))


def RoutingDependency() -> Provided:  # noqa: N802
    return Provided(build)
