"""The retry engine applied to real calls of ``ToRouter`` and ``AsyncToRouter``.

Every test injects a fake monotonic clock whose ``sleep`` advances it (``client._clock`` and
``client._sleep``), so nothing waits and every number is exact.  Requests go to an in-process
transport (``httpx.MockTransport`` or respx); most tests run once on each client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import inspect
import json
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
import tenacity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torouter
from torouter import (
    DEFAULT_RETRY_POLICY,
    ERROR_CATALOG,
    APIConnectionError,
    APITimeoutError,
    AsyncStream,
    AsyncToRouter,
    Attempt,
    Backoff,
    InternalServerError,
    QuotaExhausted,
    RateLimited,
    RawResponse,
    RetryBudget,
    RetryPolicy,
    RetryRule,
    StreamIdleTimeout,
    StreamInterrupted,
    ToRouter,
    ToRouterError,
    UpstreamUnavailable,
    _retrying,
)
from torouter._retrying import CallRetryState, async_retrying, sync_retrying
from torouter.types.chat import ChatCompletion

BASE = "http://gw.test/v1"
KEY = "sk-engine-SECRET-4f9a2b7c11"
PROMPT = "my private prompt: the launch code is 7-4-1"
KINDS = ["sync", "async"]

Client = ToRouter | AsyncToRouter


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- harness ----------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that only moves when a sleep or a test moves it."""

    def __init__(self, start: float = 1000.0, overshoot: float = 0.0) -> None:
        self.start = start
        self.now = start
        self.overshoot = overshoot
        self.sleeps: list[float] = []
        self.sleep_starts: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleep_starts.append(self.now)
        self.sleeps.append(seconds)
        self.now += seconds + self.overshoot

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


Reply = Callable[[httpx.Request], httpx.Response]


def error(status: int, body: object = None, headers: dict[str, str] | None = None) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body if body is not None else {}, headers=headers)

    return reply


def coded(status: int, code: str, **headers: str) -> Reply:
    return error(status, {"error": {"type": code, "message": f"{code} happened"}},
                 {k.replace("_", "-"): v for k, v in headers.items()})


def raises(exc: Callable[[], Exception]) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        raise exc()

    return reply


COMPLETION = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
}


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=COMPLETION, headers={"x-request-id": "req-ok"})


def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": "s-1", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def sse(*events: object, done: bool = True) -> bytes:
    out = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


SSE_HEADERS = {"content-type": "text/event-stream", "x-request-id": "req-stream"}


def stream_reply(body: bytes) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers=SSE_HEADERS)

    return reply


class BrokenBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that delivers ``first`` and then fails with ``exc()``."""

    def __init__(self, first: bytes, exc: Callable[[], Exception]) -> None:
        self.first = first
        self.exc = exc

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        raise self.exc()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.first:
            yield self.first
        raise self.exc()


def broken_stream(first: bytes, exc: Callable[[], Exception]) -> Reply:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BrokenBody(first, exc), headers=SSE_HEADERS)

    return reply


UPSTREAM = {"error": {"type": "upstream_unavailable", "message": "down"}}


def upstream(request_id: str | None = None, **headers: str) -> Reply:
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    if request_id:
        h["x-request-id"] = request_id
    return error(503, UPSTREAM, h)


class Script:
    """A transport handler answering from ``replies`` in order (the last one repeats).

    ``took`` is how long each attempt takes on the fake clock (a number or one per attempt).
    """

    def __init__(self, clock: FakeClock, replies: list[Reply],
                 took: float | list[float] = 0.0) -> None:
        self.clock = clock
        self.replies = replies
        self.took = took
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            n = len(self.requests) - 1
        took = self.took if isinstance(self.took, (int, float)) else self.took[n]
        self.clock.advance(took)
        return self.replies[min(n, len(self.replies) - 1)](request)

    @property
    def count(self) -> int:
        return len(self.requests)


def make(kind: str, clock: FakeClock, script: Script | None = None, **kwargs: Any) -> Any:
    """A client of ``kind`` on ``script`` (or on the real transport, for respx), fake time."""
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("base_url", BASE)
    if kind == "sync":
        if script is not None:
            kwargs["http_client"] = httpx.Client(transport=httpx.MockTransport(script))
        client: Any = ToRouter(**kwargs)
        client._sleep = clock.sleep
    else:
        if script is not None:
            kwargs["http_client"] = httpx.AsyncClient(transport=httpx.MockTransport(script))
        client = AsyncToRouter(**kwargs)
        client._sleep = clock.asleep
    client._clock = clock
    return client


async def chat(client: Client, *, raw: bool = False, **kwargs: Any) -> Any:
    endpoint: Any = client.chat.completions
    if raw:
        endpoint = endpoint.with_raw_response
    result = endpoint.create(model="gpt-5-mini", messages=[{"role": "user", "content": PROMPT}],
                             **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def fail(client: Client, **kwargs: Any) -> ToRouterError:
    with pytest.raises(ToRouterError) as info:
        await chat(client, **kwargs)
    return info.value


async def collect(stream: Any) -> list[Any]:
    if isinstance(stream, AsyncStream):
        return [c async for c in stream]
    return list(stream)


def ceiling(backoff: Backoff, n: int) -> float:
    return min(backoff.maximum, backoff.initial * backoff.multiplier ** (n - 1))


@pytest.fixture
def max_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make full jitter draw its upper bound, so backoff sleeps are exact."""
    defaults = CallRetryState.__init__.__kwdefaults__
    assert defaults is not None and "rand" in defaults
    monkeypatch.setitem(defaults, "rand", lambda: 1.0)


# --- every default rule, through the engine ------------------------------------------------

