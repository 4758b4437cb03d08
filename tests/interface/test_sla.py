"""The sla service against the real event store and broker: deadlines from events by policy,
the durable timer (restart, two instances), pause/resume over HTTP, the board.

Policies here run in seconds (SEDULUR_SLA_POLICY_FILE with fractional hours) so real clocks
breach within a test; waits poll until a condition, never sleep a fixed time.
"""

from __future__ import annotations

import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from services.sla.adapters import DeadlineStore
from services.sla.application import Sla, Watchdog
from services.sla.dependencies import build
from services.sla.domainmodel import PolicySet, policy_version
from services.sla.policies import load_policy
from services.sla.projections import Deadlines
from services.sla.service import SlaService
from shared.complaints.domainmodel import Complaint
from shared.db import Database
from shared.shell import system_actor
from tests.helpers import (
    AUDITOR,
    OPERATOR,
    actor_headers,
    relay_running,
    running_service,
    wait_until,
)

#: generous waits for timer effects: other test runs share the 2 CPUs and the database
SLOW = 90
ACTOR = {"user_id": "op-test", "role": "operator", "desk": "332501"}


def seconds_policy(tmp_path: Path, *, verification: float, overall: float = 3600,
                   name: str = "test-seconds") -> Path:
    """A policy whose clocks run for the given seconds (as fractional clock hours)."""
    path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(
        f"name: {name}\n"
        "rules:\n"
        "  - stage: verification\n"
        "    starts_on: registered\n"
        "    stops_on: [verified, rejected]\n"
        f"    duration: {verification / 3600!r}\n"
        "    unit: hours\n"
        "  - stage: overall\n"
        "    starts_on: registered\n"
        "    stops_on: [resolved, rejected]\n"
        f"    duration: {overall / 3600!r}\n"
        "    unit: hours\n"
    )
    return path


def register(app: Any, **overrides: Any) -> uuid.UUID:
    cid = uuid.uuid4()
    fields: dict[str, Any] = {
        "registration_number": f"3325-TEST-{cid.hex[:8]}",
        "kabupaten": "3325",
        "desk": "332501",
        "channel": "desk",
        "category": "kis",
        "description": "Kartu KIS tidak aktif",
        "citizen": {"nik": "3325014507900001", "name": "Siti"},
        "wilayah": "3325012001",
        "priority": "normal",
        "confidential": False,
        "actor": ACTOR,
        "correlation_id": "test",
    }
    fields.update(overrides)
    app.save(Complaint.register(complaint_id=cid, **fields))
    return cid


def act(app: Any, cid: uuid.UUID, command: str, **kwargs: Any) -> None:
    complaint = app.get_complaint(cid)
    getattr(complaint, command)(actor=ACTOR, correlation_id="test", **kwargs)
    app.save(complaint)


def verify(app: Any, cid: uuid.UUID) -> None:
    act(app, cid, "verify", rule="test", dtks_snapshot="s", reasons=[])


def resolve_fully(app: Any, cid: uuid.UUID) -> None:
    verify(app, cid)
    act(app, cid, "refer", agency="DINKES", routing_rule="test")
    act(app, cid, "resolve", agency="DINKES", outcome="selesai")


def types(app: Any, cid: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in app.stored_events(cid)]


def sla_record(app: Any, cid: uuid.UUID) -> Counter[tuple[str, ...]]:
    out: Counter[tuple[str, ...]] = Counter()
    for e in app.stored_events(cid):
        if type(e).__name__ == "SlaBreached":
            out[("SlaBreached", e.stage)] += 1
        elif type(e).__name__ == "Escalated":
            out[("Escalated", e.stage, e.level)] += 1
    return out


def row(db: Database, cid: uuid.UUID, stage: str) -> dict[str, Any] | None:
    return db.fetchone("SELECT * FROM sla.deadlines WHERE complaint_id = %s AND stage = %s",
                       (cid, stage))


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def db(sedulur_env):
    database = Database.from_settings(sedulur_env)
    yield database
    database.close()


@pytest.fixture
def projection_for(event_app, db):
    def make(policy_file: Path) -> Deadlines:
        return Deadlines(event_app, db, PolicySet.from_env(
            {"SEDULUR_SLA_POLICY_FILE": str(policy_file)}))
    return make


