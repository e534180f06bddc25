"""Streaming chat completions (issue 2), for ``ToRouter`` (``Stream``) and ``AsyncToRouter``
(``AsyncStream``): clean ends, mid-stream errors, truncation, broken connections, retries before
the first event only, and the connection going back to the pool.

Bodies are served by respx with a byte stream that yields the given pieces one by one and can
raise an httpx error after them, like a socket that breaks mid-body.  The connection-reuse and
real-drop tests run against ``torouter.testing.FakeGateway().serve()`` on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from collections.abc import AsyncIterator as AsyncIteratorABC
from collections.abc import Iterator as IteratorABC
from typing import Any

import httpx
import pytest
import respx

import torouter
from torouter.testing import FakeGateway, Outcome
from torouter.types.chat import ChatCompletionChunk

pytestmark = pytest.mark.anyio

KEY = "sk-test-stream-0123456789"
BASE = "https://portal.torouter.ai/v1"
MESSAGES = [{"role": "user", "content": "Hi"}]
SSE_HEADERS = {"content-type": "text/event-stream", "x-request-id": "req-stream-1"}
_SSL = ssl.create_default_context()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def aw(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


# --- building SSE bodies ------------------------------------------------------------------------


def chunk(content: str | None = None, *, finish: str | None = None,
          reasoning: str | None = None, **extra: Any) -> bytes:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    obj = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "model": "gpt-5-mini",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return event(obj)


def event(obj: object, name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(obj).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
USAGE = event({"id": "chatcmpl-s", "object": "chat.completion.chunk", "choices": [],
               "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
HELLO = [chunk("Hel"), chunk("lo"), chunk(finish="stop"), DONE]


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered piece by piece; ``error`` is raised after the pieces."""

    def __init__(self, pieces: list[bytes], error: Exception | None = None) -> None:
        self.pieces = pieces
        self.error = error
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def sse_response(pieces: list[bytes], error: Exception | None = None, *,
                 request_id: str = "req-stream-1") -> httpx.Response:
    headers = {**SSE_HEADERS, "x-request-id": request_id}
    return httpx.Response(200, headers=headers, stream=Body(pieces, error))


def serve(api: Any, *responses: Callable[[], httpx.Response]) -> Any:
    """A route answering successive calls with fresh responses (the last one repeats)."""
    made = list(responses)

    def side_effect(request: httpx.Request) -> httpx.Response:
        index = min(side_effect.calls, len(made) - 1)  # type: ignore[attr-defined]
        side_effect.calls += 1  # type: ignore[attr-defined]
        return made[index]()

    side_effect.calls = 0  # type: ignore[attr-defined]
    return api.post("/chat/completions").mock(side_effect=side_effect)


# --- clients and iteration ----------------------------------------------------------------------

Make = Callable[..., Any]


@pytest.fixture
async def make(kind: str) -> AsyncIterator[Make]:
    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        kwargs.setdefault("api_key", KEY)
        if "http_client" not in kwargs:
            http = (httpx.Client(verify=_SSL) if kind == "sync"
                    else httpx.AsyncClient(verify=_SSL))
            kwargs["http_client"] = http
            made.append(http)
        client = (torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter)(**kwargs)
        if kind == "sync":
            client._sleep = lambda seconds: None
        else:

            async def no_sleep(seconds: float) -> None:
                return None

            client._sleep = no_sleep
        made.append(client)
        return client

    yield factory
    for obj in made:
        await aw(obj.aclose() if isinstance(obj, httpx.AsyncClient) else obj.close())


@pytest.fixture
def api() -> Iterator[Any]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


async def open_stream(client: Any, **params: Any) -> Any:
    params.setdefault("model", "gpt-5-mini")
    params.setdefault("messages", MESSAGES)
    return await aw(client.chat.completions.create(stream=True, **params))


async def drain(stream: Any, got: list[Any]) -> None:
    """Iterate the stream to its end, keeping every chunk delivered (even if it then raises)."""
    if isinstance(stream, torouter.AsyncStream):
        async for item in stream:
            got.append(item)
    else:
        for item in stream:
            got.append(item)


