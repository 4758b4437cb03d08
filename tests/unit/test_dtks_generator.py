"""The synthetic DTKS generator writes rows that every validator accepts, in families."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from services.dtks_sync.generator import COLUMNS, REFERENCE_DATE, generate
from shared.errors import InvalidWilayah
from shared.identity import KK, NIK, WilayahCode

PEOPLE = 10_000


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert tuple(header) == COLUMNS
        rows = []
        for fields in reader:
            assert len(fields) == len(COLUMNS), fields
            rows.append(dict(zip(COLUMNS, fields, strict=True)))
    return rows


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    path = tmp_path_factory.mktemp("dtks") / "people.csv"
    result = generate(path, PEOPLE, seed=42, kabupaten="3325")
    assert result.rows == PEOPLE
    return path, read_rows(path)


def test_every_row_passes_the_nik_kk_and_wilayah_validators(generated):
    _, rows = generated
    assert len(rows) == PEOPLE
    for row in rows:
        nik = NIK.parse(row["NIK"], today=REFERENCE_DATE)
        kk = KK.parse(row["NO_KK"], today=REFERENCE_DATE)
        desa = WilayahCode.parse(row["KODE_WILAYAH"])
        born = date.fromisoformat(row["TGL_LAHIR"])
        assert nik.birth_date == born, row  # DDMMYY of the NIK is the birth date
        assert nik.sex == {"L": "M", "P": "F"}[row["JNS_KEL"]], row  # women's day + 40
        assert nik.kecamatan_code == desa.kecamatan, row  # NIK issued in their kecamatan
        assert desa.level == "desa" and desa.kabupaten == "3325"
        assert kk.kecamatan_code == desa.kecamatan
        assert born <= REFERENCE_DATE and kk.issue_date <= REFERENCE_DATE
        assert row["NAMA"].strip()
        assert 1 <= int(row["DESIL"]) <= 10
        assert {row[p] for p in ("PKH", "BPNT", "PBI_JK", "KIP", "PIP")} <= {"0", "1"}


def test_every_nik_is_unique(generated):
    _, rows = generated
    counts = Counter(row["NIK"] for row in rows)
    assert counts.most_common(1)[0][1] == 1


def test_families_share_a_kk_a_home_a_desil_and_household_programs(generated):
    _, rows = generated
    families: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        families[row["NO_KK"]].append(row)
    sizes = Counter(len(members) for members in families.values())
    # 3-5 members; only the very last family may be cut short to hit the row count
    assert set(sizes) <= {1, 2, 3, 4, 5}
    assert sizes[1] + sizes[2] <= 1
    assert {3, 4, 5} <= set(sizes)
    for members in families.values():
        for key in ("KODE_WILAYAH", "DESIL", "PKH", "BPNT", "PBI_JK"):
            assert len({m[key] for m in members}) == 1, (key, members)
        head_born = date.fromisoformat(members[0]["TGL_LAHIR"])
        issued = KK.parse(members[0]["NO_KK"], today=REFERENCE_DATE).issue_date
        assert issued.year - head_born.year >= 18  # issued to an adult head


def test_family_rows_are_contiguous_in_the_file(generated):
    _, rows = generated
    seen: set[str] = set()
    previous = None
    for row in rows:
        if row["NO_KK"] != previous:
            assert row["NO_KK"] not in seen
            seen.add(row["NO_KK"])
            previous = row["NO_KK"]


def test_desil_skews_to_the_poor_and_programs_follow_desil(generated):
    _, rows = generated
    desil = Counter(int(r["DESIL"]) for r in rows)
    assert desil[1] + desil[2] > desil[9] + desil[10]

    def share(program: str, deciles: range) -> float:
        group = [r for r in rows if int(r["DESIL"]) in deciles]
        return sum(r[program] == "1" for r in group) / len(group)

    for program in ("PKH", "BPNT", "PBI_JK"):
        assert share(program, range(1, 3)) > 2 * share(program, range(7, 11)) + 0.05
    assert share("PKH", range(8, 11)) == 0.0
    pupils = [r for r in rows if r["KIP"] == "1" or r["PIP"] == "1"]  # KIP/PIP only for school age
    for r in pupils:
        age = (REFERENCE_DATE - date.fromisoformat(r["TGL_LAHIR"])).days / 365.25
        assert 6 <= age < 22
        assert r["KIP"] == "1"  # PIP comes with a KIP card


def test_names_come_from_faker_id_id_and_titles_are_quoted(generated):
    path, rows = generated
    names = Counter(r["NAMA"] for r in rows)
    assert len(names) > PEOPLE // 4  # combined pools, not a handful of names
    assert all(n == n.upper() for n in names)
    titled = [n for n in names if "," in n]
    assert titled, "some adults carry an academic title"
    raw = path.read_text(encoding="utf-8")
    for name in titled:
        assert f'"{name}"' in raw


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    generate(a, 2_000, seed=7)
    generate(b, 2_000, seed=7)
    generate(c, 2_000, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_another_kabupaten_gets_its_own_codes(tmp_path):
    path = tmp_path / "kota.csv"
    generate(path, 500, seed=1, kabupaten="3374")
    rows = read_rows(path)
    assert {r["KODE_WILAYAH"][:4] for r in rows} == {"3374"}
    assert {r["NIK"][:4] for r in rows} == {"3374"}
    assert all(r["KODE_WILAYAH"][6] == "1" for r in rows)  # a kota has kelurahan 1xxx


@pytest.mark.parametrize("kabupaten", ["33", "332501", "9925", "3300"])
def test_a_code_that_is_not_a_kabupaten_is_refused(tmp_path, kabupaten):
    with pytest.raises(InvalidWilayah):
        generate(tmp_path / "x.csv", 10, seed=1, kabupaten=kabupaten)


@pytest.mark.parametrize("people", [0, 1, 2, 7, 1_001])
def test_writes_exactly_the_number_of_people_asked_for(tmp_path, people):
    path = tmp_path / "n.csv"
    assert generate(path, people, seed=people).rows == people
    assert len(read_rows(path)) == people


def test_progress_reports_rows_written(tmp_path):
    seen: list[tuple[int, int]] = []
    generate(
        tmp_path / "p.csv", 120_000, seed=3, progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (120_000, 120_000)
    assert len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
