"""Prometheus metrics of the sla service (scraped at GET /metrics)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

OPEN = Gauge("sedulur_sla_open_clocks", "Running SLA clocks (open deadlines)", ["stage"])
AT_RISK = Gauge("sedulur_sla_at_risk_clocks",
                "Open deadlines past their at-risk instant but not yet due", ["stage"])
BREACHED = Gauge("sedulur_sla_breached_open_clocks", "Open deadlines past due", ["stage"])
FLAGGED_AT_RISK = Counter("sedulur_sla_at_risk_flagged_total",
                          "Deadlines this instance flagged at risk", ["stage"])
TIMER_ACTIONS = Counter("sedulur_sla_timer_actions_total",
                        "What the SLA timer did with a claimed overdue deadline",
                        ["stage", "outcome"])
TIME_TO_RESOLVE = Histogram(
    "sedulur_sla_time_to_resolve_seconds", "Registered to Resolved, per complaint",
    buckets=(3600, 4 * 3600, 12 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 5 * 86400,
             8 * 86400, 14 * 86400, 30 * 86400),
)


def observe_tick(report: Any, gauge_rows: Iterable[dict[str, Any]]) -> None:
    """Count what one timer pass did and set the per-stage gauges from the table."""
    for stage in report.at_risk:
        FLAGGED_AT_RISK.labels(stage).inc()
    for _cid, stage, _step, outcome in report:
        TIMER_ACTIONS.labels(stage, outcome).inc()
    for row in gauge_rows:
        OPEN.labels(row["stage"]).set(row["open"])
        AT_RISK.labels(row["stage"]).set(row["at_risk"])
        BREACHED.labels(row["stage"]).set(row["breached"])
