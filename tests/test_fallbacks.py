"""Fallback models and per-model circuit breakers (issue 12), sync and async, on the fake gateway
in-process and on its real 127.0.0.1 server.

What a user relies on: a model whose upstreams are down is answered by the next model of the
chain, after the model's own retries, within one deadline; a dead key, an empty balance or a bad
request never falls back; a stream falls back only before its first chunk and never shows the
failed model's chunks; ``served_model`` says which model answered; a model that keeps failing is
not called for a while (``CircuitOpen``, nothing sent) and is probed by exactly one request.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import pickle
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import torouter
from torouter import (
    AccessDenied,
    BadRequestError,
    CircuitBreaker,
    CircuitOpen,
    InternalServerError,
    RetryPolicy,
    RetryRule,
    StreamInterrupted,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from torouter._seam import Layer
from torouter.testing import FakeGateway, Outcome, instant_retries

pytestmark = pytest.mark.anyio

MSG = [{"role": "user", "content": "hello there"}]
DOWN = Outcome.upstream_unavailable(502)


class Clock:
    """A monotonic clock moved only by the test (and by the client's sleeps)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.now += seconds


class Env:
    """One gateway reached one way (``transport`` in-process, or ``socket``: its real server),
    with clients of one kind (sync or async)."""

    def __init__(self, kind: str, front: str, stack: ExitStack) -> None:
        self.kind, self.front = kind, front
        self.gw = FakeGateway(reply="Bonjour tout le monde")
        self.key = self.gw.add_key()
        self.base_url = "http://gateway.test/v1"
        if front == "socket":
            self.base_url = stack.enter_context(self.gw.serve()).base_url
        self.stack = stack

    def client(self, cls: type[Any] | None = None, **options: Any) -> Any:
        sync = self.kind == "sync"
        if self.front == "transport":
            http: Any = (httpx.Client(transport=self.gw.transport()) if sync
                         else httpx.AsyncClient(transport=self.gw.async_transport()))
        else:
            http = httpx.Client() if sync else httpx.AsyncClient()
        if sync:
            self.stack.callback(http.close)
        cls = cls or (torouter.ToRouter if sync else torouter.AsyncToRouter)
        return instant_retries(cls(api_key=self.key, base_url=self.base_url, http_client=http,
                                   **options))

    def models(self) -> list[str | None]:
        """The model of every request the gateway received, in order."""
        return [r.model for r in self.gw.requests]


async def run(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def chat(client: Any, model: str = "gpt-5", **params: Any) -> Any:
    return await run(client.chat.completions.create(model=model, messages=MSG, **params))


async def fails(client: Any, model: str = "gpt-5", **params: Any) -> Any:
    with pytest.raises(torouter.ToRouterError) as info:
        result = await chat(client, model, **params)
        if params.get("stream"):
            await collect(result)
    return info.value


async def collect(stream: Any, chunks: list[Any] | None = None) -> list[Any]:
    """Every chunk the stream delivers (into ``chunks``, kept should the stream fail)."""
    chunks = [] if chunks is None else chunks
    if isinstance(stream, torouter.AsyncStream):
        async with stream:
            async for chunk in stream:
                chunks.append(chunk)
    else:
        with stream:
            for chunk in stream:
                chunks.append(chunk)
    return chunks


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["transport", "socket"])
def env(request: pytest.FixtureRequest, kind: str) -> Iterator[Env]:
    with ExitStack() as stack:
        yield Env(kind, str(request.param), stack)


@pytest.fixture
def local(kind: str) -> Iterator[Env]:
    """In-process only: for the tests whose point is not the wire."""
    with ExitStack() as stack:
        yield Env(kind, "transport", stack)


# --- chains ----------------------------------------------------------------------------------


async def test_the_chain_is_tried_in_order_after_each_models_own_retries(env: Env) -> None:
    env.gw.upstream.always(DOWN, model="gpt-5")
    env.gw.upstream.always(Outcome.timeout(), model="claude-opus-4-7")
    client = env.client()
    reply = await chat(client, fallback_models=["claude-opus-4-7", "gemini-2.5-pro"])
    assert reply.choices[0].message.content == "Bonjour tout le monde"
    assert reply.served_model == "gemini-2.5-pro" and reply.model == "gemini-2.5-pro"
    # Each model's own retries (2 by default) come first, then the next model.
    assert env.models() == ["gpt-5"] * 3 + ["claude-opus-4-7"] * 3 + ["gemini-2.5-pro"]
    assert reply.retries_taken == 6


async def test_with_every_model_down_the_error_records_each_attempts_model(env: Env) -> None:
    env.gw.upstream.always(DOWN)
    err = await fails(env.client(max_retries=1), fallback_models=["claude-opus-4-7"])
    assert isinstance(err, UpstreamUnavailable)
    assert [(a.model, a.next_model) for a in err.attempts] == [
        ("gpt-5", None), ("gpt-5", "claude-opus-4-7"),
        ("claude-opus-4-7", None), ("claude-opus-4-7", None),
    ]
    assert err.attempts[1].stop_reason == "1 retries used"
    assert err.attempts[1].sleep is None  # no pause before another model
    assert err.attempts[-1].stop_reason == "1 retries used"


@pytest.mark.parametrize(("outcome", "cls"), [
    (Outcome.error("API_KEY_EXPIRED"), torouter.KeyExpired),
    (Outcome.error("INVALID_API_KEY"), torouter.InvalidApiKey),
    (Outcome.error("INSUFFICIENT_BALANCE"), torouter.InsufficientBalance),
    (Outcome.error("API_KEY_QUOTA_EXHAUSTED"), torouter.QuotaExhausted),
    (Outcome.error("ACCESS_DENIED"), AccessDenied),
    (Outcome.error("invalid_request_error", message="bad 'temperature'"), BadRequestError),
    (Outcome.content_policy(), BadRequestError),
    (Outcome.plain(500), InternalServerError),  # a gateway bug, not a model outage
], ids=lambda v: getattr(v, "__name__", None) or getattr(v, "code", None) or v.kind)
async def test_key_account_and_request_failures_never_fall_back(
    env: Env, outcome: Outcome, cls: type[Exception]
) -> None:
    env.gw.upstream.always(outcome, model="gpt-5")
    err = await fails(env.client(max_retries=0), fallback_models=["claude-opus-4-7"])
    assert type(err) is cls
    assert env.models() == ["gpt-5"]
    assert [a.next_model for a in err.attempts] == [None]


async def test_a_real_expired_key_never_falls_back(env: Env) -> None:
    expired = env.gw.add_key(expires_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    client = env.client().with_options(api_key=expired)
    err = await fails(client, fallback_models=["claude-opus-4-7"])
    assert isinstance(err, torouter.KeyExpired)
    assert len(env.gw.requests) == 1 and len(err.attempts) == 1


async def test_fallback_after_zero_falls_over_at_once_but_the_last_model_keeps_its_retries(
    local: Env,
) -> None:
    local.gw.upstream.always(DOWN)
    policy = RetryPolicy().with_fallback(UpstreamUnavailable, after=0)
    client = local.client(retry_policy=policy)
    err = await fails(client, fallback_models=["claude-opus-4-7"])
    assert local.models() == ["gpt-5", "claude-opus-4-7", "claude-opus-4-7", "claude-opus-4-7"]
    assert err.attempts[0].stop_reason == "fallback_after=0: moving to the next model"
    # fallback_after=1: one retry of the same model, then the next one.
    local.gw.clear_requests()
    client = local.client(retry_policy=policy | {UpstreamUnavailable: RetryRule(fallback_after=1)})
    await fails(client, fallback_models=["claude-opus-4-7"])
    assert local.models() == ["gpt-5"] * 2 + ["claude-opus-4-7"] * 3


async def test_client_fallbacks_apply_per_model_and_the_calls_list_wins(local: Env) -> None:
    local.gw.upstream.always(DOWN, model="gpt-5")
    client = local.client(max_retries=0, fallbacks={"gpt-5": ["claude-opus-4-7"]})
    assert client.fallbacks == {"gpt-5": ("claude-opus-4-7",)}
    assert (await chat(client)).served_model == "claude-opus-4-7"
    assert (await chat(client, fallback_models=["gemini-2.5-pro"])).served_model == \
        "gemini-2.5-pro"
    assert isinstance(await fails(client, fallback_models=[]), UpstreamUnavailable)
    # A model without a chain of its own has none.
    assert (await chat(client, model="o3")).served_model == "o3"
    # with_options: a new table; the old client keeps its own.
    other = client.with_options(fallbacks={"gpt-5": ["deepseek-v3"]})
    assert (await chat(other)).served_model == "deepseek-v3"
    assert (await chat(client)).served_model == "claude-opus-4-7"
    assert local.models()[-2:] == ["gpt-5", "claude-opus-4-7"]


async def test_a_class_can_be_opted_in_such_as_a_model_the_key_may_not_call(local: Env) -> None:
    only = local.gw.add_key(models=["claude-opus-4-7"])
    policy = RetryPolicy().with_fallback(AccessDenied)
    assert policy.rule_for(AccessDenied).retry is False  # still never retried
    client = local.client(retry_policy=policy).with_options(api_key=only)
    reply = await chat(client, fallback_models=["claude-opus-4-7"])
    assert reply.served_model == "claude-opus-4-7"
    assert local.models() == ["gpt-5", "claude-opus-4-7"]
    # And opted out: UpstreamUnavailable no longer falls back.
    local.gw.upstream.always(DOWN, model="gpt-5")
    off = local.client(max_retries=0, retry_policy=RetryPolicy().with_fallback(
        UpstreamUnavailable, False))
    assert isinstance(await fails(off, fallback_models=["o3"]), UpstreamUnavailable)


async def test_the_deadline_covers_the_whole_chain(kind: str) -> None:
    """Each attempt "takes" 4 s of a fake clock: with a 10 s deadline the third model is the
    last one tried; the fourth is not, because the deadline has passed."""
    clock = Clock()

    class Slow(Layer):
        def after_attempt(self, call: Any, error: Any) -> None:
            clock.now += 4.0

    base = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter

    class Client(base):  # type: ignore[misc, valid-type]
        def _layers(self) -> tuple[Layer | None, ...]:
            return (Slow(),)

    with ExitStack() as stack:
        env = Env(kind, "transport", stack)
        env.gw.upstream.always(DOWN)
        client = env.client(Client, max_retries=0, deadline=10.0)
        client._clock = clock
        err = await fails(client, fallback_models=["claude-opus-4-7", "o3", "deepseek-v3"])
    assert isinstance(err, UpstreamUnavailable)
    assert env.models() == ["gpt-5", "claude-opus-4-7", "o3"]
    assert err.attempts[-1].stop_reason == "the deadline ran out before the next fallback model"


async def test_retries_and_fallbacks_share_one_deadline(kind: str) -> None:
    """With 3 s backoffs and a 7 s deadline: gpt-5 gets its two retries (t=0, 3, 6), the
    fallback model one attempt at t=6, no retry (it would end at 9)."""
    clock = Clock()
    with ExitStack() as stack:
        env = Env(kind, "transport", stack)
        env.gw.upstream.always(DOWN)
        fixed = torouter.Backoff(initial=3.0, multiplier=1.0, maximum=3.0, jitter=False)
        client = env.client(retry_policy=RetryPolicy(backoff=fixed), deadline=7.0,
                            circuit_breaker=None)
        client._clock = clock
        client._sleep = clock.sleep if kind == "sync" else clock.asleep
        err = await fails(client, fallback_models=["claude-opus-4-7"])
    assert env.models() == ["gpt-5"] * 3 + ["claude-opus-4-7"]
    assert err.attempts[-1].stop_reason == "the deadline would pass before the next attempt"
    assert clock.now == 1006.0


async def test_the_retry_budget_pays_for_retries_not_for_moving_to_the_next_model(
    local: Env,
) -> None:
    local.gw.upstream.always(DOWN, model="gpt-5")
    budget = torouter.RetryBudget(capacity=5, retry_cost=5)  # one retry's worth, shared
    client = local.client(retry_budget=budget)
    reply = await chat(client, fallback_models=["claude-opus-4-7"])
    # gpt-5: one paid retry, then the empty budget ends its retries; claude's attempt is free.
    assert local.models() == ["gpt-5", "gpt-5", "claude-opus-4-7"]
    assert reply.served_model == "claude-opus-4-7"
    assert budget.level == 5  # the success refunded what the call's retries spent


async def test_on_retry_and_the_log_are_told_of_each_fallback(
    local: Env, caplog: pytest.LogCaptureFixture
) -> None:
    local.gw.upstream.always(DOWN, model="gpt-5")
    told: list[tuple[str, Any]] = []
    client = local.client(max_retries=1,
                          on_retry=lambda err, a: told.append((type(err).__name__, a)))
    with caplog.at_level(logging.INFO, logger="torouter"):
        await chat(client, fallback_models=["claude-opus-4-7"])
    (retry, fallback) = told
    assert retry[1].sleep is not None and retry[1].next_model is None
    assert fallback[0] == "UpstreamUnavailable"
    assert (fallback[1].model, fallback[1].next_model, fallback[1].sleep) == \
        ("gpt-5", "claude-opus-4-7", None)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith(
        "falling back from gpt-5 to claude-opus-4-7 after UpstreamUnavailable") for line in lines)
    assert local.key not in "\n".join(lines)


async def test_served_model_on_raw_responses_and_embeddings(env: Env) -> None:
    env.gw.upstream.always(DOWN, model="text-embedding-3-large")
    env.gw.upstream.always(DOWN, model="gpt-5")
    client = env.client(max_retries=0)
    raw = await run(client.chat.completions.with_raw_response.create(
        model="gpt-5", messages=MSG, fallback_models=["o3"]))
    assert raw.served_model == "o3" and raw.retries_taken == 1
    assert raw.parse().served_model == "o3"
    emb = await run(client.embeddings.create(model="text-embedding-3-large", input=["a"],
                                             fallback_models=["text-embedding-3-small"]))
    assert emb.served_model == "text-embedding-3-small" and emb.model == "text-embedding-3-small"
    assert (await chat(client, model="o3")).served_model == "o3"  # no fallback: the model itself
    raw = await run(client.chat.completions.with_raw_response.create(
        model="gpt-5", messages=MSG, stream=True, fallback_models=["claude-opus-4-7"]))
    assert raw.served_model == "claude-opus-4-7"
    stream = raw.parse()
    assert stream.served_model == "claude-opus-4-7"
    assert {c.served_model for c in await collect(stream)} == {"claude-opus-4-7"}


# --- streams ---------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [
    DOWN,  # an error status before the stream starts
    Outcome.stream_error(after=0),  # a 200 whose first event is an upstream error
], ids=["status", "error-event"])
async def test_a_stream_failing_before_its_first_chunk_falls_back(
    env: Env, failure: Outcome
) -> None:
    env.gw.upstream.always(failure, model="gpt-5")
    client = env.client(max_retries=0)
    stream = await chat(client, stream=True, fallback_models=["claude-opus-4-7"])
    assert stream.served_model == "claude-opus-4-7" and stream.retries_taken == 1
    chunks = await collect(stream)
    assert text_of(chunks) == "Bonjour tout le monde"
    # Only the fallback model's chunks: every one says so.
    assert {c.served_model for c in chunks} == {"claude-opus-4-7"}
    assert {c.model for c in chunks} == {"claude-opus-4-7"}
    assert env.models() == ["gpt-5", "claude-opus-4-7"]


