"""Unit tests and properties of the error-body parser, the classifier and Retry-After parsing.

``parse_error_body`` must read anything a gateway, an upstream provider or a proxy may send
and never raise; ``classify`` picks the class by code first and status second;
``parse_retry_after`` turns the server's wait into seconds or ``None``.
"""

from __future__ import annotations

import email.utils
import json
import math
import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import torouter
from torouter import (
    AccessDenied,
    ApiKeyInQueryDeprecated,
    ApiKeyRequired,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    InsufficientBalance,
    InternalServerError,
    InvalidApiKey,
    KeyDisabled,
    KeyExpired,
    NoEligibleChannel,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhausted,
    RateLimited,
    RateLimitError,
    SubscriptionInvalid,
    SubscriptionNotFound,
    UpstreamTimeout,
    UpstreamUnavailable,
    UsageLimitExceeded,
    UserInactive,
    UserNotFound,
)
from torouter._errors import (
    ParsedError,
    classify,
    make_status_error,
    parse_error_body,
    parse_error_object,
    parse_retry_after,
)

KEY = "sk-test-Zq9Xv7Lm2Np4Rt6Wy8Ab0Cd"
MAX_MESSAGE = 300
MAX_CODE = 100

#: Every gateway code (or code-less phrase) and the class it must select, whatever the status.
GATEWAY: dict[str, type[APIStatusError]] = {
    "API_KEY_REQUIRED": ApiKeyRequired,
    "INVALID_API_KEY": InvalidApiKey,
    "API_KEY_DISABLED": KeyDisabled,
    "API_KEY_EXPIRED": KeyExpired,
    "API_KEY_QUOTA_EXHAUSTED": QuotaExhausted,
    "USER_NOT_FOUND": UserNotFound,
    "USER_INACTIVE": UserInactive,
    "ACCESS_DENIED": AccessDenied,
    "model_not_allowed": AccessDenied,
    "ip not allowed": AccessDenied,
    "SUBSCRIPTION_NOT_FOUND": SubscriptionNotFound,
    "SUBSCRIPTION_INVALID": SubscriptionInvalid,
    "INSUFFICIENT_BALANCE": InsufficientBalance,
    "USAGE_LIMIT_EXCEEDED": UsageLimitExceeded,
    "rate limit exceeded": RateLimited,
    "api_key_in_query_deprecated": ApiKeyInQueryDeprecated,
    "upstream_unavailable": UpstreamUnavailable,
}


def body(data: object) -> bytes:
    return json.dumps(data).encode()


def single_line(text: str) -> bool:
    return len(text.splitlines()) == 1 and text == text.strip()


def check_parsed(parsed: ParsedError) -> None:
    """What every parse result must satisfy, whatever the input."""
    assert isinstance(parsed, ParsedError)
    assert isinstance(parsed.message, str) and parsed.message
    assert single_line(parsed.message) and len(parsed.message) <= MAX_MESSAGE
    assert isinstance(parsed.codes, list)
    for code in parsed.codes:
        assert isinstance(code, str) and code
        assert single_line(code) and len(code) <= MAX_CODE
    assert parsed.status_in_body is None or 100 <= parsed.status_in_body <= 599


