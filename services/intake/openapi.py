"""The OpenAPI 3.1 document of intake's HTTP API, built from the request/response models.

Served at GET /openapi.json and saved as docs/openapi/intake.yaml
(`python -m services.intake.openapi > docs/openapi/intake.yaml`; a test keeps them equal and
checks that every HTTP entrypoint of the service is described)."""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

from .schemas import (
    GatewayMessageIn,
    GatewayReplyOut,
    OperatorLoginIn,
    PublicComplaintIn,
    RegisterComplaintIn,
    RegistrationOut,
    SessionOut,
    StatusOut,
)

MODELS: tuple[type[BaseModel], ...] = (
    RegisterComplaintIn, PublicComplaintIn, GatewayMessageIn, OperatorLoginIn,
    RegistrationOut, SessionOut, StatusOut, GatewayReplyOut,
)

# Who calls: a signed token (shared/auth.py) carrying user, role and area; the gateway
# webhook is a machine channel with its shared secret; public endpoints need neither.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": "HS256 JWT from `sedulur users token <user>`: sub, role "
                              "(operator | verifier | supervisor | agency | auditor | admin) "
                              "and the role's area (desk / kecamatan / kabupaten / agency); "
                              "15 minutes by default. See docs/security.md."},
    "gatewaySecret": {"type": "apiKey", "in": "header", "name": "X-Sedulur-Gateway-Secret"},
}
PUBLIC: list[dict[str, list[str]]] = []  # `security: []`: no credentials
AREA_QUERY = {"name": "area", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "narrow to a desk / kecamatan inside the supervisor's area"}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "maxLength": 200},
               "description": "a retry with the same key returns the first result (200) and "
                              "appends nothing"}
SESSION = {"name": "session_id", "in": "path", "required": True,
           "schema": {"type": "string", "format": "uuid"}}


def _ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": f"#/components/schemas/{name}"}


def _json(model: type[BaseModel] | str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "invalid input (code names the problem, field the place)",
            401: "missing, expired, forged or wrong-key token / wrong gateway secret",
            403: "role or area not allowed", 404: "not found", 409: "conflict",
            413: "request body too large", 422: "unknown category",
            429: "too many requests from this client (Retry-After)",
            500: "internal error", 503: "dependency unavailable"}
    return {str(s): _json("Error", text[s]) for s in statuses}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


FORMAT = {"name": "fmt", "in": "path", "required": True,
          "schema": {"type": "string", "enum": ["json", "xml"]},
          "description": "answer format: the path ends in .json or .xml"}


def _open311_answer(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {
        "application/json": {"schema": schema},
        "text/xml": {"schema": {"type": "string", "description": "the same fields as XML"}}}}


def _open311_errors(*statuses: int) -> dict[str, Any]:
    text = {400: "bad field(s): one error per field", 403: "api_key missing or invalid",
            404: "service_code, service_request_id or format not found",
            500: "internal error"}
    return {str(s): _open311_answer(_ref("Open311Errors"), text[s]) for s in statuses}


