"""Hostile bytes from the server, fuzzed: typed chunks, a clean end, or a ToRouterError.

Properties over the whole path a user drives (client -> httpx -> error parser or SSE decoder ->
typed result), with a ``httpx.MockTransport`` delivering arbitrary bytes split at arbitrary
points, and over ``_StreamState`` (the one place every stream decision lives) directly.  Any
exception that is not a ToRouterError fails the property.  (``tests/test_sse.py`` and
``tests/test_error_parsing.py`` fuzz the decoder and the parser on their own.)
"""

from __future__ import annotations

import itertools
import json
import pickle
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torouter
from torouter._base_client import CallContext
from torouter._errors import make_status_error, parse_error_body
from torouter._sse import MAX_EVENT_BYTES, MAX_LINE_BYTES, SSEDecoder
from torouter._streaming import _StreamState
from torouter.types import ChatCompletionChunk

from .helpers import KEY, KEY_PARTS

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies ---------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20) | st.sampled_from([KEY, "error", "server_error", "INVALID_API_KEY"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["error", "type", "code", "message", "status", "choices",
                                       "delta", "content", "finish_reason", "id", "detail"])
                      | st.text(max_size=5), inner, max_size=5),
    max_leaves=12,
)

_CHUNK = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": "x"},
                                  "finish_reason": None}]}).encode()
_FRAGMENTS = [
    b"data: ", b"data:", b"\n", b"\r\n", b"\r", b"\n\n", b"event: error\n", b"event: ping\n",
    b": keep-alive\n", b"id: 7\n", b"retry: 10\n", b"[DONE]", _CHUNK,
    b'{"error": {"type": "server_error", "message": "boom"}}', b'{"type": "error"}',
    b'{"choices": [{"finish_reason": "stop", "delta": {}}]}', b"\xff\xfe", b"{", b"}", b'"',
    b"\x00", b'{"error": "' + KEY.encode() + b'"}', b"data: " + b"[" * 5000,
]
_sse_like = st.lists(
    st.sampled_from(_FRAGMENTS)
    | st.binary(max_size=12)
    | _json.map(lambda v: b"data: " + json.dumps(v).encode() + b"\n\n"),
    max_size=25,
).map(b"".join)
_body = st.one_of(st.binary(max_size=200), _sse_like)


@st.composite
def _split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


_body_and_pieces = _body.flatmap(lambda b: st.tuples(st.just(b), _split(b)))


def _no_key(*texts: str, sent: bytes = KEY.encode()) -> None:
    """Neither the key nor (when the server echoed it, ``sent``) a piece of it is in ``texts``.

    Pieces count only when the whole key was sent: a body that merely contains a fragment
    of it never had the secret to leak.
    """
    for text in texts:
        assert KEY not in text
        if KEY.encode() in sent:
            for part in KEY_PARTS:
                assert part not in text


# -- _StreamState ---------------------------------------------------------------------------


def _state() -> _StreamState[ChatCompletionChunk]:
    ctx = CallContext(request_id="req-f", status_code=200, retries_taken=0, response=None,
                      redact=(KEY,))
    return _StreamState(ChatCompletionChunk, ctx, None, lambda: 0.0)


@SETTINGS
@given(_body_and_pieces)
def test_stream_state_gives_typed_chunks_a_clean_end_or_a_torouter_error(
    case: tuple[bytes, list[bytes]],
) -> None:
    body, pieces = case
    state = _state()
    delivered: list[Any] = []
    for piece in pieces:
        delivered += state.feed(piece)  # never raises: a failure is kept in state.error
        if state.done or state.error is not None:
            break
    else:
        delivered += state.eof()
    assert all(type(c) is ChatCompletionChunk for c in delivered)
    assert all(c.request_id == "req-f" for c in delivered)
    assert state.error is None or isinstance(state.error, torouter.ToRouterError)
    assert state.done != (state.error is not None)  # exactly one way of ending
    if state.error is not None:
        _no_key(str(state.error), repr(state.error), sent=body)
        pickle.loads(pickle.dumps(state.error))


@SETTINGS
@given(_body_and_pieces)
def test_stream_state_result_does_not_depend_on_the_split(
    case: tuple[bytes, list[bytes]],
) -> None:
    body, pieces = case

    def run(parts: list[bytes]) -> tuple[list[Any], str | None]:
        state = _state()
        out: list[Any] = []
        for part in parts:
            out += state.feed(part)
            if state.done or state.error is not None:
                break
        else:
            out += state.eof()
        return [c.model_dump() for c in out], type(state.error).__name__ if state.error else None

    assert run(pieces) == run([body])


# -- a real Stream over a mock transport ------------------------------------------------------


class _Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def _transport(status: int, headers: dict[str, str], pieces: list[bytes]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, stream=_Pieces(pieces))
    return httpx.MockTransport(handler)


def _sync_outcome(status: int, headers: dict[str, str], pieces: list[bytes],
                  stream: bool) -> Any:
    http = httpx.Client(transport=_transport(status, headers, pieces))
    client = torouter.ToRouter(api_key=KEY, base_url="http://gw.test/v1", http_client=http,
                               max_retries=0)
    try:
        result = client.chat.completions.create(model="m", messages=[{"role": "user",
                                                                      "content": "x"}],
                                                stream=stream)
        return list(result) if stream else result
    except torouter.ToRouterError as err:
        return err
    finally:
        http.close()


