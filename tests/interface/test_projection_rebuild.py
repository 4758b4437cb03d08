"""Projections rebuild from the log: rebuilt == live for every projection of every service,
online (live catch-ups go on during the replay) and with an atomic switch."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from shared.complaints.domainmodel import Complaint, Stage, complaint_id_for
from shared.db import Database, connect
from shared.errors import NotFound
from shared.eventstore import ComplaintsApplication
from shared.projection_rebuild import check, projection_classes, rebuild, select
from tests.helpers import fresh_databases

EXPECTED = {"intake.complaint_status", "intake.operator_activity", "routing.agency_queue",
            "sla.deadlines"}
CATEGORIES = {"kis": "DINKES", "pkh": "DINSOS", "kip": "DISDIK", "rtlh": "DPRKP"}


@pytest.fixture
def live(_servers: dict[str, str]) -> Iterator[tuple[ComplaintsApplication, Database, list[Any]]]:
    for make in fresh_databases(_servers["pg"]):
        settings = make()
        app = ComplaintsApplication(settings)
        db = Database.from_settings(settings, max_size=6)
        yield app, db, select(None, app, db)
        app.close()
        db.close()


def actor(role: str, user: str, desk: str | None = None,
          agency: str | None = None) -> dict[str, Any]:
    return {"user_id": user, "role": role, "desk": desk, "agency": agency}


def day_of_traffic(app: ComplaintsApplication, projections: list[Any], n: int, seed: int,
                   prefix: str = "d") -> int:
    """n complaints through random lifecycles, each step saved and caught up like live."""
    rng = random.Random(seed)
    streams: list[Complaint] = []
    steps = 0
    for i in range(n):
        desk = f"3325{rng.randint(1, 9):02d}"
        category = rng.choice(list(CATEGORIES))
        number = f"3325-251123-{prefix}{i:05d}"
        c = Complaint.register(
            complaint_id=complaint_id_for(f"registration:{number}"), registration_number=number,
            kabupaten="3325", desk=desk, channel="desk", category=category, description="x",
            citizen={"nik": f"3325014507{i:06d}", "name": "N"}, wilayah=desk + "2001",
            priority="normal", confidential=False,
            actor=actor("operator", f"op-{rng.randint(1, 6)}", desk), correlation_id=number)
        streams.append(c)
        app.save(c)
        steps += 1
        for p in projections:
            p.catch_up(c.id)
        # Advance a random earlier complaint one step, so streams interleave in the log.
        target = rng.choice(streams)
        steps += advance(app, target, rng)
        for p in projections:
            p.catch_up(target.id)
    return steps


def advance(app: ComplaintsApplication, c: Complaint, rng: random.Random) -> int:
    verifier = actor("verifier", "ver-1")
    agency = CATEGORIES[c.category]
    if c.stage is Stage.REGISTERED:
        if rng.random() < 0.2:
            c.reject(reason_code="not_in_dtks", reason="r", rule="dtks", dtks_snapshot="s1",
                     actor=verifier, correlation_id="v")
        else:
            c.verify(rule="dtks", dtks_snapshot="s1", reasons=[], actor=verifier,
                     correlation_id="v")
    elif c.stage is Stage.VERIFIED and agency not in c.returned_by:
        c.refer(agency=agency, routing_rule=f"{c.category}-rule", actor=actor("system", "routing"),
                correlation_id="r")
    elif c.stage is Stage.VERIFIED:
        c.refer(agency="DINSOS" if agency != "DINSOS" else "DINKES", routing_rule="manual",
                actor=actor("system", "routing"), correlation_id="r")
    elif c.stage is Stage.REFERRED:
        open_agency = c.open_referrals[0]
        who = actor("agency", f"opd-{open_agency}", agency=open_agency)
        roll = rng.random()
        if roll < 0.2 and not c.returned_by:
            c.return_referral(agency=open_agency, reason="bukan wewenang", actor=who,
                              correlation_id="a")
        elif roll < 0.4 and c.referrals[open_agency] == "referred":
            c.accept_referral(agency=open_agency, actor=who, correlation_id="a")
        else:
            c.resolve(agency=open_agency, outcome="done", actor=who, correlation_id="a")
    else:
        return 0
    app.save(c)
    return 1


def test_the_registry_finds_every_projection_of_every_service():
    assert EXPECTED <= {cls.name for cls in projection_classes()}


def test_unknown_projection_is_a_named_error(live):
    app, db, _ = live
    with pytest.raises(NotFound) as info:
        select(["nope"], app, db)
    assert info.value.code == "unknown_projection"


def test_rebuilt_equals_live_for_every_projection_after_a_day_of_traffic(live):
    app, db, projections = live
    day_of_traffic(app, projections, 150, seed=8)
    assert EXPECTED <= {p.name for p in projections}
    for p in projections:
        report = check(p)
        assert report.ok, report.as_dict()
        assert report.events == app.recorder.max_notification_id()
        before = p.snapshot_rows()
        assert any(before.values()), p.name
        result = rebuild(p)
        assert p.snapshot_rows() == before
        assert result["events"] == report.events


def test_check_names_a_live_row_that_differs_from_the_replay(live):
    app, db, projections = live
    day_of_traffic(app, projections, 20, seed=3)
    status = next(p for p in projections if p.name == "intake.complaint_status")
    db.execute("UPDATE intake.complaint_status SET stage = 'resolved'"
               " WHERE complaint_id = (SELECT complaint_id FROM intake.complaint_status"
               "  WHERE stage <> 'resolved' ORDER BY complaint_id LIMIT 1)")
    report = check(status)
    assert not report.ok
    (table,) = report.tables
    assert table.differing == 1 and len(table.changed) == 1
    assert table.changed[0]["live"]["stage"] == "resolved"
    assert table.changed[0]["rebuilt"]["stage"] != "resolved"


def test_rebuild_while_traffic_continues_then_switch_loses_and_doubles_nothing(live):
    app, db, projections = live
    day_of_traffic(app, projections, 80, seed=11)
    queue = next(p for p in projections if p.name == "routing.agency_queue")
    status = next(p for p in projections if p.name == "intake.complaint_status")
    errors: list[BaseException] = []
    stop = threading.Event()

    def traffic() -> None:
        try:
            i = 0
            while not stop.is_set() or i < 20:
                day_of_traffic(app, projections, 5, seed=100 + i, prefix=f"t{i:03d}")
                i += 1
        except BaseException as exc:  # surfaced in the assertion below
            errors.append(exc)

    writer = threading.Thread(target=traffic)
    writer.start()
    try:
        for _ in range(3):
            rebuild(queue, batch=50)
            rebuild(status, batch=50)
    finally:
        stop.set()
        writer.join(timeout=120)
    assert not errors, errors
    for p in (queue, status):
        report = check(p)
        assert report.ok, report.as_dict()


def test_events_that_arrive_between_replay_and_switch_are_in_the_switched_tables(live):
    """Live catch-ups applied them to the old tables; the switch must catch the shadow up to
    the log, or they would vanish with the old tables while tracking says applied."""
    app, db, projections = live
    day_of_traffic(app, projections, 30, seed=21)
    status = next(p for p in projections if p.name == "intake.complaint_status")
    late = rebuild(status, on_replayed=lambda: day_of_traffic(app, projections, 10, seed=22,
                                                              prefix="late"))
    assert late["caught_up"] >= 10
    report = check(status)
    assert report.ok, report.as_dict()
    assert db.fetchone("SELECT count(*) AS n FROM intake.complaint_status")["n"] == 40


def test_the_switch_keeps_the_live_tables_indexes_and_constraint_names(live):
    app, db, projections = live
    day_of_traffic(app, projections, 10, seed=5)
    queue = next(p for p in projections if p.name == "routing.agency_queue")

    def indexes() -> list[tuple[str, str]]:
        with connect(db.dsn) as conn:
            return conn.execute(
                "SELECT indexname, regexp_replace(indexdef, '^.* USING ', '') FROM pg_indexes"
                " WHERE schemaname = 'routing' ORDER BY 1").fetchall()

    before = indexes()
    rebuild(queue)
    assert indexes() == before
    with connect(db.dsn) as conn:
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%%__rebuild'").fetchone()[0]
    assert leftovers == 0


def test_a_rebuild_with_an_empty_log_leaves_empty_tables(live):
    app, db, projections = live
    for p in projections:
        result = rebuild(p)
        assert result["events"] == 0
        assert not any(p.snapshot_rows().values())