# How to make the gateway (or the transport) produce each catalogued class, and whether the
# call must be a stream for it.
TRIGGERS: dict[str, tuple[Reply, bool]] = {
    "ApiKeyRequired": (coded(401, "API_KEY_REQUIRED"), False),
    "InvalidApiKey": (coded(401, "INVALID_API_KEY"), False),
    "KeyDisabled": (coded(401, "API_KEY_DISABLED"), False),
    "KeyExpired": (coded(403, "API_KEY_EXPIRED"), False),
    "UserNotFound": (coded(401, "USER_NOT_FOUND"), False),
    "UserInactive": (coded(401, "USER_INACTIVE"), False),
    "AccessDenied": (coded(403, "ACCESS_DENIED"), False),
    "SubscriptionNotFound": (coded(403, "SUBSCRIPTION_NOT_FOUND"), False),
    "SubscriptionInvalid": (coded(403, "SUBSCRIPTION_INVALID"), False),
    "InsufficientBalance": (coded(403, "INSUFFICIENT_BALANCE"), False),
    "QuotaExhausted": (coded(429, "API_KEY_QUOTA_EXHAUSTED"), False),
    "UsageLimitExceeded": (coded(429, "USAGE_LIMIT_EXCEEDED"), False),
    "RateLimited": (error(429, {"error": "rate limit exceeded"}), False),
    "ApiKeyInQueryDeprecated": (coded(400, "api_key_in_query_deprecated"), False),
    "UpstreamUnavailable": (coded(502, "upstream_unavailable"), False),
    "NoEligibleChannel": (error(503, {"error": {"message": "no channel"}}), False),
    "UpstreamTimeout": (error(504, {"error": {"message": "upstream timed out"}}), False),
    "BadRequestError": (coded(400, "invalid_request_error"), False),
    "AuthenticationError": (error(401, {"error": {"message": "nope"}}), False),
    "PermissionDeniedError": (error(403, {"error": {"message": "forbidden"}}), False),
    "BillingError": (error(402, {"error": {"message": "pay"}}), False),
    "NotFoundError": (error(404, {"error": {"message": "no such model"}}), False),
    "RateLimitError": (error(429, {"error": {"message": "slow down"}}), False),
    "InternalServerError": (error(500, {"error": {"message": "boom"}}), False),
    "APIConnectionError": (raises(lambda: httpx.ConnectError("refused")), False),
    "APITimeoutError": (raises(lambda: httpx.ReadTimeout("slow")), False),
    "StreamInterrupted": (stream_reply(b": keep-alive\n\n"), True),
    "StreamIdleTimeout": (broken_stream(b"", lambda: httpx.ReadTimeout("silent")), True),
    "APIResponseValidationError": (error(200, {"unexpected": True}), False),
}


# OutputError and its subclasses come from parse() judging a 200 answer, not from a reply
# of their own; tests/test_structured_outputs.py checks that each is raised after one request.
HTTP_CATALOG = [e for e in ERROR_CATALOG if not issubclass(e.cls, torouter.OutputError)]


def test_every_catalogued_class_has_a_trigger() -> None:
    assert {e.name for e in HTTP_CATALOG} == set(TRIGGERS)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", HTTP_CATALOG, ids=lambda e: e.name)
async def test_every_default_rule_decides_the_number_of_requests(
    kind: str, entry: torouter.CatalogEntry
) -> None:
    clock = FakeClock()
    reply, stream = TRIGGERS[entry.name]
    script = Script(clock, [reply])
    client = make(kind, clock, script)
    err = await fail(client, stream=stream) if stream else await fail(client)
    assert type(err) is entry.cls
    rule = DEFAULT_RETRY_POLICY.rule_for(entry.cls)
    retries = rule.max_retries if rule.retry else 0
    assert script.count == 1 + retries, f"{entry.name}: {script.count} requests"
    assert len(err.attempts) == 1 + retries
    assert len(clock.sleeps) == retries
    for n, slept in enumerate(clock.sleeps, start=1):
        assert 0 <= slept <= ceiling(rule.backoff, n)
    expected_reason = f"{rule.max_retries} retries used" if rule.retry else "not retried by policy"
    assert err.attempts[-1].stop_reason == expected_reason
    assert err.retries_taken == retries


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_rate_limited_backs_off_1_to_32_seconds(kind: str, max_jitter: None) -> None:
    clock = FakeClock()
    script = Script(clock, [TRIGGERS["RateLimited"][0]])
    client = make(kind, clock, script, max_retries=7)
    err = await fail(client)
    assert isinstance(err, RateLimited)
    assert clock.sleeps == [1, 2, 4, 8, 16, 32, 32]
    assert script.count == 8


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_default_backoff_ceilings_for_5xx(kind: str, max_jitter: None) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, max_retries=6)
    await fail(client)
    assert clock.sleeps == [0.5, 1, 2, 4, 8, 8]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_full_jitter_sleeps_are_spread_within_the_bounds(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [TRIGGERS["RateLimited"][0]])
    client = make(kind, clock, script, max_retries=6, retry_budget=None, deadline=None)
    sixth: list[float] = []
    for _ in range(40):
        clock.sleeps.clear()
        await fail(client)
        assert all(0 <= s <= min(32, 2 ** (n - 1)) for n, s in enumerate(clock.sleeps, 1))
        sixth.append(clock.sleeps[5])
    assert len(set(sixth)) > 1, "full jitter must vary the sleep"
    assert max(sixth) > 16, "the sixth RateLimited retry may sleep up to 32 s"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_an_overridden_class_is_retried_as_the_user_says(kind: str) -> None:
    # "retry UpstreamUnavailable 5 times, never RateLimited"
    policy = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=5).with_rule(
        RateLimited, retry=False)
    clock = FakeClock()
    script = Script(clock, [upstream()])
    err = await fail(make(kind, clock, script, retry_policy=policy))
    assert isinstance(err, UpstreamUnavailable) and script.count == 6
    script = Script(clock, [TRIGGERS["RateLimited"][0]])
    err = await fail(make(kind, clock, script, retry_policy=policy))
    assert isinstance(err, RateLimited) and script.count == 1
    # An unrecognised 429 (the RateLimitError family) keeps its own rule: one retry.
    script = Script(clock, [TRIGGERS["RateLimitError"][0]])
    await fail(make(kind, clock, script, retry_policy=policy))
    assert script.count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("how", ["client", "with_options", "policy"])
