"""DTKS replica use cases: look people up in the current snapshot, load a small snapshot.

Every lookup is one statement on the view `dtks.individuals_current`, which the importer's
swap redefines in one transaction (sql/008_make_current.sql). So a lookup costs one round
trip (a prepared statement on a pooled connection, no "which snapshot is current?" query
first) and every row it returns comes from the one snapshot that was current when the
statement started: each row carries that snapshot's id.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from services.dtks_sync import importer
from shared.db import Database
from shared.errors import InvalidInput
from shared.identity import KK, NIK

PROGRAMS = importer.PROGRAMS
# Names people use for the same programs: Sembako is BPNT's new name, KIS the PBI-JK card.
PROGRAM_ALIASES = {"SEMBAKO": "BPNT", "KIS": "PBI_JK", "PBI-JK": "PBI_JK", "PBI": "PBI_JK"}
_SEX_FROM_FILE = {"L": "M", "P": "F"}  # the API speaks shared.identity's M/F
_SEX_TO_FILE = {"M": "L", "F": "P", "L": "L", "P": "P"}

_COLUMNS = (
    "snapshot_id, nik, kk, name, birth_date, sex, wilayah, desil, pkh, bpnt, pbi_jk, kip, pip"
)
LOOKUP_NIK = f"SELECT {_COLUMNS} FROM dtks.individuals_current WHERE nik = %s"
LOOKUP_KK = f"SELECT {_COLUMNS} FROM dtks.individuals_current WHERE kk = %s ORDER BY source_line"
CURRENT = (
    "SELECT id, source, checksum, rows_read, rows_loaded, rows_rejected, started_at,"
    " finished_at FROM dtks.snapshots WHERE status = 'current'"
)


def _person(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "nik": row["nik"],
        "kk": row["kk"],
        "name": row["name"],
        "birth_date": row["birth_date"].isoformat(),
        "sex": _SEX_FROM_FILE[row["sex"]],
        "wilayah": row["wilayah"],
        "desil": row["desil"],
        "programs": [p for p in PROGRAMS if row[p.lower()]],
        "snapshot_id": row["snapshot_id"],
    }


class DtksReplica:
    """Lookups by NIK and KK against the current DTKS snapshot, and small in-process loads."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup_nik(self, nik: str) -> dict[str, Any] | None:
        """The person with this NIK in the current snapshot, or None.

        Raises InvalidNIK for a string that cannot be a NIK (checked before any I/O).
        """
        value = NIK.parse(nik).value
        with self.db.connection() as conn:
            row = conn.execute(LOOKUP_NIK, (value,), prepare=True).fetchone()
        return _person(row) if row else None

    def lookup_kk(self, kk: str) -> list[dict[str, Any]]:
        """The members of family card `kk` in the current snapshot, in file order."""
        value = KK.parse(kk).value
        with self.db.connection() as conn:
            rows = conn.execute(LOOKUP_KK, (value,), prepare=True).fetchall()
        return [_person(r) for r in rows]

    def current_snapshot(self) -> dict[str, Any] | None:
        """Id, source file, checksum, row counts and times of the current snapshot."""
        row = self.db.fetchone(CURRENT)
        if row is None:
            return None
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.items()
        }

    def load_people(self, rows: Iterable[Mapping[str, Any]]) -> str:
        """Make a snapshot of exactly these people current; returns its id.

        For tests and the demo: the rows go through the importer (same validation, same
        atomic swap) as a CSV file would. Each row has nik, kk, name, birth_date (date or
        ISO text), sex (M/F or L/P), wilayah, desil and programs (names from PROGRAMS, or
        the aliases Sembako/KIS). Any invalid row fails the whole load (`TooManyRejects`,
        with the reasons), leaving the current snapshot as it was. Loading the same rows
        as the current snapshot again is a no-op that returns its id.
        """
        data = _render_csv(rows)
        result = importer.import_stream(
            self.db.dsn,
            io.BytesIO(data),
            source=f"load_people:{hashlib.sha256(data).hexdigest()[:8]}",
            max_reject_share=0.0,
        )
        return result.snapshot_id

    def changes(self, old: str | None = None, new: str | None = None, **kw: Any
                ) -> dict[str, Any]:
        return changes(self.db, old, new, **kw)


def _render_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(importer.FILE_COLUMNS)
    for n, row in enumerate(rows, start=1):
        try:
            programs = {str(p).upper() for p in row.get("programs", ())}
            programs = {PROGRAM_ALIASES.get(p, p) for p in programs}
            unknown = programs - set(PROGRAMS)
            if unknown:
                raise InvalidInput(
                    f"row {n}: unknown programs {sorted(unknown)}; known: {list(PROGRAMS)}",
                    field="programs",
                )
            birth = row["birth_date"]
            sex = _SEX_TO_FILE.get(str(row["sex"]).upper())
            if sex is None:
                raise InvalidInput(f"row {n}: sex must be M/F (or L/P)", field="sex")
            writer.writerow(
                [
                    row["nik"],
                    row["kk"],
                    row["name"],
                    birth.isoformat() if isinstance(birth, date) else birth,
                    sex,
                    row["wilayah"],
                    row["desil"],
                    *("1" if p in programs else "0" for p in PROGRAMS),
                ]
            )
        except KeyError as missing:
            raise InvalidInput(f"row {n}: missing {missing}", field=str(missing)) from None
    return out.getvalue().encode("utf-8")