async def test_a_stream_failing_after_its_first_chunk_never_falls_back(env: Env) -> None:
    env.gw.upstream.always(Outcome.drop(after=2), model="gpt-5")
    client = env.client()
    stream = await chat(client, stream=True, fallback_models=["claude-opus-4-7"])
    assert stream.served_model == "gpt-5"
    delivered: list[Any] = []
    with pytest.raises(StreamInterrupted):
        await collect(stream, delivered)
    assert delivered and {c.served_model for c in delivered} == {"gpt-5"}
    assert env.models() == ["gpt-5"]


# --- the circuit breaker -----------------------------------------------------------------------


async def test_the_breaker_cycles_closed_open_half_open_closed(env: Env) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, window=10.0, cooldown=5.0, clock=clock)
    client = env.client(max_retries=0, circuit_breaker=breaker)
    env.gw.upstream.always(DOWN, model="gpt-5")
    for _ in range(2):
        assert isinstance(await fails(client), UpstreamUnavailable)
    assert breaker.state("gpt-5") == "open" and breaker.state("o3") == "closed"
    # Open: refused at once, nothing sent, with the model and the time to the probe.
    sent = len(env.gw.requests)
    clock.now += 1.0
    err = await fails(client)
    assert isinstance(err, CircuitOpen) and len(env.gw.requests) == sent
    assert (err.model, err.retry_after) == ("gpt-5", 4.0)
    assert [(a.outcome, a.model, a.status_code) for a in err.attempts] == \
        [("CircuitOpen", "gpt-5", None)]
    assert "gpt-5" in str(err) and err.hint and "fallback_models" in err.hint
    # Other models are not affected.
    assert (await chat(client, model="o3")).served_model == "o3"
    # Half-open after the cooldown: one probe; the model is back, so the circuit closes.
    clock.now += 4.0
    assert breaker.state("gpt-5") == "half-open"
    env.gw.upstream.always(None, model="gpt-5")
    assert (await chat(client)).served_model == "gpt-5"
    assert breaker.state("gpt-5") == "closed"
    # Failures older than the window are forgotten: one now, one 11 s later, still closed.
    env.gw.upstream.always(DOWN, model="gpt-5")
    await fails(client)
    clock.now += 11.0
    await fails(client)
    assert breaker.state("gpt-5") == "closed"


