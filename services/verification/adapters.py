"""SQL of the verification service: desk assessments, the desk and usulan listings, the
snapshot the desk was last re-evaluated against; and the DTKS registry over RPC."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.db import Database

from .domainmodel import DtksAnswer, Outcome

log = logging.getLogger("sedulur.verification")

USULAN_COLUMNS = ("registration_number", "kabupaten", "desa", "nik", "kk", "citizen_name",
                  "category", "reason", "proposed_by", "proposed_at")


class DeskStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def hold(self, complaint_id: UUID, outcome: Outcome) -> None:
        """Put (or keep) an undecided complaint on the desk with the reason a human is needed.
        Only while the projection still shows it undecided: a decision that got there first
        wins."""
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO verification.desk_assessments (complaint_id, desk_reason, detail,"
                " rule, dtks_snapshot, assessed_at)"
                " SELECT complaint_id, %s, %s, %s, %s, now() FROM verification.complaints"
                " WHERE complaint_id = %s AND stage = 'registered'"
                " ON CONFLICT (complaint_id) DO UPDATE SET desk_reason = EXCLUDED.desk_reason,"
                " detail = EXCLUDED.detail, rule = EXCLUDED.rule,"
                " dtks_snapshot = EXCLUDED.dtks_snapshot, assessed_at = now()",
                (outcome.reason_code, outcome.reason, outcome.rule, outcome.dtks_snapshot,
                 complaint_id),
            )

    def cases(self, *, kabupaten: str | None = None, reason: str | None = None,
              limit: int = 50, offset: int = 0) -> dict[str, Any]:
        where = ["c.stage = 'registered'"]
        args: list[Any] = []
        if kabupaten:
            where.append("c.kabupaten = %s")
            args.append(kabupaten)
        if reason:
            where.append("d.desk_reason = %s")
            args.append(reason)
        cond = " AND ".join(where)
        base = ("FROM verification.desk_assessments d JOIN verification.complaints c"
                f" USING (complaint_id) WHERE {cond}")
        total = self.db.fetchone(f"SELECT count(*) AS n {base}", tuple(args))["n"]
        rows = self.db.fetchall(
            "SELECT c.complaint_id, c.registration_number, c.kabupaten, c.category, c.wilayah,"
            " c.nik, c.kk, c.citizen_name, c.registered_at, d.desk_reason, d.detail, d.rule,"
            f" d.dtks_snapshot, d.assessed_at {base}"
            " ORDER BY c.registered_at, c.complaint_id LIMIT %s OFFSET %s",
            (*args, limit, offset),
        )
        return {"total": total, "limit": limit, "offset": offset,
                "cases": [_jsonable(r) for r in rows]}

    def desk_ids(self) -> list[UUID]:
        rows = self.db.fetchall(
            "SELECT complaint_id FROM verification.desk_assessments d JOIN"
            " verification.complaints c USING (complaint_id) WHERE c.stage = 'registered'"
            " ORDER BY c.registered_at")
        return [r["complaint_id"] for r in rows]

    def seen_snapshot(self) -> str | None:
        row = self.db.fetchone("SELECT snapshot_id FROM verification.snapshot_seen")
        return row["snapshot_id"] if row else None

    def mark_seen(self, snapshot_id: str) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO verification.snapshot_seen (snapshot_id) VALUES (%s)"
                " ON CONFLICT (only_row) DO UPDATE SET snapshot_id = EXCLUDED.snapshot_id,"
                " seen_at = now()", (snapshot_id,))

    def usulan(self, *, kabupaten: str | None = None, desa: str | None = None,
               limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        where, args = ["true"], []
        if kabupaten:
            where.append("kabupaten = %s")
            args.append(kabupaten)
        if desa:
            where.append("desa = %s")
            args.append(desa)
        sql = (f"SELECT complaint_id, {', '.join(USULAN_COLUMNS)} FROM verification.usulan"
               f" WHERE {' AND '.join(where)} ORDER BY desa, proposed_at, complaint_id")
        if limit is not None:
            sql += " LIMIT %s OFFSET %s"
            args += [limit, offset]
        return [_jsonable(r) for r in self.db.fetchall(sql, tuple(args))]


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID)
                else v) for k, v in row.items()}


class RpcRegistry:
    """The DTKS registry as dtks_sync's RPC answers it: the person by NIK, the family by KK
    when the NIK is missing, and when the answering snapshot became current."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy

    def current_snapshot_id(self) -> str | None:
        current = self.proxy.current_snapshot()
        return current["id"] if current else None

    def lookup(self, nik: str, kk: str | None) -> DtksAnswer:
        answer = self.proxy.lookup_nik(nik)
        person = answer["person"]
        family = self._family(kk) if person is None and kk else []
        current = self.proxy.current_snapshot()
        snapshot_at = None
        if current and current.get("id") == answer["snapshot_id"] and current.get("finished_at"):
            snapshot_at = datetime.fromisoformat(current["finished_at"])
        return DtksAnswer(person=person, family=family, snapshot_id=answer["snapshot_id"],
                          snapshot_at=snapshot_at)

    def _family(self, kk: str) -> list[dict[str, Any]]:
        """The family by KK. A KK stored before today's validation rules that dtks_sync now
        refuses finds no family (the rules then decide as for a KK not in DTKS), rather than
        failing the message until it is dead-lettered."""
        from nameko.exceptions import RemoteError

        try:
            return self.proxy.lookup_kk(kk)
        except RemoteError as exc:
            if exc.exc_type != "InvalidKK":
                raise
            log.warning("verification.kk_refused_by_registry error=%s", exc.value)
            return []