async def read_all(stream: Any) -> list[Any]:
    got: list[Any] = []
    await drain(stream, got)
    return got


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# ---------------------------------------------------------------------------------------------
# Clean ends
# ---------------------------------------------------------------------------------------------


async def test_stream_success_ends_at_done(make: Make, api: Any) -> None:
    route = serve(api, lambda: sse_response(HELLO))
    stream = await open_stream(make())
    assert isinstance(stream, torouter.Stream | torouter.AsyncStream)
    assert stream.request_id == "req-stream-1"
    chunks = await read_all(stream)
    assert [type(c) for c in chunks] == [ChatCompletionChunk] * 3
    assert text_of(chunks) == "Hello"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.request_id == "req-stream-1" for c in chunks)
    final = await aw(stream.get_final_completion())
    assert final.choices[0].message.content == "Hello"
    assert final.choices[0].finish_reason == "stop"
    assert final.request_id == "req-stream-1"
    with pytest.raises(torouter.InvalidArgumentError, match="keep_chunks=True"):
        stream.chunks  # noqa: B018 - chunk objects are kept only on request
    assert stream.response.is_closed
    assert route.call_count == 1


async def test_async_client_returns_async_stream(kind: str, make: Make, api: Any) -> None:
    serve(api, lambda: sse_response(HELLO))
    stream = await open_stream(make())
    expected = torouter.AsyncStream if kind == "async" else torouter.Stream
    assert type(stream) is expected
    await aw(stream.close())


async def test_nothing_after_done_is_read_as_events(make: Make, api: Any) -> None:
    # Whatever follows [DONE] (junk included) is not decoded: the stream ended cleanly.
    serve(api, lambda: sse_response([chunk("a"), DONE, b"data: {not json\n\n", chunk("late")]))
    chunks = await read_all(await open_stream(make()))
    assert text_of(chunks) == "a"


async def test_done_split_across_reads(make: Make, api: Any) -> None:
    body = b"".join([chunk("a"), chunk("b"), DONE])
    pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
    serve(api, lambda: sse_response(pieces))
    assert text_of(await read_all(await open_stream(make()))) == "ab"


async def test_reasoning_content_chunks(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk(reasoning="Let me think. "),
                                     chunk(reasoning="Done thinking."),
                                     chunk("42"), chunk(finish="stop"), DONE]))
    chunks = await read_all(await open_stream(make()))
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks)
    assert reasoning == "Let me think. Done thinking."
    assert text_of(chunks) == "42"


async def test_usage_only_final_chunk(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk("hi"), chunk(finish="stop"), USAGE, DONE]))
    chunks = await read_all(await open_stream(make(), stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 2)
    assert text_of(chunks) == "hi"


async def test_end_without_done_after_finish_reason_is_clean(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk("a"), chunk(finish="stop")]))
    chunks = await read_all(await open_stream(make()))
    assert [c.choices[0].finish_reason for c in chunks] == [None, "stop"]


async def test_end_without_done_after_finish_then_usage_is_clean(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk("a"), chunk(finish="length"), USAGE]))
    chunks = await read_all(await open_stream(make()))
    assert len(chunks) == 3
    assert chunks[-1].usage is not None


async def test_last_event_without_blank_line_is_delivered(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk("a"), chunk(finish="stop").rstrip(b"\n")]))
    chunks = await read_all(await open_stream(make()))
    assert [c.choices[0].finish_reason for c in chunks] == [None, "stop"]


async def test_comments_and_pings_are_skipped(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([b": keep-alive\n\n", chunk("a"),
                                     b"event: ping\ndata: {}\n\n", chunk("b"), DONE]))
    assert text_of(await read_all(await open_stream(make()))) == "ab"


# ---------------------------------------------------------------------------------------------
# Iterator and context-manager protocols, early exit
# ---------------------------------------------------------------------------------------------


async def test_stream_is_an_iterator(kind: str, make: Make, api: Any) -> None:
    serve(api, lambda: sse_response(HELLO))
    stream = await open_stream(make())
    if kind == "sync":
        assert isinstance(stream, IteratorABC)
        first = next(stream)
        second = next(stream)
        rest = list(stream)
        with pytest.raises(StopIteration):
            next(stream)
    else:
        assert isinstance(stream, AsyncIteratorABC)
        first = await anext(stream)
        second = await stream.__anext__()
        rest = [c async for c in stream]
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
    assert text_of([first, second, *rest]) == "Hello"
    assert stream.response.is_closed