async def test_a_failed_probe_opens_the_circuit_again(local: Env) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, window=10.0, cooldown=5.0, clock=clock)
    client = local.client(max_retries=0, circuit_breaker=breaker)
    local.gw.upstream.always(Outcome.timeout(), model="gpt-5")
    assert isinstance(await fails(client), UpstreamTimeout)
    clock.now += 5.0
    assert isinstance(await fails(client), UpstreamTimeout)  # the probe, sent
    assert breaker.state("gpt-5") == "open"
    err = await fails(client)
    assert isinstance(err, CircuitOpen) and err.retry_after == 5.0
    assert local.models() == ["gpt-5", "gpt-5"]


async def test_only_model_level_failures_count(local: Env) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=Clock())
    client = local.client(max_retries=0, circuit_breaker=breaker)
    for code in ("API_KEY_EXPIRED", "INSUFFICIENT_BALANCE", "rate limit exceeded",
                 "invalid_request_error"):
        local.gw.fail_next(code)
        await fails(client)
    local.gw.fail_next(500)
    await fails(client)
    assert breaker.state("gpt-5") == "closed"
    local.gw.fail_next(503)  # NoEligibleChannel: a model-level failure
    await fails(client)
    assert breaker.state("gpt-5") == "open"


async def test_an_open_circuit_falls_back_without_sending(local: Env) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    client = local.client(max_retries=0, circuit_breaker=breaker)
    local.gw.fail_next("upstream_unavailable")
    await fails(client)
    local.gw.clear_requests()
    reply = await chat(client, fallback_models=["claude-opus-4-7"])
    assert reply.served_model == "claude-opus-4-7" and reply.retries_taken == 1
    assert local.models() == ["claude-opus-4-7"]
    # A retry refused mid-call falls back too: the circuit opens on the call's own failures.
    breaker.reset()
    local.gw.clear_requests()
    local.gw.upstream.always(DOWN, model="gpt-5")
    reply = await chat(client.with_options(max_retries=3),
                       fallback_models=["claude-opus-4-7"])
    assert local.models() == ["gpt-5", "claude-opus-4-7"]
    assert reply.served_model == "claude-opus-4-7"


