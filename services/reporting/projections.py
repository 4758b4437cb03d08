"""The reporting projection `reporting.recap`: one fact row per complaint and one per
referral, from which every recap is counted. Fed by the sla service's event handlers
(catch-up per stream: it sees every event of the stream, also those sla does not
subscribe to); rebuildable from the log like the others. Handlers only assign from the
events' own fields and timestamps: rebuild == live."""

from __future__ import annotations

from typing import Any

from shared.projection import StreamProjection

from .domainmodel import AGENCY_STAGES, wilayah_parts


class RecapProjection(StreamProjection):
    name = "reporting.recap"
    schema = "reporting"
    tables = ("reporting.recap", "reporting.recap_referrals")
    per_stream = True

    def on_Registered(self, cur: Any, e: Any) -> None:
        parts = wilayah_parts(e.kabupaten, e.desk, e.wilayah)
        cur.execute(
            "INSERT INTO reporting.recap (complaint_id, kabupaten, province, kecamatan, desa,"
            " desk, channel, category, priority, operator, registered_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
            (e.originator_id, e.kabupaten, parts["province"], parts["kecamatan"],
             parts["desa"], e.desk, e.channel, e.category, e.priority,
             (e.actor or {}).get("user_id"), e.timestamp))

    def on_Verified(self, cur: Any, e: Any) -> None:
        cur.execute("UPDATE reporting.recap SET verified_at = %s WHERE complaint_id = %s",
                    (e.timestamp, e.originator_id))

    def on_Rejected(self, cur: Any, e: Any) -> None:
        cur.execute("UPDATE reporting.recap SET rejected_at = %s, reason_code = %s"
                    " WHERE complaint_id = %s", (e.timestamp, e.reason_code, e.originator_id))

    def on_ReferredToOPD(self, cur: Any, e: Any) -> None:
        cur.execute(
            "UPDATE reporting.recap SET referred_at = COALESCE(referred_at, %s), agency = %s,"
            " referrals = referrals + 1, open_referrals = open_referrals + 1"
            " WHERE complaint_id = %s", (e.timestamp, e.agency, e.originator_id))
        cur.execute(
            "INSERT INTO reporting.recap_referrals (complaint_id, agency, referred_at)"
            " VALUES (%s, %s, %s) ON CONFLICT (complaint_id, agency) DO UPDATE SET"
            " referred_at = EXCLUDED.referred_at, closed_at = NULL, closed_as = NULL,"
            " breached = false", (e.originator_id, e.agency, e.timestamp))

    def _close_referral(self, cur: Any, e: Any, closed_as: str) -> None:
        cur.execute(
            "UPDATE reporting.recap_referrals SET closed_at = %s, closed_as = %s"
            " WHERE complaint_id = %s AND agency = %s AND closed_at IS NULL",
            (e.timestamp, closed_as, e.originator_id, e.agency))
        if cur.rowcount:
            cur.execute("UPDATE reporting.recap SET open_referrals = open_referrals - 1"
                        " WHERE complaint_id = %s", (e.originator_id,))

    def on_ReferralResolved(self, cur: Any, e: Any) -> None:
        self._close_referral(cur, e, "resolved")

    def on_Resolved(self, cur: Any, e: Any) -> None:
        self._close_referral(cur, e, "resolved")
        cur.execute("UPDATE reporting.recap SET resolved_at = %s WHERE complaint_id = %s",
                    (e.timestamp, e.originator_id))

    def on_ReferralReturned(self, cur: Any, e: Any) -> None:
        self._close_referral(cur, e, "returned")
        cur.execute("UPDATE reporting.recap SET returned = returned + 1"
                    " WHERE complaint_id = %s", (e.originator_id,))

    def on_SlaBreached(self, cur: Any, e: Any) -> None:
        cur.execute("UPDATE reporting.recap SET breaches = breaches + 1"
                    " WHERE complaint_id = %s", (e.originator_id,))
        if e.stage in AGENCY_STAGES:
            cur.execute("UPDATE reporting.recap_referrals SET breached = true"
                        " WHERE complaint_id = %s AND closed_at IS NULL", (e.originator_id,))