def _open311_paths() -> dict[str, Any]:
    """GeoReport v2 (docs/open311.md): form-encoded posts, answers in JSON or XML with the
    specification's field names and its error list."""
    list_of = lambda name: {"type": "array", "items": _ref(name)}  # noqa: E731
    attribute_fields = {
        "type": "object", "description": "attribute[<code>] of the service definition",
        "additionalProperties": {"type": "string"}}
    return {
        "/open311/v2/services.{fmt}": {"get": {
            "summary": "Open311: the category tree as service types",
            "operationId": "open311_services", "tags": ["open311"], "security": PUBLIC,
            "parameters": [FORMAT],
            "responses": {"200": _open311_answer(list_of("Open311Service"), "<services>"),
                          **_open311_errors(404)},
        }},
        "/open311/v2/services/{service_code}.{fmt}": {"get": {
            "summary": "Open311: the attributes a request of this service needs",
            "operationId": "open311_definition", "tags": ["open311"], "security": PUBLIC,
            "parameters": [{"name": "service_code", "in": "path", "required": True,
                            "schema": {"type": "string"}, "example": "kis-nonaktif"},
                           FORMAT],
            "responses": {"200": _open311_answer(_ref("Open311ServiceDefinition"),
                                                 "<service_definition>"),
                          **_open311_errors(404)},
        }},
        "/open311/v2/requests.{fmt}": {
            "post": {
                "summary": "Open311: file a complaint (client application with api_key)",
                "operationId": "open311_post", "tags": ["open311"], "security": PUBLIC,
                "description": "An identical post by the same client on the same day is a "
                               "retry: 200 with the first service_request_id, nothing new.",
                "parameters": [FORMAT],
                "requestBody": {"required": True, "content": {
                    "application/x-www-form-urlencoded": {"schema": {
                        "type": "object", "required": ["api_key", "service_code"],
                        "properties": {k: {"type": "string"} for k in (
                            "api_key", "jurisdiction_id", "service_code", "description",
                            "first_name", "last_name", "phone", "email", "lat", "long",
                            "address_string", "address_id", "device_id", "account_id",
                            "media_url")},
                        "additionalProperties": attribute_fields}}}},
                "responses": {
                    "201": _open311_answer(list_of("Open311Posted"), "registered"),
                    "200": _open311_answer(list_of("Open311Posted"), "a retry"),
                    **_open311_errors(400, 403, 404)},
            },
            "get": {
                "summary": "Open311: complaints by ids, service_code, status and dates",
                "operationId": "open311_requests", "tags": ["open311"], "security": PUBLIC,
                "parameters": [
                    FORMAT,
                    *({"name": n, "in": "query", "required": False,
                       "schema": {"type": "string"}, "description": d} for n, d in (
                        ("service_request_id", "comma-separated; the other filters are "
                                               "then ignored"),
                        ("service_code", "comma-separated"),
                        ("status", "open | closed (comma-separated)"),
                        ("start_date", "W3C date-time; default 90 days before end_date"),
                        ("end_date", "W3C date-time"),
                        ("jurisdiction_id", "accepted, not needed: one jurisdiction")))],
                "responses": {"200": _open311_answer(list_of("Open311Request"),
                                                     "<service_requests>, at most 1000"),
                              **_open311_errors(400, 404)},
            },
        },
        "/open311/v2/requests/{service_request_id}.{fmt}": {"get": {
            "summary": "Open311: one complaint's status (no personal data)",
            "operationId": "open311_request", "tags": ["open311"], "security": PUBLIC,
            "parameters": [{"name": "service_request_id", "in": "path", "required": True,
                            "schema": {"type": "string"}, "example": "3325-251123-000019"},
                           FORMAT],
            "responses": {"200": _open311_answer(list_of("Open311Request"),
                                                 "<service_requests> with one request"),
                          **_open311_errors(404)},
        }},
    }


