"""Token-bucket rate limits for public endpoints (status lookup, web form), keyed by client IP.

In-process: each service instance keeps its own buckets, so N replicas allow N times the
rate; that bounds abuse per instance, which is what a desk-scale deployment needs. A
cluster-wide limit belongs in the ingress (or a PostgreSQL-backed bucket) — not here.

Usage on an HTTP entrypoint (below @handle_errors, so the 429 is rendered as JSON):

    @http("GET", "/status/<string:number>")
    @handle_errors
    @rate_limited("status_lookup", rate=1.0, burst=10)
    def status(self, request, number): ...

Rates can be overridden per name with SEDULUR_RATE_<NAME>="rate/burst", e.g.
SEDULUR_RATE_STATUS_LOOKUP="0.5/5".
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import wraps
from typing import Any

from werkzeug.wrappers import Request, Response

from shared.errors import RateLimited

MAX_CLIENTS = 100_000  # oldest buckets are forgotten beyond this (memory bound)


class TokenBucket:
    """Per-key buckets: `rate` tokens per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token; returns 0 when allowed, else seconds until one is available."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return wait


def client_ip(request: Request) -> str:
    """The peer address; X-Forwarded-For only when SEDULUR_TRUST_PROXY=1 (behind our own
    ingress), since any client can write that header."""
    if os.environ.get("SEDULUR_TRUST_PROXY") == "1":
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote_addr or "unknown"


_limiters: dict[str, TokenBucket] = {}


def limiter(name: str, rate: float, burst: int) -> TokenBucket:
    override = os.environ.get(f"SEDULUR_RATE_{name.upper()}")
    if override:
        r, _, b = override.partition("/")
        rate, burst = float(r), int(b or burst)
    current = _limiters.get(name)
    if current is None or (current.rate, current.burst) != (rate, burst):
        current = _limiters[name] = TokenBucket(rate, burst)
    return current


def rate_limited(name: str, *, rate: float, burst: int) -> Callable[..., Any]:
    def decorate(fn: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(fn)
        def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            wait = limiter(name, rate, burst).take(client_ip(request))
            if wait > 0:
                raise RateLimited("too many requests; slow down", field="client",
                                  retry_after=max(1, math.ceil(wait)))
            return fn(self, request, *args, **kwargs)

        return wrapper

    return decorate
