"""Open311 GeoReport v2 beside the native API: the category tree as service types, the
attributes Sedulur needs as a service definition, a posted request turned into the one
registration command, and a complaint's status row turned into a service request.

Pure: no nameko, no SQL. Field names, status values and the error shape are the
specification's (wiki.open311.org/GeoReport_v2); docs/open311.md maps them to Sedulur's."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.etree import ElementTree as ET

from shared import categories
from shared.errors import SedulurError
from shared.identity import KK, NIK, PhoneNumber, WilayahCode
from shared.web import parse_model

from .schemas import RegisterComplaintIn

FORMATS = ("json", "xml")
CONTENT_TYPES = {"json": "application/json; charset=utf-8",
                 "xml": "text/xml; charset=utf-8"}
# Stages after which nothing more happens to a complaint: GeoReport's `closed`.
CLOSED_STAGES = ("resolved", "rejected")
OPEN_STAGES = ("registered", "verified", "referred")
MAX_REQUESTS = 1000        # the specification's suggested cap for GET requests
DEFAULT_WINDOW_DAYS = 90   # the specification's default window without dates
CHANNEL_PATTERN = re.compile(r"^open311(-[a-z0-9][a-z0-9_-]{0,30})?$")

# The GeoReport fields a client may post; the location and contact fields that Sedulur has
# no place for are accepted (clients send them) and not stored.
STANDARD_FIELDS = frozenset({
    "api_key", "jurisdiction_id", "service_code", "description", "first_name", "last_name",
    "phone", "email", "lat", "long", "address_string", "address_id", "device_id",
    "account_id", "media_url",
})
PRIORITY_NAMES = {"normal": "Biasa", "high": "Tinggi", "urgent": "Mendesak"}


class Open311Errors(Exception):
    """One answer with GeoReport's error list `[{code, description}]`; the HTTP status is
    the first error's code (every error of one answer shares the kind)."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["description"] for e in errors))
        self.status = status
        self.errors = errors

    @classmethod
    def one(cls, status: int, description: str) -> Open311Errors:
        return cls(status, [{"code": status, "description": description}])


# --- services ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str  # string | number | datetime | text | singlevaluelist | multivaluelist
    required: bool
    datatype_description: str
    description: str
    values: tuple[tuple[str, str], ...] = ()

    def as_dict(self, order: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "variable": True, "code": self.code, "datatype": self.datatype,
            "required": self.required, "datatype_description": self.datatype_description,
            "order": order, "description": self.description,
        }
        if self.values:
            body["values"] = [{"key": k, "name": n} for k, n in self.values]
        return body


# The same attributes for every category: who the citizen is and which desk takes the case.
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("nik", "string", True, "NIK, 16 digit",
              "Nomor Induk Kependudukan pelapor (untuk verifikasi DTKS; tidak pernah "
              "ditampilkan kembali)"),
    Attribute("nama", "string", True, "nama lengkap; boleh diganti first_name + last_name",
              "Nama lengkap pelapor sesuai KTP"),
    Attribute("kk", "string", False, "nomor KK, 16 digit", "Nomor Kartu Keluarga pelapor"),
    Attribute("desk", "string", False,
              "kode wilayah kecamatan (6 digit) atau desa (10 digit)",
              "Puskesos yang menangani; bawaan: kecamatan dalam NIK"),
    Attribute("wilayah", "string", False, "kode wilayah desa, 10 digit",
              "Desa/kelurahan tempat tinggal pelapor"),
    Attribute("prioritas", "singlevaluelist", False, "salah satu key dari values",
              "Prioritas yang diminta; tidak bisa di bawah prioritas kategori",
              tuple(PRIORITY_NAMES.items())),
)
ATTRIBUTE_CODES = {a.code: a for a in ATTRIBUTES}


def _keywords(code: str, node: Mapping[str, Any]) -> str:
    words = [code, *code.split("-")]
    if node["parent"]:
        words.append(node["parent"])
    return ",".join(dict.fromkeys(words))


def services() -> list[dict[str, Any]]:
    """Every category (roots and children) is a service type; `group` is its root's name."""
    flat = categories.categories()
    out = []
    for code, node in flat.items():
        root = flat[categories.root_of(code)]
        out.append({
            "service_code": code,
            "service_name": node["name"],
            "description": node.get("description") or node["name"],
            "metadata": True,  # every category needs the citizen's NIK and name
            "type": "realtime",  # the registration number is answered at once
            "keywords": _keywords(code, node),
            "group": root["name"],
        })
    return out


def require_service(service_code: str | None) -> dict[str, Any]:
    if not service_code:
        raise Open311Errors.one(400, "service_code was not provided")
    node = categories.categories().get(service_code)
    if node is None:
        raise Open311Errors.one(404, f"service_code {service_code!r} was not found")
    return node


def definition(service_code: str) -> dict[str, Any]:
    require_service(service_code)
    return {"service_code": service_code,
            "attributes": [a.as_dict(i) for i, a in enumerate(ATTRIBUTES, start=1)]}


# --- POST requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    channel: str