def _open311_schemas() -> dict[str, Any]:
    def obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": required or list(props)}

    s, n = {"type": "string"}, {"type": ["string", "null"]}
    return {
        "Open311Errors": {"type": "array", "items": obj({"code": {"type": "integer"},
                                                         "description": s})},
        "Open311Service": obj({"service_code": s, "service_name": s, "description": s,
                               "metadata": {"type": "boolean"},
                               "type": {"type": "string",
                                        "enum": ["realtime", "batch", "blackbox"]},
                               "keywords": s, "group": s}),
        "Open311ServiceDefinition": obj({"service_code": s, "attributes": {
            "type": "array", "items": obj({
                "variable": {"type": "boolean"}, "code": s,
                "datatype": {"type": "string", "enum": [
                    "string", "number", "datetime", "text", "singlevaluelist",
                    "multivaluelist"]},
                "required": {"type": "boolean"}, "datatype_description": s,
                "order": {"type": "integer"}, "description": s,
                "values": {"type": "array", "items": obj({"key": s, "name": s})}},
                ["variable", "code", "datatype", "required", "order", "description"])}}),
        "Open311Posted": obj({"service_request_id": s, "service_notice": n,
                              "account_id": n}, ["service_request_id"]),
        "Open311Request": obj({
            "service_request_id": s, "status": {"type": "string", "enum": ["open", "closed"]},
            "status_notes": s, "service_name": s, "service_code": s, "description": n,
            "agency_responsible": n, "service_notice": n,
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": {"type": "string", "format": "date-time"},
            "expected_datetime": {"type": ["string", "null"], "format": "date-time"},
            "address": n, "address_id": n, "zipcode": n, "lat": n, "long": n,
            "media_url": n}),
    }


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                         by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string", "description": "stable, for clients"},
                           "message": {"type": "string"},
                           "field": {"type": "string"},
                           "details": {"type": "object"}}}},
    }
    schemas.update(_open311_schemas())
    schemas["ActivityView"] = {
        "type": "object",
        "description": "operators in the area with online / idle / deadline flags, rolled "
                       "up per desk, kecamatan and kabupaten",
        "properties": {k: {"type": "array", "items": {"type": "object"}}
                       for k in ("operators", "desks", "kecamatan", "kabupaten")}
        | {"area": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
           "idle_after_seconds": {"type": "integer"}},
    }
    created = {"201": _json(RegistrationOut, "registered"),
               "200": _json(RegistrationOut, "a retry: the first registration, nothing new")}
    paths: dict[str, Any] = {
        "/complaints": {"post": {
            "summary": "Register a complaint at a desk (operator)",
            "operationId": "register_http",
            "parameters": [IDEMPOTENCY],
            "requestBody": _body(RegisterComplaintIn),
            "responses": {**created, **_errors(400, 401, 403, 413, 422, 409)},
        }},
        "/public/complaints": {"post": {
            "summary": "Register a complaint from the public web form (no login)",
            "operationId": "register_public",
            "security": PUBLIC,
            "parameters": [IDEMPOTENCY],
            "requestBody": _body(PublicComplaintIn),
            "responses": {**created, **_errors(400, 413, 422, 429)},
        }},
        "/gateway/messages": {"post": {
            "summary": "SMS / WhatsApp gateway webhook; text `NIK#KATEGORI#uraian`",
            "operationId": "gateway_message",
            "description": "A redelivered message_id registers nothing new. On a bad text the "
                           "error's details.reply is a message to send back to the citizen.",
            "security": [{"gatewaySecret": []}],
            "requestBody": _body(GatewayMessageIn),
            "responses": {"201": _json(GatewayReplyOut, "registered"),
                          "200": _json(GatewayReplyOut, "a redelivery"),
                          **_errors(400, 401, 403, 413, 422)},
        }},
        "/complaints/{complaint_id}": {"get": {
            "summary": "Status row of one complaint (desk view)",
            "operationId": "get_complaint",
            "description": "Personal data: every read, allowed or denied, is in the access "
                           "log (GET /audit/access-log).",
            "parameters": [{"name": "complaint_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "status row",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}},
                          **_errors(401, 403, 404)},
        }},
        "/status/{number}": {"get": {
            "summary": "Citizen status lookup: registration number + last 4 NIK digits",
            "operationId": "citizen_status",
            "security": PUBLIC,
            "description": "An unknown number, a malformed one and a wrong NIK suffix all "
                           "answer the same 404 body.",
            "parameters": [
                {"name": "number", "in": "path", "required": True,
                 "schema": {"type": "string"}, "example": "3325-251123-000019"},
                {"name": "nik4", "in": "query", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9]{4}$"}},
            ],
            "responses": {"200": _json(StatusOut, "status, stage, agency, due time"),
                          **_errors(404, 429)},
        }},
        "/categories": {"get": {
            "summary": "The category tree (priority and confidential flag per category)",
            "operationId": "category_tree",
            "security": PUBLIC,
            "responses": {"200": {"description": "tree", "content": {"application/json": {
                "schema": {"type": "object"}}}}},
        }},
        "/operators/session": {"post": {
            "summary": "An operator logs in to a desk",
            "operationId": "operator_login",
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": _ref(OperatorLoginIn)}}},
            "responses": {"201": _json(SessionOut, "session opened"),
                          **_errors(400, 401, 403)},
        }},
        "/operators/session/{session_id}/heartbeat": {"post": {
            "summary": "The desk is still open (every heartbeat_seconds)",
            "operationId": "operator_heartbeat",
            "parameters": [SESSION],
            "responses": {"204": {"description": "seen"}, **_errors(401, 403, 404)},
        }},
        "/operators/session/{session_id}": {"delete": {
            "summary": "The operator logs out",
            "operationId": "operator_logout",
            "parameters": [SESSION],
            "responses": {"204": {"description": "logged out"}, **_errors(401, 403, 404)},
        }},
        "/operators/activity": {"get": {
            "summary": "Operator activity in the supervisor's area, with roll-ups",
            "operationId": "operator_activity",
            "parameters": [AREA_QUERY],
            "responses": {"200": _json("ActivityView", "the view"),
                          **_errors(400, 401, 403)},
        }},
        "/operators/live": {"get": {
            "summary": "Live operator view as Server-Sent Events",
            "operationId": "operator_live",
            "description": "Events: `snapshot` (an ActivityView), then per operator "
                           "`registration`, `idle`, `deadline_at_risk` or `operator` (other "
                           "change), each with the operator's row as data.",
            "parameters": [AREA_QUERY],
            "responses": {"200": {"description": "event stream",
                                  "content": {"text/event-stream": {
                                      "schema": {"type": "string"}}}},
                          **_errors(400, 401, 403)},
        }},
        "/audit/complaints/{reference}/history": {"get": {
            "summary": "Auditor: every event of a complaint in order, with actor and reasons",
            "operationId": "audit_history",
            "parameters": [{"name": "reference", "in": "path", "required": True,
                            "description": "registration number or complaint id",
                            "schema": {"type": "string"}},
                           {"name": "format", "in": "query", "required": False,
                            "schema": {"type": "string", "enum": ["json", "csv"]}}],
            "responses": {"200": {"description": "timeline (JSON or CSV)"},
                          **_errors(401, 403, 404)},
        }},
        "/audit/complaints/{reference}/state": {"get": {
            "summary": "Auditor: the complaint's state as of a version or a time",
            "operationId": "audit_state",
            "parameters": [{"name": "reference", "in": "path", "required": True,
                            "schema": {"type": "string"}},
                           {"name": "version", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1}},
                           {"name": "at", "in": "query", "required": False,
                            "schema": {"type": "string", "format": "date-time"}}],
            "responses": {"200": {"description": "state at that point"},
                          **_errors(400, 401, 403, 404)},
        }},
        **_open311_paths(),
        "/audit/access-log": {"get": {
            "summary": "Auditor: who read which complaint's personal data, when, where",
            "operationId": "access_log",
            "parameters": [
                {"name": "complaint_id", "in": "query", "required": False,
                 "schema": {"type": "string", "format": "uuid"}},
                {"name": "user_id", "in": "query", "required": False,
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 5000}}],
            "responses": {"200": {"description": "entries, newest first",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}},
                          **_errors(400, 401, 403)},
        }},
        "/openapi.json": {"get": {
            "summary": "This document", "operationId": "openapi", "security": PUBLIC,
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }},
        "/health": {"get": {
            "summary": "PostgreSQL and RabbitMQ reachable", "operationId": "health",
            "security": PUBLIC,
            "responses": {"200": {"description": "ok"}, "503": {"description": "degraded"}},
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics, including operator-activity gauges",
            "operationId": "metrics", "security": PUBLIC,
            "responses": {"200": {"description": "text exposition format"}},
        }},
    }
    paths.update(_console_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sedulur intake", "version": "1",
                 "description": "Complaint intake for Puskesos / SLRT desks: every channel, "
                                "the citizen's status lookup and the supervisor's operator "
                                "view. Errors are JSON `{error: {code, message, field}}` "
                                "with stable codes."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _console_paths() -> dict[str, Any]:
    """What the web console (services/console) uses besides the other endpoints. Its files,
    config and the CORS preflight need no credentials (`security: []`)."""
    json_object = {"content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "/desks/{desk}/complaints": {"get": {
            "summary": "A desk's complaints of one day (operator: own desk; supervisor: "
                       "desks in its area; auditor, admin: any)",
            "operationId": "desk_complaints",
            "parameters": [{"name": "desk", "in": "path", "required": True,
                            "schema": {"type": "string"}, "example": "332501"},
                           {"name": "day", "in": "query", "required": False,
                            "description": "YYYY-MM-DD in Asia/Jakarta; default today",
                            "schema": {"type": "string", "format": "date"}}],
            "responses": {"200": {"description": "status rows, newest first", **json_object},
                          **_errors(400, 401, 403)},
        }},
        "/console/": {"get": {
            "summary": "The web console (operator desk, supervisor, agency, auditor screens)",
            "operationId": "console_index", "security": [],
            "responses": {"200": {"description": "HTML page"}},
        }},
        "/console/config.json": {"get": {
            "summary": "Where the console finds each service's API (URL or port)",
            "operationId": "console_config", "security": [],
            "responses": {"200": {"description": "per service {url, port}", **json_object}},
        }},
        "/console/{asset}": {"get": {
            "summary": "A static file of the console (JS modules, CSS)",
            "operationId": "console_asset", "security": [],
            "parameters": [{"name": "asset", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file"},
                          "404": {"description": "no such file"}},
        }},
        "/{anything}": {"options": {
            "summary": "CORS preflight for the web console's origins "
                       "(SEDULUR_CONSOLE_ORIGINS; default intake's own address)",
            "operationId": "preflight", "security": [],
            "parameters": [{"name": "anything", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"204": {"description": "allowed methods and headers"}},
        }},
    }


def as_yaml() -> str:
    import yaml

    return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(as_yaml())