# --- parse_error_body: every shape ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "codes", "message", "status_in_body"),
    [
        pytest.param(
            {"error": {"type": "upstream_unavailable", "message": "Service unavailable"}},
            ["upstream_unavailable"], "Service unavailable", None, id="openai-type",
        ),
        pytest.param(
            {"error": {"type": "invalid_request_error", "code": "API_KEY_EXPIRED",
                       "message": "expired", "param": None}},
            ["invalid_request_error", "API_KEY_EXPIRED"], "expired", None, id="openai-code",
        ),
        pytest.param(
            {"error": {"message": "m", "type": "server_error", "code": None}},
            ["server_error"], "m", None, id="openai-null-code",
        ),
        pytest.param(
            {"type": "error", "error": {"type": "API_KEY_DISABLED", "message": "off"}},
            ["API_KEY_DISABLED"], "off", None, id="anthropic",
        ),
        pytest.param(
            {"error": {"code": 403, "message": "no", "status": "API_KEY_EXPIRED"}},
            ["API_KEY_EXPIRED"], "no", 403, id="gemini",
        ),
        pytest.param(
            {"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}},
            ["RESOURCE_EXHAUSTED"], "q", 429, id="gemini-native",
        ),
        pytest.param(
            {"error": "rate limit exceeded"},
            ["rate limit exceeded"], "rate limit exceeded", None, id="top-level-string",
        ),
        pytest.param({"message": "ip not allowed"}, [], "ip not allowed", None, id="message-only"),
        pytest.param({"detail": "Not Found"}, [], "Not Found", None, id="detail"),
        pytest.param(
            {"error": "invalid_grant", "error_description": "bad token"},
            ["invalid_grant"], "invalid_grant", None, id="oauth",
        ),
        pytest.param(
            {"type": "overloaded", "message": "busy"}, ["overloaded"], "busy", None,
            id="top-level-type",
        ),
        pytest.param({"type": "error"}, [], "error body without a message", None,
                     id="type-error-only"),
        pytest.param({"error": {"type": "X"}}, ["X"], "X", None, id="code-without-message"),
        pytest.param({"error": {"code": True, "status": 1000}}, [],
                     "error body without a message", None, id="bool-and-out-of-range-status"),
    ],
)
def test_parse_shapes(
    raw: object, codes: list[str], message: str, status_in_body: int | None
) -> None:
    parsed = parse_error_body(body(raw), "application/json")
    check_parsed(parsed)
    assert parsed.codes == codes
    assert parsed.message == message
    assert parsed.status_in_body == status_in_body
    assert parsed.body == raw


@pytest.mark.parametrize(
    ("content", "ctype", "says", "raw_kept"),
    [
        (b"", "", "empty response body", False),
        (b" \n\t ", "", "empty response body", False),
        (b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
         "text/html", "502 Bad Gateway", True),
        (b"<HTML><TITLE>\n  Service\n Unavailable </TITLE></HTML>", "", "Service Unavailable",
         True),
        (b"<p>no title</p>", "text/html", "HTML", True),
        (b'{"error": {"type": "API_KEY_EXP', "application/json", "truncated or invalid JSON", True),
        (b"[1, 2,", "application/json", "truncated or invalid JSON", True),
        (b"upstream connect error or disconnect/reset before headers", "text/plain",
         "upstream connect error", True),
        (b"\x80\x81\xfe\xff", "", "not UTF-8", True),
        (b"[" * 50_000, "application/json", "invalid JSON", True),
    ],
    ids=["empty", "blank", "html-title", "html-title-multiline", "html-no-title", "truncated",
         "truncated-list", "plain-text", "not-utf8", "too-deep"],
)
def test_parse_non_json(content: bytes, ctype: str, says: str, raw_kept: bool) -> None:
    parsed = parse_error_body(content, ctype)
    check_parsed(parsed)
    assert parsed.codes == []
    assert says in parsed.message
    if raw_kept:
        assert isinstance(parsed.body, str)  # the raw text, for the user to inspect
    else:
        assert parsed.body is None


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"null", "NoneType"), (b"42", "int"), (b"4.5", "float"), (b"[1, 2]", "list"),
     (b"true", "bool")],
)
def test_json_that_is_not_an_object_says_what_it_was(raw: bytes, kind: str) -> None:
    parsed = parse_error_body(raw)
    check_parsed(parsed)
    assert parsed.message.startswith(f"unexpected JSON error body ({kind})")
    assert parsed.body == json.loads(raw)


def test_json_string_body_is_the_message() -> None:
    parsed = parse_error_body(b'"upstream exploded"')
    assert parsed.message == "upstream exploded" and parsed.codes == []


