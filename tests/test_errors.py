"""The error taxonomy through the real clients: every documented gateway error, in every body
shape, at every status the docs give for it, sync and async; code-less statuses; hostile
bodies; 2xx bodies that are not JSON; retries per class; the missing key; pickling.

The expectations below are a table written for this test (from the gateway's documented
behaviour), not read from ``torouter.ERROR_CATALOG``: the test checks the catalog, it does not
echo it.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import pytest
import respx

import torouter
from torouter import (
    AccessDenied,
    ApiKeyInQueryDeprecated,
    ApiKeyRequired,
    APIResponseValidationError,
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
    ToRouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UsageLimitExceeded,
    UserInactive,
    UserNotFound,
)

BASE = "http://gw.test/v1"
KEY = "sk-test-Zq9Xv7Lm2Np4Rt6Wy8Ab0Cd"
MESSAGES = [{"role": "user", "content": "hi"}]
OK_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-5-mini",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
    ],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# Building an httpx client costs ~0.1 s (its TLS context); every test client here shares one
# pool through the documented ``http_client=`` argument, so hundreds of cases stay fast.
POOLS: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _pools() -> Iterator[None]:
    POOLS["sync"] = httpx.Client()
    POOLS["async"] = httpx.AsyncClient()
    yield
    POOLS.pop("sync").close()
    asyncio.run(POOLS.pop("async").aclose())


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOROUTER_API_KEY", raising=False)
    monkeypatch.delenv("TOROUTER_BASE_URL", raising=False)


# --- the expected taxonomy (from the gateway docs, section "Error taxonomy") ---------------


@dataclass(frozen=True)
class Row:
    code: str  # the code (or code-less phrase) the gateway sends
    statuses: tuple[int, ...]  # every status the docs give for it
    cls: type[APIStatusError]
    retryable: bool


ROWS = [
    Row("API_KEY_REQUIRED", (401,), ApiKeyRequired, False),
    Row("INVALID_API_KEY", (401,), InvalidApiKey, False),
    Row("API_KEY_DISABLED", (401,), KeyDisabled, False),
    Row("API_KEY_EXPIRED", (403, 401), KeyExpired, False),  # error-codes page / key-limits page
    Row("API_KEY_QUOTA_EXHAUSTED", (429, 402), QuotaExhausted, False),  # sticky spend cap
    Row("USER_NOT_FOUND", (401,), UserNotFound, False),
    Row("USER_INACTIVE", (401,), UserInactive, False),
    Row("ACCESS_DENIED", (403, 401), AccessDenied, False),
    Row("ip not allowed", (401, 403), AccessDenied, False),  # the IP-block message
    Row("model_not_allowed", (403,), AccessDenied, False),
    Row("SUBSCRIPTION_NOT_FOUND", (403,), SubscriptionNotFound, False),
    Row("SUBSCRIPTION_INVALID", (403,), SubscriptionInvalid, False),
    Row("INSUFFICIENT_BALANCE", (403, 402), InsufficientBalance, False),
    Row("rate limit exceeded", (429,), RateLimited, True),  # code-less request-rate limit
    Row("USAGE_LIMIT_EXCEEDED", (429,), UsageLimitExceeded, False),  # sticky until roll-over
    Row("api_key_in_query_deprecated", (400,), ApiKeyInQueryDeprecated, False),
    Row("invalid_request_error", (400,), BadRequestError, False),  # upstream passthrough
    Row("upstream_unavailable", (502, 503), UpstreamUnavailable, True),
]


@dataclass(frozen=True)
class Shape:
    """One way of writing an error body; ``build(code, status, message)`` -> (body, code, msg)."""

    name: str
    build: Callable[[str, int, str], tuple[object, str | None, str]]


SHAPES = [
    Shape("openai_type", lambda c, s, m: ({"error": {"type": c, "message": m}}, c, m)),
    Shape(
        "openai_code",
        lambda c, s, m: (
            {"error": {"type": "invalid_request_error", "code": c, "message": m, "param": None}},
            c,
            m,
        ),
    ),
    Shape(
        "anthropic", lambda c, s, m: ({"type": "error", "error": {"type": c, "message": m}}, c, m)
    ),
    Shape("gemini", lambda c, s, m: ({"error": {"code": s, "message": m, "status": c}}, c, m)),
    Shape("top_level_string", lambda c, s, m: ({"error": c}, c, c)),
    # A message-only body carries no code: the class comes from the message, code stays None.
    Shape("message_only", lambda c, s, m: ({"message": c}, None, c)),
]


@dataclass(frozen=True)
class Case:
    row: Row
    status: int
    shape: Shape

    @property
    def id(self) -> str:
        return f"{self.row.code.replace(' ', '_')}-{self.status}-{self.shape.name}"

    @property
    def request_id(self) -> str:
        return f"req-{self.id}"

    def expected(self) -> tuple[object, str | None, str]:
        message = f"the gateway refused this ({self.row.code.lower()}, {self.status})"
        return self.shape.build(self.row.code, self.status, message)

    def response(self) -> httpx.Response:
        body, _, _ = self.expected()
        return httpx.Response(
            self.status, json=body, headers={"x-request-id": self.request_id}
        )


CASES = [Case(row, status, shape) for row in ROWS for status in row.statuses for shape in SHAPES]


# --- helpers: one call through the real client --------------------------------------------


def _sync_client(**kwargs: Any) -> torouter.ToRouter:
    """The real sync client; ``max_retries=0`` unless given, ``max_retries=None`` = default."""
    kwargs.setdefault("max_retries", 0)
    return torouter.ToRouter(api_key=KEY, base_url=BASE, http_client=POOLS["sync"], **kwargs)


def _async_client(**kwargs: Any) -> torouter.AsyncToRouter:
    kwargs.setdefault("max_retries", 0)
    return torouter.AsyncToRouter(
        api_key=KEY, base_url=BASE, http_client=POOLS["async"], **kwargs
    )


def sync_error(*responses: httpx.Response, calls: int = 1, **kwargs: Any) -> ToRouterError:
    """Send one chat completion that fails; check that exactly ``calls`` requests went out."""
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/chat/completions").mock(side_effect=list(responses))
        with _sync_client(**kwargs) as client:
            client._sleep = lambda s: None
            with pytest.raises(ToRouterError) as info:
                client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        assert route.call_count == calls
    return info.value


async def async_error(*responses: httpx.Response, calls: int = 1, **kwargs: Any) -> ToRouterError:
    async def no_sleep(seconds: float) -> None:
        return None

    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        route = router.post("/chat/completions").mock(side_effect=list(responses))
        async with _async_client(**kwargs) as client:
            client._sleep = no_sleep
            with pytest.raises(ToRouterError) as info:
                await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        assert route.call_count == calls
    return info.value


def assert_one_line(err: BaseException, limit: int = 1000) -> str:
    text = str(err)
    assert len(text.splitlines()) == 1, text
    assert len(text) <= limit, len(text)
    assert "Traceback" not in text
    return text


def check_case(err: ToRouterError, case: Case) -> None:
    body, code, message = case.expected()
    # The class belongs to the meaning, whatever status it arrived with.
    assert type(err) is case.row.cls, (type(err).__name__, case.id)
    assert isinstance(err, APIStatusError)
    assert err.status_code == case.status
    assert err.code == code
    assert err.message == message
    assert err.request_id == case.request_id
    assert err.body == body
    assert err.response is not None and err.response.status_code == case.status
    assert err.retry_after is None
    assert err.hint and err.hint.strip()
    assert err.doc_url and err.doc_url.startswith("https://")
    assert err.retryable is case.row.retryable
    assert err.attempts and len(err.attempts) == 1
    text = assert_one_line(err)
    for part in (case.row.cls.__name__, str(case.status), message, case.request_id, err.hint):
        assert part in text, (part, text)
    if code is not None:
        assert code in text
    assert KEY not in text and KEY not in repr(err)


# --- 1. every documented row, every status, every body shape, sync and async ---------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_taxonomy_row_sync(case: Case) -> None:
    check_case(sync_error(case.response()), case)


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_taxonomy_row_async(case: Case) -> None:
    check_case(await async_error(case.response()), case)


@pytest.mark.parametrize(
    "row", [r for r in ROWS if len(r.statuses) > 1], ids=lambda r: r.code.replace(" ", "_")
)
def test_same_class_whatever_the_documented_status(row: Row) -> None:
    """Where the docs disagree on the status, ``except <Class>`` catches both."""
    seen = {}
    for status in row.statuses:
        resp = httpx.Response(status, json={"error": {"type": row.code, "message": "x"}})
        err = sync_error(resp)
        seen[status] = (type(err), err.status_code)
    assert seen == {s: (row.cls, s) for s in row.statuses}


def test_every_documented_class_is_exported_and_in_the_catalog() -> None:
    catalogued = {entry.cls for entry in torouter.ERROR_CATALOG}
    for row in ROWS:
        assert getattr(torouter, row.cls.__name__) is row.cls
        assert row.cls in catalogued
    for cls in (NoEligibleChannel, UpstreamTimeout, BillingError, RateLimitError):
        assert cls in catalogued


def test_catch_by_family_still_works() -> None:
    """The money conditions are one family; a blocked key is a permission problem."""
    assert issubclass(QuotaExhausted, BillingError)
    assert issubclass(InsufficientBalance, BillingError)
    assert issubclass(UsageLimitExceeded, BillingError)
    assert issubclass(KeyExpired, AuthenticationError)
    assert issubclass(AccessDenied, PermissionDeniedError)
    assert issubclass(RateLimited, RateLimitError)
    assert issubclass(NoEligibleChannel, UpstreamUnavailable)
    assert issubclass(UpstreamUnavailable, InternalServerError)
    assert issubclass(UpstreamTimeout, InternalServerError)
    assert issubclass(torouter.APITimeoutError, torouter.APIConnectionError)
    assert issubclass(torouter.StreamInterrupted, torouter.APIConnectionError)


def test_upstream_content_policy_rejection_is_a_bad_request_not_retried() -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "content_policy_violation",
            "message": "Your request was rejected by the safety system.",
        }
    }
    err = sync_error(httpx.Response(400, json=body), max_retries=2)
    assert type(err) is BadRequestError
    assert err.code == "content_policy_violation"  # the specific code, not the generic type
    assert err.retryable is False


# --- 2. code-less statuses, unknown codes, unknown statuses ---------------------------------

CODELESS_BODIES: list[tuple[str, bytes]] = [
    ("openai_no_code", b'{"error": {"message": "something went wrong"}}'),
    ("message_only", b'{"message": "something went wrong"}'),
    ("detail_only", b'{"detail": "something went wrong"}'),
    ("empty", b""),
]
CODELESS_IDS = ["openai_no_code", "message_only", "detail_only", "empty"]
CODELESS_STATUS: list[tuple[int, type[APIStatusError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, BillingError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (413, BadRequestError),
    (422, BadRequestError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, UpstreamUnavailable),
    (503, NoEligibleChannel),
    (504, UpstreamTimeout),
    (501, InternalServerError),
    (599, InternalServerError),
]


STATUS_IDS = [str(s) for s, _ in CODELESS_STATUS]


@pytest.mark.parametrize(("status", "cls"), CODELESS_STATUS, ids=STATUS_IDS)
@pytest.mark.parametrize(("name", "content"), CODELESS_BODIES, ids=CODELESS_IDS)
def test_codeless_status_maps_to_its_family(
    status: int, cls: type[APIStatusError], name: str, content: bytes
) -> None:
    resp = httpx.Response(status, content=content, headers={"x-request-id": "req-cl"})
    err = sync_error(resp)
    assert type(err) is cls
    assert err.status_code == status
    assert err.code is None
    assert err.request_id == "req-cl"
    assert err.message == ("empty response body" if not content else "something went wrong")
    assert err.retryable is (status >= 500 or status == 429)
    assert_one_line(err)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "cls"), CODELESS_STATUS, ids=STATUS_IDS)
async def test_codeless_status_maps_to_its_family_async(
    status: int, cls: type[APIStatusError]
) -> None:
    err = await async_error(httpx.Response(status, json={"error": {"message": "nope"}}))
    assert type(err) is cls
    assert err.status_code == status and err.code is None


UNKNOWN_CODE_STATUS = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, BillingError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, UpstreamUnavailable),
    (503, NoEligibleChannel),
    (504, UpstreamTimeout),
]


@pytest.mark.parametrize(
    ("status", "cls"), UNKNOWN_CODE_STATUS, ids=[str(s) for s, _ in UNKNOWN_CODE_STATUS]
)
@pytest.mark.parametrize("shape", SHAPES[:5], ids=[s.name for s in SHAPES[:5]])
def test_unknown_code_falls_back_to_status_family_and_keeps_code(
    status: int, cls: type[APIStatusError], shape: Shape
) -> None:
    body, code, _ = shape.build("KEY_ON_FIRE_2099", status, "a brand new condition")
    err = sync_error(httpx.Response(status, json=body))
    assert type(err) is cls
    assert err.code == code == "KEY_ON_FIRE_2099"
    assert "KEY_ON_FIRE_2099" in str(err)


@pytest.mark.parametrize("status", [405, 409, 418, 451])
def test_unknown_4xx_is_a_plain_api_status_error(status: int) -> None:
    resp = httpx.Response(status, json={"error": {"type": "teapot", "message": "short and stout"}})
    err = sync_error(resp, max_retries=2)  # not retried either
    assert type(err) is APIStatusError
    assert err.status_code == status
    assert err.code == "teapot"
    assert err.message == "short and stout"
    assert err.retryable is False
    assert f"APIStatusError ({status}, teapot): short and stout" in str(err)


def test_unfollowed_redirect_is_a_status_error_that_says_so() -> None:
    resp = httpx.Response(307, headers={"location": "http://elsewhere.test/v1/chat/completions"})
    err = sync_error(resp)
    assert isinstance(err, APIStatusError)
    assert err.status_code == 307
    assert "redirect" in err.message and "elsewhere.test" in err.message


# --- 3. hostile bodies ---------------------------------------------------------------------

DEEP = 400  # deep, yet json.loads accepts it even from within a deep call stack


@dataclass(frozen=True)
class Hostile:
    name: str
    status: int
    content: bytes
    cls: type[APIStatusError]
    says: str  # a substring the message must contain
    headers: tuple[tuple[str, str], ...] = ()


HOSTILE = [
    Hostile(
        "html_502_from_proxy",
        502,
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad "
        b"Gateway</h1></center><hr><center>nginx</center></body></html>",
        UpstreamUnavailable,
        "502 Bad Gateway",
        (("content-type", "text/html"),),
    ),
    Hostile(
        "html_without_title",
        500,
        b"<!DOCTYPE html><p>oops</p>",
        InternalServerError,
        "HTML",
        (("content-type", "text/html; charset=utf-8"),),
    ),
    Hostile("empty", 500, b"", InternalServerError, "empty response body"),
    Hostile("whitespace", 403, b"  \r\n\t ", PermissionDeniedError, "empty response body"),
    Hostile(
        "truncated_json",
        403,
        b'{"error": {"type": "API_KEY_EXP',
        PermissionDeniedError,
        "truncated",
    ),
    Hostile("not_utf8", 500, b"\xff\xfe\xfa\x80 bad bytes", InternalServerError, "not UTF-8"),
    Hostile(
        "json_with_latin1_byte_keeps_code",
        401,
        b'{"error": {"type": "INVALID_API_KEY", "message": "cl\xe9 invalide"}}',
        InvalidApiKey,
        "cl",
    ),
    Hostile("json_list", 500, b'[{"error": "x"}]', InternalServerError, "unexpected JSON"),
    Hostile("json_number", 500, b"42", InternalServerError, "unexpected JSON error body"),
    Hostile("json_null", 500, b"null", InternalServerError, "unexpected JSON error body"),
    Hostile("json_string", 500, b'"upstream exploded"', InternalServerError, "upstream exploded"),
    Hostile("json_true", 403, b"true", PermissionDeniedError, "unexpected JSON error body"),
    Hostile("error_is_number", 500, b'{"error": 42}', InternalServerError, "without a message"),
    Hostile("error_is_null", 401, b'{"error": null}', AuthenticationError, "without a message"),
    Hostile("error_is_list", 400, b'{"error": ["a", "b"]}', BadRequestError, "without a message"),
    Hostile(
        "fields_of_wrong_types",
        403,
        b'{"error": {"type": 42, "code": [1], "status": {}, "message": {"text": "x"}}}',
        PermissionDeniedError,
        "without a message",
    ),
    Hostile(
        "deep_list",
        500,
        b"[" * DEEP + b"]" * DEEP,
        InternalServerError,
        "unexpected JSON error body",
    ),
    Hostile(
        "deeper_than_the_parser_goes",
        500,
        b"[" * 100_000 + b"]" * 100_000,
        InternalServerError,
        "invalid JSON",
    ),
    Hostile(
        "deep_object_under_error",
        429,
        b'{"error": ' + b'{"error": ' * DEEP + b"1" + b"}" * (DEEP + 1),
        RateLimitError,
        "without a message",
    ),
    Hostile(
        "multi_line_message",
        401,
        b'{"error": {"type": "INVALID_API_KEY", "message": "line one\\nline two\\r\\n\\u2028x"}}',
        InvalidApiKey,
        "line one line two x",
    ),
    Hostile(
        "multi_line_code",
        403,
        b'{"error": {"type": "WEIRD\\nCODE", "message": "m"}}',
        PermissionDeniedError,
        "m",
    ),
    Hostile(
        "huge_message",
        401,
        json.dumps({"error": {"type": "INVALID_API_KEY", "message": "x" * 1_000_000}}).encode(),
        InvalidApiKey,
        "xxxxxxxx",
    ),
    Hostile(
        "huge_code",
        403,
        json.dumps({"error": {"type": "Q" * 1_000_000, "message": "m"}}).encode(),
        PermissionDeniedError,
        "m",
    ),
    Hostile(
        "huge_text_body",
        503,
        b"Service Unavailable " * 100_000,
        NoEligibleChannel,
        "Service Unavailable",
    ),
]


def _hostile_response(h: Hostile) -> httpx.Response:
    return httpx.Response(
        h.status, content=h.content, headers={"x-request-id": f"req-{h.name}", **dict(h.headers)}
    )


def check_hostile(err: ToRouterError, h: Hostile) -> None:
    assert type(err) is h.cls, type(err).__name__
    assert err.status_code == h.status
    assert err.request_id == f"req-{h.name}"
    assert h.says in err.message, err.message
    assert len(err.message) <= 300
    assert err.code is None or len(err.code) <= 100
    text = assert_one_line(err)
    assert h.cls.__name__ in text and f"req-{h.name}" in text


@pytest.mark.parametrize("h", HOSTILE, ids=[h.name for h in HOSTILE])
def test_hostile_body_sync(h: Hostile) -> None:
    check_hostile(sync_error(_hostile_response(h)), h)


@pytest.mark.anyio
@pytest.mark.parametrize("h", HOSTILE, ids=[h.name for h in HOSTILE])
async def test_hostile_body_async(h: Hostile) -> None:
    check_hostile(await async_error(_hostile_response(h)), h)


def test_body_that_claims_gzip_but_is_not_is_a_typed_error() -> None:
    """httpx fails to decode it: a transport-level ToRouterError, never httpx.DecodingError."""
    resp = httpx.Response(
        500, stream=httpx.ByteStream(b"definitely not gzip"), headers={"content-encoding": "gzip"}
    )
    err = sync_error(resp)
    assert isinstance(err, torouter.APIConnectionError)
    assert_one_line(err)


# --- 4. a 2xx whose body is not the expected JSON ------------------------------------------

BAD_2XX = [
    ("html", b"<html><body>Welcome to nginx</body></html>", "text/html"),
    ("empty_object", b"{}", "application/json"),
    ("missing_choices", b'{"id": "c1", "object": "chat.completion"}', "application/json"),
    ("wrong_types", b'{"id": 5, "choices": "many"}', "application/json"),
    ("truncated", json.dumps(OK_COMPLETION).encode()[:40], "application/json"),
    ("not_utf8", b"\xff\xfe\x00garbage", "application/json"),
    ("null", b"null", "application/json"),
    ("list", b"[]", "application/json"),
    ("empty", b"", "application/json"),
]


def _check_bad_2xx(err: ToRouterError) -> None:
    assert type(err) is APIResponseValidationError
    assert not isinstance(err, pydantic.ValidationError)
    assert err.status_code == 200
    assert err.request_id == "req-2xx"
    assert "ChatCompletion" in err.message
    assert err.hint
    assert err.retryable is False
    assert_one_line(err)


@pytest.mark.parametrize(("name", "content", "ctype"), BAD_2XX, ids=[b[0] for b in BAD_2XX])
def test_2xx_with_unexpected_body_sync(name: str, content: bytes, ctype: str) -> None:
    resp = httpx.Response(
        200, content=content, headers={"content-type": ctype, "x-request-id": "req-2xx"}
    )
    _check_bad_2xx(sync_error(resp, max_retries=2))  # sent once: not retried


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "content", "ctype"), BAD_2XX, ids=[b[0] for b in BAD_2XX])
async def test_2xx_with_unexpected_body_async(name: str, content: bytes, ctype: str) -> None:
    resp = httpx.Response(
        200, content=content, headers={"content-type": ctype, "x-request-id": "req-2xx"}
    )
    _check_bad_2xx(await async_error(resp, max_retries=2))


def test_2xx_models_list_with_unexpected_body() -> None:
    with respx.mock(base_url=BASE) as router:
        router.get("/models").respond(200, text="<html>login page</html>",
                                      headers={"x-request-id": "req-m"})
        with _sync_client() as client, pytest.raises(APIResponseValidationError) as info:
            client.models.list()
    assert info.value.status_code == 200 and info.value.request_id == "req-m"


# --- 5. retries per class at the default policy --------------------------------------------


def _rate_limited(rid: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        429, json={"error": "rate limit exceeded"}, headers={"x-request-id": rid, **headers}
    )


def _ok() -> httpx.Response:
    return httpx.Response(200, json=OK_COMPLETION, headers={"x-request-id": "req-ok"})


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        yield router


def _create(client: torouter.ToRouter) -> Any:
    return client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (429, {"error": {"type": "API_KEY_QUOTA_EXHAUSTED", "message": "cap"}}, QuotaExhausted),
        (402, {"error": {"type": "API_KEY_QUOTA_EXHAUSTED", "message": "cap"}}, QuotaExhausted),
        (429, {"error": {"type": "USAGE_LIMIT_EXCEEDED", "message": "w"}}, UsageLimitExceeded),
        (403, {"error": {"type": "INSUFFICIENT_BALANCE", "message": "b"}}, InsufficientBalance),
        (403, {"error": {"type": "API_KEY_EXPIRED", "message": "e"}}, KeyExpired),
        (400, {"error": {"type": "invalid_request_error", "message": "bad"}}, BadRequestError),
        (404, {"error": {"message": "no such model"}}, NotFoundError),
    ],
    ids=["quota-429", "quota-402", "usage-429", "balance-403", "expired-403", "400", "404"],
)
def test_permanent_errors_are_sent_once(
    mock: respx.MockRouter, status: int, body: object, cls: type[APIStatusError]
) -> None:
    route = mock.post("/chat/completions").respond(status, json=body)
    rec = Recorder()
    with _sync_client(max_retries=None) as client:  # default policy
        assert client.max_retries == 2
        client._sleep = rec
        with pytest.raises(cls) as info:
            _create(client)
    assert route.call_count == 1
    assert rec.sleeps == []
    assert len(info.value.attempts) == 1 and info.value.retries_taken == 0


@pytest.mark.parametrize("row", [r for r in ROWS if 401 in r.statuses],
                         ids=lambda r: r.code.replace(" ", "_"))
def test_401s_are_never_retried(mock: respx.MockRouter, row: Row) -> None:
    route = mock.post("/chat/completions").respond(401, json={"error": {"type": row.code}})
    with _sync_client(max_retries=None) as client:
        client._sleep = Recorder()
        with pytest.raises(row.cls):
            _create(client)
    assert route.call_count == 1


def test_rate_limited_is_retried_then_succeeds(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions").mock(
        side_effect=[_rate_limited("req-1"), _rate_limited("req-2"), _ok()]
    )
    rec = Recorder()
    with _sync_client(max_retries=None) as client:
        client._sleep = rec
        result = _create(client)
    assert result.choices[0].message.content == "hello"
    assert result.request_id == "req-ok"
    assert route.call_count == 3
    assert len(rec.sleeps) == 2 and all(s >= 0 for s in rec.sleeps)


def test_rate_limited_gives_up_with_one_attempt_record_per_attempt(
    mock: respx.MockRouter,
) -> None:
    route = mock.post("/chat/completions").mock(
        side_effect=[_rate_limited(f"req-{i}") for i in (1, 2, 3)]
    )
    rec = Recorder()
    with _sync_client(max_retries=None) as client:
        client._sleep = rec
        with pytest.raises(RateLimited) as info:
            _create(client)
    err = info.value
    assert route.call_count == 3
    assert err.request_id == "req-3"  # the last attempt's
    assert [a.number for a in err.attempts] == [1, 2, 3]
    assert [a.request_id for a in err.attempts] == ["req-1", "req-2", "req-3"]
    assert {(a.outcome, a.status_code, a.code) for a in err.attempts} == {
        ("RateLimited", 429, "rate limit exceeded")
    }
    assert [a.sleep for a in err.attempts[:2]] == rec.sleeps
    assert err.attempts[-1].sleep is None and err.attempts[-1].stop_reason
    assert err.retries_taken == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, {"error": {"type": "upstream_unavailable", "message": "temporarily unavailable"}}),
        (502, {"error": {"type": "upstream_unavailable", "message": "all channels failed"}}),
        (500, {"error": {"message": "internal"}}),
        (504, b"<html><title>504 Gateway Time-out</title></html>"),
    ],
    ids=["503-upstream", "502-upstream", "500", "504-html"],
)
def test_server_side_errors_are_retried(
    mock: respx.MockRouter, status: int, body: object
) -> None:
    failed = (httpx.Response(status, content=body) if isinstance(body, bytes)
              else httpx.Response(status, json=body))
    route = mock.post("/chat/completions").mock(side_effect=[failed, _ok()])
    rec = Recorder()
    with _sync_client(max_retries=None) as client:
        client._sleep = rec
        assert _create(client).id == "chatcmpl-1"
    assert route.call_count == 2 and len(rec.sleeps) == 1


@pytest.mark.parametrize(
    ("headers", "sleep"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "0.25"}, 0.25),
    ],
    ids=["seconds", "ms", "float"],
)
def test_retry_after_sets_the_sleep(
    mock: respx.MockRouter, headers: dict[str, str], sleep: float
) -> None:
    mock.post("/chat/completions").mock(side_effect=[_rate_limited("req-1", **headers), _ok()])
    rec = Recorder()
    with _sync_client(max_retries=None) as client:
        client._sleep = rec
        _create(client)
    assert rec.sleeps == [sleep]


def test_retry_after_is_on_the_error_and_in_its_text() -> None:
    err = sync_error(_rate_limited("req-1", **{"Retry-After": "2"}))
    assert err.retry_after == 2.0
    assert "retry_after=2s" in str(err)


def test_retry_after_above_the_cap_is_raised_at_once(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions").mock(
        side_effect=[_rate_limited("req-1", **{"Retry-After": "3600"})]
    )
    rec = Recorder()
    with _sync_client(max_retries=None) as client:
        client._sleep = rec
        with pytest.raises(RateLimited) as info:
            _create(client)
    assert route.call_count == 1 and rec.sleeps == []
    assert info.value.retry_after == 3600.0


@pytest.mark.anyio
async def test_async_retries_follow_the_same_classes(mock: respx.MockRouter) -> None:
    quota = mock.post("/chat/completions", json__model="quota").respond(
        429, json={"error": {"type": "API_KEY_QUOTA_EXHAUSTED", "message": "cap"}}
    )
    limited = mock.post("/chat/completions", json__model="limited").mock(
        side_effect=[_rate_limited("req-1", **{"Retry-After": "2"}), _ok()]
    )
    upstream = mock.post("/chat/completions", json__model="upstream").mock(
        side_effect=[httpx.Response(503, json={"error": {"type": "upstream_unavailable"}}), _ok()]
    )
    expired = mock.post("/chat/completions", json__model="expired").respond(
        401, json={"error": {"type": "API_KEY_EXPIRED"}}
    )
    rec = Recorder()
    async with _async_client(max_retries=None) as client:
        client._sleep = rec.async_sleep
        with pytest.raises(QuotaExhausted):
            await client.chat.completions.create(model="quota", messages=MESSAGES)
        assert rec.sleeps == []
        await client.chat.completions.create(model="limited", messages=MESSAGES)
        assert rec.sleeps == [2.0]
        await client.chat.completions.create(model="upstream", messages=MESSAGES)
        assert len(rec.sleeps) == 2
        with pytest.raises(KeyExpired) as info:
            await client.chat.completions.create(model="expired", messages=MESSAGES)
    assert (quota.call_count, limited.call_count, upstream.call_count, expired.call_count) == (
        1, 2, 2, 1
    )
    assert len(info.value.attempts) == 1


# --- 6. no key: ApiKeyRequired at construction, nothing sent -------------------------------


@pytest.mark.parametrize("env", [None, "", "   "], ids=["unset", "empty", "blank"])
@pytest.mark.parametrize("arg", [None, "", " \t"], ids=["no-arg", "empty-arg", "blank-arg"])
@pytest.mark.parametrize("client_cls", [torouter.ToRouter, torouter.AsyncToRouter])
def test_missing_key_raises_at_construction_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, env: str | None, arg: str | None, client_cls: type
) -> None:
    if env is not None:
        monkeypatch.setenv("TOROUTER_API_KEY", env)
    with respx.mock(assert_all_called=False) as router:
        catch_all = router.route().respond(200, json=OK_COMPLETION)
        with pytest.raises(ApiKeyRequired) as info:
            client_cls(api_key=arg, base_url=BASE)
    assert catch_all.call_count == 0 and len(router.calls) == 0
    err = info.value
    assert isinstance(err, AuthenticationError)
    assert err.status_code is None and err.request_id is None and err.response is None
    assert err.retryable is False
    assert "TOROUTER_API_KEY" in (err.hint or "")
    text = assert_one_line(err)
    assert text.startswith("ApiKeyRequired")


def test_key_from_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOROUTER_API_KEY", KEY)
    with respx.mock(base_url=BASE) as router:
        route = router.post("/chat/completions").respond(200, json=OK_COMPLETION)
        with torouter.ToRouter(base_url=BASE, http_client=POOLS["sync"]) as client:
            _create(client)
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


# --- 7. pickling ---------------------------------------------------------------------------


def _echoing_error() -> ToRouterError:
    """A real error whose body echoes the key (some gateways do) and whose request carries it."""
    body = {"error": {"type": "API_KEY_EXPIRED", "message": f"key {KEY} expired on 2024-01-01"}}
    return sync_error(httpx.Response(403, json=body, headers={"x-request-id": "req-pkl"}))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_drops_response_and_key(protocol: int) -> None:
    err = _echoing_error()
    assert err.response is not None
    assert err.response.request.headers["authorization"] == f"Bearer {KEY}"  # what must not leak
    data = pickle.dumps(err, protocol=protocol)
    assert KEY.encode() not in data
    assert KEY[:12].encode() not in data and KEY[-12:].encode() not in data
    back = pickle.loads(data)
    assert type(back) is KeyExpired
    assert (back.status_code, back.code, back.message, back.request_id) == (
        403, "API_KEY_EXPIRED", err.message, "req-pkl"
    )
    assert back.response is None
    assert back.body == err.body
    assert back.hint == err.hint and back.doc_url == err.doc_url
    assert back.attempts == err.attempts
    assert str(back) == str(err)


def test_echoed_key_is_masked_everywhere_on_the_error() -> None:
    err = _echoing_error()
    assert KEY not in str(err) and KEY not in repr(err) and KEY not in err.message
    assert KEY not in json.dumps(err.body)
    assert "expired on 2024-01-01" in err.message


@pytest.mark.parametrize("pad", [0, 250, 285, 295, 5000])
def test_echoed_key_cut_at_the_length_limit_is_still_masked(pad: int) -> None:
    """A key straddling the message limit must not survive as a long prefix."""
    body = {"error": "x" * pad + KEY + " y"}  # the top-level string is the code and message too
    err = sync_error(httpx.Response(401, json=body))
    blob = str(err) + repr(err) + json.dumps(err.body) + repr(pickle.dumps(err))
    for n in (8, 12, len(KEY)):
        assert KEY[:n] not in blob and KEY[-n:] not in blob


def test_pickle_missing_key_error() -> None:
    with pytest.raises(ApiKeyRequired) as info:
        torouter.ToRouter(base_url=BASE)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is ApiKeyRequired
    assert back.status_code is None and back.response is None and back.message == info.value.message


def test_the_catalog_gives_each_class_the_codes_and_statuses_the_docs_give() -> None:
    """The catalog feeds the README table and ``torouter explain``: it says what the docs say."""
    documented: dict[type[ToRouterError], tuple[set[str], set[int]]] = {}
    for row in ROWS:
        codes, statuses = documented.setdefault(row.cls, (set(), set()))
        codes.add(row.code.lower())
        statuses.update(row.statuses)
    for status, cls in CODELESS_STATUS:
        if status not in (501, 599):  # "any other 5xx": not listed, the 500 row stands for them
            documented.setdefault(cls, (set(), set()))[1].add(status)
    entries = {entry.cls: entry for entry in torouter.ERROR_CATALOG}
    for cls, (codes, statuses) in documented.items():
        entry = entries[cls]
        assert {c.lower() for c in entry.codes} >= codes, cls.__name__
        assert set(entry.statuses) == statuses, cls.__name__


def test_an_error_the_sdk_met_itself_is_not_from_the_fleet() -> None:
    """``from_coordinator`` is True only on errors a RedisCoordinator raised for another
    process's record (tests/coordination); every other error says False."""
    assert torouter.KeyExpired("expired").from_coordinator is False
    assert torouter.ToRouterError("x").from_coordinator is False