async def test_max_retries_zero_sends_exactly_one_request(kind: str, how: str) -> None:
    clock = FakeClock()
    for name in ("UpstreamUnavailable", "RateLimited", "RateLimitError", "APIConnectionError"):
        script = Script(clock, [TRIGGERS[name][0]])
        if how == "client":
            client = make(kind, clock, script, max_retries=0)
        elif how == "with_options":
            client = make(kind, clock, script).with_options(max_retries=0)
        else:
            client = make(kind, clock, script, retry_policy=RetryPolicy(max_retries=0))
        await fail(client)
        assert script.count == 1, name
    assert clock.sleeps == []


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_with_options_can_turn_retries_back_on(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, max_retries=0)
    await fail(client.with_options(max_retries=3))
    assert script.count == 4


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "20"}, 20.0),  # longer than the backoff maximum (8 s): still honoured
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after": "60"}, 60.0),  # exactly the cap
    ],
)
async def test_retry_after_replaces_the_backoff(
    kind: str, headers: dict[str, str], expected: float
) -> None:
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, headers), ok])
    result = await chat(make(kind, clock, script))
    assert clock.sleeps == [expected]
    assert result.retries_taken == 1


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_retry_after_as_an_http_date(kind: str) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    date = email.utils.format_datetime(when, usegmt=True)
    clock = FakeClock()
    script = Script(clock, [error(429, {"error": "rate limit exceeded"}, {"retry-after": date}),
                            ok])
    await chat(make(kind, clock, script))
    assert len(clock.sleeps) == 1
    assert 27 <= clock.sleeps[0] <= 30
    # A date in the past means "now".
    past = email.utils.format_datetime(when - timedelta(hours=1), usegmt=True)
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": past}), ok])
    await chat(make(kind, clock, script))
    assert clock.sleeps == [0.0]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("headers", "asked"),
    [({"retry-after": "120"}, 120.0), ({"retry-after-ms": "61000"}, 61.0),
     ({"retry-after": "3600"}, 3600.0)],
)
async def test_retry_after_above_the_cap_raises_at_once(
    kind: str, headers: dict[str, str], asked: float
) -> None:
    for reply in (error(503, UPSTREAM, headers),
                  error(429, {"error": "rate limit exceeded"}, headers)):
        clock = FakeClock()
        script = Script(clock, [reply, ok])
        err = await fail(make(kind, clock, script))
        assert script.count == 1
        assert clock.sleeps == []
        assert clock.now == clock.start
        assert err.retry_after == asked
        assert len(err.attempts) == 1
        reason = err.attempts[-1].stop_reason
        assert reason is not None and "max_retry_after" in reason and f"{asked:g}s" in reason


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_the_retry_after_cap_is_configurable(kind: str) -> None:
    policy = DEFAULT_RETRY_POLICY.replace(max_retry_after=5.0)
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "6"}), ok])
    err = await fail(make(kind, clock, script, retry_policy=policy))
    assert err.retry_after == 6.0 and script.count == 1
    script = Script(clock, [error(503, UPSTREAM, {"retry-after-ms": "4000"}), ok])
    await chat(make(kind, clock, script, retry_policy=policy))
    assert clock.sleeps == [4.0]
    # A larger cap lets the SDK wait longer.
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "300"}), ok])
    policy = DEFAULT_RETRY_POLICY.replace(max_retry_after=600.0)
    await chat(make(kind, clock, script, retry_policy=policy))
    assert clock.sleeps == [300.0]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_retry_after_does_not_make_a_final_error_retried(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [coded(429, "API_KEY_QUOTA_EXHAUSTED", retry_after="2"), ok])
    err = await fail(make(kind, clock, script))
    assert isinstance(err, QuotaExhausted)
    assert err.retry_after == 2.0
    assert script.count == 1 and clock.sleeps == []
    assert err.attempts[-1].stop_reason == "not retried by policy"