def test_stray_non_utf8_byte_inside_json_keeps_the_code() -> None:
    parsed = parse_error_body(b'{"error": {"type": "INVALID_API_KEY", "message": "cl\xe9"}}')
    assert parsed.codes == ["INVALID_API_KEY"]
    assert parsed.message.startswith("cl")


def test_long_and_multiline_fields_become_one_bounded_line() -> None:
    parsed = parse_error_body(body({
        "error": {"type": "A\nB" + "C" * 500, "message": "one\ntwo\r\nthree\u2028" + "x" * 5000}
    }))
    check_parsed(parsed)
    assert parsed.message.startswith("one two three x")
    assert parsed.message.endswith("…") and len(parsed.message) == MAX_MESSAGE
    assert parsed.codes[0].startswith("A B") and len(parsed.codes[0]) == MAX_CODE


def test_parse_error_object_is_what_stream_events_use() -> None:
    parsed = parse_error_object({"error": {"type": "upstream_unavailable", "message": "x"}})
    assert parsed.codes == ["upstream_unavailable"] and parsed.message == "x"
    assert parse_error_object(None).message.startswith("unexpected JSON error body")


# --- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(GATEWAY))
def test_gateway_code_wins_over_any_status(code: str) -> None:
    for status in (None, 400, 401, 402, 403, 404, 418, 429, 500, 502, 503, 504):
        assert classify([code], status) == (GATEWAY[code], code), status


@pytest.mark.parametrize("code", sorted(GATEWAY))
def test_gateway_code_matches_in_any_case_and_position(code: str) -> None:
    odd_case = code.swapcase()
    cls, reported = classify(["invalid_request_error", f"  {odd_case} "], 400)
    assert cls is GATEWAY[code]
    assert reported == f"  {odd_case} "  # reported as received


@pytest.mark.parametrize(
    ("codes", "status", "message", "cls", "code"),
    [
        # a message that is itself a gateway phrase (the IP block), no code in the body
        ([], 401, "ip not allowed", AccessDenied, None),
        ([], 403, "  IP Not Allowed ", AccessDenied, None),
        ([], 429, "rate limit exceeded", RateLimited, None),
        # specific upstream codes decide before the status does
        (["insufficient_quota"], 429, "", QuotaExhausted, "insufficient_quota"),
        (["invalid_request_error", "model_not_found"], 400, "", NotFoundError, "model_not_found"),
        (["rate_limit_error"], 429, "", RateLimited, "rate_limit_error"),
        (["overloaded_error"], 529, "", UpstreamUnavailable, "overloaded_error"),
        (["DEADLINE_EXCEEDED"], 504, "", UpstreamTimeout, "DEADLINE_EXCEEDED"),
        (["RESOURCE_EXHAUSTED"], 429, "", RateLimitError, "RESOURCE_EXHAUSTED"),
        (["invalid_api_key"], 401, "", InvalidApiKey, "invalid_api_key"),
        # the status family beats a generic category ...
        (["invalid_request_error"], 404, "", NotFoundError, "invalid_request_error"),
        (["api_error"], 429, "", RateLimitError, "api_error"),
        # ... which decides when there is no usable status (an error event inside a stream)
        (["authentication_error"], None, "", AuthenticationError, "authentication_error"),
        (["permission_error"], 418, "", PermissionDeniedError, "permission_error"),
        (["not_found_error"], None, "", NotFoundError, "not_found_error"),
        # an unknown code falls back to the status family and is kept
        (["SOMETHING_NEW"], 403, "", PermissionDeniedError, "SOMETHING_NEW"),
        (["SOMETHING_NEW"], 402, "", BillingError, "SOMETHING_NEW"),
        (["SOMETHING_NEW"], 503, "", NoEligibleChannel, "SOMETHING_NEW"),
        # ... even beside a generic type: the specific code is the one reported
        (["invalid_request_error", "SOMETHING_NEW"], 400, "", BadRequestError, "SOMETHING_NEW"),
        (["invalid_request_error", "SOMETHING_NEW"], None, "", BadRequestError, "SOMETHING_NEW"),
        # code-less
        ([], 500, "", InternalServerError, None),
        ([], 502, "", UpstreamUnavailable, None),
        ([], 503, "", NoEligibleChannel, None),
        ([], 504, "", UpstreamTimeout, None),
        ([], 599, "", InternalServerError, None),
        ([], 418, "", APIStatusError, None),
        ([], 301, "", APIStatusError, None),
        ([], None, "", InternalServerError, None),
    ],
)
def test_classify_order(
    codes: list[str], status: int | None, message: str, cls: type[APIStatusError],
    code: str | None,
) -> None:
    assert classify(codes, status, message) == (cls, code)


