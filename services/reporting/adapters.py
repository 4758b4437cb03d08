"""SQL of reporting: a consistent snapshot of the recap facts with the log position they
cover, the streams the projection has not caught up on, and the store of generated recaps."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from shared.db import Database
from shared.eventstore import EVENTS_TABLE, EVENTSTORE_SCHEMA

KECAMATAN_DIR = Path(__file__).resolve().parent.parent / "dtks_sync" / "data"
_EVENTS = f"{EVENTSTORE_SCHEMA}.{EVENTS_TABLE}"


@dataclass
class Snapshot:
    log_position: int
    facts: list[dict[str, Any]]
    referrals: list[dict[str, Any]]
    lagging: list[UUID]


class RecapStore:
    def __init__(self, db: Database, projection: str = "reporting.recap") -> None:
        self.db = db
        self.projection = projection

    def snapshot(self, kabupaten_prefix: str) -> Snapshot:
        """One REPEATABLE READ transaction: the highest notification id and the facts as
        the same snapshot sees them. The projection only applies committed events and the
        store commits in id order, so the facts never include an event beyond the position;
        `lagging` lists streams with events up to it not applied yet."""
        prefix = kabupaten_prefix[:4] + "%"
        with self.db.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"SELECT COALESCE(max(notification_id), 0) AS p FROM {_EVENTS}")
            position = cur.fetchone()["p"]
            cur.execute("SELECT * FROM reporting.recap WHERE kabupaten LIKE %s", (prefix,))
            facts = list(cur.fetchall())
            cur.execute(
                "SELECT r.* FROM reporting.recap_referrals r JOIN reporting.recap c"
                " USING (complaint_id) WHERE c.kabupaten LIKE %s", (prefix,))
            referrals = list(cur.fetchall())
            cur.execute(
                f"SELECT e.originator_id FROM {_EVENTS} e"
                " LEFT JOIN reporting.projection_tracking t ON t.projection = %s"
                " AND t.complaint_id = e.originator_id"
                " GROUP BY e.originator_id, t.version"
                " HAVING max(e.originator_version) > COALESCE(t.version, 0)",
                (self.projection,))
            lagging = [r["originator_id"] for r in cur.fetchall()]
        return Snapshot(position, facts, referrals, lagging)

    def kecamatan_names(self, area: str) -> dict[str, str]:
        return kecamatan_names(area)

    def kabupaten_seen(self) -> list[str]:
        return [r["kabupaten"] for r in self.db.fetchall(
            "SELECT DISTINCT kabupaten FROM reporting.recap ORDER BY 1")]

    # -- generated recaps --------------------------------------------------------------
    def save_generated(self, period: str, area: str, fmt: str, data: bytes,
                       log_position: int) -> None:
        self.db.execute(
            "INSERT INTO reporting.generated (period, area, format, bytes, log_position)"
            " VALUES (%s,%s,%s,%s,%s) ON CONFLICT (period, area, format) DO UPDATE SET"
            " bytes = EXCLUDED.bytes, log_position = EXCLUDED.log_position,"
            " generated_at = now()", (period, area, fmt, data, log_position))

    def generated_exists(self, period: str, area: str, fmt: str) -> bool:
        return self.db.fetchone(
            "SELECT 1 FROM reporting.generated WHERE period = %s AND area = %s"
            " AND format = %s", (period, area, fmt)) is not None

    def list_generated(self) -> list[dict[str, Any]]:
        return self.db.fetchall(
            "SELECT period, area, format, length(bytes) AS size, log_position, generated_at"
            " FROM reporting.generated ORDER BY period DESC, area, format")

    def get_generated(self, period: str, area: str, fmt: str) -> dict[str, Any] | None:
        row = self.db.fetchone(
            "SELECT bytes, log_position, generated_at FROM reporting.generated"
            " WHERE period = %s AND area = %s AND format = %s", (period, area, fmt))
        if row is not None:
            row["bytes"] = bytes(row["bytes"])
        return row


def kecamatan_names(kabupaten: str) -> dict[str, str]:
    """Kecamatan names of the kabupaten when the data folder lists them, else none."""
    listing = KECAMATAN_DIR / f"kecamatan_{kabupaten[:4]}.csv"
    if not listing.exists():
        return {}
    with listing.open(newline="") as fh:
        return {row["kode"]: row["nama"] for row in csv.DictReader(fh)}
