"""What leaves Sedulur for agencies and citizens: the `agency.referrals` message (the referral
and no more) and the `notifications` message a gateway sends by SMS / WhatsApp.

Which agency may see a citizen's full NIK is a data-protection decision made per agency in
the routing data file (`agencies.<CODE>.nik: full`), deployed with the file; everyone else
gets the masked NIK. The relay reads the profiles here (re-read when the file changes).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.envelope import TYPE_PREFIX
from shared.errors import ConfigurationError

ROUTING_FILE = (Path(__file__).resolve().parent.parent
                / "services" / "routing" / "data" / "routing.yaml")
NOTIFICATION_TYPE_PREFIX = "id.sedulur.notification."
# The Dinsos desk: where a complaint goes when no agency is left to take it.
DESK_AGENCY = "DINSOS"


@dataclass(frozen=True)
class AgencyProfile:
    code: str
    name: str
    full_nik: bool = False

    @classmethod
    def parse(cls, code: str, raw: Any) -> AgencyProfile:
        if isinstance(raw, str):
            return cls(code, raw)
        if not isinstance(raw, dict) or not raw.get("name"):
            raise ConfigurationError(f"agency {code} needs a name", field=f"agencies.{code}")
        nik = raw.get("nik", "masked")
        if nik not in ("masked", "full"):
            raise ConfigurationError(f"agency {code}: nik must be 'masked' or 'full'",
                                     field=f"agencies.{code}.nik")
        return cls(code, str(raw["name"]), nik == "full")


def _routing_file_name() -> str:
    return os.environ.get("SEDULUR_ROUTING_FILE") or str(ROUTING_FILE)


def routing_file() -> Path:
    return Path(_routing_file_name())


_cache: dict[str, tuple[float, dict[str, AgencyProfile]]] = {}
_checked: dict[str, float] = {}
# The relay asks for every event it publishes: the file's mtime is looked at no more often
# than this (a stat and a Path per event were ~10% of the relay's time in a profile).
RECHECK_SECONDS = 1.0


def load_profiles(path: Path | None = None) -> dict[str, AgencyProfile]:
    """Agency profiles from the routing file, re-read when its mtime changes."""
    key = str(path) if path is not None else _routing_file_name()  # no Path per call
    now = time.monotonic()
    cached = _cache.get(key)
    if cached and now - _checked.get(key, 0.0) < RECHECK_SECONDS:
        return cached[1]
    path = Path(key)
    try:
        mtime = path.stat().st_mtime
        _checked[key] = now
        if cached and cached[0] == mtime:
            return cached[1]
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read routing file {path}: {exc}") from None
    profiles = {code: AgencyProfile.parse(code, raw)
                for code, raw in (doc.get("agencies") or {}).items()}
    _cache[key] = (mtime, profiles)
    return profiles


def agency_queue_name(kabupaten: str, agency: str) -> str:
    return f"agency.{kabupaten}.{agency}"


def mask_nik(nik: str | None) -> str | None:
    """First 4 and last 4 digits, like shared.identity.NIK.masked."""
    if not nik:
        return None
    return nik[:4] + "*" * (len(nik) - 8) + nik[-4:]


def referral_message(envelope: dict[str, Any], summary: dict[str, Any],
                     profile: AgencyProfile | None) -> dict[str, Any]:
    """The CloudEvent an agency receives: what it needs to act on the referral. No KK, no
    phone, no name; the NIK masked unless the agency's profile says it needs it in full;
    the description withheld for confidential complaints."""
    data = envelope["data"]
    nik = summary.get("nik")
    full = bool(profile and profile.full_nik)
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
            "description": None if summary.get("confidential") else summary.get("description"),
            "nik": nik if full else mask_nik(nik),
            "nik_masked": not full,
            "routing_rule": data.get("routing_rule"),
            "routing_table_version": data.get("routing_table_version"),
        },
    }


# Citizen-facing status changes: event type -> notification key (`citizen.<key>`).
CITIZEN_EVENTS = {"ReferredToOPD": "referred", "Resolved": "resolved"}


def notification_text(kind: str, registration_number: str, agency_name: str | None) -> str:
    # The agency's outcome text is written for the file, not for an SMS: not sent.
    if kind == "referred":
        return (f"Pengaduan Anda nomor {registration_number} telah diteruskan ke "
                f"{agency_name} untuk ditindaklanjuti. Terima kasih.")
    return (f"Pengaduan Anda nomor {registration_number} telah selesai ditangani. "
            "Terima kasih.")


def citizen_notification(envelope: dict[str, Any], summary: dict[str, Any],
                         profiles: dict[str, AgencyProfile]) -> tuple[str, dict[str, Any]] | None:
    """(routing key, CloudEvent) for a citizen-facing event, or None for the others."""
    name = envelope["type"].removeprefix(TYPE_PREFIX)
    kind = CITIZEN_EVENTS.get(name)
    if kind is None:
        return None
    data = envelope["data"]
    profile = profiles.get(data.get("agency", ""))
    agency_name = profile.name if profile else data.get("agency")
    body: dict[str, Any] = {
        "registration_number": summary.get("registration_number"),
        "status": kind,
        "language": "id",
        "text": notification_text(kind, summary.get("registration_number") or "", agency_name),
        "channels": ["sms", "whatsapp"] if summary.get("phone") else [],
    }
    if summary.get("phone"):
        body["phone"] = summary["phone"]
    if kind == "referred":
        body["agency"] = data.get("agency")
    return f"citizen.{kind}", {
        "specversion": envelope["specversion"],
        "id": f"{envelope['id']}:citizen",
        "source": envelope["source"],
        "type": f"{NOTIFICATION_TYPE_PREFIX}citizen.{kind}",
        "subject": envelope["subject"],
        "time": envelope["time"],
        "datacontenttype": "application/json",
        "complaintid": envelope["complaintid"],
        "version": envelope["version"],
        "data": body,
    }
