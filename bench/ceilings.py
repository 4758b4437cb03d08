"""What PostgreSQL and RabbitMQ do on their own on this machine (design.md §12): the
denominators of every ratio, measured in the same run as the thing compared."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable

import amqp

from bench.report import Measure
from shared.config import Settings
from shared.db import connect

# About the size of a stored Registered event / its CloudEvent envelope.
PAYLOAD = os.urandom(600)
BODY = b'{"specversion":"1.0","type":"Registered","data":{' + b'"x":"' + b"a" * 800 + b'"}}'

RAW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw.events (
  notification_id bigserial PRIMARY KEY,
  originator_id uuid NOT NULL,
  originator_version integer NOT NULL,
  topic text NOT NULL,
  state bytea NOT NULL,
  UNIQUE (originator_id, originator_version))
"""

PERSON_COLUMNS = ("nik text, no_kk text, nama text, tgl_lahir date, jns_kel char(1), "
                  "kode_wilayah text, desil smallint, pkh boolean, bpnt boolean, "
                  "pbi_jk boolean, kip boolean, pip boolean")


def timed(seconds: float, step: Callable[[], None], chunk: int = 20) -> float:
    """Calls of `step` per second over about `seconds`."""
    n, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(chunk):
            step()
        n += chunk
    return n / (time.perf_counter() - started)


class PgCommit:
    """1 client, one row per transaction (autocommit: the INSERT and its COMMIT are one
    round trip)."""

    key = "pg_commit"
    label = "PostgreSQL INSERT + COMMIT, 1 row/transaction, 1 client"
    unit = "rows/s"
    SQL = ("INSERT INTO bench_raw.events (originator_id, originator_version, topic, state) "
           "VALUES (gen_random_uuid(), 1, 'shared.complaints:Registered', %s)")

    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings.pg_dsn, timeout=settings.pg_connect_timeout,
                            autocommit=self.autocommit)
        with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout) as admin:
            admin.execute("CREATE SCHEMA IF NOT EXISTS bench_raw")
            admin.execute(RAW_TABLE)

    autocommit = True

    def step(self) -> None:
        self.conn.execute(self.SQL, (PAYLOAD,))

    def rate(self, seconds: float) -> float:
        return timed(seconds, self.step)

    def close(self) -> None:
        self.conn.close()


class PgCommitLocked(PgCommit):
    """The same with `LOCK TABLE … EXCLUSIVE` first, as every event append takes it: sent
    as one simple-protocol string plus COMMIT, 2 round trips like one append through the
    store's insert function."""

    key = "pg_commit_lock"
    label = "PostgreSQL LOCK TABLE EXCLUSIVE + INSERT + COMMIT, 1 client"
    autocommit = False
    STMT = ("LOCK TABLE bench_raw.events IN EXCLUSIVE MODE; "
            "INSERT INTO bench_raw.events (originator_id, originator_version, topic, state) "
            f"VALUES (gen_random_uuid(), 1, 'shared.complaints:Registered', '\\x{PAYLOAD.hex()}')"
            ).encode()

    def step(self) -> None:
        self.conn.execute(self.STMT)
        self.conn.commit()


class PgRoundTrip(PgCommit):
    key = "pg_roundtrip"
    label = "PostgreSQL loopback round trip (SELECT 1)"
    unit = "queries/s"

    def step(self) -> None:
        self.conn.execute("SELECT 1")