async def test_context_manager_and_early_break_close_the_response(kind: str, make: Make,
                                                                  api: Any) -> None:
    body = Body([chunk("a"), chunk("b"), chunk("c"), chunk(finish="stop"), DONE])
    api.post("/chat/completions").mock(
        return_value=httpx.Response(200, headers=SSE_HEADERS, stream=body))
    stream = await open_stream(make())
    if kind == "sync":
        with stream as s:
            for item in s:
                assert text_of([item]) == "a"
                break
    else:
        async with stream as s:
            async for item in s:
                assert text_of([item]) == "a"
                break
    assert stream.response.is_closed
    assert body.closed
    assert stream.current_completion_snapshot.choices[0].message.content == "a"  # stopped


async def test_early_break_without_with_closes_the_response(kind: str, make: Make,
                                                            api: Any) -> None:
    serve(api, lambda: sse_response([chunk("a"), chunk("b"), chunk(finish="stop"), DONE]))
    stream = await open_stream(make())
    if kind == "sync":
        for _ in stream:
            break
        assert stream.response.is_closed
    else:
        async for _ in stream:
            break
        # An abandoned async generator is closed by the event loop's finaliser, on its next
        # turns (use ``async with`` to close at once).
        for _ in range(20):
            if stream.response.is_closed:
                break
            await asyncio.sleep(0)
        assert stream.response.is_closed


async def test_close_before_reading(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response(HELLO))
    stream = await open_stream(make())
    await aw(stream.close())
    assert stream.response.is_closed
    assert await read_all(stream) == []


# ---------------------------------------------------------------------------------------------
# Errors inside the stream
# ---------------------------------------------------------------------------------------------

UPSTREAM_ERROR = {"error": {"type": "upstream_unavailable", "message": "upstream connection lost"}}


async def test_mid_stream_error_after_chunks(make: Make, api: Any) -> None:
    route = serve(api, lambda: sse_response([chunk("a"), chunk("b"), event(UPSTREAM_ERROR),
                                             chunk("never")], request_id="req-mid"))
    stream = await open_stream(make())
    got: list[Any] = []
    with pytest.raises(torouter.UpstreamUnavailable) as info:
        await drain(stream, got)
    err = info.value
    assert text_of(got) == "ab"  # both chunks were delivered before the error
    assert err.request_id == "req-mid"
    assert err.code == "upstream_unavailable"
    assert err.message == "upstream connection lost"
    assert isinstance(err, torouter.InternalServerError)
    assert err.status_code is not None
    assert route.call_count == 1  # never retried after chunks reached the caller
    assert stream.response.is_closed


@pytest.mark.parametrize(
    ("data", "name", "cls", "code"),
    [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
         "error", torouter.UpstreamUnavailable, "overloaded_error"),
        ({"type": "error", "error": {"type": "upstream_unavailable", "message": "gone"}},
         "error", torouter.UpstreamUnavailable, "upstream_unavailable"),
        ({"error": {"type": "API_KEY_QUOTA_EXHAUSTED", "message": "quota"}},
         None, torouter.QuotaExhausted, "API_KEY_QUOTA_EXHAUSTED"),
        ({"error": "rate limit exceeded"}, None, torouter.RateLimited, "rate limit exceeded"),
        ({"error": {"code": 503, "status": "UNAVAILABLE", "message": "model overloaded"}},
         None, torouter.UpstreamUnavailable, "UNAVAILABLE"),
    ],
    ids=["anthropic-overloaded", "anthropic-gateway-code", "openai-quota", "string",
         "gemini"],
)
async def test_error_events_raise_the_class_of_their_code(
    make: Make, api: Any, data: Any, name: str | None, cls: type[Exception], code: str
) -> None:
    route = serve(api, lambda: sse_response([chunk("a"), chunk("b"), event(data, name)],
                                            request_id="req-ev"))
    got: list[Any] = []
    with pytest.raises(cls) as info:
        await drain(await open_stream(make()), got)
    assert type(info.value) is cls
    assert info.value.code == code  # type: ignore[attr-defined]
    assert info.value.request_id == "req-ev"  # type: ignore[attr-defined]
    assert len(got) == 2
    assert route.call_count == 1


