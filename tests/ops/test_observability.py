"""/health, /metrics and the log context of every service (one service in-process, real
PostgreSQL and RabbitMQ)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import replace
from typing import Any

import eventlet
import pytest
import requests
import structlog

from services.intake.service import IntakeService
from shared.health import check, http_status
from shared.relay import relay_lag
from tests.helpers import relay_running, running_service, wait_until

LENIENT = {"health_relay_lag_events": 10**9, "health_relay_lag_seconds": 10**9}


def append_complaints(app: Any, n: int, operator: str = "op-ops") -> list[uuid.UUID]:
    from tests.helpers import append_registered

    return append_registered(app, operator, n, "ops")


def test_health_is_ok_when_every_dependency_answers(topology_declared):
    report = check(replace(topology_declared, **LENIENT))
    assert report["status"] == "ok" and http_status(report) == 200
    assert report["checks"]["postgres"] == "ok" and report["checks"]["rabbitmq"] == "ok"
    assert set(report["checks"]["relay"]) >= {"lag", "seconds", "position", "latest"}


def test_health_is_down_with_503_when_postgresql_is_unreachable(topology_declared):
    report = check(replace(topology_declared, pg_dsn="postgresql://postgres@127.0.0.1:1/x"))
    assert report["status"] == "down" and report["down"] == ["postgres"]
    assert http_status(report) == 503


def test_health_is_down_with_503_when_rabbitmq_is_unreachable(topology_declared):
    report = check(replace(topology_declared, amqp_uri="amqp://guest:guest@127.0.0.1:1/",
                           **LENIENT))
    assert report["status"] == "down" and report["down"] == ["rabbitmq"]
    assert http_status(report) == 503


def test_relay_lag_beyond_the_threshold_is_degraded_and_clears_when_the_relay_catches_up(
    topology_declared, event_app
):
    append_complaints(event_app, 3)
    lag = relay_lag(topology_declared)["lag"]
    assert lag >= 3
    strict = replace(topology_declared, health_relay_lag_events=2,
                     health_relay_lag_seconds=10**9)
    report = check(strict)
    assert report["status"] == "degraded" and http_status(report) == 200
    assert "events behind" in report["degraded"][0]
    with relay_running(topology_declared):
        wait_until(lambda: relay_lag(topology_declared)["lag"] == 0, timeout=60,
                   message="relay caught up")
    assert check(strict)["status"] == "ok"


def test_relay_lag_seconds_threshold_is_configurable(topology_declared, event_app):
    append_complaints(event_app, 1)
    report = check(replace(topology_declared, health_relay_lag_events=10**9,
                           health_relay_lag_seconds=-1))
    assert report["status"] == "degraded"
    assert any("behind for" in r for r in report["degraded"])
    with relay_running(topology_declared):
        wait_until(lambda: relay_lag(topology_declared)["lag"] == 0, timeout=60,
                   message="relay caught up")


@pytest.fixture(scope="module")
def intake_url(topology_declared):
    with running_service(IntakeService, topology_declared,
                         SEDULUR_HEALTH_RELAY_LAG_EVENTS=10**9,
                         SEDULUR_HEALTH_RELAY_LAG_SECONDS=10**9) as url:
        yield url


def test_service_health_endpoint_answers_ok(intake_url):
    resp = requests.get(f"{intake_url}/health", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["service"] == "intake" and resp.json()["status"] == "ok"


def test_service_health_endpoint_is_503_when_its_database_goes_away(topology_declared):
    from shared.migrations import create_database, drop_database, migrate

    dbname = f"sedulur_health_{uuid.uuid4().hex[:8]}"
    dsn = create_database(topology_declared, dbname)
    try:
        migrate(replace(topology_declared, pg_dsn=dsn))
        with running_service(IntakeService, topology_declared, SEDULUR_PG_DSN=dsn,
                             SEDULUR_HEALTH_RELAY_LAG_SECONDS=10**9) as url:
            assert requests.get(f"{url}/health", timeout=15).status_code == 200
            drop_database(topology_declared, dbname)
            resp = requests.get(f"{url}/health", timeout=15)
            assert resp.status_code == 503
            assert resp.json()["down"] == ["postgres"]
    finally:
        drop_database(topology_declared, dbname)


def metric_value(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_metrics_show_queue_depth_consumed_events_and_handler_latency(intake_url, event_app,
                                                                       topology_declared):
    queue = "evt-intake-Registered--intake.on_registered"
    text = requests.get(f"{intake_url}/metrics", timeout=10).text
    assert metric_value(text, "sedulur_queue_stats_up") == 1
    assert metric_value(text, "sedulur_queue_messages", queue=queue, state="ready") is not None
    assert metric_value(text, "sedulur_queue_messages", queue="sedulur.dead-letters",
                        state="ready") is not None

    def consumed() -> float:
        body = requests.get(f"{intake_url}/metrics", timeout=10).text
        return metric_value(body, "sedulur_events_consumed_total", service="intake",
                            event_type="Registered", outcome="ok") or 0.0

    before = consumed()
    append_complaints(event_app, 2)
    with relay_running(topology_declared):
        wait_until(lambda: consumed() >= before + 2, timeout=60, message="2 more consumed")
    text = requests.get(f"{intake_url}/metrics", timeout=10).text
    assert (metric_value(text, "sedulur_handler_seconds_count", service="intake",
                         event_type="Registered") or 0) >= 2
    assert (metric_value(text, "sedulur_events_relayed_total", event_type="Registered")
            or 0) >= 2


@pytest.fixture()
def json_logs():
    """shared.logging configured as in a service process, its lines captured."""
    from shared import logging as slog

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    slog.configure("intake")
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        slog._SERVICE.clear()
        structlog.reset_defaults()


class FakeWorker:
    def __init__(self, entrypoint: Any, args: tuple, kwargs: dict | None = None):
        self.entrypoint, self.args, self.kwargs = entrypoint, args, kwargs or {}
        self.call_id = "intake.on_registered.1"


def test_every_log_line_of_a_handler_carries_service_correlation_and_complaint_id(json_logs):
    from nameko.events import EventHandler

    from shared.nameko_ext import Telemetry

    telemetry = Telemetry()
    log = logging.getLogger("sedulur.test")
    entrypoint = EventHandler("intake", "Registered")
    complaint = str(uuid.uuid4())

    def worker(cid: str, complaint_id: str) -> None:
        ctx = FakeWorker(entrypoint, ({"complaintid": complaint_id, "correlationid": cid},))
        telemetry.worker_setup(ctx)
        log.info("handling")
        eventlet.sleep(0.01)  # another worker runs meanwhile; contexts must not mix
        structlog.get_logger("sedulur.test").info("handled", nik="3325014507900001")
        telemetry.worker_teardown(ctx)

    a = eventlet.spawn(worker, "corr-a", complaint)
    b = eventlet.spawn(worker, "corr-b", "other")
    a.wait()
    b.wait()
    logging.getLogger("sedulur.test").info("outside any worker")
    lines = json_logs()
    mine = [line for line in lines if line.get("correlation_id") == "corr-a"]
    assert [line["event"] for line in mine] == ["handling", "handled"]
    assert all(line["complaint_id"] == complaint and line["service"] == "intake"
               for line in mine)
    assert mine[1]["nik"] == "3325********0001"
    outside = lines[-1]
    assert outside["service"] == "intake" and outside["complaint_id"] is None


def test_http_request_logs_carry_the_callers_correlation_id(json_logs):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request, Response

    from shared.web import handle_errors

    complaint = uuid.uuid4()

    class Shell:
        @handle_errors
        def get(self, request: Request, complaint_id: Any) -> Response:
            logging.getLogger("sedulur.test").info("looking up")
            return Response("ok")

    request = Request(EnvironBuilder(headers={"X-Correlation-Id": "corr-http"}).get_environ())
    response = eventlet.spawn(Shell().get, request, complaint_id=complaint).wait()
    assert response.headers["X-Correlation-Id"] == "corr-http"
    [line] = [entry for entry in json_logs() if entry["event"] == "looking up"]
    assert line["correlation_id"] == "corr-http" and line["complaint_id"] == str(complaint)


def test_a_relay_that_stopped_making_progress_shows_as_seconds_behind(topology_declared,
                                                                       event_app):
    from shared.db import connect

    append_complaints(event_app, 1)
    with connect(topology_declared.pg_dsn) as conn:
        conn.execute("UPDATE relay.positions SET updated_at = now() - interval '1 hour'"
                     " WHERE name = 'main'")
    lag = relay_lag(topology_declared)
    assert lag["lag"] >= 1 and lag["seconds"] >= 3600
    report = check(replace(topology_declared, health_relay_lag_events=10**9))
    assert report["status"] == "degraded" and "behind for" in report["degraded"][0]
    with relay_running(topology_declared):
        wait_until(lambda: relay_lag(topology_declared)["lag"] == 0, timeout=60,
                   message="relay caught up")
    assert relay_lag(topology_declared)["seconds"] == 0