@dataclass(frozen=True)
class PostedRequest:
    command: dict[str, Any]
    actor: dict[str, Any]
    idempotency_key: str


def _attributes(form: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    attrs: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in form.items():
        m = re.fullmatch(r"attribute\[([^\]]+)\](\[\])?", key)
        if m:
            code = m.group(1)
            if code in ATTRIBUTE_CODES:
                attrs[code] = value.strip()
            else:
                unknown.append(key)
        elif key not in STANDARD_FIELDS:
            unknown.append(key)
    return attrs, unknown


def _check(errors: list[dict[str, Any]], fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except SedulurError as exc:
        errors.append({"code": 400, "description": f"{exc.field or ''}: {exc.message}"
                       .lstrip(": ")})
        return None


def _level(code: str, field: str, levels: tuple[str, ...]) -> str:
    parsed = WilayahCode.parse(code, field=field)
    if parsed.level not in levels:
        from shared.errors import InvalidWilayah

        raise InvalidWilayah(f"must be a {' or '.join(levels)} code, got a {parsed.level}",
                             field=field)
    return parsed.value


def parse_post(form: Mapping[str, str], client: Client, *, today: date) -> PostedRequest:
    """Validate everything first and name every bad field (one error each, HTTP 400), so a
    client fixes its form in one round; only a fully valid request becomes a command."""
    node = require_service(form.get("service_code"))
    attrs, unknown = _attributes(form)
    errors: list[dict[str, Any]] = [
        {"code": 400, "description": f"{k}: not a field of this service"} for k in unknown]
    name = attrs.get("nama") or " ".join(
        p for p in (form.get("first_name", "").strip(), form.get("last_name", "").strip()) if p)
    description = (form.get("description") or "").strip()
    for code, present in (("nik", attrs.get("nik")), ("nama", name)):
        if not present:
            errors.append({"code": 400, "description":
                           f"attribute[{code}]: required field missing"})
    if not description:
        errors.append({"code": 400, "description": "description: required field missing"})
    elif len(description) > 4000:
        errors.append({"code": 400, "description": "description: longer than 4000 characters"})
    if len(name) > 200:
        errors.append({"code": 400, "description": "attribute[nama]: longer than 200 characters"})
    nik = _check(errors, NIK.parse, attrs["nik"], field="attribute[nik]") \
        if attrs.get("nik") else None
    kk = _check(errors, KK.parse, attrs["kk"], field="attribute[kk]") \
        if attrs.get("kk") else None
    phone = _check(errors, PhoneNumber.parse, form["phone"].strip(), field="phone") \
        if (form.get("phone") or "").strip() else None
    desk = _check(errors, _level, attrs["desk"], "attribute[desk]", ("kecamatan", "desa")) \
        if attrs.get("desk") else None
    wilayah = _check(errors, _level, attrs["wilayah"], "attribute[wilayah]", ("desa",)) \
        if attrs.get("wilayah") else None
    priority = attrs.get("prioritas") or None
    if priority is not None and priority not in PRIORITY_NAMES:
        errors.append({"code": 400, "description": f"attribute[prioritas]: {priority!r} is not "
                       f"one of {', '.join(PRIORITY_NAMES)}"})
    if errors:
        raise Open311Errors(400, errors)
    assert nik is not None
    citizen: dict[str, Any] = {"nik": nik.value, "name": name}
    if kk is not None:
        citizen["kk"] = kk.value
    if phone is not None:
        citizen["phone"] = phone.value
    body: dict[str, Any] = {
        "desk": desk or nik.kecamatan_code, "category": node["code"],
        "description": description, "citizen": citizen, "channel": "open311",
    }
    if wilayah:
        body["wilayah"] = wilayah
    if priority:
        body["priority"] = priority
    try:
        command = parse_model(RegisterComplaintIn, body).to_command()
    except SedulurError as exc:
        raise Open311Errors.one(400, f"{exc.field or 'request'}: {exc.message}") from None
    command["channel"] = client.channel  # the client's own channel, for channel statistics
    actor = {"user_id": f"open311:{client.client_id}", "role": "citizen", "desk": None}
    return PostedRequest(command, actor, _idempotency_key(form, client, today))


def _idempotency_key(form: Mapping[str, str], client: Client, today: date) -> str:
    """An identical post by the same client on the same day is a retry: it answers the
    first registration and appends nothing. The day keeps a citizen who files the same text
    again next month (perhaps after the first was closed) from getting the old case back."""
    content = json.dumps(sorted((k, v.strip()) for k, v in form.items() if k != "api_key"),
                         ensure_ascii=False)
    digest = hashlib.sha256(content.encode()).hexdigest()[:40]
    return f"open311:{client.client_id}:{today.isoformat()}:{digest}"


def posted(registration_number: str, *, created: bool) -> list[dict[str, Any]]:
    notice = ("Aduan diterima. Simpan nomor ini untuk memantau statusnya."
              if created else "Permintaan yang sama sudah diterima sebelumnya.")
    return [{"service_request_id": registration_number, "service_notice": notice,
             "account_id": None}]


# --- GET requests ----------------------------------------------------------------------------


REJECTION_WORDS = {
    "not_in_dtks": "NIK tidak terdaftar di DTKS",
    "desil_above_threshold": "tingkat kesejahteraan di atas batas program",
    "program_required": "bukan peserta program yang disyaratkan",
    "already_has_program": "sudah menerima program ini",
}


def status_notes(row: Mapping[str, Any]) -> str:
    """The current stage in plain words (Indonesian, like the desk and the citizen lookup)."""
    stage, agency = row["stage"], (row.get("agencies") or [None])[-1]
    if stage == "registered":
        return "Aduan diterima, menunggu verifikasi Dinas Sosial."
    if stage == "verified":
        return "Terverifikasi oleh Dinas Sosial, menunggu dirujuk ke instansi."
    if stage == "referred":
        return f"Dirujuk ke {agency}, sedang ditangani." if agency else "Dirujuk ke instansi."
    if stage == "resolved":
        return f"Selesai ditangani {agency}." if agency else "Selesai ditangani."
    if stage == "rejected":
        # From the reason code only: the verifier's free-text reason may name the citizen.
        code = row.get("reason_code") or ""
        reason = REJECTION_WORDS.get(code, code.replace("_", " "))
        return f"Ditolak oleh Dinas Sosial: {reason}." if reason else "Ditolak oleh Dinas Sosial."
    return stage


def _w3c(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def request_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A complaint as a GeoReport service request. Built field by field from the status
    row, which holds no NIK, KK, name, phone or description: nothing personal can leak."""
    node = categories.categories().get(row["category"])
    agencies = row.get("agencies") or []
    return {
        "service_request_id": row["registration_number"],
        "status": "closed" if row["stage"] in CLOSED_STAGES else "open",
        "status_notes": status_notes(row),
        "service_name": node["name"] if node else row["category"],
        "service_code": row["category"],
        # Free text: citizens write their names and numbers in it, so it is never shown.
        "description": None,
        "agency_responsible": agencies[-1] if agencies else None,
        "service_notice": None,
        "requested_datetime": _w3c(row["registered_at"]),
        "updated_datetime": _w3c(row["updated_at"]),
        "expected_datetime": _w3c(row.get("due_at")),
        # Sedulur keeps no location beyond the desk's wilayah code, which is not an address.
        "address": None, "address_id": None, "zipcode": None, "lat": None, "long": None,
        "media_url": None,
    }


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None


def _when(raw: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Open311Errors.one(400, f"{field}: {raw!r} is not a W3C date-time "
                                     "(e.g. 2025-11-23T08:00:00+07:00)") from None
    if value.tzinfo is None:
        raise Open311Errors.one(400, f"{field}: the date-time needs a time zone (Z or +07:00)")
    return value


def request_query(args: Mapping[str, str]) -> RequestQuery:
    """GET requests' filters: service_request_id (comma-separated: the other filters are then
    ignored, as the specification says), service_code, status, start_date, end_date."""
    def split(name: str) -> tuple[str, ...]:
        return tuple(p.strip() for p in (args.get(name) or "").split(",") if p.strip())

    ids = split("service_request_id")
    if ids:
        return RequestQuery(ids=ids)
    statuses = split("status")
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise Open311Errors.one(400, f"status: {bad[0]!r} is not open or closed")
    stages: tuple[str, ...] = ()
    for s in dict.fromkeys(statuses):
        stages += CLOSED_STAGES if s == "closed" else OPEN_STAGES
    start = _when(args["start_date"], "start_date") if args.get("start_date") else None
    end = _when(args["end_date"], "end_date") if args.get("end_date") else None
    if start and end and end < start:
        raise Open311Errors.one(400, "end_date lies before start_date")
    return RequestQuery(service_codes=split("service_code"), stages=stages, start=start,
                        end=end)


# --- rendering ----------------------------------------------------------------------------

# The XML element for one item of each list the specification names.
_ITEM = {"services": "service", "service_requests": "request", "errors": "error",
         "attributes": "attribute", "values": "value"}


def _xml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    _fill(element, tag, value)


def _fill(element: ET.Element, tag: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _xml(element, k, v)
    elif isinstance(value, list):
        for item in value:
            _xml(element, _ITEM[tag], item)
    else:
        element.text = _xml_value(value)


def render(body: Any, root: str, fmt: str) -> bytes:
    """JSON as the specification shows it (a list, or the definition object); XML with the
    specification's root element (<services>, <service_definition>, <service_requests>,
    <errors>) and one child per item."""
    if fmt == "json":
        return json.dumps(body, ensure_ascii=False, default=str).encode()
    element = ET.Element(root)
    _fill(element, root, body)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8",
                                                                     xml_declaration=False)


def require_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Errors.one(404, f"format {fmt!r} is not served; use .json or .xml")
    return fmt


def api_key_hash(api_key: str) -> str:
    """API keys are long random strings: a plain SHA-256 is enough to keep them unusable
    when the table is read, and lets a request find its client with one index lookup."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def check_channel(channel: str) -> str:
    if not CHANNEL_PATTERN.match(channel):
        raise ValueError("channel must be `open311` or `open311-<name>` (lowercase letters, "
                         "digits, - and _)")
    return channel
