"""SLA deadlines per open stage, recorded from the complaint's events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.projection import StreamProjection

# Walking skeleton: Kemensos' 1x24 hours for every stage; the SLA issue brings policies.
POLICY = "default-24h"
STAGE_SPAN = timedelta(hours=24)

# event -> (stages it closes, stage it opens)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "Registered": ((), "verification"),
    "Verified": (("verification",), "referral"),
    "Rejected": (("verification",), None),
    "ReferredToOPD": (("referral",), "resolution"),
    "Resolved": (("resolution",), None),
}


class Deadlines(StreamProjection):
    name = "sla.deadlines"
    schema = "sla"
    tables = ("sla.deadlines",)

    def apply(self, cur: Any, event: Any) -> None:
        transition = TRANSITIONS.get(type(event).__name__)
        if transition is None:
            return
        closes, opens = transition
        if closes:
            cur.execute(
                "UPDATE sla.deadlines SET closed_at = %s WHERE complaint_id = %s"
                " AND stage = ANY(%s) AND closed_at IS NULL",
                (event.timestamp, event.originator_id, list(closes)),
            )
        if opens:
            cur.execute(
                "INSERT INTO sla.deadlines (complaint_id, stage, policy, started_at, due_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (complaint_id, stage) DO NOTHING",
                (event.originator_id, opens, POLICY, event.timestamp,
                 event.timestamp + STAGE_SPAN),
            )
