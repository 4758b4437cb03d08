"""Agency work queue: open referrals per agency with status and age."""

from __future__ import annotations

from typing import Any

from shared.projection import StreamProjection


class AgencyQueue(StreamProjection):
    name = "routing.agency_queue"
    schema = "routing"
    tables = ("routing.agency_queue", "routing.complaint_facts")

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
            " registration_number, category, status, routing_rule, referred_at, updated_at)"
            " SELECT complaint_id, %s, kabupaten, registration_number, category, 'referred',"
            " %s, %s, %s FROM routing.complaint_facts WHERE complaint_id = %s"
            " ON CONFLICT (complaint_id, agency) DO UPDATE SET status = 'referred',"
            " routing_rule = EXCLUDED.routing_rule, referred_at = EXCLUDED.referred_at,"
            " updated_at = EXCLUDED.updated_at, outcome = NULL",
            (e.agency, e.routing_rule, e.timestamp, e.timestamp, e.originator_id),
        )

    def on_Resolved(self, cur: Any, e: Any) -> None:
        cur.execute(
            "UPDATE routing.agency_queue SET status = 'resolved', outcome = %s, updated_at = %s"
            " WHERE complaint_id = %s AND agency = %s",
            (e.outcome, e.timestamp, e.originator_id, e.agency),
        )
