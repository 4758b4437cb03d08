"""dtks_sync: the local DTKS replica; NIK / KK lookups over RPC and HTTP."""

from __future__ import annotations

from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.errors import NotFound
from shared.identity import KK, NIK
from shared.nameko_ext import rpc
from shared.shell import Observable
from shared.web import handle_errors, json_response, parse_model

from .dependencies import ReplicaDependency
from .schemas import ChangesQuery


class DtksSyncService(Observable):
    name = "dtks_sync"
    replica = ReplicaDependency()

    @rpc
    def lookup_nik(self, nik: str) -> dict[str, Any]:
        """The person (or None) and the snapshot that answered, so a decision can name it."""
        person = self.replica.lookup_nik(NIK.parse(nik).value)
        if person is not None:
            return {"person": person, "snapshot_id": person["snapshot_id"]}
        current = self.replica.current_snapshot()
        return {"person": None, "snapshot_id": current["id"] if current else None}

    @rpc
    def current_snapshot(self) -> dict[str, Any] | None:
        return self.replica.current_snapshot()

    @rpc
    def lookup_kk(self, kk: str) -> list[dict[str, Any]]:
        return self.replica.lookup_kk(KK.parse(kk).value)

    @http("GET", "/dtks/persons/<string:nik>")
    @handle_errors
    def person(self, request: Request, nik: str) -> Response:
        found = self.replica.lookup_nik(NIK.parse(nik).value)
        if found is None:
            raise NotFound("NIK not in the current DTKS snapshot", field="nik")
        return json_response(found)

    @http("GET", "/dtks/families/<string:kk>")
    @handle_errors
    def family(self, request: Request, kk: str) -> Response:
        members = self.replica.lookup_kk(KK.parse(kk).value)
        if not members:
            raise NotFound("KK not in the current DTKS snapshot", field="kk")
        return json_response({"kk": kk, "members": members})

    @http("GET", "/dtks/snapshot")
    @handle_errors
    def snapshot(self, request: Request) -> Response:
        return json_response(self.replica.current_snapshot() or {})

    @http("GET", "/dtks/changes")
    @handle_errors
    def changes(self, request: Request) -> Response:
        query = parse_model(ChangesQuery, dict(request.args.items()))
        return json_response(self.replica.changes(
            query.from_, query.to, kind=query.kind, limit=query.limit, offset=query.offset))


SERVICE = DtksSyncService