# --- parse_retry_after ---------------------------------------------------------------------

NOW = 1_700_000_000.0


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": " 7 "}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": http_date(NOW + 30)}, 30.0),
        ({"Retry-After": http_date(NOW - 30)}, 0.0),  # a date in the past: go now
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"retry-after-ms": "1500", "Retry-After": "10"}, 1.5),  # ms is the more precise
        ({"retry-after-ms": "soon", "Retry-After": "10"}, 10.0),  # bad ms: fall back
        ({"retry-after-ms": "-5", "Retry-After": "10"}, 10.0),
        ({"retry-after-ms": "nan", "Retry-After": "3"}, 3.0),
        ({"retry-after-ms": "inf"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "-1"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "-inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "1e400"}, None),
        ({"Retry-After": "Mon, 99 Foo 2020 99:99:99 GMT"}, None),
    ],
    ids=lambda v: repr(v)[:60] if isinstance(v, dict) else None,
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    got = parse_retry_after(httpx.Headers(headers), now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_retry_after_date_uses_the_real_clock_by_default() -> None:
    import time

    got = parse_retry_after(httpx.Headers({"Retry-After": http_date(time.time() + 120)}))
    assert got is not None and 100 < got <= 121


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["retry-after", "retry-after-ms"]),
    st.one_of(st.text(max_size=40), st.floats().map(str), st.integers().map(str)),
))
def test_parse_retry_after_never_raises(headers: dict[str, str]) -> None:
    got = parse_retry_after(headers, now=NOW)
    assert got is None or (math.isfinite(got) and got >= 0)


# --- properties: parse_error_body never raises ---------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from([*GATEWAY, "error", "", "\n", KEY]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["error", "type", "code", "status", "message", "detail"])
                      | st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)

SHAPES: dict[str, Callable[[Any], object]] = {
    "openai_type": lambda v: {"error": {"type": v, "message": v}},
    "openai_code": lambda v: {"error": {"type": "invalid_request_error", "code": v, "message": v}},
    "anthropic": lambda v: {"type": "error", "error": {"type": v, "message": v}},
    "gemini": lambda v: {"error": {"code": v, "message": v, "status": v}},
    "top_level_string": lambda v: {"error": v},
    "message_only": lambda v: {"message": v},
    "top_level_type": lambda v: {"type": v, "detail": v},
    "bare": lambda v: v,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
@example(b"\xef\xbb\xbf{}")
@example(b"\xff\xfe{\x00}\x00")
@example(b"{" * 5000)
@example(b"<html><title>" + b"\n" * 50 + b"</title>")
def test_parse_error_body_any_bytes(content: bytes) -> None:
    check_parsed(parse_error_body(content))
    check_parsed(parse_error_body(content, "text/html"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SHAPES)), json_values)
