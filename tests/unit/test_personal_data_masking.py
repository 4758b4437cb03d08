"""NIK / KK / phone never reach a log line or an error message in full; rate limits."""

from __future__ import annotations

import io
import json
import logging

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from shared import errors
from shared.identity import KK, NIK, PhoneNumber
from shared.logging import MaskingStream, mask_digits
from shared.ratelimit import TokenBucket, rate_limited
from shared.web import error_response, handle_errors

NIK_VALUE = "3325014507900001"


@pytest.mark.parametrize(("text", "leak"), [
    (f"nik={NIK_VALUE}", NIK_VALUE),
    ("kk 3325 0101 0120 0003", "3325 0101 0120 0003"),
    ("332501.450790.0001", "450790"),
    ("hp 081234567890", "1234567"),
    ("wa +62 812-3456-7890", "3456"),
])
def test_personal_numbers_are_masked(text, leak):
    assert leak not in mask_digits(text)


@pytest.mark.parametrize("text", ["3325-261123-000017", "2026-11-23T11:47:06.123456+00:00",
                                  "5e4d1c1a-9a3b-4f7e-8d2a-0b6c5e2f1a77", "port 8701",
                                  "5e4d1c1a-9a3b-4f7e-8d2a-a0812345678b"])
def test_registration_numbers_times_and_ids_are_left_alone(text):
    assert mask_digits(text) == text


@pytest.fixture
def restore_logging():
    import structlog

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    structlog.reset_defaults()


def test_a_structlog_line_with_a_nested_nik_is_masked(capsys, restore_logging):
    from shared import logging as slog

    slog.configure("test-masking")
    logging.getLogger("sedulur.test").warning("citizen %s phone %s", NIK_VALUE, "081234567890")
    import structlog

    structlog.get_logger("sedulur.test").warning("registered", citizen={"nik": NIK_VALUE})
    err = capsys.readouterr().err
    assert NIK_VALUE not in err and "081234567890" not in err and "3325********0001" in err


def test_what_bypasses_logging_is_masked_by_the_stream():
    buf = io.StringIO()
    MaskingStream(buf).write(f"Traceback ... nik {NIK_VALUE}\n")
    assert NIK_VALUE not in buf.getvalue()


BAD_NIKS = ["3325014507900000", "3325013002900001", "9925014507900001", "33250145079000011",
            "3325014507900x01"]


@pytest.mark.parametrize("raw", BAD_NIKS)
def test_identity_errors_never_echo_the_number(raw):
    for parse in (NIK.parse, KK.parse):
        with pytest.raises(errors.InvalidInput) as err:
            parse(raw)
        body = json.dumps(error_response(err.value).json)
        assert raw not in body and raw[4:12] not in body


def test_phone_errors_never_echo_the_number():
    with pytest.raises(errors.InvalidPhone) as err:
        PhoneNumber.parse("+44 20 7946 0958 1234")
    assert "7946" not in err.value.message


# --- rate limits -----------------------------------------------------------------------


def test_a_token_bucket_allows_a_burst_then_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take("1.2.3.4") for _ in range(3)] == [0, 0, 0]
    assert bucket.take("1.2.3.4") == pytest.approx(0.5)
    assert bucket.take("5.6.7.8") == 0  # keyed by client
    now[0] += 0.5
    assert bucket.take("1.2.3.4") == 0


class _Shell:
    @handle_errors
    @rate_limited("unit_test_lookup", rate=0.001, burst=2)
    def lookup(self, request):
        from shared.web import json_response

        return json_response({"ok": True})


def _request(ip: str) -> Request:
    return Request(EnvironBuilder(path="/x", environ_base={"REMOTE_ADDR": ip}).get_environ())


def test_a_rate_limited_endpoint_answers_429_with_retry_after():
    shell = _Shell()
    codes = [shell.lookup(_request("10.0.0.1")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    resp = shell.lookup(_request("10.0.0.1"))
    assert resp.json["error"]["code"] == "rate_limited" and int(resp.headers["Retry-After"]) >= 1
    assert shell.lookup(_request("10.0.0.2")).status_code == 200


def test_an_oversized_body_is_413_and_never_buffered_whole():
    from shared.web import read_json

    big = b'{"a": "' + b"x" * 70_000 + b'"}'
    req = Request(EnvironBuilder(path="/x", method="POST", data=big,
                                 content_type="application/json").get_environ())
    with pytest.raises(errors.RequestTooLarge):
        read_json(req)
    assert error_response(errors.RequestTooLarge("too big")).status_code == 413
