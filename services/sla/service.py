"""sla: deadlines for every open stage of every complaint, a durable timer that breaches and
escalates overdue ones, clock pause/resume, and the SLA board."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from services.reporting.schemas import RecapQuery
from shared.auth import (
    Action,
    authorize,
    complaint_resource,
    home_area,
    wilayah_resource,
)
from shared.envelope import CloudEvent
from shared.nameko_ext import event_handler
from shared.shell import Observable, request_actor
from shared.web import correlation_id, handle_errors, json_response, parse_model, read_json

from .dependencies import (
    DEFAULT_REPORT_TIMER_SECONDS,
    DEFAULT_TIMER_SECONDS,
    SlaDependency,
    report_timer,
    sla_timer,
)
from .metrics import observe_tick
from .schemas import BoardQuery, PauseIn


class SlaService(Observable):
    name = "sla"
    ctx = SlaDependency()

    # -- the projection: every event that starts, stops, moves or flags a clock ----------
    def _track(self, message: dict[str, Any]) -> None:
        complaint_id = CloudEvent.parse(message).complaint_id
        self.ctx.deadlines.catch_up(complaint_id)
        self.ctx.recap.catch_up(complaint_id)

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

    @event_handler("routing", "ReferralAccepted")
    def on_referral_accepted(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("routing", "ReferralReturned")
    def on_referral_returned(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("routing", "Resolved")
    def on_resolved(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("sla", "SlaBreached")
    def on_sla_breached(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("sla", "Escalated")
    def on_escalated(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("sla", "ClockPaused")
    def on_clock_paused(self, message: dict[str, Any]) -> None:
        self._track(message)

    @event_handler("sla", "ClockResumed")
    def on_clock_resumed(self, message: dict[str, Any]) -> None:
        self._track(message)

    # -- the durable timer ----------------------------------------------------------------
    @sla_timer(interval=DEFAULT_TIMER_SECONDS)
    def check_deadlines(self) -> None:
        report = self.ctx.watchdog.tick()
        observe_tick(report, self.ctx.store.gauges(datetime.now(UTC)))

    # -- pause / resume ("tunda") ---------------------------------------------------------
    @http("POST", "/complaints/<uuid:complaint_id>/pause")
    @handle_errors
    def pause(self, request: Request, complaint_id: Any) -> Response:
        body = parse_model(PauseIn, read_json(request))
        version = self.ctx.app.pause(complaint_id, reason=body.reason,
                                     actor=request_actor(request),
                                     correlation_id=correlation_id(request))
        return json_response({"complaint_id": str(complaint_id), "paused": True,
                              "version": version})

    @http("POST", "/complaints/<uuid:complaint_id>/resume")
    @handle_errors
    def resume(self, request: Request, complaint_id: Any) -> Response:
        version = self.ctx.app.resume(complaint_id, actor=request_actor(request),
                                      correlation_id=correlation_id(request))
        return json_response({"complaint_id": str(complaint_id), "paused": False,
                              "version": version})

    @staticmethod
    def _authorize_board(request: Request) -> str:
        """Counts and deadlines, no personal data, narrowed to the caller's own area (a
        supervisor's kecamatan, a verifier's or admin's kabupaten, everything for the
        auditor). Returns that area's wilayah prefix ("" for the auditor): authorize() has
        refused any role without its area."""
        actor = request_actor(request)
        home = home_area(actor)
        authorize(actor, Action.BOARD_READ, wilayah_resource(home))
        return home

    # -- reads -------------------------------------------------------------------------------
    @http("GET", "/complaints/<uuid:complaint_id>/deadlines")
    @handle_errors
    def complaint_deadlines(self, request: Request, complaint_id: Any) -> Response:
        authorize(request_actor(request), Action.SLA_READ,
                  complaint_resource(self.ctx.app.get_complaint(complaint_id)))
        return json_response({"complaint_id": str(complaint_id),
                              "deadlines": self.ctx.store.for_complaint(complaint_id)})

    @http("GET", "/deadlines/open")
    @handle_errors
    def open_deadlines(self, request: Request) -> Response:
        area = self._authorize_board(request)
        return json_response({"deadlines": self.ctx.store.open_deadlines(area=area)})

    @http("GET", "/board")
    @handle_errors
    def board(self, request: Request) -> Response:
        area = self._authorize_board(request)
        query = parse_model(BoardQuery, dict(request.args))
        now = datetime.now(UTC)
        since, until = query.window(now)
        return json_response({"by": query.by, "since": since, "until": until, "now": now,
                              "area": area or None,
                              "rows": self.ctx.board.summary(query.by, now, since, until,
                                                             area)})

    @http("GET", "/board/compliance")
    @handle_errors
    def board_compliance(self, request: Request) -> Response:
        area = self._authorize_board(request)
        query = parse_model(BoardQuery, dict(request.args))
        since, until = query.window(datetime.now(UTC))
        return json_response({"by": query.by, "period": query.period, "tz": query.tz,
                              "since": since, "until": until,
                              "rows": self.ctx.board.compliance(query.by, query.period,
                                                                query.tz, since, until,
                                                                area)})


    # -- recaps (rekapitulasi): services/reporting, fed by the handlers above ----------------
    @http("GET", "/reports/recap")
    @handle_errors
    def recap(self, request: Request) -> Response:
        actor = request_actor(request)
        query = parse_model(RecapQuery, dict(request.args))
        authorize(actor, Action.REPORT_READ, wilayah_resource(query.area))
        out = self.ctx.reporting.render(query.period, query.area, query.format)
        return _download(out)

    @http("GET", "/reports/generated")
    @handle_errors
    def generated_list(self, request: Request) -> Response:
        actor = request_actor(request)
        own = home_area(actor)
        authorize(actor, Action.REPORT_READ, wilayah_resource(own))
        return json_response({"generated": [
            g for g in self.ctx.reporting.store.list_generated()
            if str(g["area"]).startswith(own)]})

    @http("GET", "/reports/generated/<string:period>/<string:area>/<string:fmt>")
    @handle_errors
    def generated_download(self, request: Request, period: str, area: str,
                           fmt: str) -> Response:
        authorize(request_actor(request), Action.REPORT_READ, wilayah_resource(area))
        return _download(self.ctx.reporting.generated(period, area, fmt))

    @report_timer(interval=DEFAULT_REPORT_TIMER_SECONDS)
    def monthly_recaps(self) -> None:
        # Last month's recap per kabupaten, once: the store says which exist.
        self.ctx.reporting.generate_monthly(datetime.now(UTC).date())


def _download(out: Any) -> Response:
    return Response(out.data, mimetype=out.media_type.split(";")[0],
                    headers={"Content-Disposition": f'attachment; filename="{out.filename}"',
                             "X-Sedulur-Log-Position": str(out.log_position)})


SERVICE = SlaService
