"""verification: decides every registered complaint by the DTKS rules in force, holds
unclear cases on the manual desk, lets a verifier verify / reject / propose an usulan, and
re-evaluates the desk when a new DTKS snapshot becomes current."""

from __future__ import annotations

from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.auth import Action, area_resource, authorize
from shared.envelope import CloudEvent
from shared.nameko_ext import TimedRpcProxy, event_handler
from shared.rpc_auth import ServiceIdentity
from shared.shell import Observable, request_actor, system_actor
from shared.users import AccessLog
from shared.web import correlation_id, handle_errors, json_response, parse_model, read_json

from .adapters import RpcRegistry
from .dependencies import DEFAULT_SNAPSHOT_CHECK_SECONDS, VerificationDependency, snapshot_timer
from .schemas import DeskQuery, RejectIn, UsulanIn, UsulanQuery, VerifyIn


class VerificationService(Observable):
    name = "verification"
    ctx = VerificationDependency()
    dtks = TimedRpcProxy("dtks_sync")
    identity = ServiceIdentity()  # signs the calls to dtks_sync (shared.rpc_auth)

    # -- events ---------------------------------------------------------------------------
    @event_handler("intake", "Registered")
    def on_registered(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        self.ctx.cases.catch_up(event.complaint_id)
        self.ctx.app.decide(event.complaint_id, RpcRegistry(self.dtks),
                            actor=system_actor(self.name),
                            correlation_id=event.correlation_id or event.id)
        self.ctx.cases.catch_up(event.complaint_id)

    @event_handler("verification", "Verified")
    def on_verified(self, message: dict[str, Any]) -> None:
        self.ctx.cases.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("verification", "Rejected")
    def on_rejected(self, message: dict[str, Any]) -> None:
        self.ctx.cases.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("verification", "UsulanProposed")
    def on_usulan_proposed(self, message: dict[str, Any]) -> None:
        self.ctx.cases.catch_up(CloudEvent.parse(message).complaint_id)

    # -- a new DTKS snapshot: re-evaluate the desk ---------------------------------------
    @snapshot_timer(interval=DEFAULT_SNAPSHOT_CHECK_SECONDS)
    def check_snapshot(self) -> None:
        self.ctx.app.reevaluate_desk(RpcRegistry(self.dtks), actor=system_actor(self.name),
                                     correlation_id="dtks-snapshot-check")

    @http("POST", "/desk/reevaluate")
    @handle_errors
    def reevaluate(self, request: Request) -> Response:
        authorize(request_actor(request), Action.DESK_REEVALUATE, area_resource())
        result = self.ctx.app.reevaluate_desk(RpcRegistry(self.dtks),
                                              actor=system_actor(self.name),
                                              correlation_id=correlation_id(request), force=True)
        return json_response(result)

    # -- the verifier ---------------------------------------------------------------------
    @http("GET", "/desk")
    @handle_errors
    def desk(self, request: Request) -> Response:
        query = self._in_own_kabupaten(request, DeskQuery, "GET /desk")
        return json_response(self.ctx.desk.cases(**query))

    @http("POST", "/complaints/<uuid:complaint_id>/verify")
    @handle_errors
    def verify(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(VerifyIn, read_json(request))
        self.ctx.app.verify_manually(complaint_id, reason=body.reason,
                                     actor=request_actor(request),
                                     correlation_id=correlation_id(request))
        # The desk drops the case at once; the Verified consumer repeats this harmlessly.
        self.ctx.cases.catch_up(complaint_id)
        return json_response({"complaint_id": str(complaint_id), "stage": "verified"})

    @http("POST", "/complaints/<uuid:complaint_id>/reject")
    @handle_errors
    def reject(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(RejectIn, read_json(request))
        self.ctx.app.reject_manually(complaint_id, reason_code=body.reason_code,
                                     reason=body.reason, actor=request_actor(request),
                                     correlation_id=correlation_id(request))
        self.ctx.cases.catch_up(complaint_id)
        return json_response({"complaint_id": str(complaint_id), "stage": "rejected"})

    @http("POST", "/complaints/<uuid:complaint_id>/usulan")
    @handle_errors
    def usulan(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(UsulanIn, read_json(request))
        self.ctx.app.propose_usulan(complaint_id, reason=body.reason,
                                    actor=request_actor(request),
                                    correlation_id=correlation_id(request))
        self.ctx.cases.catch_up(complaint_id)
        return json_response({"complaint_id": str(complaint_id), "usulan": True})

    @http("GET", "/usulan")
    @handle_errors
    def usulan_list(self, request: Request) -> Response:
        query = self._in_own_kabupaten(request, UsulanQuery, "GET /usulan")
        rows = self.ctx.desk.usulan(**query)
        return json_response({**query, "usulan": rows})

    def _in_own_kabupaten(self, request: Request, model: type, endpoint: str
                          ) -> dict[str, Any]:
        """A verifier's lists default to its kabupaten; asking for another one is a 403
        (the auditor, who has none, sees every kabupaten). The rows carry NIK and names, so
        the read is in the access log, allowed or not."""
        actor = request_actor(request)
        query = parse_model(model, dict(request.args.items())).model_dump()
        query["kabupaten"] = query["kabupaten"] or actor.get("kabupaten")
        AccessLog(self.ctx.db).authorize_read(
            actor, Action.DESK_READ, area_resource(kabupaten=query["kabupaten"]),
            endpoint=endpoint, subject=f"kabupaten={query['kabupaten'] or '*'}",
            correlation_id=correlation_id(request))
        return query


SERVICE = VerificationService
