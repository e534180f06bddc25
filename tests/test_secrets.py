"""The API key never shows: not in any repr or str, log line, pickled error or traceback.

``KEY`` is a module global on purpose: tracebacks rendered with ``capture_locals=True`` show the
locals of every frame, test functions included, so no test keeps the key in a local variable.
"""

from __future__ import annotations

import inspect
import logging
import pickle
import socket
import ssl
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

import torouter
from torouter.testing import FakeGateway

pytestmark = pytest.mark.anyio

KEY = "sk-test-SECRET-abcdef123456"
# Any recognisable fragment of the key counts as a leak (the mask keeps at most "sk-" and the
# last four characters).
FRAGMENTS = (KEY, "SECRET", "abcdef12", "test-SECRET")
BASE = "https://portal.torouter.ai/v1"
MESSAGES = [{"role": "user", "content": "Hi"}]
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-5-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "finish_reason": "stop"}],
}
SSE = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)
ECHOING_401 = {"error": {"type": "INVALID_API_KEY",
                         "message": f"Incorrect API key provided: {KEY}. Check it."}}
_SSL = ssl.create_default_context()


def assert_clean(*texts: object) -> None:
    for text in texts:
        rendered = text if isinstance(text, str) else repr(text)
        for fragment in FRAGMENTS:
            assert fragment not in rendered, f"key fragment {fragment!r} in {rendered[:500]!r}"


def rendered_traceback(err: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(err, capture_locals=True).format())


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


Make = Callable[..., Any]


@pytest.fixture
async def make(kind: str) -> AsyncIterator[Make]:
    made: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        if "http_client" not in kwargs:
            http = (httpx.Client(verify=_SSL) if kind == "sync"
                    else httpx.AsyncClient(verify=_SSL))
            kwargs["http_client"] = http
            made.append(http)
        client = (torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter)(
            api_key=KEY, **kwargs)
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


async def read_all(stream: Any) -> list[Any]:
    if isinstance(stream, torouter.AsyncStream):
        return [c async for c in stream]
    return list(stream)


async def catch(awaitable_or_call: Callable[[], Any]) -> torouter.ToRouterError:
    try:
        await aw(awaitable_or_call())
    except torouter.ToRouterError as err:
        return err
    raise AssertionError("no error raised")


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


async def test_clients_repr_and_str(make: Make) -> None:
    client = make()
    copy = client.with_options(timeout=3.0)
    for obj in (client, copy):
        assert_clean(repr(obj), str(obj), f"{obj}", f"{obj!r}", repr(vars(obj)))
        assert_clean(repr(obj.chat.completions), repr(vars(obj.chat.completions)))
    # The mask still tells which key is in use.
    assert "3456" in repr(client)


async def test_api_key_is_a_secret_str(make: Make) -> None:
    client = make()
    assert type(client.api_key).__name__ == "SecretStr"
    assert_clean(str(client.api_key), repr(client.api_key), f"{client.api_key}")
    assert client.api_key.get_secret_value() == KEY
    assert client.with_options(max_retries=0).api_key.get_secret_value() == KEY