def test_parse_error_body_any_json_in_any_shape(shape: str, value: object) -> None:
    data = SHAPES[shape](value)
    parsed = parse_error_body(json.dumps(data).encode(), "application/json")
    check_parsed(parsed)
    in_code_position = shape not in ("message_only", "bare") and not (
        shape == "top_level_type" and isinstance(value, str) and value.strip() == "error"
    )
    if isinstance(value, str) and value.strip() and in_code_position:
        assert parsed.codes  # a string in a code position is read as a code


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(GATEWAY)),
    st.sampled_from(["openai_type", "openai_code", "anthropic", "gemini", "top_level_string"]),
    st.integers(min_value=100, max_value=599),
)
def test_gateway_code_in_any_shape_selects_its_class_at_any_status(
    code: str, shape: str, status: int
) -> None:
    data = {
        "openai_type": {"error": {"type": code, "message": "m"}},
        "openai_code": {"error": {"type": "invalid_request_error", "code": code, "message": "m"}},
        "anthropic": {"type": "error", "error": {"type": code, "message": "m"}},
        "gemini": {"error": {"code": status, "message": "m", "status": code}},
        "top_level_string": {"error": code},
    }[shape]
    err = make_status_error(status=status, parsed=parse_error_body(body(data)), request_id="r",
                            response=None, retry_after=None)
    assert type(err) is GATEWAY[code]
    assert err.code == code and err.status_code == status


# --- properties: make_status_error for any status ------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=100, max_value=599),
    st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
    st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126),
                                 min_size=1, max_size=40)),
    st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)),
)
def test_make_status_error_any_status_is_one_line(
    status: int, content: bytes, request_id: str | None, retry_after: float | None
) -> None:
    err = make_status_error(status=status, parsed=parse_error_body(content), request_id=request_id,
                            response=None, retry_after=retry_after, redact=(KEY,))
    assert isinstance(err, APIStatusError)
    assert err.status_code == status
    text = str(err)
    assert single_line(text), text
    assert len(text) < 1000
    assert text.startswith(type(err).__name__ + f" ({status}")
    assert err.message in text
    if request_id:
        assert request_id in text
    if err.hint:
        assert err.hint in text
    assert KEY not in text and KEY not in repr(err)
    assert isinstance(err.retryable, bool)
    assert pickle.loads(pickle.dumps(err)).message == err.message


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=400),
    st.text(max_size=400),
    st.sampled_from(sorted(SHAPES)),
)
def test_an_echoed_key_never_survives_whole_or_in_part(before: str, after: str, shape: str) -> None:
    """However the key lands in the body, and wherever the length limits cut, it is masked."""
    echoed = before + KEY + after
    data = SHAPES[shape](echoed)
    err = make_status_error(status=401, parsed=parse_error_body(body(data)), request_id="r",
                            response=None, retry_after=None, redact=(KEY,))
    blob = str(err) + repr(err) + json.dumps(err.body) + repr(pickle.dumps(err))
    assert KEY[:10] not in blob and KEY[-10:] not in blob


def test_every_catalog_class_with_a_status_builds_and_describes_itself() -> None:
    """Each row of ERROR_CATALOG that names statuses produces its class at one of them."""
    for entry in torouter.ERROR_CATALOG:
        assert entry.hint and entry.doc_url, entry.name
        if not issubclass(entry.cls, APIStatusError):
            continue
        for status in entry.statuses:
            code = entry.codes[0] if entry.codes else None
            parsed = parse_error_body(body({"error": {"type": code}}) if code else b"")
            err = make_status_error(status=status, parsed=parsed, request_id=None,
                                    response=None, retry_after=None)
            if entry.cls is BadRequestError or not entry.codes:
                assert isinstance(err, entry.cls), (entry.name, status, type(err).__name__)
            else:
                assert type(err) is entry.cls, (entry.name, status, type(err).__name__)


# --- what a user sees in the details --------------------------------------------------------


def _from_body(data: object, status: int | None = 400, **kwargs: Any) -> APIStatusError:
    return make_status_error(status=status, parsed=parse_error_body(body(data)), request_id=None,
                             response=None, retry_after=None, **kwargs)


