"""intake: registers complaints from every channel (desk, public web form, SMS/WhatsApp
gateway; CSV backfill is the CLI), answers the citizen's status lookup, and keeps the status
and operator-activity read models, with the supervisor's live view as Server-Sent Events.
Entry points only: validate, one application call, serialise."""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import eventlet
from nameko.timer import timer
from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared import categories
from shared.audit.http import point_in_time
from shared.auth import Action, area_resource, authorize, complaint_resource, wilayah_resource
from shared.envelope import CloudEvent
from shared.errors import (
    ComplaintNotFound,
    DependencyUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    OperatorSessionNotFound,
    SedulurError,
    Unauthenticated,
)
from shared.identity import RegistrationNumber, WilayahCode
from shared.logging import mask_digits
from shared.nameko_ext import event_handler
from shared.ratelimit import rate_limited
from shared.rpc_auth import authenticated_rpc
from shared.shell import Observable, request_actor, request_area
from shared.web import (
    correlation_id,
    handle_errors,
    json_response,
    parse_model,
    read_json,
    refuse_nul,
    status_for,
)

from . import open311
from .application import WIB
from .channels import gateway_reply, parse_gateway_text
from .console import ConsoleEndpoints
from .dependencies import IntakeDependency
from .monitoring import activity_view, changes
from .schemas import (
    GatewayMessageIn,
    OperatorLoginIn,
    PublicComplaintIn,
    RegisterComplaintIn,
)

log = logging.getLogger("sedulur.intake")

STATUS_LABELS = {
    "registered": "Aduan diterima",
    "verified": "Terverifikasi, menunggu rujukan",
    "rejected": "Ditolak",
    "referred": "Dirujuk ke instansi",
    "resolved": "Selesai",
}
# One answer for an unknown number, a malformed one and a wrong NIK suffix: no oracle.
STATUS_NOT_FOUND = "no complaint with this registration number and NIK"


def _created(result: Any) -> Response:
    body = result.as_dict()
    return json_response(body, 201 if result.created else 200,
                         headers={"Location": f"/complaints/{body['complaint_id']}"})


def _open311(root: str) -> Any:
    """GeoReport answers: the body in the format the path ends with (.json / .xml) under the
    specification's root element, and every failure as its error list `[{code,
    description}]` with that code as the HTTP status. Nothing is appended on an error: the
    use case runs only after the whole request validated."""

    def wrap(fn: Any) -> Any:
        from functools import wraps

        @wraps(fn)
        def wrapper(self: Any, request: Request, *args: Any, fmt: str, **kwargs: Any) -> Response:
            from shared.logging import bind_context

            out = fmt if fmt in open311.FORMATS else "json"
            cid = correlation_id(request)
            bind_context(correlation_id=cid)
            headers = {"X-Correlation-Id": cid}
            try:
                open311.require_format(fmt)
                refuse_nul(request)
                body, status = fn(self, request, *args, **kwargs)
                return Response(open311.render(body, root, out), status=status,
                                content_type=open311.CONTENT_TYPES[out], headers=headers)
            except open311.Open311Errors as exc:
                status, errors = exc.status, exc.errors
            except SedulurError as exc:
                status = {401: 403}.get(status_for(exc), status_for(exc))
                errors = [{"code": status, "description": exc.message}]
            except Exception:
                log.exception("unhandled error in %s", fn.__name__)
                status, errors = 500, [{"code": 500, "description": "internal error"}]
            return Response(open311.render(errors, "errors", out), status=status,
                            content_type=open311.CONTENT_TYPES[out], headers=headers)

        return wrapper

    return wrap


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"

# Seconds between anchors of the whole notification log (sedulur audit anchor does the same).
ANCHOR_INTERVAL = int(os.environ.get("SEDULUR_AUDIT_ANCHOR_INTERVAL", "600"))


