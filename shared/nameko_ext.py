"""nameko extensions shared by the service shells (framework code stays out of the domain)."""

from __future__ import annotations

import logging
import time
from typing import Any

import amqp.exceptions
import eventlet
from kombu import Queue
from kombu.exceptions import OperationalError
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from nameko.rpc import MethodProxy, ReplyListener, Rpc, RpcConsumer, RpcProxy, ServiceProxy
from prometheus_client import Counter, Histogram

from shared import topology
from shared.logging import bind_context, clear_context

log = logging.getLogger("sedulur.consumer")

CONSUMED = Counter("sedulur_events_consumed_total", "Events handled",
                   ["service", "event_type", "outcome"])
HANDLER_SECONDS = Histogram("sedulur_handler_seconds", "Event handler latency",
                            ["service", "event_type"])


# What a dead broker connection raises from a socket write: nameko 2.14 catches only
# amqp's ConnectionError around ack/requeue, so a BrokenPipeError from a worker that finished
# while RabbitMQ restarted killed the whole container (seen in the fault suite).
BROKER_GONE = (OSError, amqp.exceptions.ConnectionError,
               amqp.exceptions.RecoverableConnectionError, OperationalError)


class ResilientQueueConsumer(QueueConsumer):
    """nameko's queue consumer whose ack / requeue on a connection that died meanwhile is a
    warning, not a crash: the broker has already taken the unacked message back and
    redelivers it after the reconnect (handlers are idempotent)."""

    def ack_message(self, message: Any) -> None:
        try:
            super().ack_message(message)
        except BROKER_GONE as exc:
            log.warning("consumer.ack_lost message_id=%s error=%r: the broker redelivers it",
                        message.properties.get("message_id"), exc)

    def requeue_message(self, message: Any) -> None:
        try:
            super().requeue_message(message)
        except BROKER_GONE as exc:
            log.warning("consumer.requeue_lost message_id=%s error=%r: the broker redelivers"
                        " it", message.properties.get("message_id"), exc)


class DeadLetteringQueueConsumer(ResilientQueueConsumer):
    """nameko's queue consumer, except for a message whose body cannot be decoded (not
    JSON, wrong encoding). kombu's default acks such a message after one log line, so it
    is gone without a trace; here it is rejected without requeue, which sends it to the
    dead-letter exchange at once (retrying cannot make it decodable)."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        log.error(
            "consumer.undecodable queue=%s message_id=%s error=%r: sent to the dead-letter"
            " queue", message.delivery_info.get("routing_key"),
            message.properties.get("message_id"), exc,
        )
        message.reject(requeue=False)


class SedulurEventHandler(EventHandler):
    """nameko's event handler on a quorum queue that rejects a failed message back to the
    broker instead of acking it (nameko's default), so RabbitMQ counts deliveries and
    dead-letters the message after the policy's delivery limit. Handlers are idempotent,
    so a redelivery is harmless. An undecodable body is dead-lettered at once."""

    queue_consumer = DeadLetteringQueueConsumer()

    def __init__(self, source_service: str, event_type: str, **kwargs: Any) -> None:
        kwargs.setdefault("requeue_on_error", True)
        super().__init__(source_service, event_type, **kwargs)

    def setup(self) -> None:
        super().setup()
        q = self.queue
        self.queue = Queue(
            q.name, exchange=q.exchange, routing_key=q.routing_key, durable=True,
            auto_delete=False, exclusive=False,
            queue_arguments=dict(topology.CONSUMER_QUEUE_ARGUMENTS),
        )

    def handle_message(self, body: Any, message: Any) -> None:
        message._sedulur_started = time.monotonic()
        super().handle_message(body, message)

    def handle_message_processed(self, message: Any, result: Any = None,
                                 exc_info: Any = None) -> None:
        service = self.container.service_name
        started = getattr(message, "_sedulur_started", None)
        if started is not None:
            HANDLER_SECONDS.labels(service, self.event_type).observe(time.monotonic() - started)
        if exc_info is not None:
            deliveries = int((message.headers or {}).get("x-delivery-count") or 0)
            CONSUMED.labels(service, self.event_type, "failed").inc()
            log.error(
                "consumer.failed service=%s event_type=%s delivery=%s error=%r",
                service, self.event_type, deliveries + 1, exc_info[1],
            )
            # Back off a little before handing it back, so a briefly unavailable
            # dependency does not burn the whole delivery limit in milliseconds.
            # 0.5+1+2+4+8 s over the default 5 deliveries: the budget outlasts a dropped
            # database connection pool or a restarting dependency (fault suite).
            eventlet.sleep(min(0.5 * (2 ** deliveries), 10.0))
        else:
            CONSUMED.labels(service, self.event_type, "ok").inc()
        super().handle_message_processed(message, result, exc_info)


event_handler = SedulurEventHandler.decorator


# -- RPC ---------------------------------------------------------------------------------------
# Own consumer classes (shared extensions are keyed by type): RPC requests, RPC replies and
# events each keep their own connection and prefetch, so workers waiting for a reply can
# never hold the prefetch the reply needs.

class _RpcQueueConsumer(ResilientQueueConsumer):
    pass


class _ReplyQueueConsumer(ResilientQueueConsumer):
    pass


class ResilientRpcConsumer(RpcConsumer):
    queue_consumer = _RpcQueueConsumer()

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> Any:
        try:
            return super().handle_result(message, result, exc_info)
        except BROKER_GONE as exc:
            # The reply could not be sent: the request stays unacked, the broker redelivers
            # it after the reconnect and the (read-only, idempotent) call runs again.
            log.warning("rpc.reply_lost routing_key=%s error=%r",
                        message.delivery_info.get("routing_key"), exc)
            return result, exc_info


class ResilientRpc(Rpc):
    rpc_consumer = ResilientRpcConsumer()


rpc = ResilientRpc.decorator


class RpcTimeout(Exception):
    """No reply within the proxy's timeout (the callee is down, or the reply was lost when
    the broker restarted). The caller's handler fails and its message is retried."""


