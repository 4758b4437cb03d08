"""The verification service's read model: every complaint with its citizen and decision
(the manual desk reads the undecided ones), and the usulan list."""

from __future__ import annotations

from typing import Any

from shared.personal import REDACTED
from shared.projection import StreamProjection


class VerificationCases(StreamProjection):
    name = "verification.cases"
    schema = "verification"
    tables = ("verification.complaints", "verification.usulan")
    per_stream = True
    personal_columns = {
        "verification.complaints": {"nik": REDACTED, "kk": None, "citizen_name": REDACTED},
        "verification.usulan": {"nik": REDACTED, "kk": None, "citizen_name": REDACTED,
                                "reason": REDACTED},
    }

    def erase(self, cur: Any, complaint_ids: list[Any]) -> None:
        super().erase(cur, complaint_ids)
        # The manual desk's note compares the citizen's name with DTKS's (not a projection
        # table, so only here).
        cur.execute("UPDATE verification.desk_assessments SET detail = %s"
                    " WHERE complaint_id = ANY(%s)", (REDACTED, complaint_ids))

    def on_Registered(self, cur: Any, e: Any) -> None:
        citizen = e.citizen or {}
        cur.execute(
            "INSERT INTO verification.complaints (complaint_id, registration_number, kabupaten,"
            " category, wilayah, nik, kk, citizen_name, registered_at, stage)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,'registered')",
            (e.originator_id, e.registration_number, e.kabupaten, e.category, e.wilayah,
             citizen.get("nik", ""), citizen.get("kk"), citizen.get("name", ""), e.timestamp),
        )

    def _decided(self, cur: Any, e: Any, stage: str, reason_code: str | None) -> None:
        cur.execute(
            "UPDATE verification.complaints SET stage = %s, rule = %s, reason_code = %s,"
            " dtks_snapshot = %s, decided_at = %s WHERE complaint_id = %s",
            (stage, e.rule, reason_code, e.dtks_snapshot, e.timestamp, e.originator_id),
        )
        # Decided: off the manual desk (the desk lists only undecided complaints anyway).
        cur.execute("DELETE FROM verification.desk_assessments WHERE complaint_id = %s",
                    (e.originator_id,))

    def on_Verified(self, cur: Any, e: Any) -> None:
        self._decided(cur, e, "verified", None)

    def on_Rejected(self, cur: Any, e: Any) -> None:
        self._decided(cur, e, "rejected", e.reason_code)

    def on_UsulanProposed(self, cur: Any, e: Any) -> None:
        cur.execute(
            "INSERT INTO verification.usulan (complaint_id, registration_number, kabupaten,"
            " desa, nik, kk, citizen_name, category, reason, proposed_by, proposed_at)"
            " SELECT complaint_id, registration_number, kabupaten, wilayah, nik, kk,"
            " citizen_name, category, %s, %s, %s FROM verification.complaints"
            " WHERE complaint_id = %s ON CONFLICT (complaint_id) DO NOTHING",
            (e.reason, (e.actor or {}).get("user_id") or "", e.timestamp, e.originator_id),
        )