def pg_copy_binary(settings: Settings, rows: int) -> Measure:
    """The server's binary COPY speed for person rows: the rows are generated in the server
    and copied out once, so the timed COPY IN measures PostgreSQL, not Python tuples."""
    with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench_raw")
        conn.execute("DROP TABLE IF EXISTS bench_raw.src")
        conn.execute(f"CREATE UNLOGGED TABLE bench_raw.src ({PERSON_COLUMNS})")
        conn.execute(
            "INSERT INTO bench_raw.src SELECT lpad((3325010000000000 + i)::text, 16, '0'),"
            " lpad((3325012000000000 + i / 4)::text, 16, '0'), 'Nama Warga ' || i,"
            " date '1950-01-01' + (i %% 25000), CASE WHEN i %% 2 = 0 THEN 'L' ELSE 'P' END,"
            " '332501' || lpad((1001 + i %% 20)::text, 4, '0'), (1 + i %% 10)::smallint,"
            " i %% 3 = 0, i %% 4 = 0, i %% 2 = 0, i %% 7 = 0, i %% 9 = 0"
            " FROM generate_series(1, %s) AS i", (rows,))
        buf = io.BytesIO()
        with conn.cursor().copy("COPY bench_raw.src TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                buf.write(chunk)
        data = buf.getvalue()
        conn.execute("DROP TABLE IF EXISTS bench_raw.dst")
        conn.execute(f"CREATE TABLE bench_raw.dst ({PERSON_COLUMNS})")
        started = time.perf_counter()
        with conn.transaction(), conn.cursor().copy(
                "COPY bench_raw.dst FROM STDIN (FORMAT binary)") as copy:
            view = memoryview(data)
            for i in range(0, len(view), 1 << 20):
                copy.write(view[i:i + (1 << 20)])
        took = time.perf_counter() - started
        conn.execute("DROP SCHEMA bench_raw CASCADE")
    return Measure("pg_copy_binary", "PostgreSQL binary COPY, person rows (no indexes)",
                   rows / took, "rows/s", "raw", took,
                   detail={"rows": rows, "bytes": len(data)})


class _Confirms:
    """Outstanding publisher confirms without scanning: tags are issued in order, and a
    `multiple` ack settles everything up to its tag."""

    def __init__(self) -> None:
        self.low = 1
        self.pending: set[int] = set()
        self.nacked = 0

    def ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            for t in range(self.low, tag + 1):
                self.pending.discard(t)
            self.low = max(self.low, tag + 1)
        else:
            self.pending.discard(tag)

    def nack(self, tag: int, multiple: bool) -> None:
        self.nacked += 1
        self.ack(tag, multiple)


def _amqp_connection(settings: Settings) -> amqp.Connection:
    from kombu.utils.url import parse_url

    parts = parse_url(settings.amqp_uri)
    conn = amqp.Connection(host=f"{parts['hostname'] or '127.0.0.1'}:{parts['port'] or 5672}",
                           userid=parts["userid"] or "guest", password=parts["password"] or "guest",
                           virtual_host=parts["virtual_host"] or "/", connect_timeout=10,
                           heartbeat=0)
    conn.connect()
    return conn


def rabbit(settings: Settings, messages: int, window: int = 5000) -> list[Measure]:
    """Persistent publish to a quorum queue (the kind the relay publishes to) with confirms
    in a window, then consume + ack with prefetch 200."""
    queue = "bench.raw"
    conn = _amqp_connection(settings)
    try:
        ch = conn.channel()
        ch.queue_delete(queue)
        ch.queue_declare(queue, durable=True, auto_delete=False,
                         arguments={"x-queue-type": "quorum"})
        ch.confirm_select()
        confirms = _Confirms()
        ch.events["basic_ack"].add(confirms.ack)
        ch.events["basic_nack"].add(confirms.nack)
        started = time.perf_counter()
        for tag in range(1, messages + 1):
            while len(confirms.pending) >= window:
                conn.drain_events(timeout=30)
            ch.basic_publish(amqp.Message(BODY, delivery_mode=2, content_type="application/json"),
                             exchange="", routing_key=queue, mandatory=True)
            confirms.pending.add(tag)
        while confirms.pending:
            conn.drain_events(timeout=30)
        took = time.perf_counter() - started
        out = [Measure("rmq_publish",
                       f"RabbitMQ persistent publish, confirms in a window of {window}",
                       messages / took, "msg/s", "raw", took,
                       detail={"messages": messages, "body_bytes": len(BODY),
                               "queue": "quorum", "nacked": confirms.nacked})]

        consumer = conn.channel()
        consumer.basic_qos(0, 200, False)
        got = 0

        def on_message(message: amqp.Message) -> None:
            nonlocal got
            consumer.basic_ack(message.delivery_tag)
            got += 1

        started = time.perf_counter()
        consumer.basic_consume(queue, callback=on_message)
        while got < messages:
            conn.drain_events(timeout=30)
        took = time.perf_counter() - started
        out.append(Measure("rmq_consume", "RabbitMQ consume + ack, prefetch 200",
                           messages / took, "msg/s", "raw", took, detail={"messages": messages}))
        consumer.close()
        ch.queue_delete(queue)
        return out
    finally:
        conn.close()


def rabbit_like_relay(settings: Settings, messages: int, window: int = 5000) -> Measure:
    """The same raw publisher aimed where the relay sends Registered: `intake.events`,
    routing key Registered, fanned out by the declared topology to every subscribed
    quorum queue. The relay's fair ceiling (the broker does the same work per message)."""
    from shared import topology

    topology.declare(settings)
    fanout = sum(1 for s in topology.subscriptions()
                 if s.source == "intake" and s.event_type == "Registered")
    conn = _amqp_connection(settings)
    try:
        ch = conn.channel()
        ch.confirm_select()
        confirms = _Confirms()
        ch.events["basic_ack"].add(confirms.ack)
        ch.events["basic_nack"].add(confirms.nack)
        started = time.perf_counter()
        for tag in range(1, messages + 1):
            while len(confirms.pending) >= window:
                conn.drain_events(timeout=30)
            ch.basic_publish(amqp.Message(BODY, delivery_mode=2, content_type="application/json"),
                             exchange="intake.events", routing_key="Registered", mandatory=True)
            confirms.pending.add(tag)
        while confirms.pending:
            conn.drain_events(timeout=30)
        took = time.perf_counter() - started
        for sub in topology.subscriptions():
            ch.queue_purge(sub.queue_name)
    finally:
        conn.close()
    return Measure("rmq_publish_fanout",
                   f"RabbitMQ persistent publish to intake.events/Registered "
                   f"({fanout} quorum queues), window {window}",
                   messages / took, "msg/s", "raw", took,
                   detail={"messages": messages, "queues": fanout, "nacked": confirms.nacked})