class _ResilientReplyListener(ReplyListener):
    queue_consumer = _ReplyQueueConsumer()


class _TimedMethodProxy(MethodProxy):
    def __init__(self, *args: Any, timeout: float, **options: Any) -> None:
        self.timeout = timeout
        super().__init__(*args, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        reply = self._call(*args, **kwargs)
        try:
            with eventlet.Timeout(self.timeout, RpcTimeout(
                    f"{self.service_name}.{self.method_name}: no reply in {self.timeout}s")):
                return reply.result()
        except RpcTimeout:
            events = self.reply_listener._reply_events
            for key, event in list(events.items()):
                if event is reply.reply_event:
                    events.pop(key, None)
            raise


class _TimedServiceProxy(ServiceProxy):
    def __getattr__(self, name: str) -> Any:
        options = dict(self.options)
        timeout = options.pop("timeout")
        return _TimedMethodProxy(self.worker_ctx, self.service_name, name,
                                 self.reply_listener, timeout=timeout, **options)


class TimedRpcProxy(RpcProxy):
    """nameko's RpcProxy with a reply timeout (nameko's waits forever: a verification
    worker waiting for a reply lost in a broker restart held its message for good)."""

    rpc_reply_listener = _ResilientReplyListener()

    def __init__(self, target_service: str, timeout: float = 30.0, **options: Any) -> None:
        super().__init__(target_service, timeout=timeout, **options)

    def get_dependency(self, worker_ctx: Any) -> Any:
        return _TimedServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                                  **self.options)


class Telemetry(DependencyProvider):
    """Per worker: binds the correlation id and complaint id of the message or request being
    handled to every log line of that worker. Per container: registers the queue-depth
    collector for this service's consumer queues and the dead-letter queue."""

    def setup(self) -> None:
        from shared.metrics import register_queue_depth
        from shared.shell import settings_from_config

        service = self.container.service_name
        self.settings = settings_from_config(self.container.config)

        # Computed once here: the service modules are imported now, not during a scrape.
        mine = [s.queue_name for s in topology.subscriptions() if s.service == service]
        mine.append(topology.DLQ)
        register_queue_depth(self.settings, lambda: mine)

    def worker_setup(self, worker_ctx: Any) -> None:
        correlation_id = complaint_id = None
        args = worker_ctx.args or ()
        first = args[0] if args else None
        if isinstance(worker_ctx.entrypoint, EventHandler) and isinstance(first, dict):
            correlation_id = first.get("correlationid")
            complaint_id = first.get("complaintid")
        elif first is not None and hasattr(first, "headers") and hasattr(first, "environ"):
            from shared.web import correlation_id as request_correlation_id

            correlation_id = request_correlation_id(first)
            complaint_id = (worker_ctx.kwargs or {}).get("complaint_id")
        bind_context(correlation_id=correlation_id or worker_ctx.call_id,
                     complaint_id=complaint_id)

    def worker_teardown(self, worker_ctx: Any) -> None:
        clear_context()

    def get_dependency(self, worker_ctx: Any) -> Any:
        return self  # the service reads .settings (its container's) for /health