# --- change detection between two snapshots ---------------------------------------------

CHANGE_KINDS = ("added", "removed", "desil_changed", "program_changed")
_FLAGS = ("pkh", "bpnt", "pbi_jk", "kip", "pip")


def _programs_sql(alias: str) -> str:
    parts = ", ".join(f"CASE WHEN {alias}.{f} = '1' THEN '{f.upper()}' END" for f in _FLAGS)
    return f"array_remove(ARRAY[{parts}], NULL)"


# One FULL JOIN of the two snapshot tables on NIK (both have a unique NIK index): the
# server does the whole comparison, Python only sees the summary and the requested page.
_CHANGES = f"""
WITH pairs AS (
    SELECT coalesce(n.nik, o.nik) AS nik, coalesce(n.kk, o.kk) AS kk,
           coalesce(n.name, o.name) AS name, coalesce(n.wilayah, o.wilayah) AS wilayah,
           o.nik IS NULL AS added, n.nik IS NULL AS removed,
           o.desil::smallint AS old_desil, n.desil::smallint AS new_desil,
           CASE WHEN o.nik IS NOT NULL THEN {_programs_sql('o')} END AS old_programs,
           CASE WHEN n.nik IS NOT NULL THEN {_programs_sql('n')} END AS new_programs
      FROM dtks.{{old}} o FULL JOIN dtks.{{new}} n ON o.nik = n.nik
     WHERE o.nik IS NULL OR n.nik IS NULL OR o.desil <> n.desil
        OR (o.pkh, o.bpnt, o.pbi_jk, o.kip, o.pip) <> (n.pkh, n.bpnt, n.pbi_jk, n.kip, n.pip)
), kinds AS (
    SELECT *, NOT added AND NOT removed AND old_desil <> new_desil AS desil_changed,
           NOT added AND NOT removed AND old_programs <> new_programs AS program_changed
      FROM pairs
)
"""


def _snapshot_table(db: Database, snapshot_id: str) -> str:
    from shared.errors import NotFound

    row = db.fetchone(
        "SELECT table_name FROM dtks.snapshots WHERE id = %s AND status IN ('current',"
        " 'retired')", (snapshot_id,))
    if row is None:
        raise NotFound(f"snapshot {snapshot_id} is not current or kept", field="snapshot")
    return str(row["table_name"])


def default_pair(db: Database) -> tuple[str, str]:
    """The current snapshot and the one it replaced (the newest retired one)."""
    from shared.errors import NotFound

    rows = db.fetchall(
        "(SELECT id, 0 AS k FROM dtks.snapshots WHERE status = 'current')"
        " UNION ALL (SELECT id, 1 FROM dtks.snapshots WHERE status = 'retired'"
        " ORDER BY retired_at DESC, id DESC LIMIT 1) ORDER BY k")
    if len(rows) < 2:
        raise NotFound("no two snapshots to compare (need a current and a retired one)",
                       field="snapshot")
    return rows[1]["id"], rows[0]["id"]


def changes(db: Database, old: str | None = None, new: str | None = None, *,
            kind: str | None = None, limit: int | None = 100, offset: int = 0
            ) -> dict[str, Any]:
    """Who was added, removed, or changed desil / programs from snapshot `old` to `new`
    (default: the previous snapshot to the current one): counts and one page of rows."""
    if old is None or new is None:
        d_old, d_new = default_pair(db)
        old, new = old or d_old, new or d_new
    if kind is not None and kind not in CHANGE_KINDS:
        raise InvalidInput(f"kind must be one of {list(CHANGE_KINDS)}", field="kind")
    sql = _CHANGES.format(old=importer._ident(_snapshot_table(db, old)),
                          new=importer._ident(_snapshot_table(db, new)))
    with db.connection() as conn:
        summary = conn.execute(
            sql + "SELECT count(*) FILTER (WHERE added) AS added,"
            " count(*) FILTER (WHERE removed) AS removed,"
            " count(*) FILTER (WHERE desil_changed) AS desil_changed,"
            " count(*) FILTER (WHERE program_changed) AS program_changed FROM kinds"
        ).fetchone()
        where = f"WHERE {kind}" if kind else ""
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = conn.execute(
            sql + "SELECT nik, kk, name, wilayah, added, removed, desil_changed,"
            " program_changed, old_desil, new_desil, old_programs, new_programs"
            f" FROM kinds {where} ORDER BY nik{page}"
        ).fetchall()
    out = []
    for r in rows:
        kinds = [k for k in CHANGE_KINDS if r[k]]
        out.append({"nik": r["nik"], "kk": r["kk"], "name": r["name"],
                    "wilayah": r["wilayah"], "changes": kinds,
                    "old_desil": r["old_desil"], "new_desil": r["new_desil"],
                    "old_programs": r["old_programs"], "new_programs": r["new_programs"]})
    return {"from": old, "to": new, "summary": dict(summary), "kind": kind,
            "limit": limit, "offset": offset, "changes": out}
