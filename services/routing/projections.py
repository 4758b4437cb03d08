"""Agency work queue: one row per referral with its status, what the agency did and when."""

from __future__ import annotations

from typing import Any

from shared.personal import REDACTED
from shared.projection import StreamProjection


class AgencyQueue(StreamProjection):
    name = "routing.agency_queue"
    schema = "routing"
    tables = ("routing.agency_queue", "routing.complaint_facts")
    per_stream = True
    # The agency's free text (notes, return reasons, outcomes) can name the citizen.
    personal_columns = {"routing.agency_queue": {"last_note": REDACTED,
                                                 "return_reason": REDACTED,
                                                 "outcome": REDACTED}}

    def on_Registered(self, cur: Any, e: Any) -> None:
        cur.execute(
            "INSERT INTO routing.complaint_facts (complaint_id, registration_number, kabupaten,"
            " category, wilayah, registered_at) VALUES (%s,%s,%s,%s,%s,%s)",
            (e.originator_id, e.registration_number, e.kabupaten, e.category, e.wilayah,
             e.timestamp),
        )

    def on_ReferredToOPD(self, cur: Any, e: Any) -> None:
        cur.execute(
            "INSERT INTO routing.agency_queue (complaint_id, agency, kabupaten,"
            " registration_number, category, status, routing_rule, routing_table_version,"
            " referred_at, updated_at)"
            " SELECT complaint_id, %s, kabupaten, registration_number, category, 'referred',"
            " %s, %s, %s, %s FROM routing.complaint_facts WHERE complaint_id = %s"
            " ON CONFLICT (complaint_id, agency) DO UPDATE SET status = 'referred',"
            " routing_rule = EXCLUDED.routing_rule,"
            " routing_table_version = EXCLUDED.routing_table_version,"
            " referred_at = EXCLUDED.referred_at, updated_at = EXCLUDED.updated_at,"
            " outcome = NULL, accepted_at = NULL, returned_at = NULL, return_reason = NULL,"
            " resolved_at = NULL",
            (e.agency, e.routing_rule, e.routing_table_version, e.timestamp, e.timestamp,
             e.originator_id),
        )

    def on_ReferralAccepted(self, cur: Any, e: Any) -> None:
        self._update(cur, e, "status = 'accepted', accepted_at = %s", e.timestamp)

    def on_ProgressNoted(self, cur: Any, e: Any) -> None:
        self._update(cur, e, "notes = notes + 1, last_note = %s", e.note)

    def on_ReferralReturned(self, cur: Any, e: Any) -> None:
        self._update(cur, e, "status = 'returned', returned_at = %s, return_reason = %s",
                     e.timestamp, e.reason)

    def on_ReferralResolved(self, cur: Any, e: Any) -> None:
        self._update(cur, e, "status = 'resolved', resolved_at = %s, outcome = %s",
                     e.timestamp, e.outcome)

    def on_Resolved(self, cur: Any, e: Any) -> None:
        self.on_ReferralResolved(cur, e)

    @staticmethod
    def _update(cur: Any, e: Any, assignments: str, *values: Any) -> None:
        cur.execute(
            f"UPDATE routing.agency_queue SET {assignments}, updated_at = %s"
            " WHERE complaint_id = %s AND agency = %s",
            (*values, e.timestamp, e.originator_id, e.agency),
        )
