"""intake: registers complaints (HTTP + RPC) and keeps the status and operator-activity
read models. Entry points only: validate, one application call, serialise."""

from __future__ import annotations

import os
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer
from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.audit.http import point_in_time, require_auditor
from shared.envelope import CloudEvent
from shared.errors import ComplaintNotFound
from shared.nameko_ext import event_handler
from shared.shell import Observable, request_actor
from shared.web import correlation_id, handle_errors, json_response, parse_model, read_json

from .dependencies import IntakeDependency
from .schemas import RegisterComplaintIn

# Seconds between anchors of the whole notification log (sedulur audit anchor does the same).
ANCHOR_INTERVAL = int(os.environ.get("SEDULUR_AUDIT_ANCHOR_INTERVAL", "600"))


class IntakeService(Observable):
    name = "intake"
    ctx = IntakeDependency()

    # -- commands ------------------------------------------------------------------------
    @http("POST", "/complaints")
    @handle_errors
    def register_http(self, request: Request) -> Response:
        actor = request_actor(request)
        command = parse_model(RegisterComplaintIn, read_json(request)).to_command()
        result = self.ctx.app.register(
            command,
            actor=actor,
            correlation_id=correlation_id(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        body = result.as_dict()
        return json_response(body, 201 if result.created else 200,
                             headers={"Location": f"/complaints/{body['complaint_id']}"})

    @rpc
    def register(self, complaint: dict[str, Any], actor: dict[str, Any],
                 correlation_id: str, idempotency_key: str | None = None) -> dict[str, Any]:
        command = parse_model(RegisterComplaintIn, complaint).to_command()
        return self.ctx.app.register(
            command, actor=actor, correlation_id=correlation_id, idempotency_key=idempotency_key
        ).as_dict()

    # -- queries -------------------------------------------------------------------------
    @http("GET", "/complaints/<uuid:complaint_id>")
    @handle_errors
    def get_complaint(self, request: Request, complaint_id: Any) -> Response:
        row = self.ctx.db.fetchone(
            "SELECT * FROM intake.complaint_status WHERE complaint_id = %s", (complaint_id,)
        )
        if row is None:
            raise ComplaintNotFound(f"no complaint {complaint_id}", field="complaint_id")
        return json_response(row)

    @http("GET", "/operators/activity")
    @handle_errors
    def operator_activity(self, request: Request) -> Response:
        rows = self.ctx.db.fetchall(
            "SELECT * FROM intake.operator_activity ORDER BY day DESC, operator_id LIMIT 500"
        )
        return json_response({"operators": rows})

    # -- projections: each message only nudges a stream catch-up ----------------------
    def _project(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        for projection in self.ctx.projections:
            projection.catch_up(event.complaint_id)

    @event_handler("intake", "Registered")
    def on_registered(self, message: dict[str, Any]) -> None:
        self._project(message)

    @event_handler("verification", "Verified")
    def on_verified(self, message: dict[str, Any]) -> None:
        self._project(message)

    @event_handler("verification", "Rejected")
    def on_rejected(self, message: dict[str, Any]) -> None:
        self._project(message)

    @event_handler("routing", "ReferredToOPD")
    def on_referred(self, message: dict[str, Any]) -> None:
        self._project(message)

    @event_handler("routing", "Resolved")
    def on_resolved(self, message: dict[str, Any]) -> None:
        self._project(message)

    # -- auditor: read-only history, point-in-time state, anchors (issue 8) ---------------
    @http("GET", "/audit/complaints/<string:reference>/history")
    @handle_errors
    def audit_history(self, request: Request, reference: str) -> Response:
        from shared.audit.history import AuditTrail, history_csv

        require_auditor(request)
        follow = request.args.get("follow_links", "true").lower() not in ("0", "false", "no")
        entries = AuditTrail(self.ctx.app, self.ctx.db).history(reference, follow_links=follow)
        if request.args.get("format") == "csv":
            return Response(history_csv(entries), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="history-{reference}.csv"'})
        return json_response({"complaint": reference, "events": entries})

    @http("GET", "/audit/complaints/<string:reference>/state")
    @handle_errors
    def audit_state(self, request: Request, reference: str) -> Response:
        from shared.audit.history import AuditTrail

        require_auditor(request)
        version, at = point_in_time(request)
        return json_response(
            AuditTrail(self.ctx.app, self.ctx.db).state_at(reference, version=version, at=at))

    @timer(interval=ANCHOR_INTERVAL)
    def anchor_log(self) -> None:
        from shared.audit.chain import anchor

        anchor(self.ctx.db.dsn)


SERVICE = IntakeService
