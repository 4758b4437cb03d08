"""The DTKS replica against real PostgreSQL: bulk import with rejects, no-op re-import,
atomic snapshot swaps under concurrent lookups, and a killed import that changes nothing."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from services.dtks_sync import importer
from services.dtks_sync.application import DtksReplica
from services.dtks_sync.cli import app
from services.dtks_sync.generator import COLUMNS, generate
from shared.db import Database
from shared.errors import InvalidKK, InvalidNIK
from shared.identity import NIK

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 23)


# --- helpers -----------------------------------------------------------------------------


def read_lines(path: Path) -> list[list[str]]:
    """Header + rows, each row its CSV fields."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_lines(path: Path, lines: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(lines)


def csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def snapshot_rows(dsn: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT id, status, table_name FROM dtks.snapshots")
        }


def table_exists(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT to_regclass(%s)", (f"dtks.{table}",)).fetchone()[0] is not None


def import_(dsn: str, path: Path, **kwargs) -> importer.ImportResult:
    kwargs.setdefault("today", TODAY)
    return importer.import_file(dsn, path, **kwargs)


NIK_COL, KK_COL, NAME_COL, BIRTH_COL, SEX_COL, WIL_COL, DESIL_COL, PKH_COL = range(8)


def break_row(kind: str, fields: list[str]) -> list[str]:
    """The row made invalid in one way whose reason is `kind`."""
    f = list(fields)
    if kind == "nik_format":
        f[NIK_COL] = f[NIK_COL][:15]
    elif kind == "nik_region":
        f[NIK_COL] = "20" + f[NIK_COL][2:]
    elif kind == "nik_date":
        f[NIK_COL] = f[NIK_COL][:8] + "13" + f[NIK_COL][10:]  # month 13
    elif kind == "nik_serial":
        f[NIK_COL] = f[NIK_COL][:12] + "0000"
    elif kind == "kk_format":
        f[KK_COL] = "KK" + f[KK_COL][2:]
    elif kind == "name_missing":
        f[NAME_COL] = "  "
    elif kind == "birth_date":
        f[BIRTH_COL] = f[BIRTH_COL][:5] + "02-30"
    elif kind == "nik_sex_mismatch":
        f[SEX_COL] = {"L": "P", "P": "L"}[f[SEX_COL]]
    elif kind == "nik_birth_date_mismatch":
        year = int(f[BIRTH_COL][:4])
        f[BIRTH_COL] = f"{year - 1 if year > 1931 else year + 1}{f[BIRTH_COL][4:]}"
    elif kind == "wilayah":
        f[WIL_COL] = f[WIL_COL][:6]
    elif kind == "desil":
        f[DESIL_COL] = random.Random(len(f[NAME_COL])).choice(["0", "11", "x", ""])
    elif kind == "program_flag":
        f[PKH_COL] = "2"
    else:
        raise AssertionError(kind)
    return f


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dsn(sedulur_env) -> str:
    return sedulur_env.pg_dsn


@pytest.fixture(scope="module")
def db(dsn):
    database = Database(dsn, max_size=8)
    yield database
    database.close()


@pytest.fixture(scope="module")
def replica(db) -> DtksReplica:
    return DtksReplica(db)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small generated files, each a different population (different seeds)."""
    base = tmp_path_factory.mktemp("dtks")
    out = {}
    for name, seed, people in [("a", 11, 3_000), ("b", 12, 3_000), ("c", 13, 1_000)]:
        out[name] = base / f"{name}.csv"
        generate(out[name], people, seed=seed)
    return out


# --- import, rejects, no-op --------------------------------------------------------------

KINDS = [
    "nik_format",
    "nik_region",
    "nik_date",
    "nik_serial",
    "kk_format",
    "name_missing",
    "birth_date",
    "nik_sex_mismatch",
    "nik_birth_date_mismatch",
    "wilayah",
    "desil",
    "program_flag",
    "duplicate_nik",
]


def test_import_counts_add_up_and_each_reject_has_its_line_and_reason(dsn, tmp_path, replica):
    path = tmp_path / "people.csv"
    generate(path, 20_000, seed=101)
    lines = read_lines(path)
    rng = random.Random(5)
    targets = rng.sample(range(100, len(lines)), 50 * len(KINDS))  # list index == line - 1
    expected: dict[int, str] = {}
    first_seen: dict[int, int] = {}
    for n, index in enumerate(targets):
        kind = KINDS[n % len(KINDS)]
        if kind == "duplicate_nik":
            # an exact copy of an earlier, untouched row: valid, but its NIK was seen
            source = index - 1
            while source + 1 in expected or source in targets:
                source -= 1
            lines[index] = list(lines[source])
            first_seen[index + 1] = source + 1
        else:
            lines[index] = break_row(kind, lines[index])
        expected[index + 1] = kind
    write_lines(path, lines)
    reject_path = tmp_path / "rejects.csv"

    events: list[importer.ImportProgress] = []
    result = import_(dsn, path, reject_path=reject_path, progress=events.append)

    assert not result.noop
    assert result.rows_read == 20_000
    assert result.rows_rejected == len(expected) == 650
    assert result.rows_loaded == 20_000 - 650
    assert result.rows_per_second > 0
    assert {e.phase for e in events} >= {"scan", "copy", "validate", "index", "swap", "done"}
    assert any(e.phase == "copy" and e.rows_per_second for e in events)

    with psycopg.connect(dsn) as conn:
        stored = {
            line: (reason, detail, raw)
            for line, reason, detail, raw in conn.execute(
                "SELECT line, reason, detail, raw FROM dtks.rejects WHERE snapshot_id = %s",
                (result.snapshot_id,),
            )
        }
        loaded = conn.execute("SELECT count(*) FROM dtks.individuals_current").fetchone()[0]
    assert {line: reason for line, (reason, _, _) in stored.items()} == expected
    for line, (_, detail, raw) in stored.items():
        assert raw == csv_line(lines[line - 1])  # the line as it was in the file
        if line in first_seen:
            assert detail == f"NIK first seen on line {first_seen[line]}"
    assert loaded == result.rows_loaded

    rejects = read_lines(reject_path)
    assert rejects[0] == ["LINE", "REASON", *COLUMNS]
    assert {int(r[0]): r[1] for r in rejects[1:]} == expected
    for r in rejects[1:]:
        assert r[2:] == lines[int(r[0]) - 1]

    # what was rejected cannot be looked up; its earlier twin and the rest can
    for line, kind in expected.items():
        fields = lines[line - 1]
        if kind == "nik_sex_mismatch":
            assert replica.lookup_nik(fields[NIK_COL]) is None
        if kind == "duplicate_nik":
            person = replica.lookup_nik(fields[NIK_COL])
            assert person is not None and person["snapshot_id"] == result.snapshot_id


def test_reimporting_the_current_file_is_a_noop(dsn, files):
    first = import_(dsn, files["a"])
    before = snapshot_rows(dsn)
    again = import_(dsn, files["a"])
    assert again.noop
    assert again.snapshot_id == first.snapshot_id
    assert again.rows_loaded == first.rows_loaded
    assert snapshot_rows(dsn) == before


def test_structurally_broken_lines_are_rejected_with_their_line_numbers(dsn, tmp_path):
    path = tmp_path / "broken.csv"
    generate(path, 2_000, seed=31)
    raw = path.read_bytes().split(b"\n")  # raw[k] is line k + 1
    expected = {
        11: "column_count",  # a field missing
        21: "column_count",  # one too many
        31: "encoding",  # Latin-1, not UTF-8
        41: "malformed_row",  # a quote that never closes
        51: "desil",  # an ordinary bad value, still found
    }
    assert not any(b'"' in raw[line - 1] for line in expected)
    raw[10] = raw[10].rsplit(b",", 1)[0]
    raw[20] = raw[20] + b",1"
    raw[30] = raw[30][:20] + b"\xc9" + raw[30][21:]  # inside NO_KK
    nik, kk, rest = raw[40].split(b",", 2)
    raw[40] = b",".join([nik, kk, b'"' + rest])
    fields = next(csv.reader([raw[50].decode()]))
    fields[DESIL_COL] = "12"
    raw[50] = csv_line(fields).encode()
    raw.insert(60, b"")  # a blank line is no record (lines after it move down by one)
    path.write_bytes(b"\n".join(raw))

    result = import_(dsn, path)
    assert result.rows_read == 2_000
    assert result.rows_rejected == len(expected)
    assert result.rows_loaded == 2_000 - len(expected)
    with psycopg.connect(dsn) as conn:
        stored = dict(
            conn.execute(
                "SELECT line, reason FROM dtks.rejects WHERE snapshot_id = %s",
                (result.snapshot_id,),
            ).fetchall()
        )
        last_line = conn.execute(
            "SELECT max(source_line) FROM dtks.individuals_current"
        ).fetchone()[0]
    assert stored == expected
    assert last_line == 2_001 + 1  # header + 2,000 rows + the blank line


def test_a_windows_export_with_bom_and_crlf_imports_like_any_other(dsn, tmp_path, replica):
    path = tmp_path / "windows.csv"
    generate(path, 500, seed=41)
    text = path.read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode() + b"\r\n\r\n")
    result = import_(dsn, path)
    assert (result.rows_read, result.rows_rejected) == (500, 0)
    last = text.splitlines()[-1].split(",")
    person = replica.lookup_nik(last[NIK_COL])
    assert person is not None and person["wilayah"] == last[WIL_COL]


def test_a_new_file_becomes_current_and_lookups_answer_from_it(dsn, files, replica):
    a = import_(dsn, files["a"])  # (a no-op if it is already current)
    a_rows = read_lines(files["a"])[1:]
    person = replica.lookup_nik(a_rows[0][NIK_COL])
    assert person is not None and person["snapshot_id"] == a.snapshot_id

    b = import_(dsn, files["b"])
    assert not b.noop and b.snapshot_id != a.snapshot_id
    assert replica.current_snapshot()["id"] == b.snapshot_id
    b_rows = read_lines(files["b"])[1:]
    b_niks = {r[NIK_COL] for r in b_rows}
    head = b_rows[0]
    person = replica.lookup_nik(head[NIK_COL])
    assert person == {
        "nik": head[NIK_COL],
        "kk": head[KK_COL],
        "name": head[NAME_COL],
        "birth_date": head[BIRTH_COL],
        "sex": {"L": "M", "P": "F"}[head[SEX_COL]],
        "wilayah": head[WIL_COL],
        "desil": int(head[DESIL_COL]),
        "programs": [p for p, flag in zip(importer.PROGRAMS, head[7:], strict=True) if flag == "1"],
        "snapshot_id": b.snapshot_id,
    }
    family = replica.lookup_kk(head[KK_COL])
    assert [m["nik"] for m in family] == [r[NIK_COL] for r in b_rows if r[KK_COL] == head[KK_COL]]
    assert len(family) >= 3 and {m["snapshot_id"] for m in family} == {b.snapshot_id}
    only_in_a = next(r[NIK_COL] for r in a_rows if r[NIK_COL] not in b_niks)
    assert replica.lookup_nik(only_in_a) is None
    assert replica.lookup_kk("3325010101200001") == []


def test_only_two_retired_snapshots_keep_their_tables(dsn, files, tmp_path):
    ids = []
    for n in range(4):
        path = tmp_path / f"round{n}.csv"
        generate(path, 300, seed=500 + n)
        ids.append(import_(dsn, path).snapshot_id)
    rows = snapshot_rows(dsn)
    assert rows[ids[3]][0] == "current"
    assert [rows[i][0] for i in ids[1:3]] == ["retired", "retired"]
    assert rows[ids[0]][0] == "dropped"
    assert not table_exists(dsn, rows[ids[0]][1])
    assert all(table_exists(dsn, rows[i][1]) for i in ids[1:])
    assert sum(status == "retired" for status, _ in rows.values()) == 2


def test_too_many_rejects_keep_the_current_snapshot(dsn, files, tmp_path, replica):
    current = import_(dsn, files["c"])
    lines = read_lines(files["a"])
    for index in range(1, 400):
        lines[index][DESIL_COL] = "0"
    bad = tmp_path / "mostly_bad.csv"
    write_lines(bad, lines)
    with pytest.raises(importer.TooManyRejects):
        import_(dsn, bad, max_reject_share=0.05)
    assert replica.current_snapshot()["id"] == current.snapshot_id
    failed = [i for i, (status, _) in snapshot_rows(dsn).items() if status == "failed"]
    assert failed


def test_a_file_with_a_wrong_header_is_refused_before_anything_changes(dsn, tmp_path, replica):
    before = snapshot_rows(dsn)
    path = tmp_path / "wrong.csv"
    path.write_text("NIK,NAMA\n3325052612990001,BUDI\n")
    with pytest.raises(importer.BadImportFile):
        import_(dsn, path)
    assert snapshot_rows(dsn) == before


def test_the_fast_check_and_the_named_reasons_agree(dsn):
    """Every row the fast conjunction refuses gets a named reason, and a valid row none."""
    valid = [
        "3325055205980001",
        "3325051108240001",
        "SARI WAHYUNI",
        "1998-05-12",
        "P",
        "3325052004",
        "1",
        "0",
        "1",
        "1",
        "0",
        "0",
    ]
    cases = [("valid", valid, None)]
    for kind in KINDS[:-1]:
        cases.append((kind, break_row(kind, valid), kind))
    more = {
        "nik_region": [(NIK_COL, "3300055205980001"), (NIK_COL, "3325005205980001")],
        "nik_date": [(NIK_COL, "3325053202980001"), (NIK_COL, "3325057202980001")],
        "kk_region": [(KK_COL, "9925051108240001")],
        "kk_date": [(KK_COL, "3325052902230001"), (KK_COL, "3325051113240001")],
        "kk_serial": [(KK_COL, "3325051108240000")],
        "sex": [(SEX_COL, "W"), (SEX_COL, "")],
        "birth_date": [(BIRTH_COL, "1998/05/12"), (BIRTH_COL, "2027-05-12"), (BIRTH_COL, "")],
        "wilayah": [(WIL_COL, "3325050000"), (WIL_COL, "332505200A")],
        "program_flag": [(PKH_COL + 4, "Y")],
        "nik_format": [(NIK_COL, "3325O55205980001"), (NIK_COL, "")],
    }
    for reason, changes in more.items():
        for col, value in changes:
            row = list(valid)
            row[col] = value
            cases.append((reason, row, reason))
    leap = list(valid)
    leap[NIK_COL], leap[BIRTH_COL] = "3325056902000001", "2000-02-29"
    cases.append(("leap day 2000", leap, None))

    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("CREATE TEMP TABLE probe (LIKE dtks.individuals_template)")
        with conn.cursor().copy(
            "COPY probe (source_line, nik, kk, name, birth_date, sex, wilayah, desil,"
            " pkh, bpnt, pbi_jk, kip, pip) FROM STDIN"
        ) as copy:
            for n, (_, row, _) in enumerate(cases):
                copy.write_row([n, *row])
        got = dict(
            conn.execute(f"SELECT source_line, {importer.reason_sql(TODAY)} FROM probe").fetchall()
        )
    for n, (label, _, reason) in enumerate(cases):
        assert got[n] == reason, label


def test_sql_and_python_agree_on_which_niks_are_valid(dsn):
    """shared.identity.NIK and the importer's SQL accept and refuse the same NIKs."""
    rng = random.Random(9)
    niks = []
    for _ in range(400):
        digits = [rng.choice("0123456789") for _ in range(16)]
        digits[0:2] = rng.choice(["33", "35", "20", "91", "00"])
        digits[8:10] = rng.choice(["01", "02", "12", "13", "00"])
        niks.append("".join(digits))
    with psycopg.connect(dsn) as conn:
        rules = (
            "SELECT n, CASE"
            "  WHEN NOT (octet_length(n) = 16 AND n ~ '^[0-9]+$') THEN false"
            f" WHEN {importer._region_ok('n')} IS NOT TRUE THEN false"
            "  WHEN n LIKE '%0000' THEN false"
            f" ELSE substr(n, 7, 4) IN {importer._DDMM_SEXED} AND (substr(n, 7, 4) NOT IN"
            f"  ('2902', '6902') OR substr(n, 11, 2) IN {importer._LEAP_YY}) END"
            " FROM unnest(%s::text[]) AS n"
        )
        cur = conn.execute(rules.replace("%", "%%").replace("%%s", "%s"), (niks,))
        sql_valid = dict(cur.fetchall())

    def python_valid(nik: str) -> bool:
        try:
            NIK.parse(nik, today=date(2099, 12, 31))  # 2-digit years: any century allowed
        except InvalidNIK:
            return False
        return True

    assert sum(sql_valid.values()) > 10
    for nik in niks:
        assert sql_valid[nik] == python_valid(nik), nik


# --- lookups -----------------------------------------------------------------------------


def test_lookups_refuse_malformed_numbers_before_any_query(replica):
    with pytest.raises(InvalidNIK):
        replica.lookup_nik("12345")
    with pytest.raises(InvalidKK):
        replica.lookup_kk("3325051108240000")


def people(version: str, families: int = 60) -> list[dict]:
    """The same NIKs and KKs in both versions; version B adds a child to every family and
    changes every desil and name, so a mixed answer would show."""
    rows = []
    for f in range(families):
        kec = f"3325{1 + f % 9:02d}"
        kk = f"{kec}010120{f + 1:04d}"  # issued 01-01-2020
        members = [("L", date(1970, 1, 1 + f % 28)), ("P", date(1975, 3, 1 + f % 28))]
        members.append(("L", date(2005, 6, 1 + f % 28)))
        if version == "B":
            members.append(("P", date(2012, 9, 1 + f % 28)))
        for m, (sex, born) in enumerate(members):
            day = born.day + (40 if sex == "P" else 0)
            rows.append(
                {
                    "nik": f"{kec}{day:02d}{born:%m%y}{f + 1:02d}{m + 1:02d}",
                    "kk": kk,
                    "name": f"WARGA {f} {m} VERSI {version}",
                    "birth_date": born,
                    "sex": {"L": "M", "P": "F"}[sex],
                    "wilayah": f"{kec}2001",
                    "desil": 1 if version == "A" else 9,
                    "programs": ["PKH", "KIS"] if version == "A" else [],
                }
            )
    return rows


def test_load_people_makes_exactly_those_people_current(replica):
    sid = replica.load_people(people("A", families=3))
    assert replica.current_snapshot()["id"] == sid
    family = replica.lookup_kk(people("A", families=3)[0]["kk"])
    assert [m["name"] for m in family] == [
        "WARGA 0 0 VERSI A",
        "WARGA 0 1 VERSI A",
        "WARGA 0 2 VERSI A",
    ]
    assert family[0]["programs"] == ["PKH", "PBI_JK"]
    assert replica.load_people(people("A", families=3)) == sid  # same rows: no-op


def test_load_people_with_an_invalid_row_changes_nothing(replica):
    current = replica.current_snapshot()
    rows = people("A", families=2)
    rows[1]["nik"] = rows[1]["nik"][:12] + "0000"
    with pytest.raises(importer.TooManyRejects):
        replica.load_people(rows)
    assert replica.current_snapshot()["id"] == current["id"]


def test_snapshot_swaps_under_concurrent_lookups_never_fail_or_mix(replica):
    versions = {"A": people("A"), "B": people("B")}
    replica.load_people(versions["A"])
    kks = sorted({r["kk"] for r in versions["A"]})
    niks = [r["nik"] for r in versions["A"]]
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: dict[str, set[str]] = {}  # snapshot id -> versions its answers looked like
    lookups = [0]

    def version_of(answer: list[dict]) -> str:
        names = {m["name"].rsplit(" ", 1)[1] for m in answer}
        desil = {m["desil"] for m in answer}
        assert len(names) == 1 and len(desil) == 1, answer  # one version per answer
        version = names.pop()
        assert desil == {1 if version == "A" else 9}
        assert len(answer) == (3 if version == "A" else 4), answer
        return version

    def reader(n: int) -> None:
        rng = random.Random(n)
        try:
            while not stop.is_set():
                family = replica.lookup_kk(rng.choice(kks))
                person = replica.lookup_nik(rng.choice(niks))
                assert family and person is not None
                assert len({m["snapshot_id"] for m in family}) == 1, family
                seen.setdefault(family[0]["snapshot_id"], set()).add(version_of(family))
                version = person["name"][-1]
                assert person["desil"] == (1 if version == "A" else 9), person
                seen.setdefault(person["snapshot_id"], set()).add(version)
                lookups[0] += 2
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    swaps = []
    try:
        for version in ["B", "A", "B", "A", "B"]:
            time.sleep(0.05)
            swaps.append(replica.load_people(versions[version]))
    finally:
        time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not errors, errors[:3]
    assert len(set(swaps)) == 5
    assert lookups[0] > 100
    assert all(len(v) == 1 for v in seen.values()), seen  # each snapshot answers one version
    assert {v for vs in seen.values() for v in vs} == {"A", "B"}


# --- a killed import ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dtks_big") / "million.csv"
    generate(path, 1_000_000, seed=77)
    return path


def test_killing_the_importer_mid_copy_leaves_the_old_snapshot_serving(
    dsn, files, replica, big_file
):
    import_(dsn, files["b"])  # (a no-op if it is already current)
    old_id = replica.current_snapshot()["id"]
    sample = read_lines(files["b"])[1:][::50]

    proc = subprocess.Popen(
        [sys.executable, "-m", "services.dtks_sync.cli", "import", str(big_file)],
        cwd=ROOT,
        env={**os.environ, "SEDULUR_PG_DSN": dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            copying = None
            while time.monotonic() < deadline and proc.poll() is None:
                # (the table is not committed yet, so find the COPY by its statement)
                copying = conn.execute(
                    "SELECT c.tuples_processed FROM pg_stat_progress_copy c"
                    " JOIN pg_stat_activity a ON a.pid = c.pid"
                    " WHERE a.datname = current_database() AND c.command = 'COPY FROM'"
                    "  AND a.query LIKE 'COPY dtks.individuals_%' AND c.tuples_processed > 0"
                ).fetchone()
                if copying:
                    break
                time.sleep(0.01)
            assert copying, "the importer never reached its COPY"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            loading = conn.execute(
                "SELECT id, table_name FROM dtks.snapshots WHERE status = 'loading'"
            ).fetchall()
        assert len(loading) == 1  # registered, never finished

        # the old snapshot answers every lookup, as before
        assert replica.current_snapshot()["id"] == old_id
        for fields in sample:
            person = replica.lookup_nik(fields[NIK_COL])
            assert person is not None and person["snapshot_id"] == old_id
            assert person["name"] == fields[NAME_COL]
    finally:
        if proc.poll() is None:
            proc.kill()

    # the next import cleans up after the killed one and succeeds
    killed_id, killed_table = loading[0]
    nxt = import_(dsn, files["c"])
    rows = snapshot_rows(dsn)
    assert rows[killed_id][0] == "failed"
    assert not table_exists(dsn, killed_table)
    assert rows[nxt.snapshot_id][0] == "current"


# --- CLI ---------------------------------------------------------------------------------


def test_cli_generates_and_imports_and_prints_rows_per_second(dsn, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli.csv"
    generated = runner.invoke(
        app, ["generate", "--people", "2000", "--out", str(out), "--seed", "5"]
    )
    assert generated.exit_code == 0, generated.output
    assert "rows/s" in generated.output
    assert len(out.read_text().splitlines()) == 2001
    imported = runner.invoke(app, ["import", str(out), "--reject-file", str(tmp_path / "r.csv")])
    assert imported.exit_code == 0, imported.output
    said = " ".join(imported.output.split())  # rich wraps lines at the terminal width
    assert "is current: 2,000 loaded, 0 rejected" in said and "rows/s" in said
    again = runner.invoke(app, ["import", str(out)])
    assert again.exit_code == 0 and "nothing to do" in " ".join(again.output.split())
    bad = runner.invoke(app, ["import", str(tmp_path / "missing.csv")])
    assert bad.exit_code == 1 and "dtks_bad_file" in bad.output