# --- the deadline ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_each_attempt_timeout_shrinks_to_what_is_left(kind: str) -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_retries=10, backoff=Backoff(jitter=False))

    def handler(request: httpx.Request) -> httpx.Response:
        clock.advance(1.0)
        return httpx.Response(503, json=UPSTREAM)

    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").mock(side_effect=handler)
        client = make(kind, clock, deadline=10, timeout=httpx.Timeout(30, connect=5),
                      retry_policy=policy)
        err = await fail(client)
    timeouts = [call.request.extensions["timeout"] for call in route.calls]
    # t=0 +1 s attempt, 0.5 s sleep; t=1.5 +1, 1 s; t=3.5 +1, 2 s; t=6.5 +1, then 4 s > left.
    assert timeouts == [
        {"connect": 5.0, "read": 10.0, "write": 10.0, "pool": 10.0},
        {"connect": 5.0, "read": 8.5, "write": 8.5, "pool": 8.5},
        {"connect": 5.0, "read": 6.5, "write": 6.5, "pool": 6.5},
        {"connect": 3.5, "read": 3.5, "write": 3.5, "pool": 3.5},
    ]
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert isinstance(err, UpstreamUnavailable)
    assert len(err.attempts) == 4
    assert err.attempts[-1].stop_reason == "the deadline would pass before the next attempt"
    assert err.attempts[-1].sleep is None


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_the_per_call_timeout_is_shrunk_too(kind: str) -> None:
    clock = FakeClock()
    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").mock(side_effect=ok)
        client = make(kind, clock, deadline=2.5)
        await chat(client, timeout=httpx.Timeout(10, connect=1))
    assert route.calls[0].request.extensions["timeout"] == {
        "connect": 1.0, "read": 2.5, "write": 2.5, "pool": 2.5}


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_call_never_outlives_its_deadline(kind: str) -> None:
    """Timeouts that use all the time they are given: the call still ends at the deadline
    (the OpenAI SDK's timeout=30, max_retries=2 took 91.6 s)."""
    clock = FakeClock()

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("slow")

    script = Script(clock, [slow])
    client = make(kind, clock, script, deadline=10, timeout=4, max_retries=10)
    err = await fail(client)
    assert isinstance(err, APITimeoutError)
    assert clock.now - clock.start <= 10 + 1e-9
    assert sum(a.elapsed for a in err.attempts) + sum(clock.sleeps) <= 10 + 1e-9
    assert len(err.attempts) == script.count >= 3
    assert err.attempts[-1].stop_reason == "the deadline would pass before the next attempt"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_no_sleep_may_reach_the_deadline(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "5"}), ok])
    err = await fail(make(kind, clock, script, deadline=4))
    assert clock.sleeps == [] and script.count == 1
    assert err.attempts[-1].stop_reason == "the deadline would pass before the next attempt"
    # With room for the sleep, it is taken.
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "5"}), ok])
    await chat(make(kind, clock, script, deadline=6))
    assert clock.sleeps == [5.0]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_sleep_that_would_end_exactly_at_the_deadline_is_not_taken(kind: str) -> None:
    # 2 s attempt + Retry-After 3 s = the 5 s deadline: the next attempt would start with no
    # time left, so the call ends now with the gateway's error.
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "3"}), ok], took=2.0)
    err = await fail(make(kind, clock, script, deadline=5))
    assert isinstance(err, UpstreamUnavailable)
    assert clock.sleeps == [] and script.count == 1
    assert err.attempts[-1].stop_reason == "the deadline would pass before the next attempt"
    # A moment more and the sleep fits.
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "3"}), ok], took=[2.0, 0.0])
    assert (await chat(make(kind, clock, script, deadline=5.25))).retries_taken == 1
    assert clock.sleeps == [3.0]
    # A sleep that overran to exactly the deadline: no attempt is sent with no time left.
    clock = FakeClock(overshoot=2.0)
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "1"}), ok])
    err = await fail(make(kind, clock, script, deadline=3))
    assert isinstance(err, UpstreamUnavailable) and script.count == 1
    assert clock.now == clock.start + 3
    assert err.attempts[-1].stop_reason == "the deadline ran out before the next attempt"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_sleep_that_overran_the_deadline_ends_with_the_last_error(kind: str) -> None:
    # The sleep took 5 s longer than asked (a busy machine): no new attempt is sent and the
    # error the caller sees is the gateway's, with its history.
    clock = FakeClock(overshoot=5.0)
    script = Script(clock, [upstream("req-1"), ok])
    err = await fail(make(kind, clock, script, deadline=3))
    assert isinstance(err, UpstreamUnavailable)
    assert err.request_id == "req-1"
    assert script.count == 1
    assert len(err.attempts) == 1
    assert err.attempts[0].sleep == clock.sleeps[0]
    assert err.attempts[0].stop_reason == "the deadline ran out before the next attempt"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_the_default_deadline_is_900_seconds(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "59"})])
    client = make(kind, clock, script, max_retries=30)
    assert client.deadline == 900.0
    err = await fail(client)
    # 15 sleeps of 59 s = 885 s; a 16th would end at 944 s > 900 s.
    assert clock.sleeps == [59.0] * 15
    assert script.count == 16
    assert err.attempts[-1].stop_reason == "the deadline would pass before the next attempt"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_deadline_none_means_no_deadline(kind: str) -> None:
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json=UPSTREAM, headers={"retry-after": "59"})

    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/chat/completions").mock(side_effect=handler)
        client = make(kind, clock, max_retries=30, deadline=None)
        assert client.deadline is None
        err = await fail(client)
    assert clock.sleeps == [59.0] * 30
    assert len(err.attempts) == route.call_count == 31
    assert err.attempts[-1].stop_reason == "30 retries used"
    # The attempt timeout is the configured one, untouched.
    assert {str(c.request.extensions["timeout"]) for c in route.calls} == {
        str({"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0})}


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_with_options_deadline(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [error(503, UPSTREAM, {"retry-after": "3"})])
    client = make(kind, clock, script, deadline=None, max_retries=10)
    short = client.with_options(deadline=7)
    assert short.deadline == 7.0 and client.deadline is None
    await fail(short)
    assert clock.sleeps == [3.0, 3.0]
    clock.sleeps.clear()
    await fail(short.with_options(deadline=None))
    assert clock.sleeps == [3.0] * 10


@pytest.mark.parametrize("bad", [0, -1, "10", True])
def test_a_bad_deadline_is_rejected(bad: object) -> None:
    with pytest.raises(torouter.InvalidArgumentError):
        ToRouter(api_key=KEY, deadline=bad)  # type: ignore[arg-type]


# --- the retry budget --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_retries_spend_and_an_empty_bucket_stops_retrying(kind: str) -> None:
    clock = FakeClock()
    budget = RetryBudget(capacity=10, retry_cost=5)
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, max_retries=3, retry_budget=budget)
    assert client.retry_budget is budget
    err = await fail(client)
    assert script.count == 3  # two retries of 5 tokens each, then the bucket is empty
    assert budget.level == 0
    assert err.attempts[-1].stop_reason == "retry budget empty"
    err = await fail(client)
    assert script.count == 4  # no retry at all
    assert err.attempts[-1].stop_reason == "retry budget empty"
    assert budget.level == 0


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_successes_refund_the_bucket(kind: str) -> None:
    clock = FakeClock()
    budget = RetryBudget(capacity=20, retry_cost=5, success_refund=1)
    # A success after retries puts back what they cost.
    script = Script(clock, [upstream(), upstream(), ok])
    client = make(kind, clock, script, retry_budget=budget)
    assert (await chat(client)).retries_taken == 2
    assert budget.level == 20
    # Drain it, then five first-try successes put back one token each.
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, retry_budget=budget, max_retries=10)
    await fail(client)
    assert budget.level == 0 and script.count == 5
    script = Script(clock, [ok])
    client = make(kind, clock, script, retry_budget=budget)
    for _ in range(5):
        await chat(client)
    assert budget.level == 5
    script = Script(clock, [upstream()])
    await fail(make(kind, clock, script, retry_budget=budget))
    assert script.count == 2  # one retry affordable
    # Refunds never overfill the bucket.
    for _ in range(50):
        budget.refund(0)
    assert budget.level == 20


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_timeout_costs_more(kind: str) -> None:
    clock = FakeClock()
    budget = RetryBudget(capacity=20, retry_cost=5, timeout_cost=10)
    script = Script(clock, [raises(lambda: httpx.ReadTimeout("slow"))])
    await fail(make(kind, clock, script, retry_budget=budget, max_retries=5))
    assert script.count == 3 and budget.level == 0


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_success_refunds_what_its_retries_spent_or_the_first_try_refund(
    kind: str
) -> None:
    budget = RetryBudget(capacity=100, retry_cost=5, success_refund=2)
    budget.try_spend(UpstreamUnavailable("earlier"))
    budget.try_spend(UpstreamUnavailable("earlier"))
    assert budget.level == 90
    clock = FakeClock()
    script = Script(clock, [upstream(), upstream(), ok])
    reply = await chat(make(kind, clock, script, retry_budget=budget))
    assert reply.retries_taken == 2
    assert budget.level == 90  # 2 retries spent 10 tokens; the success gave exactly 10 back
    clock = FakeClock()
    await chat(make(kind, clock, Script(clock, [ok]), retry_budget=budget))
    assert budget.level == 92  # a first-try success refunds success_refund


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_with_options_copies_share_the_budget(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, retry_budget=RetryBudget(capacity=10, retry_cost=5))
    copy = client.with_options(deadline=60, max_retries=5)
    assert copy.retry_budget is client.retry_budget
    await fail(copy)
    assert script.count == 3 and client.retry_budget.level == 0
    await fail(client)
    assert script.count == 4  # the original has no tokens left either


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("off", [None, False])
async def test_the_budget_can_be_switched_off(kind: str, off: object) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, retry_budget=off, max_retries=3)
    assert client.retry_budget is None
    for _ in range(30):
        await fail(client)
    assert script.count == 30 * 4
    # ... and per copy.
    script = Script(clock, [upstream()])
    client = make(kind, clock, script, retry_budget=RetryBudget(capacity=0))
    await fail(client)
    await fail(client.with_options(retry_budget=None))
    assert script.count == 1 + 3  # no retry, then 1 + max_retries (2)


