"""Structured JSON logs (structlog) with service, correlation id and complaint id."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

# 16 digits (NIK / KK), bare or in the groupings people write: 4-4-4-4, 6-6-4, 33.25.01.
# 450790.0001. (A registration number, 3325-261123-000017, is grouped 4-6-6 and stays.)
_NIK = re.compile(
    r"(?<![\d*])(?:\d{16}|\d{4}([ .\-])\d{4}\1\d{4}\1\d{4}|\d{6}([ .\-])\d{6}\2\d{4}"
    r"|\d{2}\.\d{2}\.\d{2}\.\d{6}\.\d{4})(?![\d*])"
)
# Indonesian mobile numbers: 08…, 628…, +628… (10-13 digits as dialled), optional separators.
# Not inside a word: a hex id (uuid, trace id) may hold a run like 0812345678.
_PHONE = re.compile(r"(?<![\w*+])(?:\+62|62|0)[ \-]?8\d(?:[ .\-]?\d){6,10}(?![\w*])")


def _keep_ends(match: re.Match[str], head: int, tail: int) -> str:
    digits = [c for c in match.group(0) if c.isdigit()]
    return "".join(digits[:head]) + "*" * (len(digits) - head - tail) + "".join(digits[-tail:])


def mask_digits(text: str) -> str:
    """Mask any NIK / KK (16 digits: first and last 4 stay) and phone number (last 3 stay)
    that reaches a log line, error message or metric label."""
    text = _NIK.sub(lambda m: _keep_ends(m, 4, 4), text)
    return _PHONE.sub(lambda m: _keep_ends(m, 0, 3), text)


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_digits(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    return value


def _mask_processor(_: object, __: str, event_dict: dict) -> dict:
    for key, value in list(event_dict.items()):
        event_dict[key] = mask_value(value)
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


class MaskingStream:
    """A last line of defence for what bypasses logging (eventlet or nameko printing a
    traceback straight to stderr): masks each write."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask_digits(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


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
    if not isinstance(sys.stderr, MaskingStream):
        sys.stderr = MaskingStream(sys.stderr)  # type: ignore[assignment]
    if not isinstance(sys.stdout, MaskingStream):
        sys.stdout = MaskingStream(sys.stdout)  # type: ignore[assignment]
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
