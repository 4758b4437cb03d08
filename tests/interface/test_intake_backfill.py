"""`sedulur intake backfill FILE.csv`: a kabupaten's paper complaints, good rows registered
once, bad rows listed with line and reason, a re-run registers nothing new."""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app as cli
from shared.db import connect

ROWS = 10_000
HEADER = ["form_number", "registered_on", "desk", "category", "description", "nik", "name",
          "phone"]
# line -> (bad cell, value, expected code); line 1 is the header.
BAD = {
    17: ("nik", "33250145079", "invalid_nik"),
    230: ("nik", "3325013002900001", "invalid_nik"),      # 30 February
    1999: ("category", "unicorn", "unknown_category"),
    4000: ("desk", "99", "invalid_wilayah"),
    5001: ("registered_on", "31/02/2024", "invalid_input"),
    7777: ("description", "", "invalid_input"),
    9000: ("phone", "12345", "invalid_phone"),
    10_001: ("name", "", "invalid_input"),
}
DUPLICATE_FORM_LINE = 8123  # repeats the form number of line 8122


def _nik(rng: random.Random, kec: int) -> str:
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(20_000))
    day = born.day + (40 if rng.random() < 0.5 else 0)
    return f"3325{kec:02d}{day:02d}{born:%m%y}{rng.randrange(1, 10_000):04d}"


def _write(path: Path) -> None:
    rng = random.Random(4)
    cats = ["kis", "pkh", "bpnt", "kip", "rtlh", "adminduk-kk", "lansia", "bencana"]
    today = date.today()
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for i in range(ROWS):
            line = i + 2
            kec = rng.randrange(1, 16)
            row = {
                # Half the forms carry their own number, half are keyed by content.
                "form_number": f"BTG/{2024}/{i:05d}" if i % 2 == 0 else "",
                "registered_on": (today - timedelta(days=rng.randrange(400))).isoformat(),
                "desk": f"3325{kec:02d}",
                "category": rng.choice(cats),
                "description": f"aduan kertas nomor {i}",
                "nik": _nik(rng, kec),
                "name": f"Warga {i}",
                "phone": "" if i % 3 else f"0812{rng.randrange(10**7):07d}",
            }
            if line in BAD:
                cell, value, _ = BAD[line]
                row[cell] = value
            if line == DUPLICATE_FORM_LINE:
                row["form_number"] = f"BTG/2024/{i - 1:05d}"
            out.writerow([row[h] for h in HEADER])


@pytest.fixture(scope="module")
def own_db(sedulur_env):
    """10,000 events would otherwise sit in the session's log for every later test's relay
    to publish and every consumer to project: this module gets a database of its own."""
    import os
    import uuid as _uuid

    from shared.config import Settings
    from shared.migrations import create_database, drop_database, migrate

    name = f"{sedulur_env.pg.dbname}_backfill_{_uuid.uuid4().hex[:6]}"
    dsn = create_database(sedulur_env, name)
    saved = os.environ["SEDULUR_PG_DSN"]
    os.environ["SEDULUR_PG_DSN"] = dsn
    try:
        settings = Settings()
        migrate(settings)
        yield settings
    finally:
        os.environ["SEDULUR_PG_DSN"] = saved
        drop_database(sedulur_env, name)


@pytest.fixture(scope="module")
def event_store(own_db):
    from shared.eventstore import ComplaintsApplication

    app = ComplaintsApplication(own_db)
    yield app
    app.close()


@pytest.fixture(scope="module")
def paper_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("backfill") / "batang-paper.csv"
    _write(path)
    return path


def _events(settings) -> int:
    with connect(settings.pg_dsn) as conn:
        return conn.execute("SELECT count(*) FROM eventstore.sedulur_events"
                            " WHERE topic LIKE '%Registered'").fetchone()[0]


def _run(path: Path, *extra: str) -> dict:
    result = CliRunner().invoke(cli, ["intake", "backfill", str(path), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_backfill_registers_good_rows_once_lists_bad_rows_and_a_rerun_adds_nothing(
    own_db, paper_file, tmp_path
):
    sedulur_env = own_db
    good = ROWS - len(BAD) - 1
    before = _events(sedulur_env)
    errors_csv = tmp_path / "refused.csv"

    first = _run(paper_file, "--errors", str(errors_csv))

    assert first["registered"] == good
    assert first["already_registered"] == 0
    assert _events(sedulur_env) == before + good
    refused = {e["line"]: e for e in first["errors"]}
    assert set(refused) == set(BAD) | {DUPLICATE_FORM_LINE}
    for line, (_cell, _, code) in BAD.items():
        assert refused[line]["code"] == code, (line, refused[line])
        assert refused[line]["reason"]
    assert refused[DUPLICATE_FORM_LINE]["code"] == "duplicate_row"
    assert "8122" in refused[DUPLICATE_FORM_LINE]["reason"]
    with errors_csv.open() as fh:
        assert sorted(int(r["line"]) for r in csv.DictReader(fh)) == sorted(refused)

    second = _run(paper_file, "--batch-size", "700")

    assert second["registered"] == 0
    assert second["already_registered"] == good
    assert _events(sedulur_env) == before + good


def test_backfilled_complaints_carry_the_paper_forms_day_and_the_backfill_channel(
    own_db, event_store, tmp_path
):
    sedulur_env, event_app = own_db, event_store
    from uuid import UUID

    path = tmp_path / "one.csv"
    path.write_text("form_number,registered_on,desk,category,description,nik,name\n"
                    "X-1,2025-03-04,332501,pkh,PKH tidak cair,3325014507900031,Sri\n")
    _run(path)
    with connect(sedulur_env.pg_dsn) as conn:
        [cid] = conn.execute(
            "SELECT originator_id FROM eventstore.sedulur_events ORDER BY notification_id"
            " DESC LIMIT 1").fetchone()
    [event] = event_app.stored_events(UUID(str(cid)))
    assert event.registration_number.startswith("3325-250304-")
    assert event.channel == "backfill"


def test_a_batch_that_conflicts_falls_back_to_one_by_one(own_db, tmp_path):
    sedulur_env = own_db
    """Someone registers one key of a batch meanwhile: the rest of the batch still lands."""
    from services.intake.application import Intake
    from services.intake.channels import read_backfill
    from services.intake.dependencies import build

    path = tmp_path / "race.csv"
    path.write_text("form_number,desk,category,description,nik,name\n" + "".join(
        f"R-{i},332501,kis,x,33250145079{i:05d},A\n" for i in range(1, 6)))
    items = list(read_backfill(path))
    ctx = build(sedulur_env, project_after_save=False)
    try:
        ctx.app.register_batch(items[2:3], actor={"user_id": "a", "role": "admin"},
                               correlation_id="c")

        from services.intake.application import NoLookups

        app: Intake = ctx.app
        app.lookups = NoLookups()  # the batch does not see the row registered meanwhile
        outcome = app.register_batch(items, actor={"user_id": "a", "role": "admin"},
                                     correlation_id="c")
        from services.intake.adapters import PgIntakeLookups

        stored = PgIntakeLookups(ctx.db).existing(Intake.backfill_id(i) for i in items)
        assert len(stored) == 5
    finally:
        ctx.close()
    assert outcome.batches_split == 1
    assert len(outcome.registered) == 4
    assert [i.key for i in outcome.already] == ["form:R-3"]
