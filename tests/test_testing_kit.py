"""The test kit users get with torouter: the pytest plugin's fixtures and the respx helpers.

The helpers must make the real client raise *exactly* the class asked for — for every class in
``torouter.ERROR_CATALOG`` that has an HTTP status, in every body shape, for the sync and the async
client, as a plain response and as an error event inside a stream — or the user's test of their
``except`` clause proves nothing.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

import torouter
from torouter.testing import (
    FakeGateway,
    GatewayServer,
    completion_response,
    error_body,
    error_response,
    instant_retries,
    stream_response,
    stub_completion,
    stub_error,
    stub_stream,
)

SSL = ssl.create_default_context()  # shared: a fresh TLS context per client costs ~60 ms
MSG: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]
ENTRIES = [e for e in torouter.ERROR_CATALOG if e.statuses]
STATUS_CLASSES = [e.cls for e in ENTRIES]
PAIRS = [(e.cls, s) for e in ENTRIES for s in e.statuses]


def _name(value: Any) -> str:
    return value.__name__ if isinstance(value, type) else str(value)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(verify=SSL) as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> torouter.ToRouter:
    """A client as a user's app builds it (default base URL); respx answers its requests."""
    return torouter.ToRouter(api_key="sk-test-kit-0000", http_client=http, max_retries=0)


@pytest.fixture
def aclient() -> torouter.AsyncToRouter:
    return torouter.AsyncToRouter(
        api_key="sk-test-kit-0000", http_client=httpx.AsyncClient(verify=SSL), max_retries=0
    )


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- stub_error: every class, every shape, sync and async --------------------------------------


@pytest.mark.parametrize("shape", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("cls", STATUS_CLASSES, ids=_name)
def test_stub_error_raises_exactly_the_class(
    respx_mock: respx.MockRouter, client: torouter.ToRouter, cls: Any, shape: Any
) -> None:
    entry = next(e for e in ENTRIES if e.cls is cls)
    stub = stub_error(respx_mock, cls, shape=shape, request_id="req_abc")
    with pytest.raises(torouter.ToRouterError) as info:
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    err = info.value
    assert type(err) is cls
    assert err.status_code == entry.statuses[0]
    assert err.request_id == "req_abc" and err.hint == cls.default_hint
    if entry.codes:
        assert err.code == entry.codes[0]
    assert stub.call_count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("cls", STATUS_CLASSES, ids=_name)
async def test_stub_error_async(
    respx_mock: respx.MockRouter, aclient: torouter.AsyncToRouter, cls: Any
) -> None:
    stub_error(respx_mock, cls)
    async with aclient:
        with pytest.raises(torouter.ToRouterError) as info:
            await aclient.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert type(info.value) is cls
    assert info.value.request_id == "req_stub"


@pytest.mark.parametrize(("cls", "status"), PAIRS, ids=[f"{c.__name__}-{s}" for c, s in PAIRS])
def test_stub_error_at_every_status_the_catalog_lists(
    respx_mock: respx.MockRouter, client: torouter.ToRouter, cls: Any, status: int
) -> None:
    stub_error(respx_mock, cls, status=status)
    with pytest.raises(cls) as info:
        client.models.list()
    assert (type(info.value), info.value.status_code) == (cls, status)


def test_stub_error_retry_after_message_and_the_shapes_bodies(
    respx_mock: respx.MockRouter, client: torouter.ToRouter
) -> None:
    stub_error(respx_mock, torouter.UpstreamUnavailable, retry_after=7, message="all down")
    with pytest.raises(torouter.UpstreamUnavailable) as info:
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert info.value.retry_after == 7
    assert info.value.message == "all down"
    with pytest.raises(ValueError, match="fixed body"):
        stub_error(respx_mock, torouter.RateLimited, message="slow down")
    # The canonical bodies, as the gateway's docs give them.
    assert error_body(torouter.RateLimited)[1] == b'{"error": "rate limit exceeded"}'
    status, body = error_body(torouter.KeyExpired, shape="anthropic")
    assert status == 403 and body.startswith(b'{"type": "error", "error": {')
    assert b'"type": "API_KEY_EXPIRED"' in body
    status, body = error_body(torouter.QuotaExhausted, status=402, shape="gemini")
    assert status == 402 and b'"code": 402' in body
    assert b'"status": "API_KEY_QUOTA_EXHAUSTED"' in body
    assert b'"type"' not in error_body(torouter.UpstreamTimeout)[1]  # a code-less 504


def test_stub_error_refuses_what_it_cannot_make(respx_mock: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="classified as UpstreamUnavailable"):
        stub_error(respx_mock, torouter.NoEligibleChannel, status=502)
    with pytest.raises(TypeError, match="stub_stream"):
        stub_error(respx_mock, torouter.StreamInterrupted)
    with pytest.raises(TypeError, match="ERROR_CATALOG"):
        stub_error(respx_mock, torouter.ToRouterError)
    with pytest.raises(TypeError, match="respx router"):
        stub_error(object(), torouter.KeyExpired)
    with pytest.raises(ValueError, match="times"):
        stub_error(respx_mock, torouter.KeyExpired, times=0)
    with pytest.raises(ValueError, match="shape"):
        stub_error(respx_mock, torouter.KeyExpired, shape="xml")  # type: ignore[arg-type]
    assert respx_mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("cls", "exc"),
    [(torouter.APIConnectionError, httpx.ConnectError), (torouter.APITimeoutError, None)],
    ids=["connection", "timeout"],
)
def test_transport_failures_are_retried_then_raised(
    respx_mock: respx.MockRouter, http: httpx.Client, cls: Any, exc: Any
) -> None:
    stub = stub_error(respx_mock, cls)
    client = instant_retries(torouter.ToRouter(api_key="sk-test-kit-0000", http_client=http))
    with pytest.raises(cls) as info:
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert type(info.value) is cls
    assert len(info.value.attempts) == 3 and stub.call_count == 3