def sla_config(policy_file: Path, tick: float = 0.1) -> dict[str, str]:
    return {"SEDULUR_SLA_POLICY_FILE": str(policy_file), "SEDULUR_SLA_TIMER_SECONDS": str(tick)}


# --- deadlines from events -------------------------------------------------------------------


def test_deadline_rows_carry_the_policy_its_version_and_rule(event_app, db, sedulur_env):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "lapor-3-5"})
    try:
        cid = register(event_app)
        ctx.deadlines.catch_up(cid)
        rows = {r["stage"]: r for r in ctx.store.for_complaint(cid)}
    finally:
        ctx.close()
    assert set(rows) == {"verification", "referral", "overall"}
    lapor = ctx.policies.default
    for stage, r in rows.items():
        assert r["policy"] == "lapor-3-5"
        assert r["policy_version"] == policy_version(lapor)
        assert r["rule"]["stage"] == stage and r["rule"]["unit"] == "working_days"
        assert r["tz"] == "Asia/Jakarta" and r["kecamatan"] == "332501"
        assert r["started_at"] < r["at_risk_at"] < r["due_at"]
    # 3 working days from the registration instant (same local time, weekends skipped)
    assert rows["verification"]["due_at"] - rows["verification"]["started_at"] >= timedelta(days=3)


def test_local_holiday_of_the_kabupaten_moves_its_working_day_deadline(event_app, sedulur_env,
                                                                       tmp_path):
    from services.sla.calendar import for_region, national_calendar
    from services.sla.domainmodel import start_clock

    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    holiday = national_calendar().next_working_day(today)
    local = tmp_path / "local.yaml"
    local.write_text(f'"3325":\n  - date: {holiday.isoformat()}\n    name: Hari Jadi Batang\n')
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "lapor-3-5",
                              "SEDULUR_SLA_LOCAL_HOLIDAYS_FILE": str(local)})
    try:
        batang = register(event_app)
        semarang = register(event_app, kabupaten="3374", desk="337401", wilayah="3374012001")
        for cid in (batang, semarang):
            ctx.deadlines.catch_up(cid)
        b = {r["stage"]: r for r in ctx.store.for_complaint(batang)}["verification"]
        s = {r["stage"]: r for r in ctx.store.for_complaint(semarang)}["verification"]
    finally:
        ctx.close()
    rule = ctx.policies.default.rule_for("verification")
    assert b["calendar"].startswith("3325:") and s["calendar"] == "national"
    assert b["due_at"] == start_clock(rule, b["started_at"], "Asia/Jakarta",
                                      for_region("3325", [(holiday, "x")])).due_at
    assert s["due_at"] == start_clock(rule, s["started_at"], "Asia/Jakarta").due_at
    assert b["due_at"] - b["started_at"] > s["due_at"] - s["started_at"]


def test_policy_per_kabupaten_overrides_the_default(event_app, sedulur_env):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "default-24h",
                              "SEDULUR_SLA_POLICY_BY_KABUPATEN": "3374=lapor-3-5"})
    try:
        batang, semarang = register(event_app), register(event_app, kabupaten="3374",
                                                         desk="337401", wilayah="3374012001")
        ctx.deadlines.catch_up(batang)
        ctx.deadlines.catch_up(semarang)
        policies = {r["policy"] for r in ctx.store.for_complaint(batang)}
        assert policies == {"default-24h"}
        assert {r["policy"] for r in ctx.store.for_complaint(semarang)} == {"lapor-3-5"}
    finally:
        ctx.close()


def test_applying_the_same_events_twice_changes_nothing(event_app, db, projection_for, tmp_path):
    deadlines = projection_for(seconds_policy(tmp_path, verification=3600))
    cid = register(event_app)
    verify(event_app, cid)
    assert deadlines.catch_up(cid) == 2
    before = db.fetchall("SELECT * FROM sla.deadlines WHERE complaint_id = %s ORDER BY stage",
                         (cid,))
    assert deadlines.catch_up(cid) == 0
    assert db.fetchall("SELECT * FROM sla.deadlines WHERE complaint_id = %s ORDER BY stage",
                       (cid,)) == before
    assert [r["closed_at"] is not None for r in before] == [False, True]  # overall, verification