def test_each_client_gets_its_own_default_budget() -> None:
    a, b = (ToRouter(api_key=KEY, http_client=httpx.Client(transport=httpx.MockTransport(ok)))
            for _ in range(2))
    assert isinstance(a.retry_budget, RetryBudget) and isinstance(b.retry_budget, RetryBudget)
    assert a.retry_budget is not b.retry_budget
    assert a.retry_budget.capacity == 500 and a.retry_budget.level == 500
    assert a.with_options(timeout=5).retry_budget is a.retry_budget


@pytest.mark.parametrize("bad", [3, "yes", object()])
def test_a_bad_budget_is_rejected(bad: object) -> None:
    with pytest.raises(torouter.InvalidArgumentError):
        ToRouter(api_key=KEY, retry_budget=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"capacity": -1}, {"retry_cost": 0}, {"timeout_cost": 0}, {"success_refund": -1}],
)
def test_bad_budget_settings_raise(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RetryBudget(**kwargs)


@pytest.fixture
def busy_threads() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def test_the_budget_is_exact_under_threads(busy_threads: None) -> None:
    budget = RetryBudget(capacity=1000, retry_cost=1, timeout_cost=1)
    err = UpstreamUnavailable("x")
    granted = [0] * 8
    seen: list[int] = []

    def spend(i: int) -> None:
        for _ in range(400):
            granted[i] += budget.try_spend(err)
            seen.append(budget.level)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 1000, f"granted {sum(granted)} tokens from a bucket of 1000"
    assert budget.level == 0
    assert min(seen) >= 0

    def spend_and_refund() -> None:
        for _ in range(500):
            budget.refund(0)
            cost = budget.try_spend(err)
            seen.append(budget.level)
            if cost:
                budget.refund(cost)

    seen.clear()
    threads = [threading.Thread(target=spend_and_refund) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert min(seen) >= 0 and max(seen) <= 1000


def test_a_client_shared_by_threads_spends_one_budget(busy_threads: None) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream()])
    budget = RetryBudget(capacity=50, retry_cost=5)
    client = make("sync", clock, script, retry_budget=budget, max_retries=3)
    client._sleep = lambda seconds: None
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(5):
            try:
                client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                      "content": "x"}])
            except UpstreamUnavailable as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 40
    # 40 calls plus exactly capacity / retry_cost = 10 retries, however the threads interleave.
    assert script.count == 40 + 10, f"{script.count} requests for 40 calls and 10 tokens"
    assert budget.level == 0


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(0, 60),
    retry_cost=st.integers(1, 12),
    timeout_cost=st.integers(1, 25),
    refund=st.integers(0, 10),
    ops=st.lists(st.tuples(st.sampled_from(["retry", "timeout", "success"]),
                           st.integers(0, 40)), max_size=60),
)
def test_the_budget_level_stays_within_zero_and_capacity(
    capacity: int, retry_cost: int, timeout_cost: int, refund: int,
    ops: list[tuple[str, int]],
) -> None:
    budget = RetryBudget(capacity, retry_cost=retry_cost, timeout_cost=timeout_cost,
                         success_refund=refund)
    for op, spent in ops:
        before = budget.level
        if op == "success":
            budget.refund(spent)
            assert budget.level == min(capacity, before + (spent or refund))
        else:
            err = APITimeoutError("t") if op == "timeout" else UpstreamUnavailable("u")
            cost = timeout_cost if op == "timeout" else retry_cost
            got = budget.try_spend(err)
            assert got == (cost if before >= cost else 0)
            assert budget.level == before - got
        assert 0 <= budget.level <= capacity