def test_a_2xx_that_is_not_json(respx_mock: respx.MockRouter, client: torouter.ToRouter) -> None:
    stub_error(respx_mock, torouter.APIResponseValidationError)
    with pytest.raises(torouter.APIResponseValidationError) as info:
        client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert type(info.value) is torouter.APIResponseValidationError


# --- stub_completion, stub_stream --------------------------------------------------------------


def test_stub_completion(respx_mock: respx.MockRouter, client: torouter.ToRouter) -> None:
    stub = stub_completion(respx_mock, text="Bonjour", request_id="req_1", reasoning="hmm")
    reply = client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert reply.choices[0].message.content == "Bonjour"
    assert reply.choices[0].message.reasoning_content == "hmm"
    assert reply.request_id == "req_1" and reply.retries_taken == 0
    assert stub.called and stub.calls[0].url.path == "/v1/chat/completions"


@pytest.mark.anyio
async def test_stub_completion_and_stream_async(
    respx_mock: respx.MockRouter, aclient: torouter.AsyncToRouter
) -> None:
    stub_completion(respx_mock, text="one")
    async with aclient:
        reply = await aclient.chat.completions.create(model="gpt-5-mini", messages=MSG)
        assert reply.choices[0].message.content == "one"
        stub_stream(respx_mock, ["Hel", "lo"], request_id="req_s")
        stream = await aclient.chat.completions.create(model="m", messages=MSG, stream=True)
        got = [chunk async for chunk in stream]
    assert text_of(got) == "Hello" and stream.request_id == "req_s"
    assert got[-1].choices[0].finish_reason == "stop"


def test_stream_body_is_sse_ending_in_done() -> None:
    body = stream_response(["a", "b"]).read()
    events = body.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    assert all(e.startswith(b"data: ") for e in events[:-1])
    assert b'"error"' in stream_response(["a"], error_after=1).read()
    assert not stream_response(["a"], error_after=1).read().endswith(b"data: [DONE]\n\n")


def test_stub_stream_sync_with_reasoning(
    respx_mock: respx.MockRouter, client: torouter.ToRouter
) -> None:
    stub_stream(respx_mock, ["The ", "answer"], reasoning="think first")
    with client.chat.completions.create(model="m", messages=MSG, stream=True) as stream:
        got = list(stream)
    assert text_of(got) == "The answer"
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in got)
    assert reasoning == "think first"