def test_circuit_open_carries_its_model_message_and_wait() -> None:
    err = torouter.CircuitOpen("circuit open for gpt-5", model="gpt-5", retry_after=3.0)
    assert err.model == "gpt-5" and err.message == "circuit open for gpt-5"
    assert err.retry_after == 3.0 and "fallback_models" in (err.hint or "")
    assert torouter.CircuitOpen("x").model is None


def test_an_interrupted_stream_without_a_choice_has_no_text() -> None:
    from torouter.types import ChatCompletion

    empty = ChatCompletion.model_construct(id="c", choices=[], created=1, model="m",
                                           object="chat.completion")
    assert torouter.StreamInterrupted("cut", partial=empty).text == ""
    assert torouter.StreamInterrupted("cut").text == ""


def test_an_output_error_without_a_completion_has_no_usage() -> None:
    err = torouter.OutputError("not JSON")
    assert err.completion is None and err.usage is None and err.request_id is None


def test_the_error_classes_are_named_by_their_public_path_however_they_are_reached() -> None:
    import json
    import subprocess
    import sys

    code = ("import json\n"
            "from torouter._errors import KeyExpired, OutputError, ToRouterError\n"
            "print(json.dumps([c.__module__ for c in (KeyExpired, OutputError, ToRouterError)]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    assert json.loads(out) == ["torouter", "torouter", "torouter"]
