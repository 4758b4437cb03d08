"""Turning what each channel sends into the one registration command: the SMS / WhatsApp
text `NIK#KATEGORI#uraian` and the rows of a paper-complaint CSV. Pure: no I/O beyond
reading the file handed in."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shared import categories
from shared.errors import InvalidBackfillFile, InvalidGatewayMessage, InvalidInput, SedulurError
from shared.identity import NIK
from shared.web import parse_model

from .application import WIB, BatchItem
from .schemas import RegisterComplaintIn

# --- SMS / WhatsApp --------------------------------------------------------------------

GATEWAY_FORMAT = "NIK#KATEGORI#uraian"


def parse_gateway_text(text: str, *, channel: str, sender: str,
                       name: str | None = None) -> RegisterComplaintIn:
    """`3325014507900001#KIS#kartu tidak aktif` -> a registration for the citizen's kecamatan
    desk. The uraian may itself contain '#'. Errors say which part is wrong."""
    parts = [p.strip() for p in text.strip().split("#", 2)]
    if len(parts) < 3 or not all(parts):
        raise InvalidGatewayMessage(
            f"text must be {GATEWAY_FORMAT}, e.g. 3325014507900001#KIS#kartu tidak aktif",
            field="text", reason="format",
        )
    raw_nik, raw_category, description = parts
    nik = NIK.parse(raw_nik, field="text.nik")
    category = categories.lookup(raw_category, field="text.kategori")
    body: dict[str, Any] = {
        "desk": nik.kecamatan_code,
        "category": category["code"],
        "description": description,
        "citizen": {"nik": nik.value, "name": name or f"({channel} {sender[-4:]})",
                    "phone": sender},
        "channel": channel,
    }
    return parse_model(RegisterComplaintIn, body)


def gateway_reply(error: SedulurError) -> str:
    """A short Indonesian reply the gateway can text back."""
    if error.field and error.field.startswith("text.nik"):
        return "NIK tidak valid. Format: NIK#KATEGORI#uraian"
    if error.field and error.field.startswith("text.kategori"):
        codes = ", ".join(c.upper() for c, n in categories.categories().items()
                          if n["parent"] is None)
        return f"Kategori tidak dikenal. Pilih: {codes}"
    return "Format salah. Kirim: NIK#KATEGORI#uraian"


# --- CSV backfill ----------------------------------------------------------------------

REQUIRED_COLUMNS = ("desk", "category", "description", "nik", "name")
OPTIONAL_COLUMNS = ("form_number", "registered_on", "kk", "phone", "wilayah", "priority",
                    "confidential")


@dataclass(frozen=True)
class RowError:
    line: int
    code: str
    field: str | None
    reason: str


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _day(raw: str, today: date) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"):
        try:
            day = datetime.strptime(raw, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise InvalidInput(f"registered_on {raw!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)",
                           field="registered_on")
    if day > today or day.year < 2000:
        raise InvalidInput(f"registered_on {raw} must be between 2000-01-01 and today",
                           field="registered_on")
    return day


def read_backfill(path: Path, *, today: date | None = None) -> Iterator[BatchItem | RowError]:
    """Each data row becomes a BatchItem or a RowError naming its line (line 1 is the
    header). The key makes a re-run idempotent: the paper form's own number when the file
    has one, else the row's content plus how often that same content occurred before (two
    identical rows are two paper forms only if the file says so by repeating them)."""
    today = today or datetime.now(WIB).date()
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise InvalidBackfillFile(
                f"{path.name}: header lacks column(s) {', '.join(missing)}; required: "
                f"{', '.join(REQUIRED_COLUMNS)}", field="header")
        reader.fieldnames = header
        occurrences: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if None in row:
                yield RowError(line, "invalid_input", None, "more values than header columns")
                continue
            try:
                yield _item(values, line, today, occurrences)
            except SedulurError as exc:
                yield RowError(line, exc.code, exc.field, exc.message)


def _item(values: dict[str, str], line: int, today: date,
          occurrences: dict[str, int]) -> BatchItem:
    body: dict[str, Any] = {
        "desk": values.get("desk", ""),
        "category": values.get("category", ""),
        "description": values.get("description", ""),
        "citizen": {"nik": values.get("nik", ""), "name": values.get("name", "")},
        "channel": "backfill",
    }
    for key in ("kk", "phone"):
        if values.get(key):
            body["citizen"][key] = values[key]
    if values.get("wilayah"):
        body["wilayah"] = values["wilayah"]
    if values.get("priority"):
        body["priority"] = values["priority"]
    if values.get("confidential"):
        body["confidential"] = values["confidential"].lower() in ("1", "true", "ya", "yes", "y")
    for required in ("desk", "category", "description"):
        if not body[required]:
            raise InvalidInput(f"{required} is empty", field=required)
    for required in ("nik", "name"):
        if not body["citizen"][required]:
            raise InvalidInput(f"{required} is empty", field=required)
    command = parse_model(RegisterComplaintIn, body).to_command()
    day = _day(values["registered_on"], today) if values.get("registered_on") else today
    if values.get("form_number"):
        key = f"form:{values['form_number']}"
    else:
        content = "\x1f".join(f"{k}={values[k]}" for k in sorted(values) if values[k])
        digest = hashlib.sha256(content.encode()).hexdigest()[:32]
        n = occurrences.get(digest, 0)
        occurrences[digest] = n + 1
        key = f"row:{digest}:{n}"
    return BatchItem(key=key, command=command, day=day, line=line)