@pytest.mark.parametrize("cls", STATUS_CLASSES, ids=_name)
def test_stream_error_event_raises_exactly_the_class(
    respx_mock: respx.MockRouter, client: torouter.ToRouter, cls: Any
) -> None:
    stub_stream(respx_mock, ["a", "b", "c"], error_after=2, error=cls)
    got: list[Any] = []
    with pytest.raises(torouter.ToRouterError) as info:  # noqa: SIM117
        with client.chat.completions.create(model="m", messages=MSG, stream=True) as stream:
            got.extend(stream)
    assert type(info.value) is cls
    assert text_of(got) == "ab"  # the chunks before the error were delivered
    assert info.value.request_id == "req_stub"


@pytest.mark.anyio
@pytest.mark.parametrize("cls", STATUS_CLASSES, ids=_name)
async def test_stream_error_event_async(
    respx_mock: respx.MockRouter, aclient: torouter.AsyncToRouter, cls: Any
) -> None:
    stub_stream(respx_mock, ["a", "b"], error_after=1, error=cls)
    got: list[Any] = []
    async with aclient:
        stream = await aclient.chat.completions.create(model="m", messages=MSG, stream=True)
        with pytest.raises(torouter.ToRouterError) as info:
            async for chunk in stream:
                got.append(chunk)
    assert type(info.value) is cls and text_of(got) == "a"


@pytest.mark.parametrize(
    ("kwargs", "cls"),
    [({"drop_after": 2}, torouter.StreamInterrupted),
     ({"timeout_after": 2}, torouter.StreamIdleTimeout)],
    ids=["drop", "timeout"],
)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_cut_short_keeps_the_chunks(
    respx_mock: respx.MockRouter, client: torouter.ToRouter, aclient: torouter.AsyncToRouter,
    kwargs: dict[str, int], cls: Any, mode: str
) -> None:
    stub = stub_stream(respx_mock, ["a", "b", "c"], **kwargs)
    if mode == "sync":
        with pytest.raises(torouter.StreamInterrupted) as info:
            list(client.chat.completions.create(model="m", messages=MSG, stream=True))
    else:
        import anyio

        async def read() -> None:
            async with aclient:
                s = await aclient.chat.completions.create(model="m", messages=MSG, stream=True)
                async for _ in s:
                    pass

        with pytest.raises(torouter.StreamInterrupted) as info:
            anyio.run(read)
    assert type(info.value) is cls
    assert info.value.text == "ab"
    assert stub.call_count == 1  # never retried once chunks were delivered


def test_stub_stream_checks_its_arguments(respx_mock: respx.MockRouter) -> None:
    with pytest.raises(ValueError, match="at most one"):
        stub_stream(respx_mock, ["a"], error_after=1, drop_after=1)
    with pytest.raises(TypeError, match="list of strings"):
        stub_stream(respx_mock, "abc")
    with pytest.raises(ValueError, match="error= needs"):
        stub_stream(respx_mock, ["a"], error=torouter.KeyExpired)


# --- composing stubs ---------------------------------------------------------------------------


@pytest.fixture
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """A retry that really sleeps fails the test at once (instead of the test timing itself)."""

    def forbidden(seconds: float) -> None:
        raise AssertionError(f"a retry really slept {seconds} s")

    monkeypatch.setattr(torouter.ToRouter, "_default_sleep", staticmethod(forbidden))


def test_times_the_newest_stub_wins_and_paths(
    no_real_sleep: None, respx_mock: respx.MockRouter, http: httpx.Client
) -> None:
    client = instant_retries(torouter.ToRouter(api_key="sk-test-kit-0000", http_client=http))
    ok = stub_completion(respx_mock, text="ok")
    limited = stub_error(respx_mock, torouter.RateLimited, times=1, retry_after=30)
    reply = client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    # Retried after Retry-After: 30 without sleeping it (no_real_sleep would have failed).
    assert reply.retries_taken == 1 and reply.choices[0].message.content == "ok"
    assert (limited.call_count, ok.call_count, limited.exhausted) == (1, 1, True)

    models = stub_error(respx_mock, torouter.KeyExpired, path="/models")
    with pytest.raises(torouter.KeyExpired):
        client.models.list()
    assert client.chat.completions.create(model="m", messages=MSG).choices[0].message.content
    assert models.call_count == 1
    stub_completion(respx_mock, text="newer")
    assert client.chat.completions.create(model="m", messages=MSG).choices[0].message.content \
        == "newer"


