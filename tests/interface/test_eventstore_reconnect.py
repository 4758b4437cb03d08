"""The event store's pool runs without pre-ping (a round trip per append): a connection
that died while pooled must cost a retry, never a lost append or an error to the caller."""

from __future__ import annotations

import uuid

from shared.complaints.domainmodel import complaint_id_for
from shared.db import connect
from tests.interface.test_eventstore import new_complaint


def test_an_append_after_the_pooled_connections_were_killed_is_stored(sedulur_env):
    from shared.eventstore import ComplaintsApplication

    app = ComplaintsApplication(sedulur_env)
    try:
        first = f"reconnect-{uuid.uuid4()}"
        app.save_or_conflict(new_complaint(first))
        pool = app.recorder.datastore.pool
        held = [pool.getconn() for _ in range(pool.get_stats()["pool_size"])]
        pids = [conn.info.backend_pid for conn in held]
        for conn in held:
            pool.putconn(conn)
        with connect(sedulur_env.pg_dsn) as admin:  # only this app's pooled connections
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM"
                                   " unnest(%s::int[]) AS pid", (pids,)).fetchone()[0]
        assert killed == len(pids) >= 1
        second = f"reconnect-{uuid.uuid4()}"
        app.save_or_conflict(new_complaint(second))
        assert len(app.stored_events(complaint_id_for(second))) == 1
    finally:
        app.close()
