"""Bulk import of a DTKS CSV file into a new snapshot, swapped in atomically.

The path a 10M-row file takes (docs/dtks-import-format.md has the format and reason codes):

1. scan: sha256 and line count of the file in one pass (a file whose checksum is the
   current snapshot's is a no-op), header checked.
2. copy: the file's bytes go unchanged, in 4 MiB chunks, into `COPY ... FROM STDIN (FORMAT
   csv, FREEZE)` aimed at the new snapshot's own table `dtks.individuals_<snapshot>`,
   created in the same transaction. No Python work per row: building rows in Python runs
   at ~330k rows/s, well below what the server parses (design.md §12). FREEZE writes the
   rows already frozen, so no later reader has to dirty every page setting hint bits, and
   a kill before COMMIT leaves nothing behind.
3. validate: one set-wise statement (a parallel scan) computes a reason code for every
   row that breaks a rule; those rows move to `dtks.rejects` and out of the table.
4. index: NIK (unique) and KK indexes built at the same time on two connections. A NIK
   that occurs twice makes the unique build fail; then the later occurrences are rejected
   as `duplicate_nik` and the build is repeated.
5. swap: `dtks.make_current` retires the old snapshot and points the view
   `dtks.individuals_current` at the new table in one transaction. Until then the old
   snapshot serves every lookup; whatever goes wrong before it (including a kill -9) leaves
   it current, and the next import marks the abandoned snapshot failed.

Why not binary COPY: binary COPY needs every row turned into typed binary tuples by the
client, i.e. CSV parsing plus validation plus encoding in Python for each of the 10M rows;
that is the ~330k rows/s ceiling above. Streaming the CSV bytes and validating in SQL
keeps Python out of the per-row path, so the server's own parser sets the pace.

When the fast COPY meets a structurally broken file (a line with the wrong number of
fields, an unterminated quote, bytes that are not UTF-8, blank lines, a quoted newline),
the import starts over on a slower path that reads the file line by line in Python so that
each broken line becomes a reject with its own line number instead of failing the import.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

import psycopg
from psycopg import errors as pgerrors

from shared.db import connect
from shared.errors import ConcurrencyConflict, InvalidInput, SedulurError
from shared.identity import PROVINCES

# File column -> column of the snapshot table, in the documented order.
COLUMN_MAP: dict[str, str] = {
    "NIK": "nik",
    "NO_KK": "kk",
    "NAMA": "name",
    "TGL_LAHIR": "birth_date",
    "JNS_KEL": "sex",
    "KODE_WILAYAH": "wilayah",
    "DESIL": "desil",
    "PKH": "pkh",
    "BPNT": "bpnt",
    "PBI_JK": "pbi_jk",
    "KIP": "kip",
    "PIP": "pip",
}
FILE_COLUMNS = tuple(COLUMN_MAP)
PROGRAMS = ("PKH", "BPNT", "PBI_JK", "KIP", "PIP")

# Reasons a row is rejected, in the order they are checked (the first that applies wins).
REASONS = (
    "encoding",
    "malformed_row",
    "column_count",
    "nik_format",
    "nik_region",
    "nik_date",
    "nik_serial",
    "kk_format",
    "kk_region",
    "kk_date",
    "kk_serial",
    "name_missing",
    "birth_date",
    "sex",
    "nik_sex_mismatch",
    "nik_birth_date_mismatch",
    "wilayah",
    "desil",
    "program_flag",
    "duplicate_nik",
)
STRUCTURAL_REASONS = frozenset({"encoding", "malformed_row", "column_count"})

IMPORT_LOCK = 0x5ED0_D75C  # pg advisory lock held for the whole import
KEEP_RETIRED = 2
DEFAULT_MAX_REJECT_SHARE = 0.10
CHUNK = 4 << 20
SWAP_ATTEMPTS = 40  # x 500 ms lock_timeout in dtks.make_current


class _LinesDrift(Exception):
    """COPY read a different number of records than the file has lines."""


class DtksImportFailed(SedulurError):
    """The import stopped; the current snapshot is unchanged."""

    code = "dtks_import_failed"


class ImportAlreadyRunning(ConcurrencyConflict):
    code = "dtks_import_running"


class BadImportFile(InvalidInput):
    """The file as a whole is unusable (header, no rows); nothing was imported."""

    code = "dtks_bad_file"


class TooManyRejects(InvalidInput):
    """More rows failed validation than allowed; the snapshot was not made current."""

    code = "dtks_too_many_rejects"


@dataclass(frozen=True)
class ImportProgress:
    """What `progress` callbacks receive: a phase, how far it is, and the row rate so far."""

    phase: str  # scan | copy | validate | index | swap | done
    done: int
    total: int | None
    rows_per_second: float | None = None


Progress = Callable[[ImportProgress], None]


@dataclass(frozen=True)
class ImportResult:
    snapshot_id: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    rows_per_second: float
    noop: bool
    checksum: str = ""
    reject_path: Path | None = None
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase


# --- validation SQL ----------------------------------------------------------------------


def _in(values: list[str] | tuple[str, ...]) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


_PROV = _in(sorted(PROVINCES))
_DDMM = [
    f"{d:02d}{m:02d}" for m in range(1, 13) for d in range(1, calendar.monthrange(2000, m)[1] + 1)
]
_DDMM_SEXED = _in(_DDMM + [f"{int(x[:2]) + 40}{x[2:]}" for x in _DDMM])
_DASH_MMDD = _in([f"-{x[2:]}-{x[:2]}" for x in _DDMM])
_LEAP_YY = _in([f"{y:02d}" for y in range(0, 100, 4)])  # 2-digit years: 00 may be 2000
_LEAP_YYYY = _in([str(y) for y in range(1900, 2100) if calendar.isleap(y)])
_DESIL = _in([str(d) for d in range(1, 11)])


def _region_ok(col: str) -> str:
    """A known province code, then kabupaten and kecamatan parts that are not 00.
    (LIKE costs a fraction of substr(): no new string per row.)"""
    return f"(left({col}, 2) IN {_PROV} AND {col} NOT LIKE '__00%' AND {col} NOT LIKE '____00%')"


def _digits(col: str, n: int) -> str:
    return f"(octet_length({col}) = {n} AND {col} ~ '^[0-9]+$')"


def _kk_date_ok(col: str) -> str:
    return (
        f"(substr({col}, 7, 4) IN {_in(_DDMM)} "
        f"AND ({col} NOT LIKE '______2902%' OR substr({col}, 11, 2) IN {_LEAP_YY}))"
    )


def _birth_date_shape_ok(today: date) -> str:
    """YYYY-MM-DD, a real date from 1900 to `today`; the YY digits are checked apart."""
    return (
        "(octet_length(birth_date) = 10 AND (birth_date LIKE '19%' OR birth_date LIKE '20%') "
        f"AND substr(birth_date, 5, 6) IN {_DASH_MMDD} "
        f"AND (birth_date NOT LIKE '%-02-29' OR left(birth_date, 4) IN {_LEAP_YYYY}) "
        f"AND birth_date <= '{today.isoformat()}')"
    )


# NIK digits 7-12 as they must read for this birth date and sex: DDMMYY, women DD+40.
_NIK_DATE_EXPECTED = (
    "(CASE sex WHEN 'P' THEN translate(substr(birth_date, 9, 1), '0123', '4567') "
    "ELSE substr(birth_date, 9, 1) END "
    "|| substr(birth_date, 10, 1) || substr(birth_date, 6, 2) || substr(birth_date, 3, 2))"
)
_FLAG_COLS = ("pkh", "bpnt", "pbi_jk", "kip", "pip")
_FLAGS_OK = " AND ".join(f"({c} = '0' OR {c} = '1')" for c in _FLAG_COLS)
_NAME_OK = "(name <> '' AND (name NOT LIKE ' %' OR btrim(name) <> ''))"


def reason_sql(today: date) -> str:
    """A SQL expression over a snapshot table's columns: NULL for a valid row, else the
    reason code (docs/dtks-import-format.md).

    The first branch is one conjunction that holds exactly for the valid rows and is built
    for speed (it runs on every row: LIKE and IN-lists, one regex for all digit fields, no
    casts); the ordered checks that name the reason run only for the rows it refuses.
    """
    fast_ok = " AND ".join(
        [
            "octet_length(nik) = 16 AND octet_length(kk) = 16 AND octet_length(wilayah) = 10",
            "(nik || kk || wilayah || substr(birth_date, 3, 2)) ~ '^[0-9]+$'",
            _region_ok("nik"),
            "nik NOT LIKE '%0000'",
            _region_ok("kk"),
            _kk_date_ok("kk"),
            "kk NOT LIKE '%0000'",
            _region_ok("wilayah"),
            "wilayah NOT LIKE '%0000'",
            _NAME_OK,
            _birth_date_shape_ok(today),
            "(sex = 'L' OR sex = 'P')",
            # equal to the digits of a valid date: the NIK date part is valid and matches
            f"substr(nik, 7, 6) = {_NIK_DATE_EXPECTED}",
            f"desil IN {_DESIL}",
            _FLAGS_OK,
        ]
    )
    checks = [
        ("nik_format", f"NOT {_digits('nik', 16)}"),
        ("nik_region", f"NOT {_region_ok('nik')}"),
        (
            "nik_date",
            f"NOT (substr(nik, 7, 4) IN {_DDMM_SEXED} AND (substr(nik, 7, 4) NOT IN "
            f"('2902', '6902') OR substr(nik, 11, 2) IN {_LEAP_YY}))",
        ),
        ("nik_serial", "nik LIKE '%0000'"),
        ("kk_format", f"NOT {_digits('kk', 16)}"),
        ("kk_region", f"NOT {_region_ok('kk')}"),
        ("kk_date", f"NOT {_kk_date_ok('kk')}"),
        ("kk_serial", "kk LIKE '%0000'"),
        ("name_missing", f"NOT {_NAME_OK}"),
        (
            "birth_date",
            f"NOT ({_birth_date_shape_ok(today)} AND substr(birth_date, 3, 2) ~ '^[0-9]+$')",
        ),
        ("sex", "sex NOT IN ('L', 'P')"),
        ("nik_sex_mismatch", "(substr(nik, 7, 1) >= '4') <> (sex = 'P')"),
        ("nik_birth_date_mismatch", f"substr(nik, 7, 6) <> {_NIK_DATE_EXPECTED}"),
        (
            "wilayah",
            f"NOT ({_digits('wilayah', 10)} AND {_region_ok('wilayah')} "
            "AND wilayah NOT LIKE '%0000')",
        ),
        ("desil", f"desil NOT IN {_DESIL}"),
        ("program_flag", f"NOT ({_FLAGS_OK})"),
    ]
    whens = "\n    ".join(f"WHEN {cond} THEN '{code}'" for code, cond in checks)
    # 'invalid' is unreachable while fast_ok is the conjunction of the checks (a test holds it)
    return f"CASE WHEN {fast_ok} THEN NULL ELSE CASE\n    {whens}\n    ELSE 'invalid' END END"


def _raw_sql(columns: list[str]) -> str:
    """The row as a CSV line again (fields in the file's order), for the reject file."""
    parts = [
        f"CASE WHEN {c} ~ '[\",\\r\\n]' THEN '\"' || replace({c}, '\"', '\"\"') || '\"' "
        f"ELSE {c} END"
        for c in columns
    ]
    return " || ',' || ".join(parts)


# --- the file ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    checksum: str
    header: list[str]  # file column names, in file order
    data_start: int  # byte offset after the header line
    data_end: int  # byte offset after the last non-blank line (trailing blank lines cut)
    data_lines: int  # physical lines in [data_start, data_end)
    size: int


def _parse_header(line: bytes) -> list[str]:
    try:
        text = line.decode("utf-8-sig").strip("\r\n")
    except UnicodeDecodeError:
        raise BadImportFile("the header line is not UTF-8", field="header") from None
    names = [n.strip().strip('"').strip().upper() for n in text.split(",")]
    unknown = [n for n in names if n not in COLUMN_MAP]
    missing = [n for n in FILE_COLUMNS if n not in names]
    if unknown or missing or len(names) != len(set(names)):
        raise BadImportFile(
            f"header must name the columns {','.join(FILE_COLUMNS)} (any order, each once); "
            f"unknown: {unknown or '-'}, missing: {missing or '-'}",
            field="header",
        )
    return names


def _scan(fh: IO[bytes], progress: Progress | None) -> _Scan:
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    header_line = fh.readline()
    if not header_line.strip():
        raise BadImportFile("the file is empty: no header line", field="header")
    header = _parse_header(header_line)
    digest = hashlib.sha256(header_line)
    newlines = 0
    done = len(header_line)
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
        newlines += chunk.count(b"\n")
        done += len(chunk)
        if progress:
            progress(ImportProgress("scan", done, size))
    data_start = len(header_line)
    # Trailing blank lines are not records; leave them out of what COPY sees.
    tail_len = min(size - data_start, 1 << 16)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    stripped = tail.rstrip(b"\r\n")
    cut = len(tail) - len(stripped)
    data_end = size - cut
    newlines -= tail[len(stripped) :].count(b"\n")
    data_lines = newlines + 1 if data_end > data_start else 0
    return _Scan(digest.hexdigest(), header, data_start, data_end, data_lines, size)


def _chunks(fh: IO[bytes], start: int, end: int) -> Iterator[bytes]:
    fh.seek(start)
    left = end - start
    while left > 0:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        yield chunk


# --- the import --------------------------------------------------------------------------


class _Import:
    def __init__(
        self,
        dsn: str,
        fh: IO[bytes],
        source: str,
        progress: Progress | None,
        reject_path: Path | None,
        max_reject_share: float,
        keep_retired: int,
        today: date,
    ) -> None:
        self.dsn = dsn
        self.fh = fh
        self.source = source
        self.progress = progress
        self.reject_path = reject_path
        self.max_reject_share = max_reject_share
        self.keep_retired = keep_retired
        self.today = today
        self.started = time.perf_counter()
        self.phases: dict[str, float] = {}
        self.snapshot_id = ""
        self.table = ""
        self.rows_read = 0
        self.rows_rejected = 0

    # -- helpers

    def _emit(self, phase: str, done: int, total: int | None, rows: int | None = None) -> None:
        if self.progress:
            elapsed = time.perf_counter() - self.started
            rate = rows / elapsed if rows is not None and elapsed > 0 else None
            self.progress(ImportProgress(phase, done, total, rate))

    def _phase(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - since
        return now

    def _connect(self) -> psycopg.Connection:
        conn = connect(self.dsn, autocommit=True)
        # JIT would compile the validation expression for seconds per statement, more than
        # it ever saves here.
        conn.execute("SET jit = off")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '512MB'")
        return conn

    # -- entry

    def run(self) -> ImportResult:
        t = time.perf_counter()
        scan = _scan(self.fh, self.progress)
        t = self._phase("scan", t)
        with self._connect() as conn:
            self._lock(conn)
            try:
                self._clean_abandoned(conn)
                current = conn.execute(
                    "SELECT id, checksum, rows_read, rows_loaded, rows_rejected"
                    " FROM dtks.snapshots WHERE status = 'current'"
                ).fetchone()
                if current and current[1] == scan.checksum:
                    seconds = time.perf_counter() - self.started
                    self._emit("done", current[3] or 0, current[3] or 0)
                    return ImportResult(
                        snapshot_id=current[0],
                        rows_read=current[2] or 0,
                        rows_loaded=current[3] or 0,
                        rows_rejected=current[4] or 0,
                        seconds=seconds,
                        rows_per_second=0.0,
                        noop=True,
                        checksum=scan.checksum,
                        phases=self.phases,
                    )
                self._register(conn, scan)
                try:
                    return self._load(conn, scan, t)
                except BaseException as exc:
                    self._fail(conn, exc)
                    raise
            finally:
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (IMPORT_LOCK,))

    def _lock(self, conn: psycopg.Connection) -> None:
        conn.execute("SET lock_timeout = '30s'")
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (IMPORT_LOCK,))
        except pgerrors.LockNotAvailable:
            raise ImportAlreadyRunning(
                "another DTKS import is running on this database; try again when it is done"
            ) from None
        finally:
            conn.execute("RESET lock_timeout")

    def _clean_abandoned(self, conn: psycopg.Connection) -> None:
        """Holding the import lock, any snapshot still `loading` lost its importer (killed,
        crashed, connection cut): mark it failed. Drop what failed imports left behind
        (their tables; their rejects, kept until now for inspection)."""
        conn.execute(
            "UPDATE dtks.snapshots SET status = 'failed', finished_at = now(),"
            " error = coalesce(error, 'the importer stopped before finishing')"
            " WHERE status = 'loading'"
        )
        failed = conn.execute(
            "SELECT id, table_name FROM dtks.snapshots WHERE status = 'failed'"
        ).fetchall()
        for _, table in failed:
            conn.execute(f"DROP TABLE IF EXISTS dtks.{_ident(table)}")
        if failed:
            conn.execute(
                "DELETE FROM dtks.rejects WHERE snapshot_id = ANY(%s)", ([r[0] for r in failed],)
            )

    def _register(self, conn: psycopg.Connection, scan: _Scan) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M")
        base = f"{stamp}-{scan.checksum[:8]}"
        taken = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM dtks.snapshots WHERE id LIKE %s", (base + "%",)
            ).fetchall()
        }
        sid, n = base, 1
        while sid in taken:
            n += 1
            sid = f"{base}-{n}"
        self.snapshot_id = sid
        self.table = "individuals_" + re.sub(r"[^0-9a-z]+", "_", sid.lower())
        conn.execute(
            "INSERT INTO dtks.snapshots (id, table_name, source, checksum) VALUES (%s,%s,%s,%s)",
            (sid, self.table, self.source, scan.checksum),
        )

    def _fail(self, conn: psycopg.Connection, exc: BaseException) -> None:
        try:
            if conn.closed or conn.broken:
                return  # the next import cleans up
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            conn.execute(
                "UPDATE dtks.snapshots SET status = 'failed', finished_at = now(), error = %s,"
                " rows_read = %s, rows_rejected = %s WHERE id = %s AND status = 'loading'",
                (
                    message[:2000],
                    self.rows_read or None,
                    self.rows_rejected or None,
                    self.snapshot_id,
                ),
            )
            conn.execute(f"DROP TABLE IF EXISTS dtks.{_ident(self.table)}")
        except psycopg.Error:
            pass  # the original error matters more; the next import cleans up

    # -- phases

    def _load(self, conn: psycopg.Connection, scan: _Scan, t: float) -> ImportResult:
        table = f"dtks.{_ident(self.table)}"
        columns = [COLUMN_MAP[name] for name in scan.header]

        self._emit("copy", 0, scan.data_lines, 0)
        try:
            rows, malformed = self._copy_fast(conn, scan, table, columns), 0
        except (pgerrors.DataError, _LinesDrift):
            # A structurally broken line somewhere (or a quoted newline, which would make
            # line numbers drift): the COPY rolled back; redo it line by line.
            rows, malformed = self._copy_careful(conn, scan, table, columns)
        self.rows_read = rows + malformed
        self.rows_rejected = malformed
        n = self.rows_read
        self._emit("copy", scan.data_lines, scan.data_lines, n)
        t = self._phase("copy", t)

        self._emit("validate", 0, n, n)
        self.rows_rejected += self._validate(conn, table, columns)
        self._emit("validate", n, n, n)
        t = self._phase("validate", t)

        self._emit("index", 0, n, n)
        self.rows_rejected += self._index(conn, table, columns)
        self._emit("index", n, n, n)
        t = self._phase("index", t)

        rows_loaded = self.rows_read - self.rows_rejected
        if self.reject_path is not None:
            self._write_rejects(conn, scan.header)
        self._check_share(rows_loaded)

        self._emit("swap", 0, 1, n)
        self._swap(conn, rows_loaded)
        self._retire(conn)
        self._emit("swap", 1, 1, n)
        t = self._phase("swap", t)
        seconds = time.perf_counter() - self.started
        self._emit("done", self.rows_read, self.rows_read, self.rows_read)
        return ImportResult(
            snapshot_id=self.snapshot_id,
            rows_read=self.rows_read,
            rows_loaded=rows_loaded,
            rows_rejected=self.rows_rejected,
            seconds=seconds,
            rows_per_second=self.rows_read / seconds if seconds > 0 else 0.0,
            noop=False,
            checksum=scan.checksum,
            reject_path=self.reject_path,
            phases=self.phases,
        )

    def _create_table(self, conn: psycopg.Connection, table: str) -> None:
        conn.execute(f"CREATE TABLE {table} (LIKE dtks.individuals_template INCLUDING ALL)")

    def _copy_fast(
        self, conn: psycopg.Connection, scan: _Scan, table: str, columns: list[str]
    ) -> int:
        """The file's bytes straight into COPY; the line number comes from a sequence."""
        seq = f"dtks.{_ident(self.table + '_line')}"
        cols = ", ".join(columns)
        copied = 0
        with conn.transaction(), conn.cursor() as cur:
            self._create_table(conn, table)
            # Data line k of the file is line k + 1 (the header is line 1). The sequence
            # is unlogged and cached: it only numbers rows during this one COPY.
            cur.execute(f"CREATE UNLOGGED SEQUENCE {seq} START 2 CACHE 100000")
            cur.execute(f"ALTER TABLE {table} ALTER source_line SET DEFAULT nextval('{seq}')")
            with cur.copy(
                f"COPY {table} ({cols}) FROM STDIN (FORMAT csv, FREEZE, FORCE_NOT_NULL ({cols}))"
            ) as copy:
                for chunk in _chunks(self.fh, scan.data_start, scan.data_end):
                    copy.write(chunk)
                    copied += chunk.count(b"\n")
                    self._emit("copy", copied, scan.data_lines, copied)
            rows = cur.rowcount
            if rows != scan.data_lines:
                raise _LinesDrift  # rolls the transaction back
            cur.execute(f"ALTER TABLE {table} ALTER source_line DROP DEFAULT")
            cur.execute(f"DROP SEQUENCE {seq}")
        return rows

    def _copy_careful(
        self, conn: psycopg.Connection, scan: _Scan, table: str, columns: list[str]
    ) -> tuple[int, int]:
        """Line by line in Python: each physical line is one record or one reject."""
        cols = ", ".join(columns)
        width = len(columns)
        rows = malformed = 0
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as bad:
            bad_writer = csv.writer(bad, lineterminator="\n")
            with conn.transaction(), conn.cursor() as cur:
                self._create_table(conn, table)
                with cur.copy(
                    f"COPY {table} (source_line, {cols}) FROM STDIN "
                    f"(FORMAT csv, FREEZE, FORCE_NOT_NULL ({cols}))"
                ) as copy:
                    buf = io.StringIO()
                    writer = csv.writer(buf, lineterminator="\n")
                    self.fh.seek(scan.data_start)
                    line_no = 1
                    pos = scan.data_start
                    while pos < scan.data_end:
                        raw = self.fh.readline()
                        if not raw:
                            break
                        pos += len(raw)
                        line_no += 1
                        raw = raw.rstrip(b"\r\n")
                        if not raw.strip():
                            continue  # a blank line is not a record
                        reason, fields, text = _split_line(raw, width)
                        if reason:
                            malformed += 1
                            bad_writer.writerow([self.snapshot_id, line_no, reason, text])
                            continue
                        writer.writerow([line_no, *fields])
                        rows += 1
                        if rows % 50_000 == 0:
                            copy.write(buf.getvalue())
                            buf.seek(0)
                            buf.truncate()
                            self._emit("copy", line_no - 1, scan.data_lines, rows + malformed)
                    copy.write(buf.getvalue())
            if malformed:
                bad.seek(0)
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY dtks.rejects (snapshot_id, line, reason, raw) FROM STDIN (FORMAT csv)"
                    ) as copy,
                ):
                    while block := bad.read(CHUNK):
                        copy.write(block)
        return rows, malformed

    def _validate(self, conn: psycopg.Connection, table: str, columns: list[str]) -> int:
        """Move every row that breaks a rule to dtks.rejects; returns how many moved."""
        with conn.transaction():
            conn.execute("SET LOCAL parallel_setup_cost = 100")
            conn.execute(
                "CREATE TEMP TABLE dtks_rejected ON COMMIT DROP AS"
                " SELECT row_ctid, source_line, reason, raw FROM ("
                f"  SELECT t.ctid AS row_ctid, t.source_line, {reason_sql(self.today)} AS reason,"
                f"  {_raw_sql(columns)} AS raw FROM {table} t) checked"
                " WHERE reason IS NOT NULL"
            )
            moved = conn.execute(
                "INSERT INTO dtks.rejects (snapshot_id, line, reason, raw)"
                " SELECT %s, source_line, reason, raw FROM dtks_rejected",
                (self.snapshot_id,),
            ).rowcount
            if moved:
                conn.execute(
                    f"DELETE FROM {table}"
                    " WHERE ctid = ANY (ARRAY(SELECT row_ctid FROM dtks_rejected))"
                )
        return moved

    def _index(self, conn: psycopg.Connection, table: str, columns: list[str]) -> int:
        """NIK (unique) and KK indexes at the same time on two connections; a duplicate NIK
        makes the unique build fail, then later occurrences are rejected and it is rebuilt.
        Returns the number of duplicates rejected."""
        nik_index = _ident(self.table + "_nik")
        kk_index = _ident(self.table + "_kk")
        failures: list[BaseException] = []

        def build_kk() -> None:
            try:
                with self._connect() as other:
                    other.execute(f"CREATE INDEX {kk_index} ON {table} (kk)")
            except BaseException as exc:  # reported by the caller's thread
                failures.append(exc)

        kk = threading.Thread(target=build_kk, name="dtks-kk-index", daemon=True)
        kk.start()
        duplicates = 0
        try:
            try:
                conn.execute(f"CREATE UNIQUE INDEX {nik_index} ON {table} (nik)")
            except pgerrors.UniqueViolation:
                duplicates = self._reject_duplicates(conn, table, columns)
                conn.execute(f"CREATE UNIQUE INDEX {nik_index} ON {table} (nik)")
        finally:
            kk.join()
        if failures:
            raise failures[0]
        return duplicates

    def _reject_duplicates(self, conn: psycopg.Connection, table: str, columns: list[str]) -> int:
        with conn.transaction():
            conn.execute(
                "CREATE TEMP TABLE dtks_duplicates ON COMMIT DROP AS"
                " SELECT t.ctid AS row_ctid, t.source_line,"
                "  'NIK first seen on line ' || f.first_line AS detail,"
                f"  {_raw_sql(['t.' + c for c in columns])} AS raw"
                f" FROM {table} t JOIN ("
                f"  SELECT nik, min(source_line) AS first_line FROM {table}"
                "   GROUP BY nik HAVING count(*) > 1) f ON f.nik = t.nik"
                " WHERE t.source_line > f.first_line"
            )
            moved = conn.execute(
                "INSERT INTO dtks.rejects (snapshot_id, line, reason, detail, raw)"
                " SELECT %s, source_line, 'duplicate_nik', detail, raw FROM dtks_duplicates",
                (self.snapshot_id,),
            ).rowcount
            conn.execute(
                f"DELETE FROM {table}"
                " WHERE ctid = ANY (ARRAY(SELECT row_ctid FROM dtks_duplicates))"
            )
        return moved

    def _check_share(self, rows_loaded: int) -> None:
        if rows_loaded <= 0:
            raise TooManyRejects(
                f"no valid rows among {self.rows_read} read; the current snapshot is kept",
                rows_read=self.rows_read,
                rows_rejected=self.rows_rejected,
            )
        share = self.rows_rejected / self.rows_read if self.rows_read else 0.0
        if share > self.max_reject_share:
            raise TooManyRejects(
                f"{self.rows_rejected} of {self.rows_read} rows rejected ({share:.1%}), more "
                f"than the {self.max_reject_share:.1%} allowed; the current snapshot is kept",
                rows_read=self.rows_read,
                rows_rejected=self.rows_rejected,
            )

    def _swap(self, conn: psycopg.Connection, rows_loaded: int) -> None:
        for attempt in range(SWAP_ATTEMPTS):
            try:
                with conn.transaction():
                    conn.execute(
                        "UPDATE dtks.snapshots SET rows_read = %s, rows_loaded = %s,"
                        " rows_rejected = %s WHERE id = %s",
                        (self.rows_read, rows_loaded, self.rows_rejected, self.snapshot_id),
                    )
                    conn.execute("SELECT dtks.make_current(%s)", (self.snapshot_id,))
                return
            except pgerrors.LockNotAvailable:
                # a long query holds the view; lookups queued behind us were let go again
                if attempt == SWAP_ATTEMPTS - 1:
                    raise DtksImportFailed(
                        "could not make the snapshot current: the view"
                        " dtks.individuals_current stayed busy for "
                        f"{SWAP_ATTEMPTS * 0.5:.0f}s",
                    ) from None
                time.sleep(0.1)

    def _retire(self, conn: psycopg.Connection) -> None:
        """Keep the newest `keep_retired` retired snapshots; drop the tables of older ones."""
        old = conn.execute(
            "SELECT id, table_name FROM dtks.snapshots WHERE status = 'retired'"
            " ORDER BY retired_at DESC, id DESC OFFSET %s",
            (self.keep_retired,),
        ).fetchall()
        for sid, table in old:
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '2s'")
                    conn.execute(f"DROP TABLE IF EXISTS dtks.{_ident(table)}")
                    conn.execute(
                        "UPDATE dtks.snapshots SET status = 'dropped' WHERE id = %s", (sid,)
                    )
                    conn.execute("DELETE FROM dtks.rejects WHERE snapshot_id = %s", (sid,))
            except pgerrors.LockNotAvailable:
                pass  # still read by a long query; the next import drops it

    def _write_rejects(self, conn: psycopg.Connection, header: list[str]) -> None:
        assert self.reject_path is not None
        with open(self.reject_path, "w", encoding="utf-8", newline="") as out, conn.cursor() as cur:
            out.write("LINE,REASON," + ",".join(header) + "\n")
            quote = csv.writer(out, lineterminator="\n")
            for line, reason, raw in cur.stream(
                "SELECT line, reason, raw FROM dtks.rejects WHERE snapshot_id = %s ORDER BY line",
                (self.snapshot_id,),
            ):
                if reason in STRUCTURAL_REASONS:
                    quote.writerow([line, reason, raw])  # not 12 fields: keep it one field
                else:
                    out.write(f"{line},{reason},{raw}\n")


