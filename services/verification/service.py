"""verification: decides every registered complaint against DTKS, and lets a verifier
verify or reject by hand."""

from __future__ import annotations

from typing import Any

from nameko.rpc import RpcProxy
from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.envelope import CloudEvent
from shared.nameko_ext import event_handler
from shared.shell import Observable, request_actor, system_actor
from shared.web import correlation_id, handle_errors, json_response, parse_model, read_json

from .dependencies import VerificationDependency
from .schemas import RejectIn, VerifyIn


class VerificationService(Observable):
    name = "verification"
    app = VerificationDependency()
    dtks = RpcProxy("dtks_sync")

    @event_handler("intake", "Registered")
    def on_registered(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        answer = self.dtks.lookup_nik(event.data["citizen"]["nik"])
        self.app.decide(
            event.complaint_id, answer["person"], answer["snapshot_id"],
            actor=system_actor(self.name), correlation_id=event.correlation_id or event.id,
        )

    @http("POST", "/complaints/<uuid:complaint_id>/verify")
    @handle_errors
    def verify(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(VerifyIn, read_json(request))
        self.app.verify_manually(complaint_id, reason=body.reason, actor=request_actor(request),
                                 correlation_id=correlation_id(request))
        return json_response({"complaint_id": str(complaint_id), "stage": "verified"})

    @http("POST", "/complaints/<uuid:complaint_id>/reject")
    @handle_errors
    def reject(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(RejectIn, read_json(request))
        self.app.reject_manually(complaint_id, reason_code=body.reason_code, reason=body.reason,
                                 actor=request_actor(request),
                                 correlation_id=correlation_id(request))
        return json_response({"complaint_id": str(complaint_id), "stage": "rejected"})


SERVICE = VerificationService
