"""Operations against the running stack: real Prometheus scrapes every process and sees the
flow move during a burst; a rolling restart of every process during traffic loses nothing
and applies nothing twice (SIGTERM drains in-flight work)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from shared.config import SERVICES
from shared.db import connect
from tests.helpers import actor_headers, free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
FINAL = {"referred", "rejected"}


def operator(name: str) -> dict[str, str]:
    return actor_headers(name, "operator", desk="332501")


# Categories the other system tests do not use (kis → DINKES, kip → DISDIK): hundreds of
# complaints here must not push theirs off the first page of an agency queue.
CATEGORIES = ("bpnt", "pkh", "rtlh", "adminduk")


def complaint_body(person: dict[str, str], category: str = "bpnt") -> dict[str, Any]:
    return {"desk": "332501", "category": category,
            "description": "Aduan warga (uji operasi)",
            "citizen": {"nik": person["NIK"], "name": person["NAMA"]}}


def register(settings: Any, body: dict[str, Any], headers: dict[str, str], key: str,
             deadline: float) -> str:
    """As a desk client would: retry with the same Idempotency-Key until intake answers
    (it may be restarting), so a retry can never make a second complaint."""
    last: Any = None
    while time.monotonic() < deadline:
        try:
            resp = requests.post(f"{settings.http_url('intake')}/complaints", json=body,
                                 headers={**headers, "Idempotency-Key": key}, timeout=15)
            if resp.status_code in (200, 201):
                return resp.json()["complaint_id"]
            last = f"{resp.status_code} {resp.text[:200]}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise AssertionError(f"complaint {key} not registered: {last}")


# -- Prometheus ----------------------------------------------------------------------------

@pytest.fixture()
def prometheus(stack, tmp_path):
    """Debian's Prometheus, scraping every service and the relay of the stack every second,
    with the project's alert rules loaded."""
    binary = shutil.which("prometheus")
    if not binary:
        pytest.fail("prometheus not installed: run scripts/install")
    settings = stack.settings
    relay_port = int(os.environ["SEDULUR_RELAY_METRICS_PORT"])
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))],
        "scrape_configs": [
            {"job_name": "sedulur-services", "static_configs": [
                {"targets": [f"127.0.0.1:{settings.http_port(svc)}"],
                 "labels": {"component": svc}} for svc in SERVICES]},
            {"job_name": "sedulur-relay", "static_configs": [
                {"targets": [f"127.0.0.1:{relay_port}"], "labels": {"component": "relay"}}]},
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - the child's for its life
    proc = subprocess.Popen(
        [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "prometheus.log").read_text()[-3000:])
        try:
            return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, timeout=60, message="prometheus ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def query(url: str, expr: str) -> float:
    resp = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    result = resp["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def test_prometheus_scrapes_every_process_and_sees_the_flow_move_during_a_burst(
    stack, dtks_people, prometheus
):
    def targets_up() -> list[dict[str, Any]] | None:
        active = requests.get(f"{prometheus}/api/v1/targets", timeout=10).json()[
            "data"]["activeTargets"]
        return active if len(active) == len(SERVICES) + 1 and all(
            t["health"] == "up" for t in active) else None

    active = wait_until(targets_up, timeout=60, message="every target up")
    assert {t["labels"]["component"] for t in active} == {*SERVICES, "relay"}

    rules = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {r["name"]: r["health"] for g in rules for r in g["rules"]}
    assert {"SedulurServiceDown", "SedulurDeadLettersNotEmpty", "SedulurRelayLagEvents",
            "SedulurSlaBreachRateHigh"} <= set(loaded)
    assert set(loaded.values()) == {"ok"}

    relayed = 'sum(sedulur_events_relayed_total{event_type="Registered"}) or vector(0)'
    consumed = ('sum(sedulur_events_consumed_total{outcome="ok", event_type="Registered"})'
                ' or vector(0)')
    handled = 'sum(sedulur_handler_seconds_count{service="verification"}) or vector(0)'
    before = {e: query(prometheus, e) for e in (relayed, consumed, handled)}

    burst = 30
    deadline = time.monotonic() + 120
    tag = uuid.uuid4().hex[:8]
    threads = [threading.Thread(target=register, args=(
        stack.settings, complaint_body(dtks_people[i % len(dtks_people)]),
        operator(f"op-prom-{tag}"), f"prom-{tag}-{i}", deadline)) for i in range(burst)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    wait_until(lambda: query(prometheus, relayed) >= before[relayed] + burst, timeout=90,
               message="Prometheus sees the Registered events relayed")
    # Every Registered goes to four consumer queues (intake, verification, sla, …).
    wait_until(lambda: query(prometheus, consumed) >= before[consumed] + burst, timeout=90,
               message="Prometheus sees the Registered events consumed")
    wait_until(lambda: query(prometheus, handled) >= before[handled] + burst, timeout=90,
               message="Prometheus sees verification's handler latency histogram fill")
    assert query(prometheus, "max(sedulur_queue_stats_up)") == 1
    assert query(prometheus, 'count(sedulur_queue_messages{queue=~"evt-.*"})') > 0
    assert query(prometheus, "sum(sedulur_relay_leader)") == 1


# -- rolling restart -----------------------------------------------------------------------

def test_rolling_restart_of_every_process_during_traffic_loses_nothing_and_applies_nothing_twice(
    stack, dtks_people, event_app
):
    from shared.rabbit import RabbitAdmin as _Admin
    from shared.topology import DLQ as _DLQ

    # Other tests of the session dead-letter on purpose; only this test's count matters.
    dlq_before = _Admin(stack.settings.rabbit_management_url).queue(
        os.environ["SEDULUR_VHOST"], _DLQ)["messages"]
    tag = uuid.uuid4().hex[:8]
    who = f"op-rolling-{tag}"
    registered: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    known = {p["NIK"] for p in dtks_people}
    outsider = next(dtks_people[0]["NIK"][:12] + f"{s:04d}" for s in range(9999, 0, -1)
                    if dtks_people[0]["NIK"][:12] + f"{s:04d}" not in known)

    def traffic() -> None:
        i = 0
        try:
            while not stop.is_set():
                person = dtks_people[(i * 7) % len(dtks_people)]
                # One in four citizens is not in DTKS: those end Rejected.
                body = complaint_body(person, category=CATEGORIES[i % 4])
                if i % 4 == 3:
                    body["citizen"]["nik"] = outsider
                registered.append(register(stack.settings, body, operator(who),
                                           f"rolling-{tag}-{i}", time.monotonic() + 120))
                i += 1
                time.sleep(0.1)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    sender = threading.Thread(target=traffic)
    sender.start()
    exit_codes: dict[str, int | None] = {}
    try:
        wait_until(lambda: len(registered) >= 5, timeout=60, message="traffic flowing")
        for name in [*SERVICES, "relay"]:
            stack.stop(name, timeout=60)
            exit_codes[name] = stack.processes[name].popen.returncode
            stack.start(name)
            stack.wait_healthy(timeout=90)
            seen = len(registered)
            wait_until(lambda seen=seen: len(registered) >= seen + 3, timeout=60,
                       message=f"traffic flowing after restarting {name}")
    finally:
        stop.set()
        sender.join(timeout=180)
    assert not errors, errors
    # SIGTERM drained the in-flight work and the process exited by itself (not SIGKILLed).
    assert exit_codes == {name: 0 for name in [*SERVICES, "relay"]}

    ids = [uuid.UUID(c) for c in registered]
    assert len(set(ids)) == len(ids)

    def stages() -> dict[str, int] | None:
        with connect(stack.settings.pg_dsn) as conn:
            rows = conn.execute("SELECT stage, count(*) FROM intake.complaint_status"
                                " WHERE complaint_id = ANY(%s) GROUP BY 1", (ids,)).fetchall()
        found = dict(rows)
        return found if sum(found.values()) == len(ids) and set(found) <= FINAL else None

    final = wait_until(stages, timeout=240, interval=1,
                       message="every complaint referred or rejected")
    assert final.get("referred") and final.get("rejected")
    print(f"rolling restart under traffic: {len(ids)} complaints, final stages {final}")

    for cid in ids:
        types = [type(e).__name__ for e in event_app.stored_events(cid)]
        counts = Counter(types)
        assert counts["Registered"] == 1 and counts["Verified"] + counts["Rejected"] == 1, types
        assert counts["ReferredToOPD"] == counts["Verified"], types
    with connect(stack.settings.pg_dsn) as conn:
        applied = conn.execute(
            "SELECT coalesce(sum(complaints), 0) FROM intake.operator_activity"
            " WHERE operator_id = %s", (who,)).fetchone()[0]
        queue_rows = conn.execute(
            "SELECT count(*) FROM routing.agency_queue WHERE complaint_id = ANY(%s)",
            (ids,)).fetchone()[0]
    # Each Registered counted once by the operator-activity projection despite restarts.
    assert applied == len(ids)
    assert queue_rows == final["referred"]

    admin = _Admin(stack.settings.rabbit_management_url)
    vhost = os.environ["SEDULUR_VHOST"]
    # Events other tests of the session appended straight to the store reach this stack
    # too; only this test's complaints count.
    mine = {str(c) for c in ids}
    dead = [m for m in admin.peek(vhost, _DLQ)[dlq_before:]
            if json.loads(m["payload"]).get("complaintid") in mine]
    # Name each dead letter (queue it died in, why, event type) so a failure says what.
    assert not dead, [
        ((m["properties"].get("headers") or {}).get("x-first-death-queue"),
         (m["properties"].get("headers") or {}).get("x-first-death-reason"),
         m["routing_key"], m["payload"][:200]) for m in dead]