@pytest.mark.parametrize(
    "raw",
    [b'event: error\ndata: {"message": "upstream died"}\n\n',
     b"event: error\ndata: upstream died\n\n"],
    ids=["message-only", "plain-text"],
)
async def test_named_error_event_in_any_shape_is_an_api_error(make: Make, api: Any,
                                                              raw: bytes) -> None:
    # ``event: error`` says what it is even when its body has no recognised shape: an API error
    # (5xx family, retried by default when it comes first), not a decoding problem.
    serve(api, lambda: sse_response([chunk("a"), raw], request_id="req-named"))
    got: list[Any] = []
    with pytest.raises(torouter.InternalServerError) as info:
        await drain(await open_stream(make()), got)
    assert info.value.message == "upstream died"
    assert info.value.request_id == "req-named"
    assert text_of(got) == "a"


async def test_the_word_error_inside_content_is_not_an_error(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk('say "error": no'), chunk(finish="stop"), DONE]))
    assert text_of(await read_all(await open_stream(make()))) == 'say "error": no'


async def test_error_event_before_any_chunk_is_retried(make: Make, api: Any) -> None:
    # Nothing reached the caller yet, so a retryable error event is retried like a 503.
    route = serve(api, lambda: sse_response([event(UPSTREAM_ERROR)], request_id="req-1"),
                  lambda: sse_response(HELLO, request_id="req-2"))
    stream = await open_stream(make())
    assert stream.request_id == "req-2"
    assert stream.retries_taken == 1
    assert text_of(await read_all(stream)) == "Hello"
    assert route.call_count == 2


async def test_truncated_stream_raises_stream_interrupted(make: Make, api: Any) -> None:
    route = serve(api, lambda: sse_response([chunk("a"), chunk("b")], request_id="req-cut"))
    stream = await open_stream(make())
    got: list[Any] = []
    with pytest.raises(torouter.StreamInterrupted) as info:
        await drain(stream, got)
    err = info.value
    assert isinstance(err, torouter.APIConnectionError)
    assert text_of(got) == "ab"
    assert err.text == "ab"
    assert err.partial.choices[0].finish_reason is None
    assert err.request_id == "req-cut"
    assert route.call_count == 1
    assert stream.response.is_closed


async def test_truncated_inside_an_event(make: Make, api: Any) -> None:
    # A body cut in the middle of an event is a cut connection, not a malformed event: the
    # caller gets StreamInterrupted with the text before the cut, never a decode error.
    serve(api, lambda: sse_response([chunk("a"), chunk("b")[:20]]))
    got: list[Any] = []
    with pytest.raises(torouter.StreamInterrupted) as info:
        await drain(await open_stream(make()), got)
    assert type(info.value) is torouter.StreamInterrupted
    assert text_of(got) == "a"
    assert info.value.text == "a"


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.NetworkError("network unreachable"),
    ],
    ids=["read-error", "remote-protocol-error", "network-error"],
)
async def test_broken_connection_mid_stream(make: Make, api: Any, error: Exception) -> None:
    route = serve(api, lambda: sse_response([chunk("a"), chunk("b"), chunk("c")], error,
                                            request_id="req-broken"))
    stream = await open_stream(make())
    got: list[Any] = []
    with pytest.raises(torouter.StreamInterrupted) as info:
        await drain(stream, got)
    err = info.value
    assert not isinstance(err, httpx.HTTPError)
    assert err.__cause__ is None or not isinstance(err.__cause__, httpx.HTTPError)
    assert text_of(got) == "abc"
    assert err.text == "abc"
    assert err.request_id == "req-broken"
    assert type(error).__name__ in err.message
    assert route.call_count == 1
    assert stream.response.is_closed


async def test_read_timeout_mid_stream(make: Make, api: Any) -> None:
    serve(api, lambda: sse_response([chunk("a")], httpx.ReadTimeout("timed out")))
    got: list[Any] = []
    with pytest.raises(torouter.StreamInterrupted) as info:
        await drain(await open_stream(make()), got)
    assert isinstance(info.value, torouter.APITimeoutError)
    assert isinstance(info.value, torouter.StreamIdleTimeout)
    assert info.value.text == "a"