class IntakeService(ConsoleEndpoints, Observable):
    name = "intake"
    ctx = IntakeDependency()

    # -- commands ------------------------------------------------------------------------
    @http("POST", "/complaints")
    @handle_errors
    def register_http(self, request: Request) -> Response:
        actor = request_actor(request)
        command = parse_model(RegisterComplaintIn, read_json(request)).to_command()
        authorize(actor, Action.COMPLAINT_REGISTER, area_resource(desk=command["desk"]))
        return _created(self.ctx.app.register(
            command,
            actor=actor,
            correlation_id=correlation_id(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
        ))

    @http("POST", "/public/complaints")
    @handle_errors
    @rate_limited("public_form", rate=0.2, burst=5)
    def register_public(self, request: Request) -> Response:
        """The public web form: no operator; the citizen is the actor."""
        form = parse_model(PublicComplaintIn, read_json(request))
        command = form.to_register("web").to_command()
        actor = {"user_id": "citizen:web", "role": "citizen", "desk": None}
        return _created(self.ctx.app.register(
            command, actor=actor, correlation_id=correlation_id(request),
            idempotency_key=request.headers.get("Idempotency-Key"),
        ))

    @http("POST", "/gateway/messages")
    @handle_errors
    def gateway_message(self, request: Request) -> Response:
        """SMS / WhatsApp gateway webhook: `NIK#KATEGORI#uraian`, shared-secret header."""
        secret = self.ctx.options.gateway_secret
        if not secret:
            raise Forbidden("the SMS/WhatsApp gateway is not enabled on this intake "
                            "(set SEDULUR_INTAKE_GATEWAY_SECRET)")
        given = request.headers.get("X-Sedulur-Gateway-Secret", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise Unauthenticated("wrong or missing X-Sedulur-Gateway-Secret")
        message = parse_model(GatewayMessageIn, read_json(request))
        try:
            command = parse_gateway_text(message.text, channel=message.channel,
                                         sender=message.sender, name=message.name).to_command()
        except SedulurError as exc:
            exc.details["reply"] = gateway_reply(exc)
            raise
        actor = {"user_id": f"gateway:{message.channel}", "role": "citizen", "desk": None}
        result = self.ctx.app.register(
            command, actor=actor, correlation_id=correlation_id(request),
            idempotency_key=f"{message.channel}:{message.message_id}",
        )
        body = {**result.as_dict(),
                "reply": f"Aduan diterima. Nomor registrasi {result.registration_number}. "
                         "Cek status dengan nomor ini dan 4 digit terakhir NIK."}
        return json_response(body, 201 if result.created else 200)

    @authenticated_rpc
    def register(self, complaint: dict[str, Any], actor: dict[str, Any],
                 correlation_id: str, idempotency_key: str | None = None) -> dict[str, Any]:
        command = parse_model(RegisterComplaintIn, complaint).to_command()
        return self.ctx.app.register(
            command, actor=actor, correlation_id=correlation_id, idempotency_key=idempotency_key
        ).as_dict()

    # -- operators at desks --------------------------------------------------------------
    @http("POST", "/operators/session")
    @handle_errors
    def operator_login(self, request: Request) -> Response:
        actor = request_actor(request)
        body = read_json(request) if request.get_data() else {}
        body.setdefault("desk", actor.get("desk"))
        login = parse_model(OperatorLoginIn, body)
        authorize(actor, Action.OPERATOR_SESSION, area_resource(desk=login.desk))
        session_id = uuid.uuid4()
        self.ctx.presence.login(actor["user_id"], login.desk, session_id, datetime.now(UTC))
        return json_response({"session_id": str(session_id), "operator_id": actor["user_id"],
                              "desk": login.desk,
                              "heartbeat_seconds": self.ctx.options.heartbeat_seconds}, 201)

    @http("POST", "/operators/session/<uuid:session_id>/heartbeat")
    @handle_errors
    def operator_heartbeat(self, request: Request, session_id: Any) -> Response:
        actor = self._operator(request)
        if not self.ctx.presence.heartbeat(actor["user_id"], session_id, datetime.now(UTC)):
            raise OperatorSessionNotFound("no open session with this id for this operator; "
                                          "log in again", field="session_id")
        return Response(status=204)

    @http("DELETE", "/operators/session/<uuid:session_id>")
    @handle_errors
    def operator_logout(self, request: Request, session_id: Any) -> Response:
        actor = self._operator(request)
        if not self.ctx.presence.logout(actor["user_id"], session_id, datetime.now(UTC)):
            raise OperatorSessionNotFound("no open session with this id for this operator",
                                          field="session_id")
        return Response(status=204)

    @staticmethod
    def _operator(request: Request) -> dict[str, Any]:
        actor = request_actor(request)
        authorize(actor, Action.OPERATOR_SESSION, area_resource(desk=actor.get("desk")))
        return actor

    # -- queries -------------------------------------------------------------------------
    @http("GET", "/complaints/<uuid:complaint_id>")
    @handle_errors
    def get_complaint(self, request: Request, complaint_id: Any) -> Response:
        actor = request_actor(request)
        complaint = self.ctx.app.get_complaint(complaint_id)
        self.ctx.access.authorize_read(actor, Action.COMPLAINT_READ,
                                       complaint_resource(complaint),
                                       endpoint="GET /complaints/<id>",
                                       correlation_id=correlation_id(request))
        row = self.ctx.db.fetchone(
            "SELECT * FROM intake.complaint_status WHERE complaint_id = %s", (complaint_id,)
        )
        if row is None:
            raise ComplaintNotFound(f"no complaint {complaint_id}", field="complaint_id")
        return json_response(row)

    @http("GET", "/status/<string:number>")
    @handle_errors
    @rate_limited("status_lookup", rate=1.0, burst=10)
    def citizen_status(self, request: Request, number: str) -> Response:
        """The citizen's lookup: registration number + last 4 digits of the NIK. Unknown
        number, malformed number and wrong suffix give the very same 404."""
        nik4 = request.args.get("nik4", "")
        try:
            canonical = RegistrationNumber.parse(number).value
        except SedulurError:
            canonical = None
        row = self.ctx.reader.status(canonical) if canonical else None
        # Compare even when there is no row, so both paths do the same work.
        expected = row["nik_last4"] if row else "\0\0\0\0"
        if not (hmac.compare_digest(nik4.encode(), expected.encode()) and row):
            raise NotFound(STATUS_NOT_FOUND)
        agencies = row["agencies"] or []
        body = {
            "registration_number": row["registration_number"],
            "status": STATUS_LABELS.get(row["stage"], row["stage"]),
            "stage": row["stage"],
            "agency": agencies[-1] if agencies else None,
        }
        if row.get("due_at") is not None:
            body["due_at"] = row["due_at"].isoformat()
        return json_response(body)

    @http("GET", "/categories")
    @handle_errors
    def category_tree(self, request: Request) -> Response:
        return json_response({"categories": categories.tree()})

    @http("GET", "/operators/activity")
    @handle_errors
    def operator_activity(self, request: Request) -> Response:
        area = self._supervised_area(request)
        return json_response(activity_view(self.ctx.reader, area, datetime.now(UTC),
                                           self.ctx.options.monitor))

    @http("GET", "/operators/live")
    @handle_errors
    def operator_live(self, request: Request) -> Response:
        """Server-Sent Events: `snapshot` first, then `registration`, `idle`,
        `deadline_at_risk`, `operator` (any other change) per operator, within one poll of
        the projection (0.25 s by default) after it changes."""
        area = self._supervised_area(request)
        # eventlet.wsgi gathers small writes into 4 KiB chunks; an event must go out now.
        request.environ["eventlet.minimum_write_chunk_size"] = 0
        return Response(self._live(area), status=200, mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def _live(self, area: str) -> Iterator[str]:
        ctx, poll = self.ctx, self.ctx.options.live_poll_seconds
        try:
            view = activity_view(ctx.reader, area, datetime.now(UTC), ctx.options.monitor)
            memory, _ = changes({}, view)
            yield "retry: 2000\n\n" + _sse("snapshot", view)
            last_write = time.monotonic()
            while True:
                eventlet.sleep(poll)  # cooperative: other requests run meanwhile
                view = activity_view(ctx.reader, area, datetime.now(UTC), ctx.options.monitor)
                memory, news = changes(memory, view)
                for name, payload in news:
                    yield _sse(name, payload)
                    last_write = time.monotonic()
                if time.monotonic() - last_write > 5:
                    yield ": keep-alive\n\n"  # also how a closed client is noticed
                    last_write = time.monotonic()
        except (GeneratorExit, DependencyUnavailable):
            return  # client gone, or the service is stopping
        except Exception:
            log.exception("operator live stream ended for area %s", area)

    @staticmethod
    def _supervised_area(request: Request) -> str:
        """The area to show: `?area=` or the caller's own (the token's kecamatan for a
        supervisor, kabupaten for an admin / verifier, everything for the auditor); the
        policy (shared.auth, operator_activity.read) decides whether it may watch it."""
        actor = request_actor(request)
        asked = request.args.get("area")
        code = WilayahCode.parse(asked, field="area").value if asked else (
            request_area(request) or "")
        authorize(actor, Action.ACTIVITY_READ, wilayah_resource(code))
        return code

    # -- Open311 GeoReport v2 (docs/open311.md) ------------------------------------------
    @http("GET", "/open311/v2/services.<string:fmt>")
    @_open311("services")
    def open311_services(self, request: Request) -> tuple[Any, int]:
        return open311.services(), 200

    @http("GET", "/open311/v2/services/<string:service_code>.<string:fmt>")
    @_open311("service_definition")
    def open311_definition(self, request: Request, service_code: str) -> tuple[Any, int]:
        return open311.definition(service_code), 200

    @http("POST", "/open311/v2/requests.<string:fmt>")
    @_open311("service_requests")
    def open311_post(self, request: Request) -> tuple[Any, int]:
        if (request.content_length or 0) > 64 * 1024:
            raise open311.Open311Errors.one(400, "request body larger than 65536 bytes")
        form = request.form.to_dict()
        found = self.ctx.open311_clients.by_key(form.get("api_key") or "") \
            if form.get("api_key") else None
        if found is None:
            raise open311.Open311Errors.one(403, "api_key was not provided or invalid")
        client = open311.Client(**found)
        post = open311.parse_post(form, client, today=datetime.now(WIB).date())
        result = self.ctx.app.register(post.command, actor=post.actor,
                                       correlation_id=correlation_id(request),
                                       idempotency_key=post.idempotency_key)
        return (open311.posted(result.registration_number, created=result.created),
                201 if result.created else 200)

    @http("GET", "/open311/v2/requests.<string:fmt>")
    @_open311("service_requests")
    def open311_requests(self, request: Request) -> tuple[Any, int]:
        from datetime import timedelta

        query = open311.request_query(request.args)
        since = (query.end or datetime.now(UTC)) - timedelta(days=open311.DEFAULT_WINDOW_DAYS)
        rows = self.ctx.open311_requests.find(query, default_since=since,
                                              limit=open311.MAX_REQUESTS)
        return [open311.request_view(r) for r in rows], 200

    @http("GET", "/open311/v2/requests/<string:service_request_id>.<string:fmt>")
    @_open311("service_requests")
    def open311_request(self, request: Request, service_request_id: str) -> tuple[Any, int]:
        try:
            number = RegistrationNumber.parse(service_request_id).value
        except SedulurError:
            number = None
        rows = self.ctx.open311_requests.find(open311.RequestQuery(ids=(number,)),
                                              default_since=datetime.now(UTC), limit=1) \
            if number else []
        if not rows:
            raise open311.Open311Errors.one(
                404, f"service_request_id {service_request_id!r} was not found")
        return [open311.request_view(rows[0])], 200

    @http("GET", "/openapi.json")
    def openapi(self, request: Request) -> Response:
        from .openapi import document

        return json_response(document())

    @http("GET", "/audit/access-log")
    @handle_errors
    def access_log(self, request: Request) -> Response:
        """Who read which complaint's personal data, when, through which endpoint
        (auditors only)."""
        authorize(request_actor(request), Action.AUDIT_READ, area_resource())
        args = request.args
        try:
            limit = int(args.get("limit", "500"))
            complaint = UUID(args["complaint_id"]) if args.get("complaint_id") else None
        except ValueError:
            raise InvalidInput("limit must be an integer and complaint_id a UUID",
                               field="query") from None
        user_id = args.get("user_id") or None
        if user_id is not None and (len(user_id) > 200 or not user_id.isprintable()):
            raise InvalidInput("user_id must be printable text of at most 200 characters",
                               field="user_id")
        rows = self.ctx.access.query(complaint_id=complaint, user_id=user_id, limit=limit)
        return json_response({"entries": rows})

    # -- projections: each message only nudges a stream catch-up ----------------------
    def _project(self, message: dict[str, Any]) -> None:
        event = CloudEvent.parse(message)
        self.ctx.catch_up([event.complaint_id])

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

        self._audit_read(request, reference, "GET /audit/complaints/<ref>/history")
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

        self._audit_read(request, reference, "GET /audit/complaints/<ref>/state")
        version, at = point_in_time(request)
        return json_response(
            AuditTrail(self.ctx.app, self.ctx.db).state_at(reference, version=version, at=at))

    def _audit_read(self, request: Request, reference: str, endpoint: str) -> None:
        """The auditor's replay shows the citizen's data: logged like any other read."""
        self.ctx.access.authorize_read(request_actor(request), Action.AUDIT_READ,
                                       area_resource(), endpoint=endpoint,
                                       subject=mask_digits(reference),
                                       correlation_id=correlation_id(request))

    @timer(interval=ANCHOR_INTERVAL)
    def anchor_log(self) -> None:
        from shared.audit.chain import anchor

        anchor(self.ctx.db.dsn)


SERVICE = IntakeService