async def test_the_objects_that_hold_the_key_do_not_show_it(make: Make, api: Any) -> None:
    api.post("/chat/completions").respond(
        content=SSE, headers={"content-type": "text/event-stream"})
    client = make()
    copy = client.with_options(max_retries=0)
    stream = await aw(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    holders = {
        "client headers": client._headers,
        "with_options copy headers": copy._headers,
        "the request sent": stream.response.request,
        "its headers": stream.response.request.headers,
        "the stream's context": stream._ctx,
    }
    # Each of these really holds the key (a check on an object without it could never fail) ...
    for headers in (client._headers, copy._headers, stream.response.request.headers):
        assert headers["authorization"] == "Bearer " + KEY
    assert KEY in stream._ctx.redact
    # ... and none of them shows it.
    for name, obj in holders.items():
        assert_clean(name, repr(obj), str(obj), f"{obj!r:}")
    assert_clean(repr(vars(client)), repr(vars(copy)), repr(stream))
    assert await read_all(stream)


# ---------------------------------------------------------------------------------------------
# Responses and streams
# ---------------------------------------------------------------------------------------------


async def test_responses_raw_responses_and_streams(make: Make, api: Any) -> None:
    api.post("/chat/completions", json__stream=True).respond(
        content=SSE, headers={"content-type": "text/event-stream", "x-request-id": "r-s"})
    api.post("/chat/completions").respond(json=COMPLETION, headers={"x-request-id": "r-c"})
    api.get("/models").respond(json={"data": [{"id": "m"}]})
    client = make()
    reply = await aw(client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES))
    raw = await aw(client.chat.completions.with_raw_response.create(model="gpt-5-mini",
                                                                     messages=MESSAGES))
    models = await aw(client.models.list())
    stream = await aw(client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES,
                                                     stream=True))
    assert_clean(repr(stream), str(stream), repr(stream._ctx))
    chunks = await read_all(stream)
    assert_clean(
        repr(reply), str(reply), reply.model_dump_json(), repr(reply.to_dict()),
        repr(raw), str(raw), repr(raw.headers), repr(raw.parse()),
        repr(raw.http_response), repr(raw.http_response.request),
        repr(raw.http_response.request.headers),
        repr(models), repr(stream), repr(chunks), repr(stream.response),
        repr(stream.response.request.headers),
    )


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def error_texts(err: torouter.ToRouterError) -> list[object]:
    return [str(err), repr(err), err.message, err.args, err.body, err.hint, err.attempts,
            repr(vars(err)), rendered_traceback(err),
            repr(err.response.request.headers) if err.response is not None else ""]


async def test_401_echoing_the_key_is_masked(make: Make, api: Any) -> None:
    api.post("/chat/completions").respond(401, json=ECHOING_401, headers={"x-request-id": "r1"})
    err = await catch(lambda: make().chat.completions.create(model="m", messages=MESSAGES))
    assert isinstance(err, torouter.InvalidApiKey)
    assert "Incorrect API key provided" in err.message
    assert_clean(*error_texts(err))


@pytest.mark.parametrize(
    "body",
    [
        {"error": f"invalid key {KEY}"},
        {"type": "error", "error": {"type": "authentication_error", "message": f"bad {KEY}"}},
        {"message": f"key {KEY} not allowed"},
        {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": f"no: {KEY}",
                   "details": [{"key": KEY}]}},
    ],
    ids=["string", "anthropic", "message-only", "gemini-with-details"],
)
async def test_echoed_key_is_masked_in_every_body_shape(make: Make, api: Any,
                                                        body: dict[str, Any]) -> None:
    api.post("/chat/completions").respond(401, json=body)
    err = await catch(lambda: make().chat.completions.create(model="m", messages=MESSAGES))
    assert isinstance(err, torouter.AuthenticationError)
    assert_clean(*error_texts(err))
    assert_clean(pickle.dumps(err))


async def test_echoed_key_in_a_non_json_body_is_masked(make: Make, api: Any) -> None:
    api.post("/chat/completions").respond(
        403, content=f"<html><title>Forbidden {KEY}</title><body>{KEY}</body></html>".encode(),
        headers={"content-type": "text/html"})
    err = await catch(lambda: make().chat.completions.create(model="m", messages=MESSAGES))
    assert isinstance(err, torouter.PermissionDeniedError)
    assert_clean(*error_texts(err))
    assert_clean(pickle.dumps(err))


async def test_echoed_key_in_a_stream_error_event_is_masked(make: Make, api: Any) -> None:
    event = (b'data: {"error": {"type": "upstream_unavailable", "message": "upstream said: '
             + KEY.encode() + b'"}}\n\n')
    first = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    api.post("/chat/completions").respond(content=first + event,
                                          headers={"content-type": "text/event-stream"})
    stream = await aw(make().chat.completions.create(model="m", messages=MESSAGES, stream=True))
    err = await catch(lambda: read_all(stream))
    assert isinstance(err, torouter.UpstreamUnavailable)
    assert_clean(*error_texts(err))
    assert_clean(pickle.dumps(err))


async def test_pickled_errors_carry_no_key(make: Make, api: Any) -> None:
    api.post("/chat/completions").respond(401, json=ECHOING_401, headers={"x-request-id": "r1"})
    err = await catch(lambda: make().chat.completions.create(model="m", messages=MESSAGES))
    data = pickle.dumps(err)
    assert_clean(data)
    back = pickle.loads(data)
    assert type(back) is torouter.InvalidApiKey
    assert (back.status_code, back.code, back.request_id) == (401, "INVALID_API_KEY", "r1")
    assert back.response is None
    assert_clean(str(back), repr(back), repr(vars(back)))


