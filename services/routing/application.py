"""Routing use cases: refer verified complaints by the routing table in force, re-route a
returned one, let an agency act on its own referrals, let an admin replace a table."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from shared.agency import routing_file
from shared.auth import Action, area_resource, authorize, referral_resource
from shared.complaints.domainmodel import Complaint, Stage
from shared.config import Settings
from shared.errors import ConcurrencyConflict, InvalidRoutingTable
from shared.eventstore import ComplaintsApplication

from .domainmodel import ANY_KABUPATEN, KabupatenTable, Route, RoutingTable

log = logging.getLogger("sedulur.routing")

PersonLookup = Callable[[str], "dict[str, Any] | None"]


class TableVersions(Protocol):
    def latest(self, kabupaten: str) -> tuple[int, dict[str, Any]] | None: ...

    def add(self, kabupaten: str, document: dict[str, Any], created_by: str,
            expected_version: int | None = None) -> int: ...


class RoutingTables:
    """The table in force for a kabupaten: its latest stored version, else the data file's
    entry for it, else the latest stored '*' version, else the file's '*'. Read on every
    decision (one indexed query), so a stored change counts from the next complaint on;
    the file is re-read when its mtime changes. No restart either way."""

    def __init__(self, store: TableVersions, path: Path | None = None) -> None:
        self.store = store
        self.path = path
        self._file: tuple[float, RoutingTable] | None = None

    def file(self) -> RoutingTable:
        path = self.path or routing_file()
        mtime = path.stat().st_mtime
        if self._file is None or self._file[0] != mtime:
            self._file = (mtime, RoutingTable.load(path))
        return self._file[1]

    def current(self, kabupaten: str) -> KabupatenTable:
        file = self.file()
        for kab in (kabupaten, ANY_KABUPATEN):
            stored = self.store.latest(kab)
            if stored is not None:
                version, document = stored
                return KabupatenTable.parse(kab, document, file.agencies, version)
            if kab in file.tables:
                return file.tables[kab]
        return file.table_for(kabupaten)

    def replace(self, kabupaten: str, document: Any, created_by: str,
                expected_version: int | None = None) -> KabupatenTable:
        if kabupaten != ANY_KABUPATEN and not (kabupaten.isdigit() and len(kabupaten) == 4):
            raise InvalidRoutingTable("kabupaten must be a 4-digit kabupaten/kota code or '*'",
                                      field="kabupaten")
        agencies = self.file().agencies
        table = KabupatenTable.parse(kabupaten, document, agencies)
        version = self.store.add(kabupaten, table.to_document(), created_by, expected_version)
        return KabupatenTable.parse(kabupaten, table.to_document(), agencies, version)


class Routing(ComplaintsApplication):
    def __init__(self, settings: Settings, tables: RoutingTables) -> None:
        super().__init__(settings)
        self.tables = tables

    # -- the system routes ----------------------------------------------------------------
    def refer(self, complaint_id: UUID, *, actor: dict[str, Any], correlation_id: str,
              person_lookup: PersonLookup | None = None) -> Route | None:
        """Refer a freshly verified complaint by the table in force; a no-op when it was
        referred before (a redelivered Verified, or one that came back: `reroute` decides)."""
        complaint = self.get_complaint(complaint_id)
        if complaint.stage is not Stage.VERIFIED or complaint.referrals:
            return None
        table = self.tables.current(complaint.kabupaten)
        desil = self._desil(complaint, table, person_lookup)
        route = table.route(complaint.category, desil, complaint.wilayah)
        return self._refer(complaint, route, actor, correlation_id)

    def reroute(self, complaint_id: UUID, *, actor: dict[str, Any], correlation_id: str,
                person_lookup: PersonLookup | None = None) -> Route | None:
        """After a return left no referral open: the next agency of the routing rule, then
        its fallback list, then the Dinsos desk. A no-op if it is routed already."""
        complaint = self.get_complaint(complaint_id)
        if complaint.stage is not Stage.VERIFIED or not complaint.returned_by:
            return None
        table = self.tables.current(complaint.kabupaten)
        route = table.reroute(
            routed_by=self._rule_that_routed(complaint_id, complaint.returned_by[-1]),
            category=complaint.category,
            desil=self._desil(complaint, table, person_lookup),
            wilayah=complaint.wilayah, returned_by=complaint.returned_by,
            open_agencies=complaint.open_referrals)
        if route is None:
            log.warning("routing.no_agency_left complaint=%s returned_by=%s: left verified for"
                        " the Dinsos desk", complaint_id, complaint.returned_by)
            return None
        return self._refer(complaint, route, actor, correlation_id)

    def _refer(self, complaint: Complaint, route: Route, actor: dict[str, Any],
               correlation_id: str) -> Route | None:
        for agency in route.agencies:
            complaint.refer(agency=agency, routing_rule=route.rule_id,
                            routing_table_version=route.table_version, actor=actor,
                            correlation_id=correlation_id)
        try:
            self.save_or_conflict(complaint)
        except ConcurrencyConflict:
            # A concurrent copy of this consumer routed it first: fine. Anything else: retry.
            if self.get_complaint(complaint.id).stage is not Stage.VERIFIED:
                return None
            raise
        return route

    def _desil(self, complaint: Complaint, table: KabupatenTable,
               person_lookup: PersonLookup | None) -> int | None:
        if person_lookup is None or not table.needs_desil(complaint.category):
            return None
        person = person_lookup(complaint.citizen["nik"])
        desil = (person or {}).get("desil")
        return int(desil) if desil is not None else None

    def _rule_that_routed(self, complaint_id: UUID, agency: str) -> str | None:
        rule = None
        for event in self.stored_events(complaint_id):
            if type(event).__name__ == "ReferredToOPD" and event.agency == agency:
                rule = event.routing_rule
        return rule

    # -- agencies act on their own referrals ------------------------------------------------
    def accept(self, complaint_id: UUID, *, agency: str, actor: dict[str, Any],
               correlation_id: str) -> Complaint:
        complaint = self._for_agency(complaint_id, agency, actor)
        complaint.accept_referral(agency=agency, actor=actor, correlation_id=correlation_id)
        self.save_or_conflict(complaint)
        return complaint

    def note_progress(self, complaint_id: UUID, *, agency: str, note: str,
                      actor: dict[str, Any], correlation_id: str) -> Complaint:
        complaint = self._for_agency(complaint_id, agency, actor)
        complaint.note_progress(agency=agency, note=note, actor=actor,
                                correlation_id=correlation_id)
        self.save_or_conflict(complaint)
        return complaint

    def resolve(self, complaint_id: UUID, *, agency: str, outcome: str,
                actor: dict[str, Any], correlation_id: str) -> Complaint:
        complaint = self._for_agency(complaint_id, agency, actor)
        complaint.resolve(agency=agency, outcome=outcome, actor=actor,
                          correlation_id=correlation_id)
        self.save_or_conflict(complaint)
        return complaint

    def return_referral(self, complaint_id: UUID, *, agency: str, reason: str,
                        actor: dict[str, Any], correlation_id: str) -> Complaint:
        complaint = self._for_agency(complaint_id, agency, actor)
        complaint.return_referral(agency=agency, reason=reason, actor=actor,
                                  correlation_id=correlation_id)
        self.save_or_conflict(complaint)
        return complaint

    def _for_agency(self, complaint_id: UUID, agency: str, actor: dict[str, Any]) -> Complaint:
        """Load, then ask the policy (shared.auth): an agency acts for itself in its own
        kabupaten, Dinsos verifiers on DINSOS referrals, an admin in its kabupaten."""
        complaint = self.get_complaint(complaint_id)
        authorize(actor, Action.REFERRAL_ACT, referral_resource(complaint, agency))
        return complaint

    # -- admins change tables -------------------------------------------------------------
    def replace_table(self, kabupaten: str, document: Any, *, actor: dict[str, Any],
                      expected_version: int | None = None) -> KabupatenTable:
        # '*' (the default for every kabupaten) matches no admin's kabupaten: changing it
        # is a deployment change (the data file), not one admin's.
        authorize(actor, Action.CONFIG_WRITE, area_resource(kabupaten=kabupaten))
        return self.tables.replace(kabupaten, document, actor["user_id"], expected_version)
