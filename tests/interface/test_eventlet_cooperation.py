"""A slow PostgreSQL query must not freeze a service's other workers: psycopg's waits have
to yield to the eventlet hub (pure-Python build), through both of our database paths."""

from __future__ import annotations

import time

import pytest
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from shared.db import Database
from shared.eventstore import ComplaintsApplication
from shared.shell import Provided
from tests.helpers import running_service


class SlowQueryProbe:
    name = "slow_query_probe"
    db = Provided(lambda settings: Database.from_settings(settings, max_size=12))
    app = Provided(ComplaintsApplication)

    @rpc
    def sleep_in_projection_db(self, seconds: float) -> None:
        self.db.execute("SELECT pg_sleep(%s)", (seconds,))

    @rpc
    def sleep_in_event_store(self, seconds: float) -> None:
        with self.app.recorder.datastore.transaction(commit=False) as cur:
            cur.execute("SELECT pg_sleep(%s)", (seconds,))


@pytest.mark.parametrize("method", ["sleep_in_projection_db", "sleep_in_event_store"])
def test_ten_concurrent_half_second_queries_finish_together(topology_declared, method):
    with running_service(SlowQueryProbe, topology_declared, max_workers=10), \
            ClusterRpcProxy({"AMQP_URI": topology_declared.amqp_uri}) as proxy:
        call = getattr(proxy.slow_query_probe, method)
        call(0.01)  # warm the pools
        started = time.monotonic()
        replies = [call.call_async(0.5) for _ in range(10)]
        for reply in replies:
            reply.result()
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"10 x pg_sleep(0.5) took {elapsed:.2f}s: the hub was blocked"
