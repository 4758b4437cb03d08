"""What an agency (OPD) receives on `agency.referrals`: the referral and no more."""

from __future__ import annotations

from typing import Any

from shared.envelope import TYPE_PREFIX


def agency_queue_name(kabupaten: str, agency: str) -> str:
    return f"agency.{kabupaten}.{agency}"


def referral_message(envelope: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {
        "specversion": envelope["specversion"],
        "id": envelope["id"],
        "source": envelope["source"],
        "type": TYPE_PREFIX + "ReferredToOPD",
        "subject": envelope["subject"],
        "time": envelope["time"],
        "datacontenttype": "application/json",
        "complaintid": envelope["complaintid"],
        "version": envelope["version"],
        "data": {
            "registration_number": summary.get("registration_number"),
            "agency": data["agency"],
            "kabupaten": data["kabupaten"],
            "category": summary.get("category"),
            "wilayah": summary.get("wilayah"),
            "routing_rule": data.get("routing_rule"),
        },
    }