def test_helpers_work_with_a_respx_mock_router_and_base_url(http: httpx.Client) -> None:
    client = torouter.ToRouter(api_key="sk-test-kit-0000", http_client=http, max_retries=0)
    with respx.mock(base_url="https://portal.torouter.ai/v1") as router:
        stub_error(router, torouter.InsufficientBalance, status=402)
        with pytest.raises(torouter.InsufficientBalance) as info:
            client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert info.value.status_code == 402


def test_response_builders_work_without_respx() -> None:
    answers = iter([error_response(torouter.UpstreamUnavailable), completion_response("fine")])
    transport = httpx.MockTransport(lambda request: next(answers))
    with httpx.Client(transport=transport) as http:
        client = instant_retries(torouter.ToRouter(api_key="sk-test-kit-0000", http_client=http))
        reply = client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert reply.retries_taken == 1 and reply.choices[0].message.content == "fine"


def test_instant_retries_wants_a_client() -> None:
    with pytest.raises(TypeError, match="ToRouter"):
        instant_retries(object())  # type: ignore[type-var]


# --- the pytest plugin's fixtures --------------------------------------------------------------


def test_the_plugin_is_loaded_by_its_entry_point(request: pytest.FixtureRequest) -> None:
    plugin = request.config.pluginmanager.get_plugin("torouter")
    assert plugin is not None and plugin.__name__ == "torouter.testing._pytest_plugin"


def test_torouter_client_fixture(
    no_real_sleep: None, torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway,
    torouter_key: str,
) -> None:
    assert torouter_gateway.key_info(torouter_key).enabled
    reply = torouter_client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert reply.choices[0].message.content == "hi"
    assert reply.request_id == torouter_gateway.requests[-1].request_id
    # Retries happen, their sleeps do not (Retry-After: 30 would take 30 s).
    torouter_gateway.fail_next("rate limit exceeded", retry_after=30)
    reply = torouter_client.chat.completions.create(model="gpt-5-mini", messages=MSG)
    assert reply.retries_taken == 1  # and no_real_sleep saw no sleep
    # Limits are the gateway's own: a key with a spent cap, an expired key ...
    capped = torouter_gateway.add_key(quota_usd=0.001)  # one gpt-5-mini call crosses it
    spent = torouter_client.with_options(api_key=capped)
    spent.chat.completions.create(model="gpt-5-mini", messages=MSG)
    with pytest.raises(torouter.QuotaExhausted):
        spent.chat.completions.create(model="gpt-5-mini", messages=MSG)


@pytest.mark.anyio
async def test_torouter_async_client_fixture(
    torouter_async_client: torouter.AsyncToRouter, torouter_gateway: FakeGateway
) -> None:
    torouter_gateway.fail_next("upstream_unavailable", times=2, retry_after=30)
    stream = await torouter_async_client.chat.completions.create(
        model="gpt-5-mini", messages=MSG, stream=True
    )
    assert text_of([c async for c in stream]) == "hi"
    assert stream.retries_taken == 2
    torouter_gateway.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await torouter_async_client.chat.completions.create(model="gpt-5-mini", messages=MSG)


def test_torouter_server_fixture(
    torouter_server: GatewayServer, torouter_gateway: FakeGateway, torouter_key: str,
    http: httpx.Client
) -> None:
    assert torouter_server.gateway is torouter_gateway
    assert torouter_server.base_url.startswith("http://127.0.0.1:")
    assert torouter_server.base_url.endswith("/v1")
    client = torouter.ToRouter(api_key=torouter_key, base_url=torouter_server.base_url,
                               http_client=http)
    assert "gpt-5" in [m.id for m in client.models.list()]
    assert torouter_gateway.requests[-1].client_ip == "127.0.0.1"  # a real socket peer
