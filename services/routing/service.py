"""routing: refers verified complaints to agencies, serves agency work queues and actions."""

from __future__ import annotations

from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.envelope import CloudEvent
from shared.nameko_ext import event_handler
from shared.shell import Observable, request_actor, system_actor
from shared.web import correlation_id, handle_errors, json_response, parse_model, read_json

from .dependencies import RoutingDependency
from .schemas import ResolveIn


class RoutingService(Observable):
    name = "routing"
    ctx = RoutingDependency()

    @event_handler("verification", "Verified")
    def on_verified(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        self.ctx.app.refer(event.complaint_id, actor=system_actor(self.name),
                           correlation_id=event.correlation_id or event.id)

    @event_handler("routing", "ReferredToOPD")
    def on_referred(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("routing", "Resolved")
    def on_resolved(self, message: dict[str, Any]) -> None:
        self.ctx.queue.catch_up(CloudEvent.parse(message).complaint_id)

    @http("POST", "/referrals/<uuid:complaint_id>/resolve")
    @handle_errors
    def resolve(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(ResolveIn, read_json(request))
        self.ctx.app.resolve(complaint_id, agency=body.agency, outcome=body.outcome,
                             actor=request_actor(request), correlation_id=correlation_id(request))
        return json_response({"complaint_id": str(complaint_id), "agency": body.agency,
                              "stage": "resolved"})

    @http("GET", "/agencies/<string:agency>/queue")
    @handle_errors
    def agency_queue(self, request: Request, agency: str) -> Response:
        status = request.args.get("status")
        rows = self.ctx.db.fetchall(
            "SELECT *, extract(epoch FROM now() - referred_at)::bigint AS age_seconds"
            " FROM routing.agency_queue WHERE agency = %s AND (%s::text IS NULL OR status = %s)"
            " ORDER BY referred_at LIMIT 500",
            (agency, status, status),
        )
        return json_response({"agency": agency, "referrals": rows})


SERVICE = RoutingService
