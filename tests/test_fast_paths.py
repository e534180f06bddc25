"""The per-request shortcuts taken for speed send exactly what the general path sends.

``_build`` makes the ``httpx.Request`` directly when torouter built the httpx client itself
(headers merged once per client, URLs parsed once per path); it must equal what
``httpx.Client.build_request`` gives, header order included.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torouter
from torouter._base_client import RequestSpec
from torouter._errors import StreamDecodeError
from torouter._retrying import CallRetryState
from torouter._sse import SSEDecoder
from torouter.types import ChatCompletion

KEY = "sk-fast-path-test-000000000000"


def _call(client: Any) -> CallRetryState:
    return client._new_call(RequestSpec("POST", "/chat/completions", ChatCompletion))


def _reference(client: Any, spec: RequestSpec[Any]) -> httpx.Request:
    """What the general path (httpx's own build_request) makes of ``spec``."""
    timeout = client._attempt_timeout(spec, _call(client))
    headers = client._headers.copy()
    headers.update(spec.headers or {})
    request: httpx.Request = client._http.build_request(
        spec.method, client._base + spec.path, content=spec.body, headers=headers,
        timeout=timeout)
    if client._trace is not None:  # a sync client's own pool: connections reported to close()
        request.extensions["trace"] = client._trace
    return request


def _same(a: httpx.Request, b: httpx.Request) -> None:
    assert a.method == b.method
    assert a.url == b.url and str(a.url) == str(b.url)
    assert a.headers.raw == b.headers.raw  # names, values and order
    assert a.content == b.content
    assert a.extensions == b.extensions


SPECS = [
    RequestSpec("POST", "/chat/completions", ChatCompletion, body=b'{"model":"m"}'),
    RequestSpec("GET", "/models", ChatCompletion),
    RequestSpec("POST", "/chat/completions", ChatCompletion, body=b'{"stream":true}',
                stream=True),
    RequestSpec("POST", "/embeddings", ChatCompletion, body=b"{}",
                headers={"X-Trace": "t1", "user-agent": "mine/1.0", "Accept": "text/plain"}),
    RequestSpec("POST", "/chat/completions", ChatCompletion, body=b"{}",
                timeout=httpx.Timeout(3.0, connect=1.0)),
]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.method}{s.path}")
def test_direct_build_equals_httpx_build_request(kind: str, spec: RequestSpec[Any]) -> None:
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    client: Any = cls(api_key=KEY, base_url="http://127.0.0.1:9/api/v1/",
                      default_headers={"X-App": "bench", "Accept": "application/json"})
    assert client._wire_headers is not None  # the shortcut is in use
    for _ in range(2):  # the second time from the per-path URL cache
        fast = client._build(client._http, spec, _call(client))
        _same(fast, _reference(client, spec))
    clone = client.with_options(api_key="sk-other-key-1111111111", default_headers={"X-B": "2"})
    assert clone._http is client._http and clone._wire_headers is not None
    built = clone._build(clone._http, spec, _call(clone))
    _same(built, _reference(clone, spec))
    assert built.headers["authorization"] == "Bearer sk-other-key-1111111111"
    assert "x-app" not in built.headers and built.headers["x-b"] == "2"


def test_user_http_client_keeps_its_live_defaults() -> None:
    http = httpx.Client(headers={"X-Tenant": "a"}, params={"v": "1"})
    client: Any = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1",
                                    http_client=http)
    assert client._wire_headers is None  # httpx's build_request: the client may change
    http.headers["X-Tenant"] = "b"
    request = client._build(http, SPECS[0], _call(client))
    assert request.headers["x-tenant"] == "b"
    assert request.url.params["v"] == "1"
    http.close()


def test_cookies_set_by_the_server_are_still_sent() -> None:
    client: Any = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    client._http.cookies.set("lb", "node-3", domain="127.0.0.1")
    request = client._build(client._http, SPECS[0], _call(client))
    assert request.headers["cookie"] == "lb=node-3"
    _same(request, _reference(client, SPECS[0]))


def test_requests_on_the_wire_are_unchanged() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "c", "choices": []},
                              headers={"x-request-id": "r1"})

    client = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=0)
    client._http._transport = httpx.MockTransport(handler)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                           extra_headers={"X-Extra": "1"})
    assert reply.request_id == "r1"
    request = seen[0]
    assert str(request.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-extra"] == "1"
    assert request.headers["content-length"] == str(len(request.content))
    assert request.extensions["timeout"]["read"] == 600.0


# --- SSE: the one-line-data-events shortcut decodes exactly like the general parser -----------


class _GeneralOnly(SSEDecoder):
    __slots__ = ()
    _shortcut = False


_LINES = st.sampled_from([
    b"data: {\"a\":1}", b"data:{\"b\":2}", b"data:  two spaces", b"data:", b"data: [DONE]",
    b"event: error", b"event: ping", b": keep-alive", b"id: 7", b"retry: 10", b"data: x:y",
    b"", b"data: \xc3\xa9", b"dat", b"data: " + b"z" * 40,
])
_DATA = st.sampled_from([b"data: {\"a\":1}", b"data:{\"b\":2}", b"data:  two spaces",
                         b"data:", b"data: [DONE]", b"data: x:y", b"data: " + b"z" * 40])


def _feed_all(decoder: SSEDecoder, pieces: list[bytes]) -> list[object]:
    out: list[object] = []
    for piece in pieces:
        try:
            out.extend(decoder.feed(piece))
        except StreamDecodeError as exc:
            out.append(("error", str(exc)))
    out.append(("pending", decoder.pending))
    return out


@settings(max_examples=400, deadline=None)
@given(events=st.lists(st.lists(st.one_of(_DATA, _DATA, _LINES), min_size=1, max_size=3),
                       max_size=6),
       ending=st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]),
       per_event=st.booleans(),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4),
       limits=st.sampled_from([(4096, 4096), (30, 4096), (4096, 12)]))
