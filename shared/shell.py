"""What every nameko service shell shares: dependency providers that hand application
objects to workers, /health and /metrics, the actor of a request, and the runner."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.wrappers import Request, Response

from shared.config import Settings
from shared.nameko_ext import Telemetry
from shared.web import json_response, preflight_response

log = logging.getLogger("sedulur.shell")

SYSTEM_ROLE = "system"


def settings_from_config(config: dict[str, Any]) -> Settings:
    """nameko 2.14 has no global config: providers read their container's config, which
    the runner fills from the environment (and tests may override)."""
    overrides = {k: v for k, v in config.items() if k.startswith("SEDULUR_")}
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update({k: str(v) for k, v in overrides.items()})
    try:
        return Settings()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Provided(DependencyProvider):
    """Builds one object per container at start (application, projection, replica) from
    the container's settings and hands the same object to every worker."""

    def __init__(self, factory: Callable[[Settings], Any]) -> None:
        self.factory = factory
        self.instance: Any = None

    def setup(self) -> None:
        self.instance = self.factory(settings_from_config(self.container.config))

    def stop(self) -> None:
        close = getattr(self.instance, "close", None)
        if callable(close):
            close()

    def kill(self) -> None:
        self.stop()

    def get_dependency(self, worker_ctx: Any) -> Any:
        return self.instance


def system_actor(service: str) -> dict[str, Any]:
    return {"user_id": f"system:{service}", "role": SYSTEM_ROLE, "desk": None}


def request_principal(request: Request) -> Any:
    """Who is acting, from `Authorization: Bearer <jwt>` (shared.auth). A missing, forged,
    expired or wrong-key token is Unauthenticated (401); so is a service's token, since
    services speak to each other over RPC with their own tokens (shared.rpc_auth)."""
    from shared.auth import bearer_token, verify_token
    from shared.errors import Unauthenticated

    principal = verify_token(bearer_token(request.headers.get("Authorization")))
    if principal.role == SYSTEM_ROLE:
        raise Unauthenticated("a system token is not accepted over HTTP")
    return principal


def request_actor(request: Request) -> dict[str, Any]:
    """The actor dict every event records: {user_id, role, desk, kecamatan, kabupaten,
    agency}, from the request's verified token (see request_principal)."""
    return dict(request_principal(request).as_actor())


def request_area(request: Request) -> str | None:
    """The wilayah code the caller's token confines it to: an operator's desk, a
    supervisor's kecamatan, a verifier's / admin's / agency's kabupaten; None for the
    auditor (everything, read-only). Authorization itself is shared.auth.authorize."""
    from shared.auth import home_area

    return home_area(request_principal(request)) or None


class Observable:
    """Mixin: GET /health (PostgreSQL, RabbitMQ, relay lag) and GET /metrics; log context
    (correlation id, complaint id) and queue-depth metrics through Telemetry."""

    name: str
    telemetry = Telemetry()

    @http("GET", "/health")
    def health(self, request: Request) -> Response:
        from shared.health import check, http_status

        report = check(self.telemetry.settings)
        report["service"] = self.name
        return json_response(report, http_status(report))

    @http("GET", "/metrics")
    def metrics(self, request: Request) -> Response:
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST.split(";")[0])

    @http("OPTIONS", "/<path:anything>")
    def preflight(self, request: Request, anything: str) -> Response:
        """CORS preflight for the web console (shared.web.cors_headers)."""
        return preflight_response(request)


def nameko_config(service: str, settings: Settings) -> dict[str, Any]:
    return {
        "AMQP_URI": settings.amqp_uri,
        "WEB_SERVER_ADDRESS": f"{settings.http_host}:{settings.http_port(service)}",
        "max_workers": settings.max_workers,
        "serializer": "json",
        "SEDULUR_PG_DSN": settings.pg_dsn,
    }


def run_service(service: str) -> None:
    """Run one service until SIGTERM / SIGINT; stopping lets in-flight workers finish."""
    import importlib

    import eventlet
    from nameko.runners import ServiceRunner

    from shared import logging as slog
    from shared.auth import keyring

    slog.configure(service)
    keyring()  # no SEDULUR_JWT_KEYS: refuse to start rather than answer every call with 500
    settings = Settings()
    module = importlib.import_module(f"services.{service}.service")
    runner = ServiceRunner(nameko_config(service, settings))
    runner.add_service(module.SERVICE)
    stopping = eventlet.event.Event()

    def _stop(signum: int, _frame: Any) -> None:
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner.start()
    log.info("service.started service=%s port=%s", service, settings.http_port(service))

    # A container nameko killed (an extension's thread raised) must end the process, so the
    # supervisor / orchestrator restarts it; otherwise it lingers without consumers.
    def _container_died(gt: Any) -> None:
        try:
            gt.wait()
        except BaseException as exc:  # noqa: BLE001 - any cause ends the process
            log.critical("service.died service=%s error=%r", service, exc)
            if not stopping.ready():
                stopping.send("died")

    eventlet.spawn(runner.wait).link(_container_died)
    why = stopping.wait()
    if why == "died":
        runner.kill()
        raise SystemExit(70)  # EX_SOFTWARE: restart me
    log.info("service.stopping service=%s", service)
    runner.stop()
