"""Operator activity as Prometheus gauges, computed at scrape time from the same view the
supervisor sees (so a gauge is never staler than the projection)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from .monitoring import activity_view

log = logging.getLogger("sedulur.intake.metrics")
_registered = False


class OperatorActivityCollector:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .dependencies import LIVE

        if not LIVE:
            return
        ctx = LIVE[-1]
        try:
            view = activity_view(ctx.reader, "", datetime.now(UTC), ctx.options.monitor)
        except Exception:  # a scrape must not fail because PostgreSQL blinked
            log.exception("operator activity gauges unavailable")
            return
        yield from _families(view)

    def describe(self) -> list[Any]:
        return []


def _families(view: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
    labels = ["operator", "desk", "kecamatan", "kabupaten"]
    per_op = {
        "online": ("sedulur_intake_operator_online", "1 if the operator is logged in and "
                   "heartbeating"),
        "idle": ("sedulur_intake_operator_idle", "1 if online and idle beyond the threshold"),
        "idle_seconds": ("sedulur_intake_operator_idle_seconds",
                         "seconds since the operator's last action (or login)"),
        "complaints_today": ("sedulur_intake_operator_complaints_today",
                             "complaints registered today (Asia/Jakarta)"),
        "complaints_week": ("sedulur_intake_operator_complaints_week",
                            "complaints registered this week"),
        "deadlines_at_risk": ("sedulur_intake_operator_deadlines_at_risk",
                              "open SLA deadlines of the operator's complaints due soon"),
    }
    for key, (name, doc) in per_op.items():
        fam = GaugeMetricFamily(name, doc, labels=labels)
        for op in view["operators"]:
            value = op[key]
            if value is None:
                continue
            fam.add_metric([op["operator_id"], op["desk"], op["kecamatan"], op["kabupaten"]],
                           float(value))
        yield fam
    for level in ("kecamatan", "kabupaten"):
        for key in ("online", "idle", "complaints_today", "deadlines_at_risk"):
            fam = GaugeMetricFamily(f"sedulur_intake_{level}_{key}",
                                    f"operators' {key} summed per {level}", labels=[level])
            for group in view[level]:
                fam.add_metric([group[level]], float(group[key]))
            yield fam


def register_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(OperatorActivityCollector())  # type: ignore[arg-type]
        _registered = True
