"""The outbox relay (design.md §5): tails the event store's notification log in order and
publishes every event to RabbitMQ, at least once, never skipping one.

- Leader by a PostgreSQL advisory lock held on the relay's own connection: a second relay
  waits; if the leader dies its connection closes, the lock is released and a waiting relay
  takes over from the saved position.
- Publishes persistent messages with `mandatory` and a window of outstanding publisher
  confirms (nameko's and kombu's publishers wait for each confirm in turn, ~1.5k msg/s).
- Saves its position only after every message up to it is confirmed. A crash between
  confirm and save re-publishes those events; consumers dedupe by (complaint id, version).
- A returned (unroutable) or nacked message is an alarm and a retry, never success.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import amqp
from prometheus_client import Counter, Gauge

from shared import topology
from shared.complaints.domainmodel import owner_of
from shared.config import Settings
from shared.db import connect
from shared.envelope import encode, event_data, event_type_name, to_cloudevent
from shared.eventstore import ComplaintsApplication

log = logging.getLogger("sedulur.relay")

RELAY_LOCK = 0x5ED0_2001

PUBLISHED = Counter("sedulur_relay_published_total", "Messages confirmed by the broker",
                    ["exchange"])
RETURNED = Counter("sedulur_relay_returned_total", "Messages returned as unroutable (alarm)")
NACKED = Counter("sedulur_relay_nacked_total", "Messages nacked by the broker")
POSITION = Gauge("sedulur_relay_position", "Last notification id confirmed and saved")
LAG_EVENTS = Gauge("sedulur_relay_lag_events", "Events in the store not yet published")
LAG_SECONDS = Gauge("sedulur_relay_lag_seconds", "Age of the oldest unpublished event")
IS_LEADER = Gauge("sedulur_relay_leader", "1 while this relay holds the leader lock")
RELAYED = Counter("sedulur_events_relayed_total",
                  "Events published by the relay, by type (each appended event once, or again "
                  "after a crash between confirm and saved position)", ["event_type"])

# While idle the relay refreshes relay.positions.updated_at this often, so "unpublished
# events older than N seconds" can be read from the database by /health.
HEARTBEAT_SECONDS = 5.0


@functools.cache
def _published(exchange: str) -> Any:
    """The labelled counter child, looked up once per exchange, not per message."""
    return PUBLISHED.labels(exchange=exchange)


class PublishFailed(Exception):
    """The broker returned or nacked a message; the batch is retried from its start."""


@dataclass
class _Outstanding:
    pending: set[int] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)


class WindowedPublisher:
    """py-amqp publisher with publisher confirms in a window (basic.ack with `multiple`)."""

    def __init__(self, amqp_uri: str, window: int = 2000, connect_timeout: float = 10):
        from kombu.utils.url import parse_url

        parts = parse_url(amqp_uri)
        self.conn = amqp.Connection(
            host=f"{parts['hostname'] or '127.0.0.1'}:{parts['port'] or 5672}",
            userid=parts["userid"] or "guest",
            password=parts["password"] or "guest",
            virtual_host=parts["virtual_host"] or "/",
            connect_timeout=connect_timeout,
            heartbeat=0,
        )
        self.conn.connect()
        self.channel = self.conn.channel()
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)
        self.window = window
        self.next_tag = 1
        self.state = _Outstanding()
        self.tag_ids: dict[int, str] = {}
        # Frames are gathered and written in one sendall per ~64 KiB (or before any read):
        # one syscall per message was the relay's largest single cost in a profile.
        self._out: list[bytes] = []
        self._out_size = 0
        self._sendall = self.conn.transport._write
        self.conn.transport._write = self._gather

    def _gather(self, data: Any) -> None:
        self._out.append(bytes(data))  # py-amqp reuses its frame buffer: copy
        self._out_size += len(data)
        if self._out_size >= 65536:
            self._write_out()

    def _write_out(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._out_size = 0
            self._sendall(data)

    def _drain(self, timeout: float | None) -> None:
        self._write_out()
        self.conn.drain_events(timeout=timeout)

    def _settle(self, tag: int, multiple: bool) -> list[int]:
        done = [t for t in self.state.pending if t <= tag] if multiple else [tag]
        for t in done:
            self.state.pending.discard(t)
        return done

    def _on_ack(self, tag: int, multiple: bool) -> None:
        for t in self._settle(tag, multiple):
            self.tag_ids.pop(t, None)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        for t in self._settle(tag, multiple):
            NACKED.inc()
            self.state.failed.append(f"nack:{self.tag_ids.pop(t, t)}")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        RETURNED.inc()
        msg_id = message.properties.get("message_id")
        log.error(
            "relay.unroutable exchange=%s routing_key=%s message_id=%s: no queue bound",
            exchange,
            routing_key,
            msg_id,
        )
        self.state.failed.append(f"returned:{exchange}/{routing_key}/{msg_id}")

    def publish(self, exchange: str, routing_key: str, body: bytes, message_id: str,
                headers: dict[str, Any] | None = None) -> None:
        while len(self.state.pending) >= self.window:
            self._drain(timeout=30)
        msg = amqp.Message(
            body,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=message_id,
            application_headers=headers or {},
        )
        self.channel.basic_publish(msg, exchange=exchange, routing_key=routing_key,
                                   mandatory=True)
        self.state.pending.add(self.next_tag)
        self.tag_ids[self.next_tag] = message_id
        self.next_tag += 1

    def poll(self) -> None:
        """Take in whatever confirms and returns have arrived, without waiting; raise if a
        message failed."""
        while self.state.pending:
            try:
                self._drain(timeout=0)
            except TimeoutError:
                break
        self._raise_failures()

    def confirmed_below(self) -> int:
        """Every tag below this one is settled (acked, or failed and reported)."""
        return min(self.state.pending) if self.state.pending else self.next_tag

    def flush(self, timeout: float = 30) -> None:
        """Wait until every published message is confirmed; raise if any failed."""
        deadline = time.monotonic() + timeout
        while self.state.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishFailed(f"{len(self.state.pending)} confirms still missing")
            self._drain(timeout=remaining)
        self._raise_failures()

    def _raise_failures(self) -> None:
        if self.state.failed:
            failed, self.state.failed = self.state.failed, []
            raise PublishFailed(f"{len(failed)} messages not routed/confirmed: {failed[:3]}")

    def close(self) -> None:
        try:
            self._write_out()
            self.conn.transport._write = self._sendall  # close waits for close-ok
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


class Relay:
    def __init__(self, settings: Settings | None = None, *, name: str = "main",
                 on_batch: Callable[[int, int], None] | None = None):
        self.settings = settings or Settings()
        self.name = name
        self.stop_event = threading.Event()
        self.on_batch = on_batch
        self._streams: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._agency_queues: set[str] = set()
        self.position = 0
        # When the relay last had nothing left to publish (monotonic): lag seconds count
        # from there, since the store keeps no append time we could read cheaply.
        self._caught_up_at = time.monotonic()
        self._heartbeat_at = 0.0
        # Batches published but not yet wholly confirmed: (last notification id, last tag).
        # The relay reads and publishes the next batch while the broker confirms earlier
        # ones; the saved position only ever covers batches confirmed end to end.
        self._inflight: list[tuple[int, int]] = []
        self._read_position = 0

    # -- leadership ---------------------------------------------------------------
    def _acquire_leadership(self, lock_conn: Any) -> bool:
        waited = False
        while not self.stop_event.is_set():
            got = lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK,)).fetchone()[0]
            if got:
                IS_LEADER.set(1)
                if waited:
                    log.info("relay.leader_acquired")
                return True
            if not waited:
                log.info("relay.waiting_for_leader: another relay holds the lock")
                waited = True
            self.stop_event.wait(1.0)
        return False

    # -- main loop --------------------------------------------------------------------
    def run(self) -> None:
        lock_conn = connect(self.settings.pg_dsn, timeout=self.settings.pg_connect_timeout)
        try:
            if not self._acquire_leadership(lock_conn):
                return
            topology.declare(self.settings)
            app = ComplaintsApplication(self.settings)
            listen_conn = connect(self.settings.pg_dsn, timeout=self.settings.pg_connect_timeout)
            listen_conn.execute(f"LISTEN {app.recorder.channel_name}")  # type: ignore[attr-defined]
            publisher = WindowedPublisher(self.settings.amqp_uri, self.settings.relay_window)
            try:
                self.position = self._load_position(lock_conn)
                self._rewind()  # a run after a crash starts from the saved position
                POSITION.set(self.position)
                log.info("relay.started position=%s", self.position)
                backoff = 0.5
                while not self.stop_event.is_set():
                    try:
                        published = self._pump(app, publisher, lock_conn)
                        backoff = 0.5
                    except PublishFailed as exc:
                        log.error("relay.publish_failed retrying in %.1fs: %s", backoff, exc)
                        self.stop_event.wait(backoff)
                        backoff = min(backoff * 2, 10)
                        self._rewind()  # everything after the saved position goes out again
                        publisher.close()
                        topology.declare(self.settings, apply_policy=False)
                        self._agency_queues.clear()
                        publisher = WindowedPublisher(self.settings.amqp_uri,
                                                      self.settings.relay_window)
                        continue
                    if not published:
                        self._update_lag(lock_conn)
                        for _ in listen_conn.notifies(timeout=0.5, stop_after=1):
                            pass
                if self._inflight:  # stopping: save what the broker confirmed
                    try:
                        publisher.flush(timeout=10)
                    except PublishFailed as exc:
                        log.warning("relay.stop_unconfirmed: %s (republished on start)", exc)
                    self._save_confirmed(publisher, lock_conn)
            finally:
                publisher.close()
                listen_conn.close()
                app.close()
        finally:
            IS_LEADER.set(0)
            lock_conn.close()

    def stop(self) -> None:
        self.stop_event.set()

    def _load_position(self, conn: Any) -> int:
        conn.execute(
            "INSERT INTO relay.positions (name, position) VALUES (%s, 0) ON CONFLICT DO NOTHING",
            (self.name,),
        )
        return conn.execute(
            "SELECT position FROM relay.positions WHERE name = %s", (self.name,)
        ).fetchone()[0]

    def save_position(self, conn: Any, position: int) -> None:
        conn.execute(
            "UPDATE relay.positions SET position = %s, updated_at = now() WHERE name = %s",
            (position, self.name),
        )

    def _rewind(self) -> None:
        """Forget the unconfirmed batches: reading resumes after the saved position."""
        self._inflight.clear()
        self._read_position = self.position

    def _pump(self, app: ComplaintsApplication, publisher: WindowedPublisher, conn: Any) -> int:
        notifications = app.recorder.select_notifications(
            start=self._read_position, limit=self.settings.relay_batch, inclusive_of_start=False
        )
        if not notifications:
            if self._inflight:
                publisher.flush()
                self._save_confirmed(publisher, conn)
            return 0
        # All at once: the people's data keys of the page come in one query (shared/personal.py).
        for notification, domain_event in zip(
                notifications, app.mapper.to_domain_events(notifications), strict=True):
            self._publish(app, publisher, domain_event, notification.id)
        self._inflight.append((notifications[-1].id, publisher.next_tag - 1))
        self._read_position = notifications[-1].id
        publisher.poll()
        self._save_confirmed(publisher, conn)
        return len(notifications)

    def _save_confirmed(self, publisher: WindowedPublisher, conn: Any) -> None:
        """Save the position of the newest batch whose every message is confirmed."""
        settled_below = publisher.confirmed_below()
        last = None
        while self._inflight and self._inflight[0][1] < settled_below:
            last = self._inflight.pop(0)[0]
        if last is None:
            return
        saved_before = self.position
        self.save_position(conn, last)
        self.position = last
        POSITION.set(last)
        self._update_lag(conn)
        if self.on_batch:
            self.on_batch(last - saved_before, last)

    def _stream_summary(self, app: ComplaintsApplication, domain_event: Any,
                        data: dict[str, Any] | None = None) -> dict[str, Any]:
        key = str(domain_event.originator_id)
        summary = self._streams.get(key)
        if summary is None:
            first = domain_event
            if domain_event.originator_version != 1:
                stored = app.recorder.select_events(domain_event.originator_id, lte=1)
                first = app.mapper.to_domain_event(stored[0])
                data = None
            data = data if data is not None else event_data(first)
            citizen = data.get("citizen") or {}
            summary = {
                "registration_number": data.get("registration_number"),
                "category": data.get("category"),
                "kabupaten": data.get("kabupaten"),
                "wilayah": data.get("wilayah"),
                "description": data.get("description"),
                "confidential": data.get("confidential"),
                "nik": citizen.get("nik"),
                "phone": citizen.get("phone"),
            }
            self._streams[key] = summary
            if len(self._streams) > 100_000:
                self._streams.popitem(last=False)
        return summary

    def _publish(self, app: ComplaintsApplication, publisher: WindowedPublisher,
                 domain_event: Any, position: int) -> None:
        name = event_type_name(domain_event)
        owner = owner_of(name)
        # The event's data is built once and shared by the stream summary and the envelope
        # (building it twice was ~12% of the relay's time in a profile, docs/benchmarks.md).
        data = event_data(domain_event)
        summary = self._stream_summary(app, domain_event, data)
        envelope = to_cloudevent(
            domain_event, position=position, owner=owner,
            registration_number=summary["registration_number"], data=data,
        )
        headers = {"nameko.correlation_id": envelope.get("correlationid") or ""}
        publisher.publish(f"{owner}.events", name, encode(envelope), envelope["id"], headers)
        _published(f"{owner}.events").inc()
        RELAYED.labels(event_type=name).inc()
        if name == "ReferredToOPD":
            self._publish_referral(publisher, envelope, summary)
        self._publish_notification(publisher, envelope, summary)

    def _publish_notification(self, publisher: WindowedPublisher, envelope: dict[str, Any],
                              summary: dict[str, Any]) -> None:
        """Citizen-facing status changes (referred, resolved) for an SMS / WhatsApp gateway:
        topic `notifications`, key `citizen.<status>`, Indonesian text, the phone number
        only when the citizen gave one. Routed through the same confirms as the event."""
        from shared.agency import citizen_notification, load_profiles

        found = citizen_notification(envelope, summary, load_profiles())
        if found is None:
            return
        routing_key, body = found
        publisher.publish(topology.NOTIFICATIONS_EXCHANGE, routing_key, encode(body), body["id"])
        _published(topology.NOTIFICATIONS_EXCHANGE).inc()

    def _publish_referral(self, publisher: WindowedPublisher, envelope: dict[str, Any],
                          summary: dict[str, Any]) -> None:
        """Agencies subscribe without Python: topic `agency.referrals`, key `<kab>.<agency>`,
        carrying only what the agency needs to act (no KK, name or phone; the NIK masked
        unless the agency's profile needs it in full)."""
        from shared.agency import agency_queue_name, load_profiles, referral_message

        data = envelope["data"]
        routing_key = f"{data['kabupaten']}.{data['agency']}"
        if routing_key not in self._agency_queues:
            # Declared (idempotently) before the first publish so no referral is dropped
            # before the agency's subscriber ever connected.
            from kombu import Connection, Exchange, Queue

            with Connection(self.settings.amqp_uri, connect_timeout=10) as conn:
                exchange = Exchange(topology.AGENCY_EXCHANGE, type="topic", durable=True)
                Queue(agency_queue_name(data["kabupaten"], data["agency"]), exchange=exchange,
                      routing_key=routing_key, durable=True,
                      queue_arguments=dict(topology.CONSUMER_QUEUE_ARGUMENTS))(conn.channel()).declare()
            self._agency_queues.add(routing_key)
        body = referral_message(envelope, summary, load_profiles().get(data["agency"]))
        publisher.publish(topology.AGENCY_EXCHANGE, routing_key, encode(body), body["id"])
        _published(topology.AGENCY_EXCHANGE).inc()

    def _update_lag(self, conn: Any) -> None:
        row = conn.execute(
            "SELECT max(notification_id) FROM eventstore.sedulur_events"
        ).fetchone()
        latest = row[0] or 0
        now = time.monotonic()
        LAG_EVENTS.set(max(0, latest - self.position))
        if latest <= self.position:
            self._caught_up_at = now
            LAG_SECONDS.set(0)
            if now - self._heartbeat_at >= HEARTBEAT_SECONDS:
                conn.execute("UPDATE relay.positions SET updated_at = now() WHERE name = %s",
                             (self.name,))
                self._heartbeat_at = now
        else:
            LAG_SECONDS.set(now - self._caught_up_at)


def relay_lag(settings: Settings) -> dict[str, Any]:
    """Events in the store not yet published, and for how long the relay has been behind
    (0 when caught up; else seconds since it last saved progress or a heartbeat)."""
    with connect(settings.pg_dsn, timeout=settings.pg_connect_timeout) as conn:
        latest = conn.execute(
            "SELECT coalesce(max(notification_id), 0) FROM eventstore.sedulur_events"
        ).fetchone()[0]
        row = conn.execute(
            "SELECT position, extract(epoch FROM now() - updated_at)::float8"
            " FROM relay.positions WHERE name = 'main'"
        ).fetchone()
    position, idle = (row[0], row[1]) if row else (0, 0.0)
    lag = max(0, latest - position)
    return {"latest": latest, "position": position, "lag": lag,
            "seconds": round(idle, 1) if lag else 0.0}