async def test_status_error_traceback_with_locals(make: Make, api: Any) -> None:
    api.post("/chat/completions").respond(503, json={"error": "down"})
    err = await catch(lambda: make(max_retries=1).chat.completions.create(model="m",
                                                                          messages=MESSAGES))
    assert isinstance(err, torouter.InternalServerError)
    text = rendered_traceback(err)
    assert "Traceback" in text and "self = <" in text  # locals really were rendered
    assert_clean(text)


def refused_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


async def test_connection_error_traceback_with_locals(make: Make) -> None:
    client = make(base_url=f"http://127.0.0.1:{refused_port()}/v1", max_retries=1)
    err = await catch(lambda: client.chat.completions.create(model="m", messages=MESSAGES))
    assert type(err) is torouter.APIConnectionError
    assert len(err.attempts) == 2
    text = rendered_traceback(err)
    assert "Traceback" in text
    assert_clean(text, *error_texts(err))
    # Whatever the error was raised from must not hold the key either (loggers and error
    # trackers walk __context__ and __cause__ even when they are suppressed).
    inner: BaseException | None = err.__cause__ or err.__context__
    while inner is not None:
        assert_clean(rendered_traceback(inner), repr(inner), str(inner))
        inner = inner.__cause__ or inner.__context__
    assert_clean(pickle.dumps(err))


async def test_timeout_error_traceback_with_locals(make: Make, api: Any) -> None:
    api.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("read timed out"))
    err = await catch(lambda: make(max_retries=0).chat.completions.create(model="m",
                                                                          messages=MESSAGES))
    assert isinstance(err, torouter.APITimeoutError)
    assert_clean(*error_texts(err))


async def test_missing_key_error(kind: str) -> None:
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    with pytest.raises(torouter.ApiKeyRequired) as info:
        cls(api_key="")
    assert_clean(rendered_traceback(info.value))


async def test_invalid_argument_errors_do_not_show_the_key(make: Make) -> None:
    client = make()
    err = await catch(lambda: client.chat.completions.create(model="m", messages=MESSAGES,
                                                             temprature=1))
    assert_clean(*error_texts(err))
    with pytest.raises(torouter.InvalidArgumentError) as info:
        client.with_options(bogus=1)
    assert_clean(*error_texts(info.value))


# ---------------------------------------------------------------------------------------------
# Logs, against a real local server (so httpcore really runs)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def gateway() -> Iterator[tuple[FakeGateway, str]]:
    gw = FakeGateway(seed=5)
    gw.add_key(key=KEY)
    with gw.serve() as server:
        yield gw, server.base_url


async def test_debug_logs_never_hold_the_key(make: Make, gateway: tuple[FakeGateway, str],
                                             caplog: pytest.LogCaptureFixture) -> None:
    gw, base_url = gateway
    for name in ("torouter", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = make(base_url=base_url, http_client=None)
    # A success, a retried 503, a stream, a 401 from the gateway.
    reply = await aw(client.chat.completions.create(model="gpt-5", messages=MESSAGES))
    assert reply.choices[0].message.content
    gw.fail_next(503)
    retried = await aw(client.chat.completions.create(model="gpt-5", messages=MESSAGES))
    assert retried.retries_taken == 1
    stream = await aw(client.chat.completions.create(model="gpt-5", messages=MESSAGES,
                                                     stream=True))
    assert await read_all(stream)
    gw.fail_next("INVALID_API_KEY", message=f"Incorrect API key provided: {KEY}")
    err = await catch(lambda: client.chat.completions.create(model="gpt-5", messages=MESSAGES))
    assert isinstance(err, torouter.InvalidApiKey)

    loggers = {r.name.split(".")[0] for r in caplog.records}
    # every logger did speak (the default async client is on aiohttp, which logs nothing here)
    spoken = {"httpx", "torouter"} | ({"httpcore"} if client._http is not None and
                                      hasattr(client._http._transport, "_pool") else set())
    assert spoken <= loggers
    assert any("retrying" in r.getMessage() for r in caplog.records if r.name == "torouter")
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage(), repr(record.args), repr(vars(record)))