def test_resolution_closes_every_running_clock(event_app, db, sedulur_env):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "default-24h"})
    try:
        cid = register(event_app)
        resolve_fully(event_app, cid)
        ctx.deadlines.catch_up(cid)
        rows = ctx.store.for_complaint(cid)
    finally:
        ctx.close()
    # acceptance stops on accepted/returned by the policy; the resolution still ends it
    assert {r["stage"] for r in rows} == {"verification", "referral", "acceptance", "overall"}
    assert all(r["closed_at"] is not None for r in rows)
    assert {r["stage"]: r["agency"] for r in rows}["acceptance"] == "DINKES"


def test_referral_returned_and_routed_again_restarts_the_acceptance_clock(event_app,
                                                                           sedulur_env):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "default-24h"})
    try:
        cid = register(event_app)
        verify(event_app, cid)
        act(event_app, cid, "refer", agency="DINSOS", routing_rule="test")
        ctx.deadlines.catch_up(cid)
        first = {r["stage"]: r for r in ctx.store.for_complaint(cid)}["acceptance"]
        act(event_app, cid, "return_referral", agency="DINSOS", reason="bukan wewenang")
        ctx.deadlines.catch_up(cid)
        returned = {r["stage"]: r for r in ctx.store.for_complaint(cid)}["acceptance"]
        act(event_app, cid, "refer", agency="DINKES", routing_rule="test")
        ctx.deadlines.catch_up(cid)
        again = {r["stage"]: r for r in ctx.store.for_complaint(cid)}["acceptance"]
    finally:
        ctx.close()
    assert first["agency"] == "DINSOS" and first["closed_at"] is None
    assert returned["closed_at"] is not None and returned["state"] == "met"
    assert again["agency"] == "DINKES" and again["closed_at"] is None
    assert again["started_at"] > returned["closed_at"]
    assert again["due_at"] - again["started_at"] == timedelta(hours=24)


# --- the durable timer -------------------------------------------------------------------------


def test_stage_that_breaches_while_sla_is_down_is_flagged_once_after_restart(
    topology_declared, event_app, db, projection_for, tmp_path
):
    policy = seconds_policy(tmp_path, verification=2)
    cid = register(event_app)
    with running_service(SlaService, topology_declared, **sla_config(policy)):
        projection_for(policy).catch_up(cid)  # what the relay would have delivered
        assert row(db, cid, "verification")["breached_at"] is None
    due = row(db, cid, "verification")["due_at"]
    wait_until(lambda: now() > due + timedelta(seconds=1), message="deadline passed while down")
    assert "SlaBreached" not in types(event_app, cid)

    with running_service(SlaService, topology_declared, **sla_config(policy)):
        wait_until(lambda: sla_record(event_app, cid)[("SlaBreached", "verification")],
                   message="breach recorded after restart", timeout=SLOW)
        # the second level fires one stage budget later (2 s): then one more complaint
        # proves the timer kept ticking after both
        wait_until(lambda: sla_record(event_app, cid)[("Escalated", "verification",
                                                        "kabupaten")],
                   message="kabupaten", timeout=SLOW)
        later = register(event_app)
        projection_for(policy).catch_up(later)
        wait_until(lambda: "SlaBreached" in types(event_app, later), message="later breach",
                   timeout=SLOW)

    assert sla_record(event_app, cid) == {
        ("SlaBreached", "verification"): 1,
        ("Escalated", "verification", "dinsos_head"): 1,
        ("Escalated", "verification", "kabupaten"): 1,
    }
    [breach] = [e for e in event_app.stored_events(cid) if type(e).__name__ == "SlaBreached"]
    assert breach.actor["user_id"] == "system:sla" and breach.policy == "test-seconds"
    assert breach.due_at == row(db, cid, "verification")["due_at"].isoformat()
    flagged = row(db, cid, "verification")
    assert flagged["breached_at"] is not None and flagged["escalation_level"] == 2
    assert flagged["closed_at"] is None and flagged["at_risk_flagged_at"] is not None


