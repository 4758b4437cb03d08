"""PostgreSQL adapters for intake (kept out of application.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from shared.db import Database

if TYPE_CHECKING:
    from .open311 import RequestQuery


class PgSequenceAllocator:
    """Registration-number sequences per kabupaten and day; a block of n numbers costs one
    statement, so a backfill batch does not pay a round trip per row."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, kabupaten: str, day: date) -> int:
        return self.block(kabupaten, day, 1)

    def block(self, kabupaten: str, day: date, n: int) -> int:
        """Reserve n consecutive numbers; returns the first."""
        row = self.db.fetchone(
            "INSERT INTO intake.registration_sequences AS s (kabupaten, day, last_value)"
            " VALUES (%s, %s, %s) ON CONFLICT (kabupaten, day)"
            " DO UPDATE SET last_value = s.last_value + EXCLUDED.last_value RETURNING last_value",
            (kabupaten, day, n),
        )
        assert row is not None
        return int(row["last_value"]) - n + 1

    def blocks(self, wanted: dict[tuple[str, date], int]) -> dict[tuple[str, date], int]:
        """Reserve n numbers for each (kabupaten, day) in one statement; returns the firsts."""
        if not wanted:
            return {}
        keys = sorted(wanted)  # a fixed lock order: two backfills cannot deadlock
        rows = self.db.fetchall(
            "INSERT INTO intake.registration_sequences AS s (kabupaten, day, last_value)"
            " SELECT * FROM unnest(%s::text[], %s::date[], %s::int[])"
            " ON CONFLICT (kabupaten, day)"
            " DO UPDATE SET last_value = s.last_value + EXCLUDED.last_value"
            " RETURNING kabupaten, day, last_value",
            ([k for k, _ in keys], [d for _, d in keys], [wanted[k] for k in keys]),
        )
        return {
            (r["kabupaten"], r["day"]): int(r["last_value"])
            - wanted[(r["kabupaten"], r["day"])]
            + 1
            for r in rows
        }


class PgIntakeLookups:
    """Read-side questions the use cases ask: earlier complaints of a citizen, which
    complaint streams exist already."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def earlier_complaint(self, nik: str, category: str, since: date) -> UUID | None:
        row = self.db.fetchone(
            "SELECT complaint_id FROM intake.citizen_complaints WHERE nik = %s AND category = %s"
            " AND registered_on >= %s ORDER BY registered_on, complaint_id LIMIT 1",
            (nik, category, since),
        )
        return None if row is None else row["complaint_id"]

    def complaints_of(self, niks: Iterable[str], since: date) -> list[tuple[str, str, date, UUID]]:
        rows = self.db.fetchall(
            "SELECT nik, category, registered_on, complaint_id FROM intake.citizen_complaints"
            " WHERE nik = ANY(%s) AND registered_on >= %s",
            (list(niks), since),
        )
        return [(r["nik"], r["category"], r["registered_on"], r["complaint_id"]) for r in rows]

    def existing(self, complaint_ids: Iterable[UUID]) -> set[UUID]:
        ids = list(complaint_ids)
        if not ids:
            return set()
        rows = self.db.fetchall(
            "SELECT originator_id FROM eventstore.sedulur_events"
            " WHERE originator_id = ANY(%s) AND originator_version = 1",
            (ids,),
        )
        return {r["originator_id"] for r in rows}


class PgOperatorPresence:
    """Login, heartbeat and logout rows of operators at desks."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def login(self, operator_id: str, desk: str, session_id: UUID, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO intake.operator_presence AS p (operator_id, desk, kecamatan, kabupaten,"
            " session_id, logged_in_at, last_seen_at, logged_out_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, NULL) ON CONFLICT (operator_id) DO UPDATE SET"
            " desk = EXCLUDED.desk, kecamatan = EXCLUDED.kecamatan,"
            " kabupaten = EXCLUDED.kabupaten, session_id = EXCLUDED.session_id,"
            " logged_in_at = EXCLUDED.logged_in_at, last_seen_at = EXCLUDED.last_seen_at,"
            " logged_out_at = NULL",
            (operator_id, desk, desk[:6], desk[:4], session_id, now, now),
        )

    def heartbeat(self, operator_id: str, session_id: UUID, now: datetime) -> bool:
        row = self.db.fetchone(
            "UPDATE intake.operator_presence SET last_seen_at = greatest(last_seen_at, %s)"
            " WHERE operator_id = %s AND session_id = %s AND logged_out_at IS NULL"
            " RETURNING operator_id",
            (now, operator_id, session_id),
        )
        return row is not None

    def logout(self, operator_id: str, session_id: UUID, now: datetime) -> bool:
        row = self.db.fetchone(
            "UPDATE intake.operator_presence SET logged_out_at = %s, last_seen_at = %s"
            " WHERE operator_id = %s AND session_id = %s AND logged_out_at IS NULL"
            " RETURNING operator_id",
            (now, now, operator_id, session_id),
        )
        return row is not None


