"""dtks_sync: the local DTKS replica; NIK / KK lookups over RPC and HTTP."""

from __future__ import annotations

from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.auth import Action, area_resource
from shared.errors import NotFound
from shared.identity import KK, NIK
from shared.rpc_auth import authenticated_rpc
from shared.shell import Observable, request_actor
from shared.users import AccessLog
from shared.web import correlation_id, handle_errors, json_response, parse_model

from .dependencies import ReplicaDependency
from .schemas import ChangesQuery


class DtksSyncService(Observable):
    name = "dtks_sync"
    replica = ReplicaDependency()

    @authenticated_rpc
    def lookup_nik(self, nik: str) -> dict[str, Any]:
        """The person (or None) and the snapshot that answered, so a decision can name it."""
        person = self.replica.lookup_nik(NIK.parse(nik).value)
        if person is not None:
            return {"person": person, "snapshot_id": person["snapshot_id"]}
        current = self.replica.current_snapshot()
        return {"person": None, "snapshot_id": current["id"] if current else None}

    @authenticated_rpc
    def current_snapshot(self) -> dict[str, Any] | None:
        return self.replica.current_snapshot()

    @authenticated_rpc
    def lookup_kk(self, kk: str) -> list[dict[str, Any]]:
        return self.replica.lookup_kk(KK.parse(kk).value)

    @http("GET", "/dtks/persons/<string:nik>")
    @handle_errors
    def person(self, request: Request, nik: str) -> Response:
        actor = request_actor(request)
        parsed = NIK.parse(nik)
        self._authorize_read(request, actor, parsed.kabupaten_code, parsed.masked,
                             "GET /dtks/persons/<nik>")
        found = self.replica.lookup_nik(parsed.value)
        if found is None:
            raise NotFound("NIK not in the current DTKS snapshot", field="nik")
        return json_response(found)

    @http("GET", "/dtks/families/<string:kk>")
    @handle_errors
    def family(self, request: Request, kk: str) -> Response:
        actor = request_actor(request)
        parsed = KK.parse(kk)
        self._authorize_read(request, actor, parsed.kabupaten_code, parsed.masked,
                             "GET /dtks/families/<kk>")
        members = self.replica.lookup_kk(parsed.value)
        if not members:
            raise NotFound("KK not in the current DTKS snapshot", field="kk")
        return json_response({"kk": parsed.value, "members": members})

    def _authorize_read(self, request: Request, actor: dict[str, Any], kabupaten: str,
                        subject: str, endpoint: str) -> None:
        AccessLog(self.replica.db).authorize_read(
            actor, Action.PERSON_READ, area_resource(kabupaten=kabupaten), endpoint=endpoint,
            subject=subject, correlation_id=correlation_id(request))

    @http("GET", "/dtks/snapshot")
    @handle_errors
    def snapshot(self, request: Request) -> Response:
        request_actor(request)  # any signed-in user; no personal data in a snapshot row
        return json_response(self.replica.current_snapshot() or {})

    @http("GET", "/dtks/changes")
    @handle_errors
    def changes(self, request: Request) -> Response:
        """Who entered / left the DTKS or changed desil / programs: personal data of every
        kabupaten in the replica, so the auditor's (read-only, logged like any read)."""
        actor = request_actor(request)
        query = parse_model(ChangesQuery, dict(request.args.items()))
        AccessLog(self.replica.db).authorize_read(
            actor, Action.PERSON_READ, area_resource(), endpoint="GET /dtks/changes",
            subject=f"{query.from_ or ''}..{query.to or ''}",
            correlation_id=correlation_id(request))
        return json_response(self.replica.changes(
            query.from_, query.to, kind=query.kind, limit=query.limit, offset=query.offset))


SERVICE = DtksSyncService
