"""PostgreSQL adapters for intake (kept out of application.py)."""

from __future__ import annotations

from datetime import date

from shared.db import Database


class PgSequenceAllocator:
    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, kabupaten: str, day: date) -> int:
        row = self.db.fetchone(
            "INSERT INTO intake.registration_sequences AS s (kabupaten, day, last_value)"
            " VALUES (%s, %s, 1) ON CONFLICT (kabupaten, day)"
            " DO UPDATE SET last_value = s.last_value + 1 RETURNING last_value",
            (kabupaten, day),
        )
        assert row is not None
        return int(row["last_value"])