@pytest.mark.parametrize(
    ("error", "cls", "code"),
    [
        ({"type": "INSUFFICIENT_BALANCE", "code": "API_KEY_DISABLED"}, InsufficientBalance,
         "INSUFFICIENT_BALANCE"),
        ({"type": "API_KEY_DISABLED", "code": "INSUFFICIENT_BALANCE"}, KeyDisabled,
         "API_KEY_DISABLED"),
        ({"code": "USER_INACTIVE", "status": "API_KEY_EXPIRED"}, UserInactive, "USER_INACTIVE"),
    ],
)
def test_the_first_gateway_code_in_the_body_wins(
    error: dict[str, str], cls: type[APIStatusError], code: str
) -> None:
    err = _from_body({"error": {**error, "message": "m"}}, status=403)
    assert type(err) is cls
    assert err.code == code


def test_the_specific_code_is_reported_not_the_generic_type() -> None:
    err = _from_body({"error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                                "message": "too long"}})
    assert type(err) is BadRequestError
    assert err.code == "context_length_exceeded"
    assert "context_length_exceeded" in str(err) and "invalid_request_error" not in str(err)
    err = _from_body({"error": {"type": "invalid_request_error", "code": "brand_new_code"}},
                     status=None)
    assert err.code == "brand_new_code"
    # a generic type alone is still reported
    assert _from_body({"error": {"type": "invalid_request_error"}}).code == "invalid_request_error"


@pytest.mark.parametrize(("numeric", "status"), [(599, 599), (100, 100), (503, 503),
                                                  (600, 500), (99, 500), (True, 500)])
def test_a_status_inside_a_stream_error_event_counts_only_from_100_to_599(
    numeric: object, status: int
) -> None:
    # A stream error event has no HTTP status of its own: a Gemini-style numeric error.code in
    # the event gives it one, if it is a real status.
    err = _from_body({"error": {"code": numeric, "message": "m"}}, status=None)
    assert err.status_code == status


def test_retry_after_zero_is_shown() -> None:
    err = make_status_error(status=429, parsed=parse_error_body(b""), request_id=None,
                            response=None, retry_after=0.0)
    assert err.retry_after == 0.0
    assert "[retry_after=0s]" in str(err)
    no_wait = make_status_error(status=429, parsed=parse_error_body(b""), request_id=None,
                                response=None, retry_after=None)
    assert "[retry_after=" not in str(no_wait)


def test_a_body_that_cannot_be_checked_for_the_key_is_dropped() -> None:
    # An error object the SDK cannot re-serialise (here: nested deeper than the JSON encoder
    # goes) might still hold the key somewhere: the error keeps its code and a masked message,
    # never the body.
    deep: list[object] = [KEY]
    for _ in range(100_000):
        deep = [deep]
    data = {"error": {"type": "INVALID_API_KEY", "message": f"bad key {KEY}"}, "trace": deep}
    err = make_status_error(status=401, parsed=parse_error_object(data), request_id=None,
                            response=None, retry_after=None, redact=(KEY,))
    assert type(err) is InvalidApiKey and err.code == "INVALID_API_KEY"
    assert err.body is None
    assert KEY not in str(err) and KEY not in err.message
    assert err.message == "bad key sk-…w0Cd".replace("w0Cd", KEY[-4:])
    # the same body without the key is kept as it is
    clean = make_status_error(status=401, parsed=parse_error_object({"error": "x", "n": 1}),
                              request_id=None, response=None, retry_after=None, redact=(KEY,))
    assert clean.body == {"error": "x", "n": 1}


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("sk-0123456789abcdef", "sk-…cdef"),
        ("sk-456789abc", "sk-…9abc"),  # 12 characters: the tail is shown
        ("sk-456789ab", "sk-… (a short key: 11 characters)"),  # too short to show any of it
        ("abc", "… (a short key: 3 characters)"),
        ("0123456789ab", "…89ab"),
        ("", ""),
    ],
)
def test_mask_key_shows_a_tail_only_for_keys_of_12_characters_or_more(key: str,
                                                                       masked: str) -> None:
    from torouter._errors import mask_key

    assert mask_key(key) == masked
    if len(key) < 12:
        assert key[-4:] not in mask_key(key) or not key


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("API_KEY_EXPIRED", "KeyExpired"),
        ("api_key_expired", "KeyExpired"),  # codes in any case
        ("  INVALID_API_KEY ", "InvalidApiKey"),
        ("KeyDisabled", "KeyDisabled"),  # a class name
        ("ratelimited", "RateLimited"),
        ("ip not allowed", "AccessDenied"),
        ("insufficient_quota", "QuotaExhausted"),  # a provider code
        ("permission_error", "PermissionDeniedError"),  # a generic category
        (401, "AuthenticationError"),  # a status
        ("404", "NotFoundError"),
        (503, "NoEligibleChannel"),
        (599, "InternalServerError"),  # any other 5xx
        (413, "BadRequestError"),
    ],
)
def test_lookup_finds_the_catalog_row(query: str | int, name: str) -> None:
    from torouter._errors import lookup

    entry = lookup(query)
    assert entry is not None and entry.name == name


