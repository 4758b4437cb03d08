"""HTTP helpers for the auditor's read-only endpoints (served by intake)."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def require_auditor(request: Any) -> dict[str, Any]:
    """The audit endpoints are the auditor's: read-only, every complaint (policy:
    shared.auth, audit.read)."""
    from shared.auth import Action, area_resource, authorize
    from shared.shell import request_actor

    actor = request_actor(request)
    authorize(actor, Action.AUDIT_READ, area_resource())
    return actor


def point_in_time(request: Any) -> tuple[int | None, datetime | None]:
    """?version=N or ?at=<ISO time with zone>; a '+' of the zone may arrive as a space."""
    from shared.errors import InvalidInput

    version = request.args.get("version")
    at = request.args.get("at")
    if version is not None and at is not None:
        raise InvalidInput("give either version or at, not both", field="version")
    if version is not None:
        try:
            return int(version), None
        except ValueError:
            raise InvalidInput("version must be an integer", field="version") from None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at.strip().replace(" ", "+"))
        except ValueError:
            raise InvalidInput("at must be an ISO 8601 time with zone", field="at") from None
        if moment.tzinfo is None:
            raise InvalidInput("at needs a time zone (e.g. +07:00)", field="at")
        return None, moment
    return None, None