def test_two_sla_instances_never_double_flag(topology_declared, event_app, db, projection_for,
                                             tmp_path):
    policy = seconds_policy(tmp_path, verification=1)
    deadlines = projection_for(policy)
    ids = [register(event_app) for _ in range(12)]
    for cid in ids:
        deadlines.catch_up(cid)
    with ExitStack() as stack:
        for _ in range(2):
            stack.enter_context(running_service(SlaService, topology_declared,
                                                **sla_config(policy, tick=0.05)))
        wait_until(lambda: all(sla_record(event_app, c)[("Escalated", "verification",
                                                          "kabupaten")] for c in ids),
                   timeout=SLOW, message="every complaint escalated to the kabupaten")
        sentinel = register(event_app)
        deadlines.catch_up(sentinel)
        wait_until(lambda: "Escalated" in types(event_app, sentinel), message="later tick",
                   timeout=SLOW)

    for cid in ids:
        assert sla_record(event_app, cid) == {
            ("SlaBreached", "verification"): 1,
            ("Escalated", "verification", "dinsos_head"): 1,
            ("Escalated", "verification", "kabupaten"): 1,
        }, cid
        assert row(db, cid, "verification")["escalation_level"] == 2


def test_complaint_resolved_one_second_before_its_deadline_never_breaches(
    topology_declared, event_app, db, projection_for, tmp_path
):
    policy = seconds_policy(tmp_path, verification=3600, overall=3)
    deadlines = projection_for(policy)
    on_time, late = register(event_app), register(event_app)
    deadlines.catch_up(on_time)
    deadlines.catch_up(late)
    due = row(db, on_time, "overall")["due_at"]
    verify(event_app, on_time)
    act(event_app, on_time, "refer", agency="DINKES", routing_rule="test")
    with running_service(SlaService, topology_declared, **sla_config(policy, tick=0.05)):
        wait_until(lambda: now() >= due - timedelta(seconds=1), interval=0.01,
                   message="one second before the deadline")
        # no relay: the projection has not seen this when the deadline passes
        act(event_app, on_time, "resolve", agency="DINKES", outcome="selesai")
        wait_until(lambda: "SlaBreached" in types(event_app, late),
                   message="the unresolved twin breaches (the timer ran past the deadline)",
                   timeout=SLOW)
    resolved_at = event_app.stored_events(on_time)[-1].timestamp
    assert resolved_at < due
    assert "SlaBreached" not in types(event_app, on_time)
    deadlines.catch_up(on_time)
    closed = row(db, on_time, "overall")
    assert closed["closed_at"] == resolved_at and closed["breached_at"] is None


# --- pause / resume over HTTP ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sla_url(topology_declared, tmp_path_factory):
    policy = seconds_policy(tmp_path_factory.mktemp("sla"), verification=3600, overall=7200)
    with running_service(SlaService, topology_declared, **sla_config(policy, tick=0.2)) as url:
        yield url


def test_pause_and_resume_move_the_deadline_by_the_paused_time(sla_url, topology_declared,
                                                               event_app, db):
    cid = register(event_app)
    with relay_running(topology_declared):
        wait_until(lambda: row(db, cid, "verification"), message="deadline recorded")
        before = row(db, cid, "verification")
        resp = requests.post(f"{sla_url}/complaints/{cid}/pause",
                             json={"reason": "menunggu fotokopi KK"}, headers=OPERATOR,
                             timeout=10)
        assert resp.status_code == 200, resp.text
        wait_until(lambda: row(db, cid, "verification")["paused_at"], message="paused")
        resp = requests.post(f"{sla_url}/complaints/{cid}/resume", json={},
                             headers=OPERATOR, timeout=10)
        assert resp.status_code == 200, resp.text
        wait_until(lambda: row(db, cid, "verification")["paused_at"] is None
                   and row(db, cid, "verification")["paused_seconds"] > 0, message="resumed")
    paused, resumed = [e for e in event_app.stored_events(cid)
                       if type(e).__name__ in ("ClockPaused", "ClockResumed")]
    after = row(db, cid, "verification")
    assert after["due_at"] - before["due_at"] == resumed.timestamp - paused.timestamp
    assert after["at_risk_at"] - before["at_risk_at"] == resumed.timestamp - paused.timestamp
    assert paused.reason == "menunggu fotokopi KK" and paused.actor["user_id"] == "op-test"
    resp = requests.get(f"{sla_url}/complaints/{cid}/deadlines",
                        headers=AUDITOR, timeout=10)
    assert {d["stage"]: d["state"] for d in resp.json()["deadlines"]} == {
        "verification": "on_track", "overall": "on_track"}