def test_sse_shortcut_matches_general_parser(events: list[list[bytes]], ending: bytes,
                                            per_event: bool, cuts: list[int],
                                            limits: tuple[int, int]) -> None:
    blocks = [b"".join(line + ending for line in lines) + ending for lines in events]
    body = b"".join(blocks)
    if per_event:  # as servers flush: one network piece per event, sometimes two at once
        pieces, i = [], 0
        while i < len(blocks):
            take = 2 if i % 3 == 2 else 1
            pieces.append(b"".join(blocks[i:i + take]))
            i += take
    else:
        bounds = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
        pieces = [body[a:b] for a, b in itertools.pairwise(bounds)]
    fast = SSEDecoder(max_line=limits[0], max_event=limits[1])
    general = _GeneralOnly(max_line=limits[0], max_event=limits[1])
    assert _feed_all(fast, pieces) == _feed_all(general, pieces)


def test_sse_shortcut_cases() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x":1}\n\n') == [(None, b'{"x":1}')]
    assert decoder.feed(b"data:{}\n\n") == [(None, b"{}")]
    assert decoder.feed(b"data: \n\n") == [(None, b"")]
    assert decoder.feed(b"data:\n\n") == [(None, b"")]
    assert decoder.feed(b"data: a\n\ndata: b\n\n") == [(None, b"a"), (None, b"b")]
    assert decoder.feed(b"event: error\ndata: {}\n\n") == [(b"error", b"{}")]
    assert decoder.feed(b"data: a\ndata: b\n\n") == [(None, b"a\nb")]
    assert decoder.feed(b"data: a\r\n\r\n") == [(None, b"a")]
    assert not decoder.pending
    with pytest.raises(StreamDecodeError):
        SSEDecoder(max_event=3).feed(b"data: abc\n\n")


# --- tenacity joins only after a failed first attempt; its strategies still decide -----------


def _scripted(kind: str, statuses: list[int]) -> tuple[Any, list[int]]:
    """A client whose gateway answers ``statuses`` in turn (then 200); records sleeps."""
    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = statuses[len(sent)] if len(sent) < len(statuses) else 200
        sent.append(status)
        if status == 200:
            return httpx.Response(200, json={"id": "c", "choices": []})
        return httpx.Response(status, json={"error": {"message": f"status {status}"}})

    transport: Any = httpx.MockTransport(handler)
    if kind == "sync":
        client: Any = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1",
                                        http_client=httpx.Client(transport=transport))
        client._sleep = lambda seconds: None
    else:
        client = torouter.AsyncToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1",
                                        http_client=httpx.AsyncClient(transport=transport))

        async def no_sleep(seconds: float) -> None:
            return None

        client._sleep = no_sleep
    return client, sent


async def _create(client: Any) -> Any:
    result = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    return await result if isinstance(client, torouter.AsyncToRouter) else result


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_first_attempt_success_builds_no_retry_loop(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from torouter import _client

    built: list[object] = []
    for name in ("sync_retrying", "async_retrying"):
        real = getattr(_client, name)
        monkeypatch.setattr(_client, name, lambda *a, _r=real: built.append(a) or _r(*a))
    client, sent = _scripted(kind, [])
    reply = await _create(client)
    assert (reply.retries_taken, sent, built) == (0, [200], [])
    client, sent = _scripted(kind, [503])  # a failure: tenacity takes over
    reply = await _create(client)
    assert (reply.retries_taken, sent, len(built)) == (1, [503, 200], 1)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_first_failure_is_decided_by_the_retry_strategy(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import tenacity

    from torouter import _retrying

    # The policy retries a 503, but the retry strategy says never: one request.
    monkeypatch.setitem(_retrying.STRATEGIES, "retry", tenacity.retry_never)
    client, sent = _scripted(kind, [503, 503])
    with pytest.raises(torouter.InternalServerError) as info:
        await _create(client)
    assert sent == [503] and len(info.value.attempts) == 1
    # The policy never retries a 401, but this strategy does: the stop strategy ends it.
    monkeypatch.setitem(_retrying.STRATEGIES, "retry",
                        tenacity.retry_if_exception_type(torouter.AuthenticationError))
    client, sent = _scripted(kind, [401, 401, 401, 401])
    with pytest.raises(torouter.AuthenticationError) as info:
        await _create(client)
    assert sent == [401, 401, 401] and len(info.value.attempts) == 3
    assert info.value.attempts[-1].stop_reason == "2 retries used"


# --- the optional aiohttp transport (pip install torouter[aiohttp]) ---------------------------


@pytest.mark.anyio
async def test_the_aiohttp_transport_extra_works_end_to_end(torouter_server: Any,
                                                          torouter_key: str) -> None:
    aiohttp_transport = pytest.importorskip("httpx_aiohttp")
    messages = [{"role": "user", "content": "hi"}]
    async with aiohttp_transport.HttpxAiohttpClient() as http:
        client = torouter.AsyncToRouter(api_key=torouter_key, base_url=torouter_server.base_url,
                                        http_client=http)
        reply = await client.chat.completions.create(model="gpt-5-mini", messages=messages)
        assert isinstance(reply, ChatCompletion) and reply.request_id
        stream = await client.chat.completions.create(model="gpt-5-mini", messages=messages,
                                                      stream=True)
        chunks = [chunk async for chunk in stream]
        assert chunks and chunks[-1].request_id == stream.request_id
        bad = client.with_options(api_key="sk-not-a-key-000000000000", max_retries=0)
        with pytest.raises(torouter.AuthenticationError):
            await bad.chat.completions.create(model="gpt-5-mini", messages=messages)
