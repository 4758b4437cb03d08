"""A NUL character (which PostgreSQL text cannot hold) in a query parameter or a JSON body
is a named 400, never a 500 from the database."""

from __future__ import annotations

import json

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from shared.web import handle_errors, json_response, read_json


class Endpoint:
    @handle_errors
    def get(self, request: Request) -> Response:
        return json_response({"ok": True})

    @handle_errors
    def post(self, request: Request) -> Response:
        return json_response(read_json(request))


def _request(**kw) -> Request:
    return Request(EnvironBuilder(**kw).get_environ())


def test_a_nul_in_a_query_parameter_is_a_400_naming_it() -> None:
    resp = Endpoint().get(_request(path="/x", query_string={"user_id": "a\x00b"}))
    assert resp.status_code == 400
    assert json.loads(resp.get_data())["error"]["field"] == "user_id"


def test_a_nul_in_a_json_body_is_a_400() -> None:
    resp = Endpoint().post(_request(path="/x", method="POST", data='{"name": "a\\u0000b"}',
                                    content_type="application/json"))
    assert resp.status_code == 400
    assert json.loads(resp.get_data())["error"]["field"] == "body"


def test_ordinary_requests_pass() -> None:
    assert Endpoint().get(_request(path="/x", query_string={"user_id": "op"})).status_code == 200
    resp = Endpoint().post(_request(path="/x", method="POST", data='{"name": "Siti"}',
                                    content_type="application/json"))
    assert resp.status_code == 200


def test_a_nul_in_a_form_field_is_a_400_naming_it() -> None:
    resp = Endpoint().post(_request(path="/x", method="POST",
                                    data={"description": "a\x00b"},
                                    content_type="application/x-www-form-urlencoded"))
    assert resp.status_code == 400
    assert json.loads(resp.get_data())["error"]["field"] == "description"
