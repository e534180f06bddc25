"""The real SDK against the fake gateway: every documented limit and error, end to end.

Every scenario runs four ways: ``ToRouter`` and ``AsyncToRouter``, each over the in-process
httpx transport and over a real HTTP server on 127.0.0.1 (``FakeGateway.serve()``). What is
asserted is what a user's ``except`` clause relies on: the exact exception class, the status
received, the gateway's code, the ``x-request-id`` of the failing response, whether the SDK
retried (``err.attempts`` and the gateway's own request log agree), and that rejected requests
are not billed. Retry sleeps are skipped (``instant_retries``); nothing waits for real.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from functools import partial
from typing import Any

import anyio.from_thread
import httpx
import pytest

import torouter
from torouter.testing import FakeClock, FakeGateway, GatewayServer, Outcome, instant_retries

# One TLS context for every client: building a fresh one costs ~60 ms (the URLs are plain http).
SSL = ssl.create_default_context()
TEXT = "one two three four five"
MSG: list[dict[str, Any]] = [{"role": "user", "content": TEXT}]
PAST = datetime(2020, 1, 1, tzinfo=timezone.utc)
DIALECTS = ["reference", "limits"]


class Driver:
    """One torouter client (sync, or async run on a private event loop) driven by sync calls."""

    def __init__(self, client: Any, portal: Any, gateway: FakeGateway) -> None:
        self.client = client
        self.portal = portal
        self.gw = gateway

    def _run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        if self.portal is None:
            return fn(**kwargs)
        return self.portal.call(partial(fn, **kwargs))

    def chat(self, model: str = "gpt-5", **kwargs: Any) -> Any:
        kwargs.setdefault("messages", MSG)
        return self._run(self.client.chat.completions.create, model=model, **kwargs)

    def stream(self, got: list[Any], model: str = "gpt-5", **kwargs: Any) -> Any:
        """Open a stream and read it whole into ``got`` (which keeps what came before a raise)."""
        kwargs.setdefault("messages", MSG)
        if self.portal is None:
            with self.client.chat.completions.create(model=model, stream=True, **kwargs) as s:
                for chunk in s:
                    got.append(chunk)
            return s

        async def read() -> Any:
            s = await self.client.chat.completions.create(model=model, stream=True, **kwargs)
            async with s:
                async for chunk in s:
                    got.append(chunk)
            return s

        return self.portal.call(read)

    def model_ids(self) -> list[str]:
        return [m.id for m in self._run(self.client.models.list)]

    def embed(self, **kwargs: Any) -> Any:
        return self._run(self.client.embeddings.create, **kwargs)

    def fails(self, cls: type[torouter.ToRouterError], call: str = "chat",
              **kwargs: Any) -> Any:
        """Run ``call`` and return the error, which must be exactly ``cls``."""
        before = len(self.gw.requests)
        with pytest.raises(torouter.ToRouterError) as info:
            if call == "stream":
                self.stream([], **kwargs)
            else:
                getattr(self, call)(**kwargs)
        err = info.value
        assert type(err) is cls, f"expected {cls.__name__}, got {err!r}"
        # The hint users print comes from the catalog; the request id is the failing response's.
        assert err.hint == cls.default_hint
        if isinstance(err, torouter.APIStatusError):
            assert err.request_id == self.gw.requests[-1].request_id
            assert err.request_id.startswith("req_")
        # The SDK's attempt history matches what reached the gateway.
        assert len(err.attempts) == len(self.gw.requests) - before
        return err


Connect = Callable[..., Driver]


@pytest.fixture(params=["transport-sync", "transport-async", "socket-sync", "socket-async"])
def connect(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """``connect(gateway, key, **client_options)`` -> a :class:`Driver` on this front end."""
    front, mode = request.param.split("-")
    servers: dict[int, GatewayServer] = {}
    with ExitStack() as stack:
        portal = (stack.enter_context(anyio.from_thread.start_blocking_portal("asyncio"))
                  if mode == "async" else None)

        def base_url(gw: FakeGateway) -> str:
            if front == "transport":
                return "http://gateway.test/v1"
            if id(gw) not in servers:
                servers[id(gw)] = stack.enter_context(gw.serve())
            return servers[id(gw)].base_url

        pools: dict[int, Any] = {}  # one connection pool per gateway, shared by its clients

        def pool(gw: FakeGateway) -> Any:
            if id(gw) in pools:
                return pools[id(gw)]
            http: Any
            if portal is None:
                http = (httpx.Client(transport=gw.transport()) if front == "transport"
                        else httpx.Client(verify=SSL))
                stack.callback(http.close)
            else:
                http = (httpx.AsyncClient(transport=gw.async_transport())
                        if front == "transport" else httpx.AsyncClient(verify=SSL))
                stack.callback(portal.call, http.aclose)
            pools[id(gw)] = http
            return http

        def factory(gw: FakeGateway, key: str, **options: Any) -> Driver:
            url, http = base_url(gw), pool(gw)
            cls = torouter.ToRouter if portal is None else torouter.AsyncToRouter
            client = cls(api_key=key, base_url=url, http_client=http, **options)
            return Driver(instant_retries(client), portal, gw)

        yield factory


# --- success paths -------------------------------------------------------------------------


def test_chat_stream_models_and_embeddings(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    reply = d.chat()
    assert reply.choices[0].message.content == TEXT
    assert reply.request_id == gw.requests[-1].request_id
    assert reply.retries_taken == 0

    got: list[Any] = []
    stream = d.stream(got)
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == TEXT
    assert stream.request_id == gw.requests[-1].request_id

    ids = d.model_ids()
    assert {"gpt-5", "claude-opus-4-7", "text-embedding-3-small"} <= set(ids)
    emb = d.embed(model="text-embedding-3-small", input=["a", "b"])
    assert [len(e.embedding) for e in emb.data] == [8, 8]
    assert [r.status for r in gw.requests] == [200, 200, 200, 200]
    assert [r.path for r in gw.requests][-2:] == ["/v1/models", "/v1/embeddings"]


# --- the key -------------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "status"), [("reference", 403), ("limits", 401)])
def test_expired_key(connect: Connect, dialect: Any, status: int) -> None:
    clock = FakeClock()
    gw = FakeGateway(dialect=dialect, clock=clock)
    d = connect(gw, gw.add_key(expires_at=PAST))
    err = d.fails(torouter.KeyExpired)
    assert (err.status_code, err.code) == (status, "API_KEY_EXPIRED")
    assert len(err.attempts) == 1  # a dead key is never retried

    # "N days after creation": fine until the clock passes it.
    d = connect(gw, gw.add_key(expires_at=30))
    d.chat()
    clock.advance(30 * 86400)
    assert d.fails(torouter.KeyExpired, call="model_ids").status_code == status


def test_disabled_unknown_and_deleted_keys(connect: Connect) -> None:
    gw = FakeGateway()
    key = gw.add_key()
    d = connect(gw, key)
    d.chat()
    gw.update_key(key, enabled=False)
    err = d.fails(torouter.KeyDisabled)
    assert (err.status_code, err.code) == (401, "API_KEY_DISABLED")

    err = connect(gw, "sk-not-a-key-of-this-gateway").fails(torouter.InvalidApiKey)
    assert (err.status_code, err.code) == (401, "INVALID_API_KEY")
    gone = gw.add_key()
    gw.delete_key(gone)
    connect(gw, gone).fails(torouter.InvalidApiKey, call="model_ids")
    # The key never appears in what the user logs.
    assert gone not in str(err) and gone not in repr(err)


def test_inactive_and_missing_user(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key(user="alice"))
    gw.set_user_state("alice", "inactive")
    assert d.fails(torouter.UserInactive).code == "USER_INACTIVE"
    gw.set_user_state("alice", "missing")
    assert d.fails(torouter.UserNotFound, call="model_ids").code == "USER_NOT_FOUND"
    gw.set_user_state("alice", "active")
    d.chat()


@pytest.mark.parametrize(("dialect", "status"), [("reference", 403), ("limits", 401)])
def test_ip_allowlist_and_blocklist(connect: Connect, dialect: Any, status: int) -> None:
    # The client is 127.0.0.1: the transports report it and it is the socket peer.
    gw = FakeGateway(dialect=dialect)
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"ip_allow": ["10.0.0.0/8"]}, False),
        ({"ip_allow": ["127.0.0.0/8"]}, True),
        ({"ip_block": ["127.0.0.1/32"]}, False),
        ({"ip_block": ["10.0.0.0/8", "2001:db8::/32"]}, True),
        ({"ip_allow": "127.0.0.0/8\n::1/128", "ip_block": "127.0.0.1"}, False),
        ({"ip_allow": ["::1/128"]}, False),
    ]
    for limits, allowed in cases:
        d = connect(gw, gw.add_key(**limits))
        if allowed:
            d.chat()
            continue
        err = d.fails(torouter.AccessDenied)
        assert (err.status_code, err.code) == (status, "ACCESS_DENIED"), limits
        assert "ip not allowed" in str(err)
        assert "IP allowlist" in err.hint
    billed = [r.cost_usd for r in gw.requests if r.status != 200]
    assert billed == [0.0] * 4  # blocked requests cost nothing


@pytest.mark.parametrize(("dialect", "code"),
                         [("reference", "ACCESS_DENIED"), ("limits", "model_not_allowed")])
def test_model_whitelist_and_the_thinking_rule(connect: Connect, dialect: Any, code: str) -> None:
    gw = FakeGateway(dialect=dialect)
    d = connect(gw, gw.add_key(models="gpt-5, claude-opus-4-7"))
    d.chat(model="gpt-5")
    thinking = d.chat(model="gpt-5-thinking")  # a base id also allows its -thinking variant
    assert thinking.choices[0].message.reasoning_content
    err = d.fails(torouter.AccessDenied, model="gpt-5-mini")
    assert (err.status_code, err.code) == (403, code)
    assert sorted(d.model_ids()) == ["claude-opus-4-7", "gpt-5"]
    # ... but a -thinking entry does not allow its base id.
    d = connect(gw, gw.add_key(models=["gpt-5-thinking"]))
    d.chat(model="gpt-5-thinking")
    d.fails(torouter.AccessDenied, model="gpt-5")


# --- money and plan ------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "status"), [("reference", 429), ("limits", 402)])
def test_spend_cap_is_exhausted_after_it_is_crossed(
    connect: Connect, dialect: Any, status: int
) -> None:
    gw = FakeGateway(dialect=dialect)
    key = gw.add_key(quota_usd=0.025)  # gpt-5 costs 0.01 a request on the fake gateway
    d = connect(gw, key)
    for _ in range(3):
        d.chat()
    err = d.fails(torouter.QuotaExhausted)
    assert (err.status_code, err.code) == (status, "API_KEY_QUOTA_EXHAUSTED")
    assert len(err.attempts) == 1 and not err.retryable  # a spent cap is never retried
    assert gw.key_info(key).spent_usd == pytest.approx(0.03)
    gw.update_key(key, quota_usd=1.0)
    d.chat()


@pytest.mark.parametrize(("dialect", "status"), [("reference", 403), ("limits", 402)])
def test_insufficient_balance(connect: Connect, dialect: Any, status: int) -> None:
    gw = FakeGateway(dialect=dialect)
    gw.add_user("bob", balance_usd=0.015)
    d = connect(gw, gw.add_key(user="bob"))
    d.chat()
    d.chat()  # takes the balance below zero
    err = d.fails(torouter.InsufficientBalance)
    assert (err.status_code, err.code) == (status, "INSUFFICIENT_BALANCE")
    assert isinstance(err, torouter.BillingError) and len(err.attempts) == 1


def test_subscription_missing_paused_and_active(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key(user="carol", requires_subscription=True))
    err = d.fails(torouter.SubscriptionNotFound)
    assert (err.status_code, err.code) == (403, "SUBSCRIPTION_NOT_FOUND")
    gw.set_subscription("carol", "paused")
    assert d.fails(torouter.SubscriptionInvalid).code == "SUBSCRIPTION_INVALID"
    gw.set_subscription("carol", "active")
    d.chat()


def test_usage_window(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    gw.exhaust_usage_window("user", "weekly")
    err = d.fails(torouter.UsageLimitExceeded)
    assert (err.status_code, err.code) == (429, "USAGE_LIMIT_EXCEEDED")
    assert len(err.attempts) == 1  # a 429 that retrying cannot fix is not retried
    gw.exhaust_usage_window("user", "weekly", exhausted=False)
    d.chat()


# --- request rate ----------------------------------------------------------------------------


def test_request_rate_windows(connect: Connect) -> None:
    clock = FakeClock()
    gw = FakeGateway(clock=clock)
    d = connect(gw, gw.add_key(windows=(2, 0, 0)))
    d.chat()
    d.chat()
    err = d.fails(torouter.RateLimited)
    assert (err.status_code, err.code) == (429, "rate limit exceeded")
    # Retried with backoff (twice by default), then raised with the history.
    assert [a.outcome for a in err.attempts] == ["RateLimited"] * 3
    assert err.retries_taken == 2 and err.retryable
    clock.advance(5 * 3600)  # the ~5 h window slides past the first calls
    d.chat()


def test_per_ip_rate_limit(connect: Connect) -> None:
    clock = FakeClock()
    gw = FakeGateway(clock=clock, ip_rate_limit=(3, 60.0))
    d = connect(gw, gw.add_key())
    for _ in range(3):
        d.chat()
    err = d.fails(torouter.RateLimited, call="model_ids")  # every route counts
    assert err.status_code == 429 and len(err.attempts) == 3
    clock.advance(61)
    d.chat()


def test_a_rate_limit_that_a_retry_recovers_from(connect: Connect) -> None:
    gw = FakeGateway()
    seen: list[tuple[str, float | None]] = []
    d = connect(gw, gw.add_key(),
                on_retry=lambda err, attempt: seen.append((type(err).__name__, attempt.sleep)))
    gw.fail_next("rate limit exceeded", retry_after=0.25)
    reply = d.chat()
    assert reply.retries_taken == 1
    assert reply.choices[0].message.content == TEXT
    assert seen == [("RateLimited", 0.25)]  # the gateway's Retry-After was honoured
    assert [r.status for r in gw.requests] == [429, 200]


# --- the upstream -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "cls", "status"),
    [
        (Outcome.upstream_unavailable(502), torouter.UpstreamUnavailable, 502),
        (Outcome.upstream_unavailable(503), torouter.UpstreamUnavailable, 503),
        (Outcome.no_channel(plain=True), torouter.NoEligibleChannel, 503),
        (Outcome.timeout(), torouter.UpstreamTimeout, 504),
        (Outcome.plain(500), torouter.InternalServerError, 500),
    ],
    ids=["502", "503-typed", "503-plain", "504", "500"],
)
def test_upstream_outage_is_retried_then_raised(
    connect: Connect, outcome: Outcome, cls: type[torouter.APIStatusError], status: int
) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    gw.upstream.always(outcome)
    err = d.fails(cls)
    assert err.status_code == status
    assert [a.outcome for a in err.attempts] == [cls.__name__] * 3
    assert [a.request_id for a in err.attempts] == [r.request_id for r in gw.requests]
    assert err.retries_taken == 2 and err.attempts[-1].stop_reason == "2 retries used"
    gw.upstream.always(None)
    d.chat()


def test_channel_failures_fail_over_then_surface(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    # One bad channel of two: the gateway fails over, the client sees nothing.
    gw.upstream.add_channel("backup", priority=1)
    gw.upstream.channel().script(Outcome.plain(500))
    assert d.chat().retries_taken == 0
    assert gw.requests[-1].attempts == ("default", "backup")
    # Every channel fails: 502 upstream_unavailable; every channel times out: 504.
    for ch in gw.upstream.channels:
        ch.always(Outcome.plain(503))
    assert d.fails(torouter.UpstreamUnavailable).code == "upstream_unavailable"
    for ch in gw.upstream.channels:
        ch.always(Outcome.timeout())
    d.fails(torouter.UpstreamTimeout)
    # No channel at all: 503 upstream_unavailable.
    gw.upstream.remove_channel("default")
    gw.upstream.remove_channel("backup")
    err = d.fails(torouter.UpstreamUnavailable)
    assert (err.status_code, err.code) == (503, "upstream_unavailable")


def test_an_outage_that_retries_recover_from(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    gw.fail_next("upstream_unavailable", times=2)
    assert d.chat().retries_taken == 2
    gw.fail_next(504)
    got: list[Any] = []
    assert d.stream(got).retries_taken == 1  # a stream is retried before its first event


# --- streams ---------------------------------------------------------------------------------


def test_stream_with_reasoning(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    got: list[Any] = []
    d.stream(got, model="claude-opus-4-7-thinking")
    deltas = [c.choices[0].delta for c in got if c.choices]
    assert "".join(x.reasoning_content or "" for x in deltas) == gw.reasoning_text
    assert "".join(x.content or "" for x in deltas) == TEXT


def test_mid_stream_error_raises_the_same_class_as_a_plain_request(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    gw.script(Outcome.stream_error(after=3))  # role chunk + 2 words, then an error event
    got: list[Any] = []
    with pytest.raises(torouter.UpstreamUnavailable) as info:
        d.stream(got)
    assert type(info.value) is torouter.UpstreamUnavailable
    assert info.value.code == "upstream_unavailable"
    assert info.value.request_id == gw.requests[-1].request_id
    assert "".join(c.choices[0].delta.content or "" for c in got) == "one two "
    assert len(gw.requests) == 1  # never retried after the first event
    gw.script(Outcome.stream_error(after=3), times=3)  # the same failure on a plain request
    plain = d.fails(torouter.UpstreamUnavailable)
    assert (type(plain), plain.code) == (type(info.value), info.value.code)


def test_dropped_stream_raises_stream_interrupted_with_the_chunks(connect: Connect) -> None:
    gw = FakeGateway()
    d = connect(gw, gw.add_key())
    gw.script(Outcome.drop(after=4))
    got: list[Any] = []
    with pytest.raises(torouter.StreamInterrupted) as info:
        d.stream(got)
    err = info.value
    assert type(err) is torouter.StreamInterrupted
    assert err.text == "one two three "
    assert err.text == "".join(c.choices[0].delta.content or "" for c in got)
    assert err.request_id == gw.requests[-1].request_id
    assert len(gw.requests) == 1


# --- error body shapes -----------------------------------------------------------------------

SHAPE_CASES: list[tuple[str, Callable[[FakeGateway], str], type[torouter.ToRouterError]]] = [
    ("expired", lambda gw: gw.add_key(expires_at=PAST), torouter.KeyExpired),
    ("disabled", lambda gw: gw.add_key(enabled=False), torouter.KeyDisabled),
    ("unknown", lambda gw: "sk-unknown-key-0000", torouter.InvalidApiKey),
    ("ip", lambda gw: gw.add_key(ip_allow=["10.0.0.0/8"]), torouter.AccessDenied),
    ("model", lambda gw: gw.add_key(models=["o3"]), torouter.AccessDenied),
    ("quota", lambda gw: gw.add_key(quota_usd=0.001), torouter.QuotaExhausted),
    ("rate", lambda gw: gw.add_key(windows=(1, 0, 0)), torouter.RateLimited),
]


# Classification does not depend on the client kind: the sync clients suffice here.
@pytest.mark.parametrize("connect", ["transport-sync", "socket-sync"], indirect=True)
@pytest.mark.parametrize("shape", ["anthropic", "gemini"])
def test_anthropic_and_gemini_error_shapes_classify_the_same(connect: Connect, shape: Any) -> None:
    for dialect in DIALECTS:
        gateways = {sh: FakeGateway(error_shape=sh, dialect=dialect) for sh in ("openai", shape)}
        for name, make_key, cls in SHAPE_CASES:
            got = {}
            for sh, gw in gateways.items():
                d = connect(gw, make_key(gw))
                if name in ("quota", "rate"):
                    d.chat()  # the first call uses the cap / the window up
                err = d.fails(cls)
                got[sh] = (err.status_code, err.code)
            assert got[shape] == got["openai"], (dialect, name)
    gw = FakeGateway(error_shape=shape)
    d = connect(gw, gw.add_key(), max_retries=0)
    for outcome, cls in [(Outcome.upstream_unavailable(503), torouter.UpstreamUnavailable),
                         (Outcome.timeout(), torouter.UpstreamTimeout),
                         (Outcome.plain(500), torouter.InternalServerError)]:
        gw.script(outcome)
        d.fails(cls)
    # A code-less 503: Gemini bodies name it UNAVAILABLE, which the SDK reads as the parent
    # class (an upstream overload); either way `except UpstreamUnavailable` catches it.
    gw.script(Outcome.no_channel(plain=True))
    d.fails(torouter.NoEligibleChannel if shape == "anthropic" else torouter.UpstreamUnavailable)


# --- another client against the socket server ---------------------------------------------------


def test_the_official_openai_package_works_against_the_socket_server() -> None:
    openai = pytest.importorskip(
        "openai", reason="the openai package is not installed (it is in the dev extra)"
    )
    gw = FakeGateway()
    key = gw.add_key()
    expired = gw.add_key(expires_at=PAST)
    with gw.serve() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
        try:
            reply = client.chat.completions.create(model="gpt-5", messages=MSG)
            assert reply.choices[0].message.content == TEXT
            stream = client.chat.completions.create(model="gpt-5", messages=MSG, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text == TEXT
            assert "gpt-5" in [m.id for m in client.models.list()]
            with pytest.raises(openai.APIStatusError) as info:
                client.with_options(api_key=expired).chat.completions.create(
                    model="gpt-5", messages=MSG
                )
            assert info.value.status_code == 403
        finally:
            client.close()
    assert [r.status for r in gw.requests] == [200, 200, 200, 403]


def test_an_error_inside_async_for_over_a_socket_closes_the_stream_cleanly() -> None:
    # Leaving `async with stream` by an exception raised in the loop body used to make asyncio
    # finalise the stream's iterator while the stream was closing: "Task exception was never
    # retrieved: RuntimeError: aclose(): asynchronous generator is already running".
    import asyncio
    import gc

    gw = FakeGateway()
    key = gw.add_key()
    problems: list[dict[str, Any]] = []

    async def main(base_url: str) -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: problems.append(ctx))
        async with torouter.AsyncToRouter(api_key=key, base_url=base_url,
                                          http_client=httpx.AsyncClient(verify=SSL)) as client:
            stream = await client.chat.completions.create(model="gpt-5", messages=MSG,
                                                          stream=True)
            with pytest.raises(ValueError, match="user code failed"):
                async with stream:
                    async for _chunk in stream:
                        raise ValueError("user code failed")
            await asyncio.sleep(0.01)  # let asyncio run the finaliser it scheduled
            assert stream.response.is_closed

    with gw.serve() as server:
        asyncio.run(main(server.base_url))
    gc.collect()
    assert problems == []
