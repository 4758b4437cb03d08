"""Process-wide Prometheus collectors that read other systems at scrape time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlparse

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from shared.config import Settings

log = logging.getLogger("sedulur.metrics")

_registered: dict[str, Any] = {}
_lock = threading.Lock()


class QueueDepthCollector:
    """`sedulur_queue_messages{queue,state}` from the RabbitMQ management API, for the queues
    a process cares about (None = every queue of the vhost). Cached for a few seconds so
    several scrapers do not multiply the calls; the management API itself refreshes queue
    stats every 5 s. A failed call yields `sedulur_queue_stats_up 0`, never a scrape error."""

    def __init__(self, settings: Settings, queues: Callable[[], Iterable[str]] | None = None,
                 cache_seconds: float = 4.0) -> None:
        from shared.rabbit import RabbitAdmin

        self.admin = RabbitAdmin(settings.rabbit_management_url, timeout=3)
        self.vhost = unquote(urlparse(settings.amqp_uri).path.lstrip("/")) or "/"
        self.queue_sources: list[Callable[[], Iterable[str]]] = [queues] if queues else []
        self.all_queues = queues is None
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, list[dict[str, Any]] | None] = (0.0, None)

    def _stats(self) -> list[dict[str, Any]] | None:
        at, stats = self._cached
        if stats is not None and time.monotonic() - at < self.cache_seconds:
            return stats
        try:
            stats = self.admin.queues(self.vhost)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail on it
            log.warning("metrics.queue_stats_unavailable error=%r", exc)
            stats = None
        self._cached = (time.monotonic(), stats)
        return stats

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """Names only. Without it, registering would call collect() while holding the
        registry's (non-reentrant) lock: a network call, and a deadlock if anything in it
        imports a module that registers a metric."""
        yield GaugeMetricFamily("sedulur_queue_stats_up", "")
        yield GaugeMetricFamily("sedulur_queue_messages", "", labels=["queue", "state"])

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("sedulur_queue_stats_up",
                               "1 if queue depths could be read from the management API")
        depth = GaugeMetricFamily("sedulur_queue_messages", "Messages in a RabbitMQ queue by state",
                                  labels=["queue", "state"])
        stats = self._stats()
        up.add_metric([], 0 if stats is None else 1)
        wanted = None if self.all_queues else {
            name for source in self.queue_sources for name in source()}
        for q in stats or []:
            if wanted is not None and q["name"] not in wanted:
                continue
            depth.add_metric([q["name"], "ready"], q.get("messages_ready", 0) or 0)
            depth.add_metric([q["name"], "unacked"], q.get("messages_unacknowledged", 0) or 0)
        yield up
        yield depth


def register_queue_depth(settings: Settings,
                         queues: Callable[[], Iterable[str]] | None = None) -> None:
    """Register the collector once per process (a second service container in the same
    process, as in interface tests, reuses the first)."""
    with _lock:
        if "queues" in _registered:
            existing = _registered["queues"]
            if queues is None:
                existing.all_queues = True
            else:
                existing.queue_sources.append(queues)
            return
        collector = QueueDepthCollector(settings, queues)
        REGISTRY.register(collector)  # type: ignore[arg-type]
        _registered["queues"] = collector