def test_pausing_twice_is_a_409_and_appends_nothing(sla_url, event_app):
    cid = register(event_app)
    first = requests.post(f"{sla_url}/complaints/{cid}/pause", json={"reason": "tunda KK"},
                          headers=OPERATOR, timeout=10)
    assert first.status_code == 200
    second = requests.post(f"{sla_url}/complaints/{cid}/pause", json={"reason": "tunda KK"},
                           headers=OPERATOR, timeout=10)
    assert second.status_code == 409 and second.json()["error"]["code"] == "wrong_stage"
    assert types(event_app, cid) == ["Registered", "ClockPaused"]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("pause", {}, "operator", 400, "missing_field"),
        ("pause", {"reason": "tunda"}, None, 401, "unauthenticated"),
        ("resume", {}, "operator", 409, "wrong_stage"),
    ],
    ids=["no-reason", "no-actor", "resume-unpaused"],
)
def test_bad_pause_requests_are_named_errors(sla_url, event_app, path, body, headers, status,
                                             code):
    cid = register(event_app)
    resp = requests.post(f"{sla_url}/complaints/{cid}/{path}", json=body,
                         headers=OPERATOR if headers else {}, timeout=10)
    assert resp.status_code == status and resp.json()["error"]["code"] == code
    assert types(event_app, cid) == ["Registered"]


def test_pausing_an_unknown_complaint_is_a_404(sla_url):
    resp = requests.post(f"{sla_url}/complaints/{uuid.uuid4()}/pause",
                         json={"reason": "tunda KK"}, headers=OPERATOR, timeout=10)
    assert resp.status_code == 404


# --- the board ---------------------------------------------------------------------------------


def test_board_counts_open_overdue_and_compliance_by_stage(sla_url, event_app, db, tmp_path,
                                                           projection_for):
    deadlines = projection_for(seconds_policy(tmp_path, verification=3600, overall=7200))
    in_time = register(event_app, kabupaten="9101", desk="910101", wilayah="9101012001")
    verify(event_app, in_time)
    waiting = register(event_app, kabupaten="9101", desk="910102", wilayah="9101022001")
    for cid in (in_time, waiting):
        deadlines.catch_up(cid)
    resp = requests.get(f"{sla_url}/board", headers=AUDITOR,
                        params={"by": "kecamatan"}, timeout=10)
    assert resp.status_code == 200, resp.text
    rows = {r["key"]: r for r in resp.json()["rows"]}
    assert rows["910101"]["closed"] == 1 and rows["910101"]["compliance_pct"] == 100.0
    assert rows["910101"]["open"] == 1  # its overall clock
    assert rows["910102"]["open"] == 2 and rows["910102"]["overdue"] == 0
    assert row(db, in_time, "verification")["tz"] == "Asia/Jayapura"

    resp = requests.get(f"{sla_url}/board/compliance", headers=AUDITOR,
                        params={"by": "stage", "period": "day", "tz": "Asia/Jayapura"},
                        timeout=10)
    assert resp.status_code == 200
    assert any(r["key"] == "verification" and r["closed_in_time"] >= 1
               for r in resp.json()["rows"])


