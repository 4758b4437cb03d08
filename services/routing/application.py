"""Routing use cases: refer verified complaints, act on referrals for an agency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from shared.complaints.domainmodel import Stage
from shared.config import Settings
from shared.errors import ConcurrencyConflict, Forbidden
from shared.eventstore import ComplaintsApplication

from .domainmodel import Route, RoutingTable


class Routing(ComplaintsApplication):
    def __init__(self, settings: Settings,
                 table: Callable[[], RoutingTable] = RoutingTable.load) -> None:
        super().__init__(settings)
        self.table = table

    def refer(self, complaint_id: UUID, *, actor: dict[str, Any],
              correlation_id: str) -> Route | None:
        """Refer a verified complaint by the routing table; a no-op if already referred."""
        complaint = self.get_complaint(complaint_id)
        if complaint.stage is not Stage.VERIFIED:
            return None
        route = self.table().route(kabupaten=complaint.kabupaten, category=complaint.category,
                                   wilayah=complaint.wilayah)
        for agency in route.agencies:
            complaint.refer(agency=agency, routing_rule=route.rule_id, actor=actor,
                            correlation_id=correlation_id)
        try:
            self.save_or_conflict(complaint)
        except ConcurrencyConflict:
            if self.get_complaint(complaint_id).stage is not Stage.VERIFIED:
                return None
            raise
        return route

    def resolve(self, complaint_id: UUID, *, agency: str, outcome: str,
                actor: dict[str, Any], correlation_id: str) -> None:
        _require_agency_scope(actor, agency)
        complaint = self.get_complaint(complaint_id)
        complaint.resolve(agency=agency, outcome=outcome, actor=actor,
                          correlation_id=correlation_id)
        self.save_or_conflict(complaint)


def _require_agency_scope(actor: dict[str, Any], agency: str) -> None:
    if actor.get("role") == "agency" and actor.get("agency") != agency:
        raise Forbidden(f"an agency user may act only on its own agency's referrals",
                        field="agency")