class PgActivityReader:
    """The rows the supervisor's view is computed from, for every operator whose desk lies
    inside an area (a kecamatan, a kabupaten, a province: a wilayah-code prefix)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sla_readable: bool | None = None

    def operators(
        self, area: str, today: date, week_start: date, at_risk_before: datetime
    ) -> list[dict]:
        prefix = area + "%"
        rows = self.db.fetchall(
            "WITH ops AS ("
            "  SELECT operator_id, desk FROM intake.operator_presence WHERE desk LIKE %(p)s"
            "  UNION"
            "  SELECT DISTINCT ON (operator_id) operator_id, desk FROM intake.operator_activity"
            "  WHERE day >= %(week)s AND desk LIKE %(p)s"
            "  AND operator_id NOT IN (SELECT operator_id FROM intake.operator_presence)"
            ") SELECT o.operator_id, o.desk, p.session_id IS NOT NULL AS has_session,"
            " p.logged_in_at, p.last_seen_at, p.logged_out_at,"
            " coalesce(p.last_action, last.last_action) AS last_action,"
            " coalesce(p.last_action_at, last.last_action_at) AS last_action_at,"
            " coalesce(t.complaints, 0) AS complaints_today,"
            " coalesce(w.complaints, 0) AS complaints_week"
            " FROM ops o"
            " LEFT JOIN intake.operator_presence p ON p.operator_id = o.operator_id"
            " LEFT JOIN intake.operator_activity t ON t.operator_id = o.operator_id"
            "   AND t.day = %(today)s"
            " LEFT JOIN LATERAL (SELECT sum(complaints)::int AS complaints"
            "   FROM intake.operator_activity a WHERE a.operator_id = o.operator_id"
            "   AND a.day >= %(week)s) w ON true"
            " LEFT JOIN LATERAL (SELECT last_action, last_action_at FROM intake.operator_activity a"
            "   WHERE a.operator_id = o.operator_id ORDER BY day DESC LIMIT 1) last ON true"
            " ORDER BY o.desk, o.operator_id",
            {"p": prefix, "today": today, "week": week_start},
        )
        risk = self._at_risk(prefix, at_risk_before)
        for row in rows:
            row["deadlines_at_risk"] = risk.get(row["operator_id"], 0) if risk is not None else None
        return rows

    def _at_risk(self, prefix: str, before: datetime) -> dict[str, int] | None:
        """Open SLA deadlines of complaints each operator registered that fall due before
        `before`; None when the sla service's table is not in this database."""
        if self._sla_readable is None:
            row = self.db.fetchone("SELECT to_regclass('sla.deadlines') IS NOT NULL AS ok")
            self._sla_readable = bool(row and row["ok"])
        if not self._sla_readable:
            return None
        rows = self.db.fetchall(
            "SELECT s.registered_by AS operator_id, count(*)::int AS n"
            " FROM sla.deadlines d JOIN intake.complaint_status s USING (complaint_id)"
            " WHERE d.closed_at IS NULL AND d.paused_at IS NULL AND s.desk LIKE %s"
            # the sla service's own at-risk instant where it set one, else our window
            " AND (d.at_risk_at <= now() OR d.due_at < %s)"
            " GROUP BY 1",
            (prefix, before),
        )
        return {r["operator_id"]: r["n"] for r in rows}

    def status(self, registration_number: str) -> dict | None:
        row = self.db.fetchone(
            "SELECT complaint_id, registration_number, stage, agencies, nik_last4"
            " FROM intake.complaint_status WHERE registration_number = %s",
            (registration_number,),
        )
        if row is None or not self._sla_readable_now():
            return row
        due = self.db.fetchone(
            "SELECT min(due_at) AS due_at FROM sla.deadlines"
            " WHERE complaint_id = %s AND closed_at IS NULL AND paused_at IS NULL",
            (row["complaint_id"],),
        )
        row["due_at"] = due["due_at"] if due else None
        return row

    def desk_complaints(self, desk: str, since: datetime, until: datetime) -> list[dict]:
        """A desk's complaints registered in [since, until), newest first (the desk's day)."""
        return self.db.fetchall(
            "SELECT complaint_id, registration_number, category, stage, agencies, priority,"
            " confidential, nik_last4, reason_code, registered_by, registered_at, updated_at"
            " FROM intake.complaint_status WHERE desk = %s"
            " AND registered_at >= %s AND registered_at < %s"
            " ORDER BY registered_at DESC LIMIT 500",
            (desk, since, until),
        )

    def _sla_readable_now(self) -> bool:
        if self._sla_readable is None:
            row = self.db.fetchone("SELECT to_regclass('sla.deadlines') IS NOT NULL AS ok")
            self._sla_readable = bool(row and row["ok"])
        return self._sla_readable