def test_board_shows_each_role_only_its_own_area(sla_url, event_app, projection_for,
                                                 tmp_path):
    deadlines = projection_for(seconds_policy(tmp_path, verification=3600, overall=7200))
    mine = register(event_app, kabupaten="9102", desk="910201", wilayah="9102012001")
    other = register(event_app, kabupaten="9102", desk="910202", wilayah="9102022001")
    for cid in (mine, other):
        deadlines.catch_up(cid)

    def keys(headers: dict[str, str], path: str = "/board") -> set[str]:
        resp = requests.get(f"{sla_url}{path}", headers=headers,
                            params={"by": "kecamatan"}, timeout=10)
        assert resp.status_code == 200, resp.text
        if path == "/deadlines/open":
            return {d["kecamatan"] for d in resp.json()["deadlines"]}
        return {r["key"] for r in resp.json()["rows"]}

    supervisor = actor_headers("spv-910201", "supervisor", area="910201")
    assert keys(supervisor) == {"910201"}
    assert keys(supervisor, "/deadlines/open") == {"910201"}
    verifier = actor_headers("ver-9102", "verifier", kabupaten="9102")
    assert {"910201", "910202"} <= keys(verifier)
    assert all(k.startswith("9102") for k in keys(verifier))
    elsewhere = actor_headers("ver-3325", "verifier", kabupaten="3325")
    assert not {"910201", "910202"} & keys(elsewhere)
    operator = actor_headers("op-910201", "operator", desk="910201")
    assert requests.get(f"{sla_url}/board", headers=operator, timeout=10).status_code == 403


def test_board_refuses_an_unknown_dimension(sla_url):
    resp = requests.get(f"{sla_url}/board", headers=AUDITOR,
                        params={"by": "desa"}, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"]["field"] == "by"


def test_metrics_expose_sla_gauges_and_time_to_resolve(sla_url):
    def scrape() -> str:
        text = requests.get(f"{sla_url}/metrics", timeout=10).text
        return text if 'sedulur_sla_open_clocks{stage="verification"}' in text else ""

    text = wait_until(scrape, message="the timer set the per-stage gauges")
    assert 'sedulur_sla_at_risk_clocks{stage="verification"}' in text
    assert 'sedulur_sla_breached_open_clocks{stage="verification"}' in text
    assert "sedulur_sla_time_to_resolve_seconds_bucket" in text


# --- rebuild == live ---------------------------------------------------------------------------


def test_rebuilding_the_deadlines_gives_the_rows_the_live_projection_wrote(
    event_app, db, projection_for, tmp_path
):
    deadlines = projection_for(seconds_policy(tmp_path, verification=3600, overall=7200))
    a, b, c = register(event_app), register(event_app), register(event_app)
    resolve_fully(event_app, a)
    sla = Sla(event_app.settings)
    try:
        sla.pause(b, reason="tunda KK", actor=ACTOR, correlation_id="t")
        sla.resume(b, actor=ACTOR, correlation_id="t")
        assert sla.breach(c, stage="verification", step=0, policy="test-seconds", due_at=now(),
                          expected_version=1, actor=ACTOR, correlation_id="t") == "appended"
    finally:
        sla.close()
    columns = ("complaint_id, stage, policy, policy_version, rule, calendar, started_at,"
               " due_at, at_risk_at, closed_at, paused_at, paused_seconds, breached_at,"
               " escalation_level, kecamatan, agency")

    def mine() -> list[dict[str, Any]]:
        return db.fetchall(f"SELECT {columns} FROM sla.deadlines WHERE complaint_id = ANY(%s)"
                           " ORDER BY 1, 2", ([a, b, c],))

    for cid in (a, b, c):
        deadlines.catch_up(cid)
    live = mine()
    assert len(live) == 6 and {r["policy"] for r in live} == {"test-seconds"}
    assert row(db, b, "verification")["paused_seconds"] > 0
    breached = row(db, c, "verification")
    assert breached["breached_at"] == event_app.stored_events(c)[-2].timestamp  # SlaBreached
    assert breached["escalation_level"] == 1  # step 0: SlaBreached + Escalated(dinsos_head)
    deadlines.rebuild()
    assert mine() == live


def test_policy_file_override_is_what_the_service_loads(tmp_path):
    path = seconds_policy(tmp_path, verification=5)
    policies = PolicySet.from_env({"SEDULUR_SLA_POLICY_FILE": str(path)})
    assert policies.default == load_policy(path)


def test_cli_tick_and_board_run_against_the_database(sedulur_env):
    from typer.testing import CliRunner

    from services.sla.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["tick"])
    assert result.exit_code == 0, result.output
    assert "at risk flagged:" in result.output
    result = runner.invoke(app, ["board", "--by", "kecamatan"])
    assert result.exit_code == 0, result.output
    assert isinstance(__import__("json").loads(result.output), list)