async def _async_outcome(status: int, headers: dict[str, str], pieces: list[bytes],
                         stream: bool) -> Any:
    http = httpx.AsyncClient(transport=_transport(status, headers, pieces))
    client = torouter.AsyncToRouter(api_key=KEY, base_url="http://gw.test/v1",
                                    http_client=http, max_retries=0)
    try:
        result = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=stream)
        return [c async for c in result] if stream else result
    except torouter.ToRouterError as err:
        return err
    finally:
        await http.aclose()


def _check_outcome(outcome: Any, stream: bool, body: bytes) -> None:
    if isinstance(outcome, torouter.ToRouterError):
        _no_key(str(outcome), repr(outcome), outcome.message, str(outcome.body), sent=body)
        assert "\n" not in str(outcome)
        pickled = pickle.dumps(outcome)
        assert KEY.encode() not in pickled
        assert type(pickle.loads(pickled)) is type(outcome)
    elif stream:
        assert all(type(c) is ChatCompletionChunk for c in outcome)
    else:
        assert isinstance(outcome, torouter.types.ChatCompletion)


_SSE_HEADERS = {"content-type": "text/event-stream", "x-request-id": "req-h"}


@SETTINGS
@given(_body_and_pieces)
def test_any_stream_body_through_the_sync_client(case: tuple[bytes, list[bytes]]) -> None:
    _check_outcome(_sync_outcome(200, _SSE_HEADERS, case[1], stream=True), True, case[0])


@settings(SETTINGS, max_examples=60)
@given(_body_and_pieces)
def test_any_stream_body_through_the_async_client(case: tuple[bytes, list[bytes]]) -> None:
    outcome = anyio.run(_async_outcome, 200, _SSE_HEADERS, case[1], True)
    _check_outcome(outcome, True, case[0])


_content_types = st.sampled_from(["application/json", "text/html", "text/plain", "",
                                  "application/json; charset=utf-16", "text/event-stream"])
_error_body = st.one_of(
    st.binary(max_size=300),
    _json.map(lambda v: json.dumps(v).encode()),
    _json.map(lambda v: json.dumps({"error": v}).encode()),
    st.builds(lambda m: json.dumps({"error": {"type": "server_error", "message": m}}).encode(),
              st.text(max_size=50).map(lambda t: t + KEY + t)),
)


@SETTINGS
@given(st.integers(300, 599), _content_types, _error_body, st.booleans(),
       st.data())
def test_any_error_response_through_the_client(status: int, ctype: str, body: bytes,
                                               stream: bool, data: st.DataObject) -> None:
    pieces = data.draw(_split(body))
    outcome = _sync_outcome(status, {"content-type": ctype, "x-request-id": "req-e"}, pieces,
                            stream)
    assert isinstance(outcome, torouter.APIStatusError), outcome
    assert outcome.status_code == status
    assert outcome.request_id == "req-e"
    _check_outcome(outcome, stream, body)


@SETTINGS
@given(_error_body | st.builds(lambda t: (t + KEY).encode() * 3, st.text(max_size=80)),
       st.data())
def test_any_2xx_body_through_the_client(body: bytes, data: st.DataObject) -> None:
    outcome = _sync_outcome(200, {"content-type": "application/json"}, data.draw(_split(body)),
                            False)
    assert isinstance(outcome, (torouter.types.ChatCompletion,
                                torouter.APIResponseValidationError)), outcome
    _check_outcome(outcome, False, body)


@SETTINGS
@given(st.binary(max_size=400) | _error_body, st.text(max_size=40),
       st.none() | st.integers(-1000, 1000))
def test_parse_and_make_status_error_never_raise(body: bytes, ctype: str,
                                                 status: int | None) -> None:
    parsed = parse_error_body(body, ctype)
    err = make_status_error(status=status, parsed=parsed, request_id="r", response=None,
                            retry_after=None, redact=(KEY,))
    assert isinstance(err, torouter.APIStatusError)
    text = str(err)
    assert "\n" not in text and len(text) < 1200
    _no_key(text, repr(err), err.message, str(err.code), sent=body)


# -- limits on lines and events, through a real stream -------------------------------------


def _stream_of(*pieces: bytes) -> Any:
    return _sync_outcome(200, _SSE_HEADERS, [b"data: " + _CHUNK + b"\n\n", *pieces], True)


def test_a_line_longer_than_the_limit_ends_in_stream_decode_error() -> None:
    block = b"x" * (1 << 20)
    err = _stream_of(b"data: ", *[block] * ((MAX_LINE_BYTES >> 20) + 1))
    assert type(err) is torouter.StreamDecodeError
    assert "line exceeded" in err.message


def test_an_event_larger_than_the_limit_ends_in_stream_decode_error() -> None:
    line = b"data: " + b"y" * ((1 << 20) - 8) + b"\n"
    err = _stream_of(*[line] * ((MAX_EVENT_BYTES >> 20) + 1))
    assert type(err) is torouter.StreamDecodeError
    assert "event exceeded" in err.message


@pytest.mark.parametrize("line", [b"data:\n", b"data\n", b"data: \r\n"])
def test_endless_empty_data_lines_are_bounded_too(line: bytes) -> None:
    decoder = SSEDecoder(max_line=64, max_event=1000)
    with pytest.raises(torouter.StreamDecodeError):
        for _ in range(2000):
            decoder.feed(line)
    assert len(decoder._data) <= 1000