async def test_broken_connection_before_first_event_is_retried(make: Make, api: Any) -> None:
    route = serve(api, lambda: sse_response([b": opening\n\n"], httpx.ReadError("reset")),
                  lambda: sse_response(HELLO, request_id="req-ok"))
    stream = await open_stream(make())
    assert text_of(await read_all(stream)) == "Hello"
    assert stream.request_id == "req-ok"
    assert route.call_count == 2


async def test_broken_connection_before_first_event_without_retries(make: Make,
                                                                   api: Any) -> None:
    route = serve(api, lambda: sse_response([], httpx.ReadError("reset")))
    with pytest.raises(torouter.APIConnectionError) as info:
        await open_stream(make(max_retries=0))
    assert not isinstance(info.value, httpx.HTTPError)
    assert route.call_count == 1


@pytest.mark.parametrize(
    "bad",
    [b"data: this is not json\n\n", b"data: {\"id\": \"x\"\n\n", b"data: [1, 2]\n\n",
     b"data: {\"error\": oops}\n\n"],
    ids=["text", "truncated-json", "wrong-shape", "error-not-json"],
)
async def test_non_json_event_data_raises_stream_decode_error(make: Make, api: Any,
                                                              bad: bytes) -> None:
    route = serve(api, lambda: sse_response([chunk("a"), bad, chunk("b"), DONE],
                                            request_id="req-bad"))
    got: list[Any] = []
    with pytest.raises(torouter.StreamDecodeError) as info:
        await drain(await open_stream(make()), got)
    assert isinstance(info.value, torouter.APIResponseValidationError)
    assert info.value.request_id == "req-bad"
    assert text_of(got) == "a"
    assert route.call_count == 1


# ---------------------------------------------------------------------------------------------
# Errors before the stream starts
# ---------------------------------------------------------------------------------------------


async def test_503_on_stream_request_is_retried(make: Make, api: Any) -> None:
    unavailable = {"error": {"type": "upstream_unavailable", "message": "busy"}}
    route = serve(
        api,
        lambda: httpx.Response(503, json=unavailable, headers={"x-request-id": "r1"}),
        lambda: httpx.Response(502, json={"error": "bad gateway"}, headers={"x-request-id": "r2"}),
        lambda: sse_response(HELLO, request_id="r3"),
    )
    stream = await open_stream(make())
    assert route.call_count == 3
    assert stream.retries_taken == 2
    assert stream.request_id == "r3"
    assert text_of(await read_all(stream)) == "Hello"
    assert json.loads(route.calls[0].request.content)["stream"] is True


async def test_503_on_stream_request_gives_up_after_max_retries(make: Make, api: Any) -> None:
    route = serve(api, lambda: httpx.Response(
        503, json=UPSTREAM_ERROR, headers={"x-request-id": "r-last"}))
    with pytest.raises(torouter.UpstreamUnavailable) as info:
        await open_stream(make(max_retries=1))
    assert route.call_count == 2
    assert info.value.status_code == 503
    assert info.value.request_id == "r-last"
    assert len(info.value.attempts) == 2


async def test_permanent_error_on_stream_request_is_not_retried(make: Make, api: Any) -> None:
    route = serve(api, lambda: httpx.Response(
        429, json={"error": {"type": "API_KEY_QUOTA_EXHAUSTED", "message": "cap"}}))
    with pytest.raises(torouter.QuotaExhausted):
        await open_stream(make())
    assert route.call_count == 1


async def test_json_error_with_200_on_stream_request(make: Make, api: Any) -> None:
    route = serve(api, lambda: httpx.Response(200, json=UPSTREAM_ERROR,
                                              headers={"x-request-id": "r-json"}))
    with pytest.raises(torouter.UpstreamUnavailable) as info:
        await open_stream(make(max_retries=0))
    assert info.value.request_id == "r-json"
    assert route.call_count == 1


async def test_json_completion_on_stream_request_is_a_validation_error(make: Make,
                                                                        api: Any) -> None:
    serve(api, lambda: httpx.Response(200, json={"id": "x", "choices": []}))
    with pytest.raises(torouter.APIResponseValidationError):
        await open_stream(make(max_retries=0))