# --- attempt history and retries_taken ----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_the_error_carries_one_record_per_attempt(kind: str, max_jitter: None) -> None:
    clock = FakeClock()
    seen: list[tuple[ToRouterError, Attempt]] = []
    script = Script(
        clock,
        [upstream("req-a"),
         raises(lambda: httpx.ConnectError("reset")),
         error(502, {"error": {"message": "bad gateway"}}, {"x-request-id": "req-c"}),
         error(500, {"error": {"message": "boom"}}, {"x-request-id": "req-d"})],
        took=[0.25, 0.5, 1.0, 2.0],
    )
    client = make(kind, clock, script, max_retries=3,
                  on_retry=lambda e, a: seen.append((e, a)))
    err = await fail(client)
    assert isinstance(err, InternalServerError) and err.request_id == "req-d"
    s = clock.sleeps
    assert s == [0.5, 1.0, 2.0]
    assert err.attempts == (
        Attempt(1, "UpstreamUnavailable", 503, "upstream_unavailable", "req-a", 0.25, s[0],
                model="gpt-5-mini"),
        Attempt(2, "APIConnectionError", None, None, None, 0.5, s[1], model="gpt-5-mini"),
        Attempt(3, "UpstreamUnavailable", 502, None, "req-c", 1.0, s[2], model="gpt-5-mini"),
        Attempt(4, "InternalServerError", 500, None, "req-d", 2.0, None, "3 retries used",
                model="gpt-5-mini"),
    )
    assert err.retries_taken == 3
    assert [a for _, a in seen] == list(err.attempts[:3])
    # The history is a record: it cannot be edited after the fact (and can be hashed).
    with pytest.raises(dataclasses.FrozenInstanceError):
        err.attempts[0].sleep = 99.0  # type: ignore[misc]
    assert len(set(err.attempts)) == 4


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_a_final_error_on_the_first_attempt_has_a_history_of_one(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [coded(401, "INVALID_API_KEY", x_request_id="req-k")])
    err = await fail(make(kind, clock, script))
    assert err.attempts == (Attempt(1, "InvalidApiKey", 401, "INVALID_API_KEY", "req-k", 0.0,
                                    None, "not retried by policy", model="gpt-5-mini"),)
    assert err.retries_taken == 0


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_successes_expose_retries_taken(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream(), upstream(), ok])
    result = await chat(make(kind, clock, script))
    assert isinstance(result, ChatCompletion)
    assert result.retries_taken == 2
    assert result.request_id == "req-ok"

    script = Script(clock, [upstream(), raises(lambda: httpx.ConnectError("x")), ok])
    raw = await chat(make(kind, clock, script), raw=True)
    assert isinstance(raw, RawResponse)
    assert raw.retries_taken == 2
    assert raw.parse().retries_taken == 2

    script = Script(clock, [ok])
    assert (await chat(make(kind, clock, script))).retries_taken == 0
    assert (await chat(make(kind, clock, script), raw=True)).retries_taken == 0


# --- streams ---------------------------------------------------------------------------------

GOOD_STREAM = sse(chunk("Hel"), chunk("lo", "stop"))


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "first",
    [
        upstream(),  # an error status
        raises(lambda: httpx.ConnectError("refused")),  # no response at all
        stream_reply(b": keep-alive\n\n"),  # 200, then the body ends before any event
        stream_reply(sse(UPSTREAM, done=False)),  # the first event is an error event
        broken_stream(b"", lambda: httpx.ReadError("reset")),  # the body breaks at once
        broken_stream(b"", lambda: httpx.ReadTimeout("silent")),  # ... or goes silent
    ],
    ids=["status", "connect", "empty-body", "error-event", "read-error", "idle"],
)
async def test_a_stream_failing_before_its_first_event_is_retried(kind: str, first: Reply
                                                                  ) -> None:
    clock = FakeClock()
    script = Script(clock, [first, stream_reply(GOOD_STREAM)])
    stream = await chat(make(kind, clock, script), stream=True)
    assert stream.retries_taken == 1
    chunks = await collect(stream)
    assert [c.choices[0].delta.content for c in chunks] == ["Hel", "lo"]
    assert all(c.retries_taken == 1 for c in chunks)
    assert script.count == 2 and len(clock.sleeps) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_raw_stream_retries_taken(kind: str) -> None:
    clock = FakeClock()
    script = Script(clock, [upstream(), upstream(), stream_reply(GOOD_STREAM)])
    raw = await chat(make(kind, clock, script), raw=True, stream=True)
    assert raw.retries_taken == 2
    assert len(await collect(raw.parse())) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("after_first", "expected"),
    [
        (stream_reply(sse(chunk("Hel"), done=False)), StreamInterrupted),
        (stream_reply(sse(chunk("Hel"), UPSTREAM, done=False)), UpstreamUnavailable),
        (broken_stream(sse(chunk("Hel"), done=False), lambda: httpx.ReadError("reset")),
         StreamInterrupted),
        (broken_stream(sse(chunk("Hel"), done=False), lambda: httpx.ReadTimeout("silent")),
         StreamIdleTimeout),
    ],
    ids=["cut", "error-event", "read-error", "idle"],
)
async def test_a_stream_is_never_retried_after_its_first_event(
    kind: str, after_first: Reply, expected: type[ToRouterError]
) -> None:
    clock = FakeClock()
    script = Script(clock, [after_first, stream_reply(GOOD_STREAM)])
    stream = await chat(make(kind, clock, script), stream=True)
    got: list[Any] = []
    with pytest.raises(expected) as info:
        if isinstance(stream, AsyncStream):
            async for c in stream:
                got.append(c)
        else:
            for c in stream:
                got.append(c)
    assert [c.choices[0].delta.content for c in got] == ["Hel"]
    assert script.count == 1, "a stream must not be resent after an event reached the caller"
    assert clock.sleeps == []
    if isinstance(info.value, StreamInterrupted):
        assert info.value.text == "Hel"


