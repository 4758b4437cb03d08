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

ACTOR_HEADERS = [
    {"name": "X-Sedulur-User", "in": "header", "required": True, "schema": {"type": "string"}},
    {"name": "X-Sedulur-Role", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "operator | verifier | supervisor | agency | auditor | admin"},
    {"name": "X-Sedulur-Desk", "in": "header", "required": False,
     "schema": {"type": "string"}},
]
AREA_HEADER = {"name": "X-Sedulur-Area", "in": "header", "required": False,
               "schema": {"type": "string"},
               "description": "the supervisor's kecamatan (wilayah code); required for role "
                              "supervisor"}
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
            401: "no actor / wrong gateway secret", 403: "role or area not allowed",
            404: "not found", 409: "conflict", 422: "unknown category",
            500: "internal error", 503: "dependency unavailable"}
    return {str(s): _json("Error", text[s]) for s in statuses}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


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
            "parameters": [*ACTOR_HEADERS, IDEMPOTENCY],
            "requestBody": _body(RegisterComplaintIn),
            "responses": {**created, **_errors(400, 401, 422, 409)},
        }},
        "/public/complaints": {"post": {
            "summary": "Register a complaint from the public web form (no login)",
            "operationId": "register_public",
            "parameters": [IDEMPOTENCY],
            "requestBody": _body(PublicComplaintIn),
            "responses": {**created, **_errors(400, 422)},
        }},
        "/gateway/messages": {"post": {
            "summary": "SMS / WhatsApp gateway webhook; text `NIK#KATEGORI#uraian`",
            "operationId": "gateway_message",
            "description": "A redelivered message_id registers nothing new. On a bad text the "
                           "error's details.reply is a message to send back to the citizen.",
            "parameters": [{"name": "X-Sedulur-Gateway-Secret", "in": "header",
                            "required": True, "schema": {"type": "string"}}],
            "requestBody": _body(GatewayMessageIn),
            "responses": {"201": _json(GatewayReplyOut, "registered"),
                          "200": _json(GatewayReplyOut, "a redelivery"),
                          **_errors(400, 401, 403, 422)},
        }},
        "/complaints/{complaint_id}": {"get": {
            "summary": "Status row of one complaint (desk view)",
            "operationId": "get_complaint",
            "parameters": [{"name": "complaint_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "status row",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}},
                          **_errors(404)},
        }},
        "/status/{number}": {"get": {
            "summary": "Citizen status lookup: registration number + last 4 NIK digits",
            "operationId": "citizen_status",
            "description": "An unknown number, a malformed one and a wrong NIK suffix all "
                           "answer the same 404 body.",
            "parameters": [
                {"name": "number", "in": "path", "required": True,
                 "schema": {"type": "string"}, "example": "3325-251123-000019"},
                {"name": "nik4", "in": "query", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9]{4}$"}},
            ],
            "responses": {"200": _json(StatusOut, "status, stage, agency, due time"),
                          **_errors(404)},
        }},
        "/categories": {"get": {
            "summary": "The category tree (priority and confidential flag per category)",
            "operationId": "category_tree",
            "responses": {"200": {"description": "tree", "content": {"application/json": {
                "schema": {"type": "object"}}}}},
        }},
        "/operators/session": {"post": {
            "summary": "An operator logs in to a desk",
            "operationId": "operator_login",
            "parameters": ACTOR_HEADERS,
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": _ref(OperatorLoginIn)}}},
            "responses": {"201": _json(SessionOut, "session opened"),
                          **_errors(400, 401, 403)},
        }},
        "/operators/session/{session_id}/heartbeat": {"post": {
            "summary": "The desk is still open (every heartbeat_seconds)",
            "operationId": "operator_heartbeat",
            "parameters": [*ACTOR_HEADERS, SESSION],
            "responses": {"204": {"description": "seen"}, **_errors(401, 403, 404)},
        }},
        "/operators/session/{session_id}": {"delete": {
            "summary": "The operator logs out",
            "operationId": "operator_logout",
            "parameters": [*ACTOR_HEADERS, SESSION],
            "responses": {"204": {"description": "logged out"}, **_errors(401, 403, 404)},
        }},
        "/operators/activity": {"get": {
            "summary": "Operator activity in the supervisor's area, with roll-ups",
            "operationId": "operator_activity",
            "parameters": [*ACTOR_HEADERS, AREA_HEADER, AREA_QUERY],
            "responses": {"200": _json("ActivityView", "the view"),
                          **_errors(400, 401, 403)},
        }},
        "/operators/live": {"get": {
            "summary": "Live operator view as Server-Sent Events",
            "operationId": "operator_live",
            "description": "Events: `snapshot` (an ActivityView), then per operator "
                           "`registration`, `idle`, `deadline_at_risk` or `operator` (other "
                           "change), each with the operator's row as data.",
            "parameters": [*ACTOR_HEADERS, AREA_HEADER, AREA_QUERY],
            "responses": {"200": {"description": "event stream",
                                  "content": {"text/event-stream": {
                                      "schema": {"type": "string"}}}},
                          **_errors(400, 401, 403)},
        }},
        "/audit/complaints/{reference}/history": {"get": {
            "summary": "Auditor: every event of a complaint in order, with actor and reasons",
            "operationId": "audit_history",
            "parameters": [*ACTOR_HEADERS,
                           {"name": "reference", "in": "path", "required": True,
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
            "parameters": [*ACTOR_HEADERS,
                           {"name": "reference", "in": "path", "required": True,
                            "schema": {"type": "string"}},
                           {"name": "version", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1}},
                           {"name": "at", "in": "query", "required": False,
                            "schema": {"type": "string", "format": "date-time"}}],
            "responses": {"200": {"description": "state at that point"},
                          **_errors(400, 401, 403, 404)},
        }},
        "/openapi.json": {"get": {
            "summary": "This document", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }},
        "/health": {"get": {
            "summary": "PostgreSQL and RabbitMQ reachable", "operationId": "health",
            "responses": {"200": {"description": "ok"}, "503": {"description": "degraded"}},
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics, including operator-activity gauges",
            "operationId": "metrics",
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
        "paths": paths,
        "components": {"schemas": schemas},
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
