"""routing: refers verified complaints to agencies, re-routes returned ones, serves agency
work queues and actions, and lets an admin change a routing table without a restart."""

from __future__ import annotations

from typing import Any

from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Request, Response

from shared.auth import Action, area_resource, authorize
from shared.envelope import CloudEvent
from shared.nameko_ext import TimedRpcProxy, event_handler
from shared.rpc_auth import ServiceIdentity
from shared.shell import Observable, request_actor, system_actor
from shared.web import correlation_id, handle_errors, json_response, parse_model, read_json

from .dependencies import RoutingDependency
from .schemas import AcceptIn, ProgressIn, QueueQuery, ResolveIn, ReturnIn, TableIn


def _referral_answer(complaint: Any, agency: str) -> dict[str, Any]:
    return {"complaint_id": str(complaint.id), "agency": agency,
            "referral_status": complaint.referrals.get(agency), "stage": complaint.stage.value,
            "version": complaint.version}


class RoutingService(Observable):
    name = "routing"
    ctx = RoutingDependency()
    dtks = TimedRpcProxy("dtks_sync")
    identity = ServiceIdentity()  # signs the calls to dtks_sync (shared.rpc_auth)

    def _person(self, nik: str) -> dict[str, Any] | None:
        return self.dtks.lookup_nik(nik)["person"]

    # -- events ---------------------------------------------------------------------------
    @event_handler("intake", "Registered")
    def on_registered(self, message: dict[str, Any]) -> None:
        # Every stream's facts, also of complaints never routed (rejected, on the desk), so
        # the live tables equal a replay of the log.
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("verification", "Verified")
    def on_verified(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        self.ctx.app.refer(event.complaint_id, actor=system_actor(self.name),
                           correlation_id=event.correlation_id or event.id,
                           person_lookup=self._person)

    @event_handler("routing", "ReferralReturned")
    def on_referral_returned(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        self.ctx.queue.catch_up(event.complaint_id)
        self.ctx.app.reroute(event.complaint_id, actor=system_actor(self.name),
                             correlation_id=event.correlation_id or event.id,
                             person_lookup=self._person)

    @event_handler("routing", "ReferredToOPD")
    def on_referred(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("routing", "ReferralAccepted")
    def on_referral_accepted(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("routing", "ProgressNoted")
    def on_progress_noted(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("routing", "ReferralResolved")
    def on_referral_resolved(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("routing", "Resolved")
    def on_resolved(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    # -- agency actions -------------------------------------------------------------------
    def _act(self, request: Request, complaint_id: Any, model: type, action: str,
             **fields: str) -> Response:
        actor = request_actor(request)
        body = parse_model(model, read_json(request))
        extra = {name: getattr(body, name) for name in fields}
        complaint = getattr(self.ctx.app, action)(
            complaint_id, agency=body.agency, actor=actor,
            correlation_id=correlation_id(request), **extra)
        # The agency sees its own write at once; the event's consumer repeats it harmlessly.
        self.ctx.queue.catch_up(complaint_id)
        return json_response(_referral_answer(complaint, body.agency))

    @http("POST", "/referrals/<uuid:complaint_id>/accept")
    @handle_errors
    def accept(self, request: Request, complaint_id: Any) -> Response:
        return self._act(request, complaint_id, AcceptIn, "accept")

    @http("POST", "/referrals/<uuid:complaint_id>/progress")
    @handle_errors
    def progress(self, request: Request, complaint_id: Any) -> Response:
        return self._act(request, complaint_id, ProgressIn, "note_progress", note="note")

    @http("POST", "/referrals/<uuid:complaint_id>/resolve")
    @handle_errors
    def resolve(self, request: Request, complaint_id: Any) -> Response:
        return self._act(request, complaint_id, ResolveIn, "resolve", outcome="outcome")

    @http("POST", "/referrals/<uuid:complaint_id>/return")
    @handle_errors
    def return_referral(self, request: Request, complaint_id: Any) -> Response:
        return self._act(request, complaint_id, ReturnIn, "return_referral", reason="reason")

    # -- work queue -----------------------------------------------------------------------
    @http("GET", "/agencies/<string:agency>/queue")
    @handle_errors
    def agency_queue(self, request: Request, agency: str) -> Response:
        actor = request_actor(request)
        query = parse_model(QueueQuery, dict(request.args.items())).model_dump()
        # A user with a kabupaten sees only its kabupaten; asking for another one is a 403.
        query["kabupaten"] = query["kabupaten"] or actor.get("kabupaten")
        authorize(actor, Action.QUEUE_READ,
                  area_resource(kabupaten=query["kabupaten"], agency=agency))
        page = self.ctx.reader.page(agency=agency, **query)
        return json_response({"agency": agency, **page})

    # -- routing tables -------------------------------------------------------------------
    @http("GET", "/routing/tables/<string:kabupaten>")
    @handle_errors
    def get_table(self, request: Request, kabupaten: str) -> Response:
        authorize(request_actor(request), Action.CONFIG_READ, area_resource(kabupaten=kabupaten))
        table = self.ctx.app.tables.current(kabupaten)
        return json_response({"kabupaten": kabupaten, "applies": table.kabupaten,
                              "version": table.version, **table.to_document()})

    @http("PUT", "/routing/tables/<string:kabupaten>")
    @handle_errors
    def put_table(self, request: Request, kabupaten: str) -> Response:
        actor = request_actor(request)
        body = parse_model(TableIn, read_json(request))
        document: dict[str, Any] = {"rules": body.rules}
        if body.default is not None:
            document["default"] = body.default
        table = self.ctx.app.replace_table(kabupaten, document, actor=actor,
                                           expected_version=body.expected_version)
        return json_response({"kabupaten": kabupaten, "version": table.version,
                              **table.to_document()})

    # -- metrics: the process's metrics plus the dead-letter queue depth --------------------
    @http("GET", "/metrics")
    def metrics(self, request: Request) -> Response:
        self.ctx.dead_letters.refresh()
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


SERVICE = RoutingService