# --- observability ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_on_retry_is_called_once_per_retry_with_the_sleep_set(kind: str) -> None:
    clock = FakeClock()
    calls: list[tuple[ToRouterError, Attempt]] = []
    script = Script(clock, [upstream("req-1", retry_after_ms="250"), upstream("req-2"), ok])
    client = make(kind, clock, script, on_retry=lambda e, a: calls.append((e, a)))
    await chat(client)
    assert len(calls) == 2
    assert [e.request_id for e, _ in calls] == ["req-1", "req-2"]
    assert [a.number for _, a in calls] == [1, 2]
    assert [a.sleep for _, a in calls] == clock.sleeps
    assert calls[0][1].sleep == 0.25
    assert all(isinstance(e, UpstreamUnavailable) for e, _ in calls)
    # No retry, no call; with_options keeps the hook.
    calls.clear()
    await chat(make(kind, clock, Script(clock, [ok]), on_retry=lambda e, a: calls.append((e, a))))
    await fail(make(kind, clock, Script(clock, [coded(400, "invalid_request_error")]),
                    on_retry=lambda e, a: calls.append((e, a))))
    assert calls == []
    script = Script(clock, [upstream(), ok])
    client = make(kind, clock, script, on_retry=lambda e, a: calls.append((e, a)))
    await chat(client.with_options(timeout=5))
    assert len(calls) == 1


def test_on_retry_must_be_callable() -> None:
    with pytest.raises(torouter.InvalidArgumentError):
        ToRouter(api_key=KEY, on_retry="print")  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_one_info_line_per_retry_without_key_or_prompt(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="torouter")
    clock = FakeClock()
    script = Script(clock, [
        upstream("req-111", retry_after_ms="250"),
        error(429, {"error": "rate limit exceeded"},
              {"x-request-id": "req-222", "retry-after": "2"}),
        ok,
    ])
    await chat(make(kind, clock, script))
    records = [r for r in caplog.records if r.name.startswith("torouter")]
    infos = [r for r in records if r.levelno == logging.INFO]
    assert len(infos) == 2
    first, second = (r.getMessage() for r in infos)
    for text in ("UpstreamUnavailable", "503", "req-111", "0.250s"):
        assert text in first, (text, first)
    for text in ("RateLimited", "429", "req-222", "2.000s"):
        assert text in second, (text, second)
    everything = caplog.text + "".join(repr(r.args) for r in records)
    assert KEY not in everything and KEY[-12:] not in everything
    assert PROMPT not in everything and "launch code" not in everything
    # A call without retries logs nothing at INFO.
    caplog.clear()
    await chat(make(kind, clock, Script(clock, [ok])))
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


# --- one implementation for sync and async ------------------------------------------------


