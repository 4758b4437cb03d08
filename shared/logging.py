"""Structured JSON logs (structlog) with service, correlation id and complaint id."""

from __future__ import annotations

import logging
import re
import sys

import structlog
from structlog.typing import Processor

_NIK = re.compile(r"(?<!\d)(\d{4})\d{8}(\d{4})(?!\d)")


def mask_digits(text: str) -> str:
    """Mask any 16-digit number (NIK / KK) that reaches a log line."""
    return _NIK.sub(r"\1********\2", text)


def _mask_processor(_: object, __: str, event_dict: dict) -> dict:
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = mask_digits(value)
    return event_dict


_SERVICE: dict[str, str] = {}

# Keys every line carries, null when unknown, so a log query can always filter on them.
CONTEXT_KEYS = ("correlation_id", "complaint_id")


def _context_processor(_: object, __: str, event_dict: dict) -> dict:
    """service on every line from a process-wide value: contextvars are per greenlet, and a
    nameko worker runs in a fresh greenlet that does not see the main one's bindings."""
    if _SERVICE:
        event_dict.setdefault("service", _SERVICE["name"])
    for key in CONTEXT_KEYS:
        event_dict.setdefault(key, None)
    return event_dict


def bind_context(*, correlation_id: str | None = None, complaint_id: object = None) -> None:
    """Bind the ids of the message or request being handled to this greenlet's log lines."""
    structlog.contextvars.bind_contextvars(
        correlation_id=correlation_id,
        complaint_id=str(complaint_id) if complaint_id is not None else None,
    )


def clear_context() -> None:
    structlog.contextvars.unbind_contextvars(*CONTEXT_KEYS)


def configure(service: str, level: str = "INFO") -> None:
    _SERVICE["name"] = service
    shared_processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _context_processor,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _mask_processor,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=shared_processors,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "nameko", "eventsourcing", "psycopg", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