# ---------------------------------------------------------------------------------------------
# Against a real local server: connections are reused and released
# ---------------------------------------------------------------------------------------------


class _AiohttpConnection:
    """An aiohttp connection seen as httpcore's (``is_idle``/``is_available``/``is_closed``)."""

    def __init__(self, protocol: Any, connector: Any) -> None:
        self.protocol, self.connector = protocol, connector

    def is_idle(self) -> bool:
        return any(p is self.protocol for conns in self.connector._conns.values() for p, _ in conns)

    is_available = is_idle

    def is_closed(self) -> bool:
        return not self.protocol.is_connected()


_SEEN_AIOHTTP: dict[int, _AiohttpConnection] = {}  # keeps each protocol (so its id) alive


def pool_connections(client: Any) -> list[Any]:
    """The connections of the client's own pool, on either async transport."""
    transport = client._http._transport
    if hasattr(transport, "_pool"):  # httpx's own transport (httpcore)
        return list(transport._pool.connections)
    connector = transport._session.connector
    protocols = [p for conns in connector._conns.values() for p, _ in conns]
    protocols += list(connector._acquired)
    return [_SEEN_AIOHTTP.setdefault(id(p), _AiohttpConnection(p, connector)) for p in protocols]


@pytest.fixture
def gateway() -> Iterator[tuple[FakeGateway, Any, str]]:
    gw = FakeGateway(seed=3)
    key = gw.add_key()
    with gw.serve() as server:
        yield gw, server, key


async def test_sequential_streams_reuse_one_connection(
    kind: str, gateway: tuple[FakeGateway, Any, str]
) -> None:
    gw, server, key = gateway
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    client = cls(api_key=key, base_url=server.base_url, timeout=10.0, max_retries=0)
    seen: list[Any] = []  # strong references, so identities cannot be recycled
    try:
        for i in range(20):
            stream = await open_stream(client, model="gpt-5",
                                       messages=[{"role": "user", "content": f"say {i} now"}])
            chunks = await read_all(stream)
            assert text_of(chunks) == f"say {i} now"
            assert stream.response.is_closed
            conns = pool_connections(client)
            # The connection went back to the pool: idle, ready for the next request.
            assert conns and all(c.is_idle() for c in conns)
            seen.extend(c for c in conns if not any(c is s for s in seen))
        assert 1 <= len(seen) <= 2
        assert len([r for r in gw.requests if r.stream]) == 20
    finally:
        await aw(client.close())


async def test_early_breaks_do_not_leak_connections(
    kind: str, gateway: tuple[FakeGateway, Any, str]
) -> None:
    _, server, key = gateway
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    client = cls(api_key=key, base_url=server.base_url, timeout=10.0, max_retries=0)
    try:
        for _ in range(5):
            stream = await open_stream(client, model="gpt-5",
                                       messages=[{"role": "user", "content": "one two three"}])
            if kind == "sync":
                with stream:
                    next(iter(stream))
            else:
                async with stream:
                    await anext(stream)
            assert stream.response.is_closed
            assert not any(c.is_available() and not c.is_idle()
                           for c in pool_connections(client))
            assert all(c.is_idle() or c.is_closed() for c in pool_connections(client))
        # The client is still usable afterwards.
        models = await aw(client.models.list())
        assert "gpt-5" in models
    finally:
        await aw(client.close())


async def test_real_connection_drop_mid_stream(kind: str,
                                               gateway: tuple[FakeGateway, Any, str]) -> None:
    gw, server, key = gateway
    gw.script(Outcome.drop(after=2))
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    client = cls(api_key=key, base_url=server.base_url, timeout=10.0)
    try:
        stream = await open_stream(client, model="gpt-5",
                                   messages=[{"role": "user", "content": "one two three four"}])
        got: list[Any] = []
        with pytest.raises(torouter.StreamInterrupted) as info:
            await drain(stream, got)
        assert not isinstance(info.value, httpx.HTTPError)
        assert got and info.value.text == text_of(got)
        assert info.value.request_id == stream.request_id is not None
        assert len(gw.requests) == 1  # not retried
    finally:
        await aw(client.close())