def test_sync_and_async_share_the_same_tenacity_strategies() -> None:
    state = CallRetryState(policy=DEFAULT_RETRY_POLICY, budget=None, clock=FakeClock(),
                           deadline=None, on_retry=None, label="test")
    sync = sync_retrying(state, lambda s: None)
    async_ = async_retrying(state, FakeClock().asleep)
    assert isinstance(sync, tenacity.Retrying)
    assert isinstance(async_, tenacity.AsyncRetrying)
    for name in ("retry", "wait", "stop", "before_sleep"):
        assert getattr(sync, name) is _retrying.STRATEGIES[name], name
        assert getattr(async_, name) is _retrying.STRATEGIES[name], name


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_both_clients_take_their_decisions_from_strategies(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setitem(_retrying.STRATEGIES, "stop", tenacity.stop_after_attempt(5))
    monkeypatch.setitem(_retrying.STRATEGIES, "wait", tenacity.wait_fixed(7))
    monkeypatch.setitem(_retrying.STRATEGIES, "before_sleep", None)
    script = Script(clock, [upstream()])
    await fail(make(kind, clock, script))
    assert script.count == 5 and clock.sleeps == [7, 7, 7, 7]


# --- properties ----------------------------------------------------------------------------

FAILURES: dict[str, Callable[[dict[str, str]], Reply]] = {
    "UpstreamUnavailable": lambda h: error(503, UPSTREAM, h),
    "InternalServerError": lambda h: error(500, {"error": {"message": "boom"}}, h),
    "UpstreamTimeout": lambda h: error(504, {}, h),
    "RateLimited": lambda h: error(429, {"error": "rate limit exceeded"}, h),
    "RateLimitError": lambda h: error(429, {"error": {"message": "?"}}, h),
    "QuotaExhausted": lambda h: error(429, {"error": {"type": "API_KEY_QUOTA_EXHAUSTED"}}, h),
    "BadRequestError": lambda h: error(400, {"error": {"message": "bad"}}, h),
    "APIConnectionError": lambda h: raises(lambda: httpx.ConnectError("refused")),
    "APITimeoutError": lambda h: raises(lambda: httpx.ReadTimeout("slow")),
}

retry_after_headers = st.one_of(
    st.just({}),
    st.floats(0, 150, allow_nan=False).map(lambda s: {"retry-after": f"{s:.3f}"}),
    st.integers(0, 150_000).map(lambda ms: {"retry-after-ms": str(ms)}),
)
steps = st.one_of(
    st.tuples(st.sampled_from(sorted(FAILURES)), retry_after_headers),
    st.just(("ok", {})),
)
backoffs = st.builds(Backoff, initial=st.floats(0, 5), multiplier=st.floats(1, 4),
                     maximum=st.floats(0, 60), jitter=st.booleans())
policies = st.builds(
    lambda count, backoff, cap, override: RetryPolicy(
        max_retries=count, backoff=backoff, max_retry_after=cap, rules=override),
    st.integers(0, 6), backoffs, st.floats(0, 120),
    st.dictionaries(st.sampled_from([UpstreamUnavailable, RateLimited, APIConnectionError,
                                     InternalServerError]),
                    st.builds(RetryRule, retry=st.booleans(),
                              max_retries=st.none() | st.integers(0, 8)),
                    max_size=2),
)
budgets = st.none() | st.builds(RetryBudget, capacity=st.integers(0, 60),
                                retry_cost=st.integers(1, 10), timeout_cost=st.integers(1, 20))


@dataclass
class Scenario:
    steps: list[tuple[str, dict[str, str]]]
    policy: RetryPolicy
    deadline: float | None
    took: float
    budget: RetryBudget | None
    calls: int = 2


scenarios = st.builds(
    Scenario,
    steps=st.lists(steps, min_size=1, max_size=10),
    policy=policies,
    deadline=st.none() | st.floats(0.01, 300),
    took=st.floats(0, 30),
    budget=budgets,
)


async def run_scenario(kind: str, sc: Scenario) -> None:
    for _ in range(sc.calls):
        clock = FakeClock()
        replies = [ok if name == "ok" else FAILURES[name](h) for name, h in sc.steps]
        script = Script(clock, replies, took=sc.took)
        client = make(kind, clock, script, retry_policy=sc.policy, deadline=sc.deadline,
                      retry_budget=sc.budget)
        try:
            result = await chat(client)
        except ToRouterError as err:
            outcomes = [a.outcome for a in err.attempts]
            assert len(err.attempts) == script.count
        else:
            assert result.retries_taken == script.count - 1
            outcomes = [name for name, _ in sc.steps[: script.count - 1]]
        check_call(sc, clock, script, outcomes)


def check_call(sc: Scenario, clock: FakeClock, script: Script, outcomes: list[str]) -> None:
    policy = sc.policy
    # Total sleep, and every single sleep, stays inside the deadline.
    if sc.deadline is not None:
        assert sum(clock.sleeps) <= sc.deadline
        for started, slept in zip(clock.sleep_starts, clock.sleeps, strict=True):
            assert started + slept < clock.start + sc.deadline
    # Attempts never exceed what the rules allow.
    assert len(clock.sleeps) == script.count - 1
    for number, name in enumerate(outcomes[: script.count - 1], start=1):
        rule = policy.rule_for(getattr(torouter, name))
        assert rule.retry, f"{name} was retried against the policy"
        assert number <= rule.max_retries, f"retry {number} after {name}: {rule}"
    classes = {getattr(torouter, n) for n in outcomes}
    bound = max((policy.rule_for(c).max_retries for c in classes), default=0)
    assert script.count <= 1 + bound
    if len(classes) == 1:
        (only,) = classes
        assert script.count <= 1 + policy.rule_for(only).max_retries
    # Retry-After decides the sleep when given, and one above the cap is never slept; without
    # it the sleep is the rule's backoff for that retry: its ceiling without jitter, at most
    # that with jitter.
    for number, (slept, (name, headers)) in enumerate(
            zip(clock.sleeps, sc.steps, strict=False), start=1):
        if headers and not name.startswith("API"):
            asked = (int(headers["retry-after-ms"]) / 1000 if "retry-after-ms" in headers
                     else float(headers["retry-after"]))
            assert slept == asked
            assert asked <= policy.max_retry_after
        else:
            backoff = policy.rule_for(getattr(torouter, name)).backoff
            ceiling = backoff.delay(number, lambda: 1.0)
            if backoff.jitter:
                assert 0 <= slept <= ceiling, (number, backoff)
            else:
                assert slept == ceiling, (number, backoff)
    # The budget never goes negative nor above its capacity.
    if sc.budget is not None:
        assert 0 <= sc.budget.level <= sc.budget.capacity


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios)
def test_properties_of_the_sync_engine(sc: Scenario) -> None:
    asyncio.run(run_scenario("sync", sc))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenarios)
def test_properties_of_the_async_engine(sc: Scenario) -> None:
    asyncio.run(run_scenario("async", sc))


def test_a_deadline_gone_before_the_first_attempt_is_a_timeout_that_says_so() -> None:
    # (e.g. the caller's own code, or a layer of the seam, used up the time before attempt 1)
    clock = FakeClock()
    state = CallRetryState(policy=DEFAULT_RETRY_POLICY, budget=None, clock=clock, deadline=5,
                           on_retry=None, label="test")
    clock.advance(5)
    with pytest.raises(APITimeoutError) as info:
        state.begin(httpx.Timeout(30))
    assert info.value.message == "the deadline of 5s ran out before attempt 1"
    assert [a.outcome for a in state.attempts] == ["APITimeoutError"]
    assert state.stop_reason == "the deadline ran out before the next attempt"
    assert not state.should_retry(info.value)


def test_each_attempt_gets_at_most_what_is_left_of_the_deadline() -> None:
    clock = FakeClock()
    state = CallRetryState(policy=DEFAULT_RETRY_POLICY, budget=None, clock=clock, deadline=10,
                           on_retry=None, label="test")
    clock.advance(4)
    got = state.begin(httpx.Timeout(30, connect=2, pool=None))
    assert (got.connect, got.read, got.write, got.pool) == (2, 6, 6, 6)
    unbounded = CallRetryState(policy=DEFAULT_RETRY_POLICY, budget=None, clock=clock,
                               deadline=None, on_retry=None, label="test")
    timeout = httpx.Timeout(30, connect=2, pool=None)
    assert unbounded.begin(timeout) is timeout
