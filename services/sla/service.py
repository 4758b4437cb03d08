"""sla: records a due time for every open stage of every complaint."""

from __future__ import annotations

from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.envelope import CloudEvent
from shared.nameko_ext import event_handler
from shared.shell import Observable
from shared.web import handle_errors, json_response

from .dependencies import SlaDependency


class SlaService(Observable):
    name = "sla"
    ctx = SlaDependency()

    def _track(self, message: dict[str, Any]) -> None:
        self.ctx.deadlines.catch_up(CloudEvent.parse(message).complaint_id)

    @event_handler("intake", "Registered")
    def on_registered(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("verification", "Verified")
    def on_verified(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("verification", "Rejected")
    def on_rejected(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("routing", "ReferredToOPD")
    def on_referred(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("routing", "Resolved")
    def on_resolved(self, message: dict[str, Any]) -> None:
        self._track(message)

    @http("GET", "/complaints/<uuid:complaint_id>/deadlines")
    @handle_errors
    def complaint_deadlines(self, request: Request, complaint_id: Any) -> Response:
        rows = self.ctx.db.fetchall(
            "SELECT * FROM sla.deadlines WHERE complaint_id = %s ORDER BY started_at",
            (complaint_id,),
        )
        return json_response({"complaint_id": str(complaint_id), "deadlines": rows})

    @http("GET", "/deadlines/open")
    @handle_errors
    def open_deadlines(self, request: Request) -> Response:
        rows = self.ctx.db.fetchall(
            "SELECT * FROM sla.deadlines WHERE closed_at IS NULL ORDER BY due_at LIMIT 500"
        )
        return json_response({"deadlines": rows})


SERVICE = SlaService