def test_the_breaker_is_shared_by_copies_and_can_be_switched_off() -> None:
    client = torouter.ToRouter(api_key="sk-test-0123456789")
    assert isinstance(client.circuit_breaker, CircuitBreaker)
    assert client.circuit_breaker.failure_threshold == 5
    assert (client.circuit_breaker.window, client.circuit_breaker.cooldown) == (30.0, 30.0)
    assert client.with_options(timeout=3).circuit_breaker is client.circuit_breaker
    assert client.with_options(circuit_breaker=None).circuit_breaker is None
    mine = CircuitBreaker(failure_threshold=2)
    assert torouter.AsyncToRouter(api_key="sk-test-0123456789",
                                  circuit_breaker=mine).circuit_breaker is mine
    assert torouter.ToRouter(api_key="sk-test-0123456789",
                             circuit_breaker=False).circuit_breaker is None


def test_sixteen_threads_share_one_breaker_consistently() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=10 ** 6, window=10.0, cooldown=5.0, clock=clock)
    barrier = threading.Barrier(16)

    def fail_many() -> None:
        barrier.wait()
        for _ in range(500):
            breaker._report("m", "failure", False)

    threads = [threading.Thread(target=fail_many) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(breaker._states["m"].failures) == 16 * 500  # no failure lost

    # Open, then half-open: of 16 threads asking at once exactly one gets the probe.
    breaker._states["m"] = torouter._breaker.CircuitState(opened_at=clock.now)
    clock.now += 5.0
    got: list[str] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        admission, _ = breaker._enter("m")
        with lock:
            got.append(admission)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == ["probe"] + ["refuse"] * 15


def test_sixteen_threads_calling_a_half_open_model_send_one_probe() -> None:
    """16 threads call a model whose circuit just turned half-open and is still down: the
    gateway sees exactly one request for it, and every call is answered by the fallback."""
    gw = FakeGateway()
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    # The probe is slow, so the other threads ask while it is out (the result does not depend
    # on the timing: each asks either while the probe is out or after it re-opened the circuit).
    gw.upstream.always(Outcome.upstream_unavailable(latency=0.05), model="gpt-5")
    http = httpx.Client(transport=gw.transport())
    client = torouter.ToRouter(api_key=gw.add_key(), base_url="http://gateway.test/v1",
                               http_client=http, max_retries=0, circuit_breaker=breaker)
    with pytest.raises(UpstreamUnavailable):
        client.chat.completions.create(model="gpt-5", messages=MSG)  # type: ignore[arg-type]
    clock.now += 5.0
    gw.clear_requests()
    barrier = threading.Barrier(16)
    served: list[str | None] = []

    def call() -> None:
        barrier.wait()
        reply = client.chat.completions.create(model="gpt-5", messages=MSG,  # type: ignore
                                               fallback_models=["claude-opus-4-7"])
        served.append(reply.served_model)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    http.close()
    assert served == ["claude-opus-4-7"] * 16
    models = [r.model for r in gw.requests]
    assert models.count("gpt-5") == 1 and models.count("claude-opus-4-7") == 16
    assert breaker.state("gpt-5") == "open"


async def test_sixteen_tasks_calling_a_half_open_model_send_one_probe() -> None:
    gw = FakeGateway()
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    gw.upstream.always(Outcome.upstream_unavailable(latency=0.01), model="gpt-5")
    async with torouter.AsyncToRouter(
        api_key=gw.add_key(), base_url="http://gateway.test/v1", max_retries=0,
        http_client=httpx.AsyncClient(transport=gw.async_transport()), circuit_breaker=breaker,
    ) as client:
        with pytest.raises(UpstreamUnavailable):
            await client.chat.completions.create(model="gpt-5", messages=MSG)  # type: ignore
        clock.now += 5.0
        gw.clear_requests()
        replies = await asyncio.gather(*(
            client.chat.completions.create(model="gpt-5", messages=MSG,  # type: ignore
                                           fallback_models=["claude-opus-4-7"])
            for _ in range(16)))
    assert [r.served_model for r in replies] == ["claude-opus-4-7"] * 16
    assert [r.model for r in gw.requests].count("gpt-5") == 1


def test_the_decisions_are_pure_functions_of_state_and_time() -> None:
    """The fleet contract: ``_admit``/``_record`` read and return states, nothing else."""
    from torouter._breaker import CircuitState

    b = CircuitBreaker(failure_threshold=2, window=10.0, cooldown=5.0)
    closed = CircuitState()
    assert b._admit(closed, 0.0) == ("send", closed, 0.0)
    one = b._record(closed, 1.0, "failure", False)
    assert one == CircuitState(failures=(1.0,))
    assert b._record(one, 20.0, "failure", False) == CircuitState(failures=(20.0,))  # expired
    opened = b._record(one, 2.0, "failure", False)
    assert opened == CircuitState(opened_at=2.0)
    assert b._admit(opened, 3.0) == ("refuse", opened, 4.0)
    admission, probing, _ = b._admit(opened, 7.0)
    assert admission == "probe" and probing.probe_since == 7.0
    assert b._admit(probing, 8.0) == ("refuse", probing, 4.0)
    # A probe that never reports frees its slot after another cooldown.
    assert b._admit(probing, 12.0)[0] == "probe"
    assert b._record(probing, 8.0, "ok", True) == closed
    assert b._record(probing, 8.0, "failure", True) == CircuitState(opened_at=8.0)
    assert b._record(probing, 8.0, "neutral", True).probe_since is None
    assert b.counts(UpstreamUnavailable("x")) and b.counts(UpstreamTimeout("x"))
    assert not b.counts(InternalServerError("x")) and not b.counts(CircuitOpen("x"))
    err = b.open_error("gpt-5", 3.0)
    assert isinstance(err, CircuitOpen) and (err.model, err.retry_after) == ("gpt-5", 3.0)


async def test_a_stream_whose_model_fails_after_its_first_chunk_counts_for_the_breaker(
    env: Env,
) -> None:
    """End to end: the stream's end reaches the breaker through the seam's ``end_call``."""
    breaker = CircuitBreaker(failure_threshold=1, clock=Clock())
    client = env.client(circuit_breaker=breaker)
    env.gw.upstream.script(Outcome.stream_error(after=2), model="gpt-5")
    stream = await chat(client, stream=True, fallback_models=["claude-opus-4-7"])
    assert breaker.state("gpt-5") == "closed"  # the first chunk arrived: a success so far
    with pytest.raises(UpstreamUnavailable):
        await collect(stream)
    assert breaker.state("gpt-5") == "open"
    assert env.models() == ["gpt-5"]  # no fallback after the first chunk


def test_a_stream_cut_by_a_model_failure_after_its_first_chunk_counts() -> None:
    """The end of a committed call (a stream) is reported to the breaker through ``end_call``."""

    class Call:
        model = "gpt-5"
        result = object()
        notes: ClassVar[dict[object, Any]] = {}

    breaker = CircuitBreaker(failure_threshold=1)
    breaker.end_call(Call(), StreamInterrupted("cut"))  # type: ignore[arg-type]
    assert breaker.state("gpt-5") == "closed"
    breaker.end_call(Call(), UpstreamUnavailable("gone mid-stream"))  # type: ignore[arg-type]
    assert breaker.state("gpt-5") == "open"


# --- the policy, arguments, the error class ----------------------------------------------------


def test_which_classes_fall_back_by_default() -> None:
    policy = torouter.DEFAULT_RETRY_POLICY
    yes = [UpstreamUnavailable, torouter.NoEligibleChannel, UpstreamTimeout, CircuitOpen]
    no = [torouter.KeyExpired, torouter.InvalidApiKey, torouter.AuthenticationError,
          torouter.BillingError, torouter.QuotaExhausted, torouter.InsufficientBalance,
          torouter.UsageLimitExceeded, AccessDenied, torouter.PermissionDeniedError,
          BadRequestError, torouter.NotFoundError, torouter.RateLimited, InternalServerError,
          torouter.APIConnectionError, torouter.APITimeoutError, StreamInterrupted,
          torouter.InvalidArgumentError, torouter.ToRouterError]
    assert [policy.rule_for(c).fallback for c in yes] == [True] * len(yes)
    assert [c.__name__ for c in no if policy.rule_for(c).fallback] == []
    assert policy.rule_for(CircuitOpen).retry is False


def test_a_users_rule_keeps_the_inherited_fallback_unless_it_says_otherwise() -> None:
    policy = RetryPolicy().with_rule(UpstreamUnavailable, max_retries=5)
    assert policy.rule_for(UpstreamUnavailable).fallback is True
    assert policy.rule_for(UpstreamUnavailable).max_retries == 5
    policy = RetryPolicy() | {InternalServerError: RetryRule(max_retries=4)}
    assert policy.rule_for(UpstreamTimeout).fallback is True
    assert policy.rule_for(UpstreamTimeout).max_retries == 4  # the parent's retries still apply
    policy = RetryPolicy() | {UpstreamUnavailable: RetryRule(fallback=False)}
    assert policy.rule_for(torouter.NoEligibleChannel).fallback is False
    policy = RetryPolicy() | {InternalServerError: RetryRule(fallback=True, fallback_after=0)}
    assert policy.rule_for(InternalServerError).fallback is True
    assert policy.rule_for(UpstreamUnavailable).fallback_after == 0
    assert RetryPolicy(max_retries=0).rule_for(UpstreamUnavailable).fallback is True
    with pytest.raises(torouter.InvalidArgumentError):
        RetryRule(fallback="yes")  # type: ignore[arg-type]
    with pytest.raises(torouter.InvalidArgumentError):
        RetryRule(fallback_after=-1)


@pytest.mark.parametrize("bad", ["claude-opus-4-7", [""], [3], {"a": 1}, 5])
def test_bad_fallback_arguments_are_refused_before_sending(bad: Any) -> None:
    client = torouter.ToRouter(api_key="sk-test-0123456789",
                               base_url="http://127.0.0.1:9/v1")
    with pytest.raises(torouter.InvalidArgumentError, match="fallback"):
        client.chat.completions.create(model="gpt-5", messages=MSG,  # type: ignore[arg-type]
                                       fallback_models=bad)
    with pytest.raises(torouter.InvalidArgumentError, match="fallbacks"):
        torouter.ToRouter(api_key="sk-test-0123456789", fallbacks={"gpt-5": bad})


def test_other_bad_arguments() -> None:
    with pytest.raises(torouter.InvalidArgumentError, match="fallbacks"):
        torouter.ToRouter(api_key="sk-test-0123456789", fallbacks=["gpt-5"])  # type: ignore
    with pytest.raises(torouter.InvalidArgumentError, match="circuit_breaker"):
        torouter.ToRouter(api_key="sk-test-0123456789", circuit_breaker="on")  # type: ignore
    with pytest.raises(torouter.InvalidArgumentError, match="unexpected argument"):
        torouter.ToRouter(api_key="sk-test-0123456789").models.list(  # type: ignore[call-arg]
            fallback_models=["o3"])
    for kwargs in ({"failure_threshold": 0}, {"window": 0}, {"cooldown": -1},
                   {"window": float("inf")}, {"failure_threshold": True}):
        with pytest.raises(torouter.InvalidArgumentError, match="CircuitBreaker"):
            CircuitBreaker(**kwargs)


def test_circuit_open_is_a_documented_public_error() -> None:
    assert torouter.CircuitOpen is CircuitOpen and "CircuitOpen" in torouter.__all__
    assert issubclass(CircuitOpen, torouter.ToRouterError)
    assert not issubclass(CircuitOpen, torouter.APIStatusError)  # no response: nothing sent
    assert "CircuitOpen" in torouter._errors.__doc__
    entry = torouter._errors.lookup("CircuitOpen")
    assert entry is not None and entry.cls is CircuitOpen and entry.hint
    err = CircuitBreaker().open_error("gpt-5", 12.5)
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.model, again.retry_after) == (CircuitOpen, "gpt-5", 12.5)
    assert "retry_after=12.5s" in str(err)


