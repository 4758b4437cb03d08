"""Authenticated RPC between services: nobody on the broker may call a service's RPCs
without a service token signed with the shared keys (shared.auth).

- `ServiceIdentity()` on the calling service: in every worker it puts a short-lived signed
  token (role "system", sub "service:<name>", audience "rpc") into the worker's context
  data; nameko sends context data along every outgoing RPC as `nameko.<key>` headers.
- `authenticated_rpc` instead of `rpc` on the serving side: verifies that header before a
  worker is spawned; a missing, forged or expired token gets an Unauthenticated error
  reply and the method never runs. `authenticated_rpc(callers=("verification",))` also
  names which services may call.
- Callers outside a service (CLI, tests) pass `context_data=service_context("cli")` to
  ClusterRpcProxy / ServiceRpcProxy.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from nameko.extensions import DependencyProvider

from shared.auth import Principal, issue_token, verify_token
from shared.errors import Forbidden, Unauthenticated
from shared.nameko_ext import ResilientRpc

log = logging.getLogger("sedulur.rpc_auth")

CONTEXT_KEY = "sedulur_service_token"
AUDIENCE = "rpc"
SERVICE_TOKEN_TTL = 300


def service_token(service: str, ttl: int = SERVICE_TOKEN_TTL) -> str:
    return issue_token(Principal(user_id=f"service:{service}", role="system"), ttl=ttl,
                       audience=AUDIENCE)


def service_context(service: str) -> dict[str, str]:
    """Context data for a ClusterRpcProxy used outside a nameko service."""
    return {CONTEXT_KEY: service_token(service)}


def verify_service_token(token: Any, callers: tuple[str, ...] | None = None) -> Principal:
    if not isinstance(token, str) or not token:
        raise Unauthenticated("RPC call carries no service token")
    principal = verify_token(token, audience=AUDIENCE)
    if principal.role != "system" or not principal.user_id.startswith("service:"):
        raise Unauthenticated("RPC token is not a service token")
    if callers is not None and principal.user_id.removeprefix("service:") not in callers:
        raise Forbidden("this service may not call this RPC", field="caller")
    return principal


class ServiceIdentity(DependencyProvider):
    """Signs this service's outgoing RPC calls; one token is reused until half its life."""

    def __init__(self) -> None:
        self._token: tuple[float, str] | None = None

    def _current(self) -> str:
        now = time.monotonic()
        if self._token is None or now - self._token[0] > SERVICE_TOKEN_TTL / 2:
            self._token = (now, service_token(self.container.service_name))
        return self._token[1]

    def worker_setup(self, worker_ctx: Any) -> None:
        # Overwrites a caller's token that arrived with an incoming call: each hop signs
        # as itself.
        worker_ctx.data[CONTEXT_KEY] = self._current()

    def get_dependency(self, worker_ctx: Any) -> str:
        return self.container.service_name


class AuthenticatedRpc(ResilientRpc):
    def __init__(self, callers: tuple[str, ...] | None = None, **kwargs: Any) -> None:
        self.callers = tuple(callers) if callers is not None else None
        super().__init__(**kwargs)

    def handle_message(self, body: Any, message: Any) -> None:
        token = self.unpack_message_headers(message).get(CONTEXT_KEY)
        try:
            verify_service_token(token, self.callers)
        except (Unauthenticated, Forbidden) as exc:
            log.warning("rpc.refused method=%s.%s code=%s", self.container.service_name,
                        self.method_name, exc.code)
            # Reply with the error (the caller's proxy raises RemoteError) and ack.
            self.rpc_consumer.handle_result(message, None, sys.exc_info())
            return
        super().handle_message(body, message)


authenticated_rpc = AuthenticatedRpc.decorator