@pytest.mark.parametrize("query", ["NO_SUCH_CODE", "", 418, "302"])
def test_lookup_of_something_unknown_is_none(query: str | int) -> None:
    from torouter._errors import lookup

    assert lookup(query) is None


@pytest.mark.parametrize(
    ("cls", "status"),
    [(BadRequestError, 400), (AuthenticationError, 401), (BillingError, 402),
     (PermissionDeniedError, 403), (NotFoundError, 404), (RateLimitError, 429),
     (InternalServerError, 500), (UpstreamUnavailable, 502), (NoEligibleChannel, 503),
     (UpstreamTimeout, 504), (InsufficientBalance, 403), (QuotaExhausted, 429),
     (UsageLimitExceeded, 429), (SubscriptionNotFound, 403), (SubscriptionInvalid, 403)],
)
def test_an_error_event_in_a_stream_gets_the_status_of_its_class(
    cls: type[APIStatusError], status: int
) -> None:
    # A stream error event arrives inside a 200: the error reports the status its class has
    # over plain HTTP, so handlers keyed on status_code see the same number.
    code = next((e.codes[0] for e in torouter.ERROR_CATALOG if e.cls is cls and e.codes), None)
    data = {"error": {"type": code, "message": "m"}} if code else {"error": {"message": "m"}}
    if code is None:  # a class no code selects: the status it stands for (documented)
        assert cls.canonical_status == status
        return
    err = make_status_error(status=None, parsed=parse_error_object(data), request_id=None,
                            response=None, retry_after=None)
    assert type(err) is cls
    assert err.status_code == status


def test_an_error_built_directly_is_a_complete_exception() -> None:
    err = InternalServerError("boom", status_code=500, request_id="r-1")
    assert err.args == ("boom",)  # what logging and `except Exception as e: e.args` see
    assert err.attempts == () and err.retries_taken == 0  # no call, no history
    assert (err.code, err.response, err.body, err.retry_after) == (None, None, None, None)
    assert err.hint == InternalServerError.default_hint
    custom = InternalServerError("x", hint="do this", doc_url="https://x.test/page")
    assert (custom.hint, custom.doc_url) == ("do this", "https://x.test/page")
    assert err.doc_url == InternalServerError.default_doc_url
    assert InternalServerError(message="by keyword").args == ("by keyword",)
    back = pickle.loads(pickle.dumps(err))
    assert back.args == ("boom",) and back.request_id == "r-1" and back.attempts == ()


def test_str_shows_only_the_details_an_error_has() -> None:
    assert str(torouter.APIConnectionError("connection refused", hint="")) == (
        "APIConnectionError: connection refused")
    assert str(BadRequestError("bad", code="odd_code", hint="")) == (
        "BadRequestError (odd_code): bad")
    assert str(BadRequestError("bad", status_code=400, code="odd_code", request_id="r-9",
                               hint="")) == "BadRequestError (400, odd_code): bad [request_id=r-9]"
    assert str(RateLimited("slow down", status_code=429, retry_after=1.5, hint="Wait.")) == (
        "RateLimited (429): slow down [retry_after=1.5s] Hint: Wait.")