def test_nothing_new_shows_the_key() -> None:
    key = "sk-fallback-SECRET-0123456789"
    client = torouter.ToRouter(api_key=key, fallbacks={"gpt-5": ["o3"]})
    err = client.circuit_breaker.open_error("gpt-5", 1.0)  # type: ignore[union-attr]
    for text in (repr(client.circuit_breaker), str(err), repr(err), repr(client.fallbacks)):
        assert key not in text


# --- the breaker's decisions, for any sequence of events -------------------------------------

_EVENTS = st.lists(st.tuples(
    st.floats(min_value=0.0, max_value=20.0, allow_nan=False),  # seconds since the last event
    st.sampled_from(["ok", "failure", "neutral", "lost"]),     # how the admitted request ends
), max_size=60)


@given(events=_EVENTS, threshold=st.integers(1, 4),
       window=st.floats(0.5, 15.0), cooldown=st.floats(0.0, 15.0))
def test_the_breaker_opens_exactly_at_the_threshold_and_probes_once(
    events: list[tuple[float, str]], threshold: int, window: float, cooldown: float
) -> None:
    """Against a plain reference: the circuit opens exactly when ``threshold`` counted failures
    fall within ``window``; it refuses with ``0 < retry_after <= cooldown``; after the cooldown
    one probe goes, and while it is out (``lost``: never reports) every request is refused."""
    from torouter._breaker import CircuitState

    b = CircuitBreaker(failure_threshold=threshold, window=window, cooldown=cooldown)
    state, now = CircuitState(), 0.0
    failures: list[float] = []  # the reference: counted failures while closed
    opened_at: float | None = None
    probe_out_since: float | None = None
    for gap, end in events:
        now += gap
        admission, state, retry_after = b._admit(state, now)
        if opened_at is None:
            assert admission == "send"
        elif now < opened_at + cooldown or (
                probe_out_since is not None and now < probe_out_since + cooldown):
            assert admission == "refuse" and 0 < retry_after <= cooldown
            continue
        else:
            assert admission == "probe"
        probe = admission == "probe"
        if end == "lost":  # the request never reports (its task was cancelled)
            if probe:
                probe_out_since = now
            continue
        state = b._record(state, now, end, probe)  # type: ignore[arg-type]
        if probe:
            probe_out_since = None
            if end == "ok":
                opened_at, failures = None, []
            elif end == "failure":
                opened_at = now
        elif end == "failure":
            failures = [t for t in failures if t > now - window] + [now]
            if len(failures) >= threshold:
                opened_at, failures = now, []
        assert (state.opened_at is None) == (opened_at is None)


def test_torouter_explain_says_what_falls_back(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from torouter.cli import main

    assert main(["explain", "CircuitOpen"]) == 0
    out = capsys.readouterr().out
    assert "falls back:  yes: to the call's next fallback model" in out
    assert "exit code:   7" in out
    for name, expected in (("CircuitOpen", True), ("UpstreamUnavailable", True),
                           ("503", True), ("KeyExpired", False), ("400", False)):
        assert main(["explain", name, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["match"]["falls_back"] is expected, name


async def test_the_stream_helper_falls_back_before_its_first_chunk(local: Env) -> None:
    local.gw.upstream.always(DOWN, model="gpt-5")
    client = local.client(max_retries=0)
    manager = client.chat.completions.stream(model="gpt-5", messages=MSG,
                                             fallback_models=["claude-opus-4-7"])
    if local.kind == "sync":
        with manager as stream:
            final = stream.get_final_completion()
    else:
        async with manager as stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.content == "Bonjour tout le monde"
    assert local.models() == ["gpt-5", "claude-opus-4-7"]