def _split_line(raw: bytes, width: int) -> tuple[str | None, list[str], str]:
    """(reason, fields, text) for one physical line of the file."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "encoding", [], raw.decode("utf-8", errors="replace").replace("\x00", "")
    if "\x00" in text:
        return "encoding", [], text.replace("\x00", "")
    try:
        fields = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return "malformed_row", [], text
    if len(fields) != width:
        return "column_count", [], text
    return None, fields, text


def _ident(name: str) -> str:
    """Our own generated names only: lowercase letters, digits and underscores."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return name


# --- public entry points -----------------------------------------------------------------


def import_stream(
    dsn: str,
    fh: IO[bytes],
    *,
    source: str,
    progress: Progress | None = None,
    reject_path: str | Path | None = None,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    keep_retired: int = KEEP_RETIRED,
    today: date | None = None,
) -> ImportResult:
    """Import from a seekable binary stream (read twice: checksum, then COPY)."""
    job = _Import(
        dsn,
        fh,
        source,
        progress,
        Path(reject_path) if reject_path is not None else None,
        max_reject_share,
        keep_retired,
        today or date.today(),
    )
    return job.run()


def import_file(
    dsn: str,
    path: str | Path,
    progress: Progress | None = None,
    reject_path: str | Path | None = None,
    *,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    keep_retired: int = KEEP_RETIRED,
    today: date | None = None,
) -> ImportResult:
    """Import a DTKS CSV file (docs/dtks-import-format.md) as a new current snapshot.

    Re-importing the file of the current snapshot is a no-op (`noop=True`, the current
    snapshot's counts). Rejected rows go to `dtks.rejects` and, if `reject_path` is given,
    to a CSV file `LINE,REASON,<the line's fields>`. The snapshot becomes current only if
    at most `max_reject_share` of the rows were rejected; otherwise `TooManyRejects` and
    the current snapshot stays. `today` bounds birth dates (default: the real today).
    """
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise BadImportFile(f"cannot read {path}: {exc.strerror}", field="path") from None
    with fh:
        return import_stream(
            dsn,
            fh,
            source=path.name,
            progress=progress,
            reject_path=reject_path,
            max_reject_share=max_reject_share,
            keep_retired=keep_retired,
            today=today,
        )