class PgOpen311Clients:
    """Open311 client applications and their hashed api keys (`sedulur open311 clients`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, client_id: str, name: str, channel: str) -> str:
        """Register a client; returns its api key, which is shown once and never stored."""
        import secrets

        from .open311 import api_key_hash

        api_key = f"o311_{secrets.token_urlsafe(32)}"
        self.db.execute(
            "INSERT INTO intake.open311_clients (client_id, name, channel, key_hash)"
            " VALUES (%s, %s, %s, %s)",
            (client_id, name, channel, api_key_hash(api_key)),
        )
        return api_key

    def all(self) -> list[dict]:
        return self.db.fetchall(
            "SELECT client_id, name, channel, created_at, revoked_at"
            " FROM intake.open311_clients ORDER BY client_id")

    def revoke(self, client_id: str) -> bool:
        row = self.db.fetchone(
            "UPDATE intake.open311_clients SET revoked_at = now()"
            " WHERE client_id = %s AND revoked_at IS NULL RETURNING client_id", (client_id,))
        return row is not None

    def by_key(self, api_key: str) -> dict | None:
        from .open311 import api_key_hash

        return self.db.fetchone(
            "SELECT client_id, name, channel FROM intake.open311_clients"
            " WHERE key_hash = %s AND revoked_at IS NULL", (api_key_hash(api_key),))


class PgOpen311Requests:
    """Complaint status rows for GeoReport's GET requests, with the SLA due time of the
    open stage read from the sla service's deadlines table in the same database (as the
    citizen lookup does); without that table expected_datetime stays empty."""

    COLUMNS = ("s.registration_number, s.category, s.stage, s.agencies, s.reason_code,"
               " s.registered_at, s.updated_at")

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sla_readable: bool | None = None

    def _due(self) -> str:
        if self._sla_readable is None:
            row = self.db.fetchone("SELECT to_regclass('sla.deadlines') IS NOT NULL AS ok")
            self._sla_readable = bool(row and row["ok"])
        if not self._sla_readable:
            return ", NULL::timestamptz AS due_at"
        return (", (SELECT min(d.due_at) FROM sla.deadlines d WHERE d.complaint_id ="
                " s.complaint_id AND d.closed_at IS NULL AND d.paused_at IS NULL) AS due_at")

    def find(self, query: RequestQuery, *, default_since: datetime, limit: int
             ) -> list[dict]:
        where: list[str] = []
        params: list[Any] = []
        if query.ids:
            where.append("s.registration_number = ANY(%s)")
            params.append(list(query.ids))
        else:
            # Confidential categories (violence, disability) are not listed to the public;
            # the citizen's app still finds its own request by its id.
            where.append("NOT s.confidential")
            if query.service_codes:
                where.append("s.category = ANY(%s)")
                params.append(list(query.service_codes))
            if query.stages:
                where.append("s.stage = ANY(%s)")
                params.append(list(query.stages))
            where.append("s.registered_at >= %s")
            params.append(query.start or default_since)
            if query.end:
                where.append("s.registered_at <= %s")
                params.append(query.end)
        params.append(limit)
        return self.db.fetchall(
            f"SELECT {self.COLUMNS}{self._due()} FROM intake.complaint_status s"
            f" WHERE {' AND '.join(where)} ORDER BY s.registered_at DESC LIMIT %s",
            params,
        )
