"""The intake endpoints the web console needs besides the ones other clients use: a desk's
complaints of the day, and the console's own static files (services/console) with the
config telling the page where each service's API is. A mixin of IntakeService."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any

from nameko.web.handlers import http
from werkzeug.wrappers import Request, Response

from shared.auth import Action, area_resource, authorize
from shared.config import Settings
from shared.errors import InvalidInput
from shared.identity import WilayahCode
from shared.shell import request_actor
from shared.web import handle_errors, json_response

from .application import WIB


class ConsoleEndpoints:
    ctx: Any  # IntakeService's dependency

    # -- a desk's day -------------------------------------------------------------------
    @http("GET", "/desks/<string:desk>/complaints")
    @handle_errors
    def desk_complaints(self, request: Request, desk: str) -> Response:
        """A desk's complaints of one day (Asia/Jakarta; ?day=YYYY-MM-DD, default today):
        an operator reads its own desk, a supervisor the desks of its kecamatan, a verifier
        or admin those of its kabupaten, the auditor any (policy: desk_complaints.read)."""
        code = WilayahCode.parse(desk, field="desk").value
        authorize(request_actor(request), Action.DESK_LIST_READ, area_resource(desk=code))
        raw_day = request.args.get("day")
        try:
            day = date.fromisoformat(raw_day) if raw_day else datetime.now(WIB).date()
        except ValueError:
            raise InvalidInput("day must be YYYY-MM-DD", field="day") from None
        since = datetime.combine(day, dtime(), WIB)
        rows = self.ctx.reader.desk_complaints(code, since, since + timedelta(days=1))
        return json_response({"desk": code, "day": day.isoformat(), "complaints": rows})

    # -- the console's static files and where the APIs are ---------------------------------
    @http("GET", "/console/")
    def console_index(self, request: Request) -> Response:
        return self.console_asset(request, "index.html")

    @http("GET", "/console/config.json")
    def console_config(self, request: Request) -> Response:
        from services.console import config

        return json_response(config(Settings()), headers={"Cache-Control": "no-cache"})

    @http("GET", "/console/<path:asset>")
    def console_asset(self, request: Request, asset: str) -> Response:
        from services.console import asset as read_asset

        found = read_asset(asset)
        if found is None:
            return json_response({"error": {"code": "not_found",
                                            "message": f"no console file {asset}"}}, 404)
        content, media_type = found
        return Response(content, mimetype=media_type, headers={"Cache-Control": "no-cache"})
