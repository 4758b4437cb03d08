"""HTTP translation for every service: one table maps each named error to a status."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from werkzeug.wrappers import Request, Response

from shared import errors

log = logging.getLogger("sedulur.web")

# One place: error class -> HTTP status. Subclasses inherit their parent's status unless
# listed; a test walks every class in shared.errors through this table.
ERROR_STATUS: dict[type[errors.SedulurError], int] = {
    errors.InvalidInput: 400,
    errors.UnknownCategory: 422,
    errors.NotFound: 404,
    errors.DomainRuleViolation: 409,
    errors.ConcurrencyConflict: 409,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.RequestTooLarge: 413,
    errors.ConfigurationError: 500,
    errors.DependencyUnavailable: 503,
    errors.SedulurError: 500,
}


def status_for(exc: errors.SedulurError) -> int:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=str, ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def error_response(exc: errors.SedulurError) -> Response:
    headers = None
    if isinstance(exc, errors.RateLimited) and "retry_after" in exc.details:
        headers = {"Retry-After": str(exc.details["retry_after"])}
    return json_response({"error": exc.to_dict()}, status_for(exc), headers=headers)


def handle_errors(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Named errors become their JSON answer; anything else is a 500 without internals."""

    @wraps(fn)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        from shared.logging import bind_context

        cid = correlation_id(request)
        bind_context(correlation_id=cid, complaint_id=kwargs.get("complaint_id"))
        try:
            refuse_nul(request)
            response = fn(self, request, *args, **kwargs)
        except errors.SedulurError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unhandled error in %s", fn.__name__)
            response = json_response(
                {"error": {"code": "internal_error", "message": "internal error"}}, 500
            )
        response.headers.setdefault("X-Correlation-Id", cid)
        for name, value in cors_headers(request).items():
            response.headers.setdefault(name, value)
        return response

    return wrapper


def refuse_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: a query or form parameter carrying one is a 400 here,
    not a 500 from the database later (or, stored in an event, a projection that can never
    apply it)."""
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for params in sources:
        for name, value in params.items(multi=True):
            if "\x00" in value or "\x00" in name:
                raise errors.InvalidInput(f"{name} contains a NUL character", field=name)


def read_json(request: Request, max_bytes: int = 64 * 1024) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > max_bytes:
        raise errors.RequestTooLarge(f"request body larger than {max_bytes} bytes", field="body")
    # Read at most one byte past the limit: a body without Content-Length (chunked) cannot
    # make the service buffer more than that.
    raw = request.stream.read(max_bytes + 1) if request.content_length is None else (
        request.get_data(cache=True))
    if len(raw) > max_bytes:
        raise errors.RequestTooLarge(f"request body larger than {max_bytes} bytes", field="body")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.MalformedJSON(f"request body is not valid JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise errors.MalformedJSON("request body must be a JSON object", field="body")
    if b"\\u0000" in raw:
        raise errors.InvalidInput("request body contains a NUL character", field="body")
    return body


def parse_model(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "missing":
            raise errors.MissingField(f"{field} is required", field=field) from None
        ctx_error = (first.get("ctx") or {}).get("error")
        if isinstance(ctx_error, errors.SedulurError):
            ctx_error.field = field
            raise ctx_error from None
        raise errors.InvalidInput(f"{field}: {first['msg']}", field=field) from None


def correlation_id(request: Request) -> str:
    """The request's correlation id: the caller's X-Correlation-Id, else one made once per
    request (the log context and the stored event must carry the same id)."""
    cid = request.environ.get("sedulur.correlation_id")
    if cid is None:
        cid = request.headers.get("X-Correlation-Id") or str(uuid.uuid4())
        request.environ["sedulur.correlation_id"] = cid
    return cid


# CORS: the web console is served by intake and calls the other services on their own ports.
# Only origins from config (Settings.allowed_origins) are answered; no cookies are involved
# (credentials travel in headers), so no Allow-Credentials.
CORS_ALLOW_HEADERS = ("Authorization, Content-Type, Idempotency-Key, X-Correlation-Id, "
                      "X-Sedulur-User, X-Sedulur-Role, X-Sedulur-Desk, X-Sedulur-Area, "
                      "X-Sedulur-Agency")


def cors_headers(request: Request) -> dict[str, str]:
    from shared.config import Settings

    origin = request.headers.get("Origin")
    if not origin or origin.rstrip("/") not in Settings().allowed_origins():
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Expose-Headers": "X-Correlation-Id, Location"}


def preflight_response(request: Request) -> Response:
    """The answer to a browser's CORS preflight; without the allow headers it refuses."""
    headers = cors_headers(request)
    if headers:
        headers.update({"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
                        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                        "Access-Control-Max-Age": "600"})
    return Response(status=204, headers=headers)