# --- crash points of the timer (one pass at a chosen instant, no servers) ---------------------


class OnlyThese(DeadlineStore):
    """The real store, its scan limited to this test's complaints (the database is shared)."""

    def __init__(self, db: Database, ids: set[uuid.UUID], fail_marks: int = 0) -> None:
        super().__init__(db)
        self.ids = ids
        self.fail_marks = fail_marks

    def overdue(self, now: datetime, steps: int, limit: int) -> list[tuple[uuid.UUID, str]]:
        return [r for r in super().overdue(now, steps, 10_000) if r[0] in self.ids]

    def flag_at_risk(self, now: datetime) -> list[str]:
        return []

    @contextmanager
    def claim(self, complaint_id, stage, now, steps):  # type: ignore[no-untyped-def]
        with super().claim(complaint_id, stage, now, steps) as row:
            if row is not None and self.fail_marks:
                self.fail_marks -= 1

                def broken(_now: datetime) -> None:
                    raise RuntimeError("connection lost while marking")

                row.mark = broken  # type: ignore[method-assign]
            yield row


def watchdog_at(ctx: Any, store: DeadlineStore, at: datetime) -> Watchdog:
    return Watchdog(ctx.app, store, ctx.deadlines.catch_up, actor=system_actor("sla"),
                    clock=lambda: at)


def test_append_succeeded_but_mark_failed_is_marked_next_pass_without_a_second_breach(
    event_app, db, sedulur_env
):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "default-24h"})
    try:
        cid = register(event_app)
        ctx.deadlines.catch_up(cid)
        due = row(db, cid, "verification")["due_at"]
        store = OnlyThese(db, {cid}, fail_marks=1)
        first = watchdog_at(ctx, store, due + timedelta(minutes=1)).tick()
        assert [o[-1] for o in first] == ["failed"]  # the mark raised after the append
        assert sla_record(event_app, cid) == {("SlaBreached", "verification"): 1,
                                              ("Escalated", "verification", "dinsos_head"): 1}
        assert row(db, cid, "verification")["escalation_level"] == 0  # rolled back

        watchdog_at(ctx, store, due + timedelta(minutes=2)).tick()
        assert sla_record(event_app, cid) == {("SlaBreached", "verification"): 1,
                                              ("Escalated", "verification", "dinsos_head"): 1}
        assert row(db, cid, "verification")["escalation_level"] == 1
        assert row(db, cid, "verification")["breached_at"] is not None
    finally:
        ctx.close()


def test_escalation_climbs_one_level_per_stage_budget_and_stops_at_the_top(
    event_app, db, sedulur_env
):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "default-24h"})
    try:
        cid = register(event_app)
        ctx.deadlines.catch_up(cid)
        due = row(db, cid, "verification")["due_at"]
        store = OnlyThese(db, {cid})
        levels = []
        for hours in (1, 23, 25, 100):
            watchdog_at(ctx, store, due + timedelta(hours=hours)).tick()
            levels.append(row(db, cid, "verification")["escalation_level"])
        assert levels == [1, 1, 2, 2]
        record = sla_record(event_app, cid)
        assert record[("Escalated", "verification", "dinsos_head")] == 1
        assert record[("Escalated", "verification", "kabupaten")] == 1
        # the overall clock (72 h) breached too, on its own schedule
        assert record[("SlaBreached", "overall")] == 1
    finally:
        ctx.close()


def test_a_paused_clock_is_not_breached(event_app, db, sedulur_env):
    ctx = build(sedulur_env, {"SEDULUR_SLA_POLICY": "default-24h"})
    try:
        cid = register(event_app)
        ctx.app.pause(cid, reason="tunda KK", actor=ACTOR, correlation_id="t")
        ctx.deadlines.catch_up(cid)
        due = row(db, cid, "verification")["due_at"]
        report = watchdog_at(ctx, OnlyThese(db, {cid}), due + timedelta(days=10)).tick()
        assert list(report) == []
        assert "SlaBreached" not in types(event_app, cid)
    finally:
        ctx.close()
