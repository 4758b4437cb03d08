"""Reporting use cases: a reconciled recap for a period and area, rendered; the monthly
schedule. No nameko, eventlet, kombu or psycopg here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from shared.errors import GeneratedReportNotFound, ReportNotReconciled, UnknownReportFormat

from .domainmodel import (
    Period,
    Recap,
    build_recap,
    compare,
    facts_from_events,
    parse_area,
)

if TYPE_CHECKING:
    from .adapters import RecapStore

FORMATS = ("pdf", "xlsx", "csv", "json")
SCHEDULED_FORMATS = ("pdf", "xlsx", "csv")
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


@dataclass
class Rendered:
    data: bytes
    media_type: str
    filename: str
    log_position: int


class Reporting:
    def __init__(self, app: Any, store: RecapStore, catch_up: Callable[[UUID], int],
                 tz_for: Callable[[str], str], attempts: int = 4) -> None:
        self.app = app  # a ComplaintsApplication: the notification log
        self.store = store
        self.catch_up = catch_up
        self.tz_for = tz_for
        self.attempts = attempts

    # -- the recap ---------------------------------------------------------------------
    def recap(self, period_text: str, area_text: str) -> Recap:
        period, area = Period.parse(period_text), parse_area(area_text)
        tz = self.tz_for(area)
        names = self.store.kecamatan_names(area)
        mismatches: list[str] = []
        for _ in range(self.attempts):
            snap = self.store.snapshot(area)
            if snap.lagging:
                # Events committed but not yet applied (a message in flight): apply them
                # now, through the same projection, then look again.
                for complaint_id in snap.lagging:
                    self.catch_up(complaint_id)
                continue
            recap = build_recap(snap.facts, snap.referrals, period, area, tz,
                                snap.log_position, names)
            facts, referrals = facts_from_events(self.events_until(snap.log_position))
            check = build_recap(facts.values(), referrals.values(), period, area, tz,
                                snap.log_position, names)
            mismatches = compare(recap, check)
            if not mismatches:
                recap.reconciled = True
                recap.figures_checked = len(recap.figures())
                return recap
            break
        raise ReportNotReconciled(
            "the recap's figures could not be reconciled with the event log",
            mismatches=mismatches[:20])

    def events_until(self, position: int, batch: int = 1000) -> Iterator[Any]:
        """The notification log from the start up to `position`, in order, as events."""
        start = 0
        while start < position:
            notifications = self.app.recorder.select_notifications(
                start=start, limit=batch, stop=position, inclusive_of_start=False)
            if not notifications:
                return
            yield from self.app.mapper.to_domain_events(notifications)
            start = notifications[-1].id

    def render(self, period_text: str, area_text: str, fmt: str) -> Rendered:
        if fmt not in FORMATS:
            raise UnknownReportFormat(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}",
                                field="format")
        from . import render  # matplotlib / reportlab / openpyxl load on first use

        recap = self.recap(period_text, area_text)
        data = render.RENDERERS[fmt](recap)
        return Rendered(data, MEDIA_TYPES[fmt], render.filename(recap, fmt),
                        recap.log_position)

    # -- the schedule --------------------------------------------------------------------
    def generate_monthly(self, today: date) -> list[str]:
        """Last month's recap for each kabupaten seen, in each format, unless stored."""
        period = Period.month_before(today).text
        made = []
        for kabupaten in self.store.kabupaten_seen():
            for fmt in SCHEDULED_FORMATS:
                if self.store.generated_exists(period, kabupaten, fmt):
                    continue
                out = self.render(period, kabupaten, fmt)
                self.store.save_generated(period, kabupaten, fmt, out.data, out.log_position)
                made.append(f"{period}/{kabupaten}/{fmt}")
        return made

    def generated(self, period: str, area: str, fmt: str) -> Rendered:
        row = self.store.get_generated(period, area, fmt)
        if row is None or fmt not in MEDIA_TYPES:
            raise GeneratedReportNotFound(
                f"no generated {fmt} recap for {period} / {area}", field="period")
        return Rendered(row["bytes"], MEDIA_TYPES[fmt],
                        f"rekap-{area}-{period}.{fmt}", row["log_position"])
