"""RPC between services is authenticated: a call without a valid service token never
reaches the method (shared.rpc_auth), over the real broker."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from nameko.exceptions import RemoteError
from nameko.rpc import RpcProxy, rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.auth import KeyRing, Principal, issue_token
from shared.rpc_auth import CONTEXT_KEY, ServiceIdentity, authenticated_rpc, service_context
from tests.helpers import running_service

CALLS: list[str] = []


class GuardedProbe:
    name = "guarded_probe"

    @authenticated_rpc
    def echo(self, value: int) -> int:
        CALLS.append("echo")
        return value

    @authenticated_rpc(callers=("caller_probe",))
    def only_for_caller(self) -> str:
        CALLS.append("only_for_caller")
        return "ok"


class CallerProbe:
    name = "caller_probe"
    identity = ServiceIdentity()
    guarded = RpcProxy("guarded_probe")

    @rpc  # the test's own way in; the hop to guarded_probe is the one under test
    def forward(self, value: int) -> int:
        return self.guarded.echo(value)

    @rpc
    def forward_restricted(self) -> str:
        return self.guarded.only_for_caller()


@pytest.fixture(scope="module")
def services(topology_declared):
    with ExitStack() as stack:
        for cls in (GuardedProbe, CallerProbe):
            stack.enter_context(running_service(cls, topology_declared))
        yield topology_declared


def _proxy(settings, context=None):
    return ClusterRpcProxy({"AMQP_URI": settings.amqp_uri}, context_data=context)


def test_a_service_with_its_identity_calls_through(services):
    with _proxy(services) as proxy:
        assert proxy.caller_probe.forward(7) == 7
        assert proxy.caller_probe.forward_restricted() == "ok"


def test_a_signed_caller_outside_a_service_calls_through(services):
    with _proxy(services, service_context("cli")) as proxy:
        assert proxy.guarded_probe.echo(3) == 3


@pytest.mark.parametrize("case", ["no-token", "forged", "user-token", "garbage"])
def test_a_call_without_a_valid_service_token_never_runs(services, case):
    forged_ring = KeyRing.parse("test:" + "f" * 48)
    token = {
        "no-token": None,
        "forged": issue_token(Principal(user_id="service:x", role="system"), keys=forged_ring,
                              audience="rpc"),
        "user-token": issue_token(Principal(user_id="op", role="operator", desk="332501")),
        "garbage": "abc",
    }[case]
    CALLS.clear()
    with _proxy(services, {CONTEXT_KEY: token} if token else None) as proxy:
        with pytest.raises(RemoteError) as err:
            proxy.guarded_probe.echo(1)
    assert err.value.exc_type == "Unauthenticated"
    assert CALLS == []


def test_an_rpc_can_name_which_services_may_call_it(services):
    CALLS.clear()
    with _proxy(services, service_context("cli")) as proxy:
        with pytest.raises(RemoteError) as err:
            proxy.guarded_probe.only_for_caller()
    assert err.value.exc_type == "Forbidden" and CALLS == []