def test_a_stream_interruption_keeps_its_own_copy_of_the_chunks_and_its_details() -> None:
    delivered = ["a", "b"]
    err = torouter.StreamInterrupted("cut after 2 chunks", chunks=delivered, request_id="r-s",
                                     status_code=200)
    delivered.append("c")  # the caller's list moves on; the error does not
    assert err.chunks == ["a", "b"]
    assert (err.message, err.request_id, err.status_code, err.attempts) == (
        "cut after 2 chunks", "r-s", 200, ())
    assert torouter.StreamInterrupted("cut").chunks == []


def test_catalog_rows_cannot_be_edited() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        torouter.ERROR_CATALOG[0].meaning = "changed"  # type: ignore[misc]


def test_a_message_of_exactly_the_limit_is_kept_whole() -> None:
    exact = "m" * MAX_MESSAGE
    assert parse_error_object({"error": {"message": exact}}).message == exact
    longer = parse_error_object({"error": {"message": exact + "x"}}).message
    assert len(longer) == MAX_MESSAGE and longer.endswith("…")


def test_the_first_message_field_wins() -> None:
    both = {"message": "from message", "detail": "from detail", "error_description": "desc"}
    assert parse_error_object(both).message == "from message"
    assert parse_error_object({"detail": "from detail", "error_description": "d"}).message == (
        "from detail")


def test_only_the_first_4_kib_are_sniffed_for_html() -> None:
    late = b"x" * 4092 + b"<html><title>Bad Gateway</title></html>"
    assert "HTML" not in parse_error_body(late).message
    early = b"x" * 4000 + b"<html><title>Bad Gateway</title></html>"
    assert parse_error_body(early).message == (
        "non-JSON (HTML) error body from a proxy or load balancer: Bad Gateway")


def test_only_bytes_that_are_not_utf8_are_called_so() -> None:
    assert parse_error_body(b"Bad Gateway").message == "Bad Gateway"
    # a correctly encoded U+FFFD is text like any other
    assert parse_error_body("odd \ufffd char".encode()).message == "odd \ufffd char"
    assert parse_error_body(b"bad \xff byte").message == (
        "error body is not UTF-8 text: bad \ufffd byte")


@pytest.mark.parametrize("key", ['sk-quote"Zq9Xv7Lm2Np4', "sk-back\\slash9Xv7Lm2Np4"])
def test_a_key_with_a_quote_or_backslash_echoed_in_json_is_masked(key: str) -> None:
    # Such keys are legal (printable ASCII); JSON escapes those characters, and the search for
    # the key must look for it as JSON writes it.
    data = {"error": {"type": "INVALID_API_KEY", "message": f"bad key {key}"}, "echo": [key]}
    err = make_status_error(status=401, parsed=parse_error_body(body(data)), request_id=None,
                            response=None, retry_after=None, redact=(key,))
    assert type(err) is InvalidApiKey
    blob = str(err) + repr(err) + json.dumps(err.body) + repr(err.body) + repr(pickle.dumps(err))
    assert key not in blob and json.dumps(key)[1:-1] not in blob
    assert err.message == "bad key sk-…" + key[-4:]


@pytest.mark.parametrize(("ms", "seconds"), [("0", 0.0), ("0.5", 0.0005), ("1500", 1.5)])
def test_small_retry_after_ms_values_count(ms: str, seconds: float) -> None:
    assert parse_retry_after({"retry-after-ms": ms, "retry-after": "7"}) == seconds


def test_a_status_inside_a_stream_error_event_chooses_the_class_too() -> None:
    # no HTTP status of its own: the event's numeric code stands in for one
    data = {"error": {"code": 402, "status": "api_error", "message": "pay"}}
    err = make_status_error(status=None, parsed=parse_error_object(data), request_id=None,
                            response=None, retry_after=None)
    assert type(err) is BillingError and err.status_code == 402
