"""Every transport fault ends in a specific ToRouterError, quickly, for both clients.

Each case runs against a real socket server on 127.0.0.1 that misbehaves in one way.  A raw
httpx / httpcore / h11 exception escaping would fail the test (only ToRouterError is caught);
``elapsed < HANG_GUARD`` proves that nothing waits for a timeout it should not.
"""

from __future__ import annotations

import functools
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

import torouter
from torouter import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    NoEligibleChannel,
    StreamDecodeError,
    StreamIdleTimeout,
    StreamInterrupted,
    UpstreamUnavailable,
)

from . import faultserver as fs
from .faultserver import FaultServer
from .helpers import HANG_GUARD, SHORT, chat_async, chat_sync, make_async, make_sync


@dataclass
class Fault:
    name: str
    handler: fs.Handler | None
    expected: type[torouter.ToRouterError] | None  # None: a legitimate answer, no error
    stream: bool = False
    client: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any, FaultServer], None] | None = None
    refused: bool = False
    #: Lower MAX_BODY_BYTES to this for the case (the same code path, read in a fraction of the
    #: time); the default cap itself is exercised by "huge-2xx-declared".
    body_cap: int | None = None


def _chunks(n: int, text: str | None = None) -> Callable[[Any, FaultServer], None]:
    """The error carries the completion so far: the text of the ``n`` chunks delivered."""
    def check(err: Any, srv: FaultServer) -> None:
        assert isinstance(err.partial, torouter.types.ChatCompletion)
        assert err.text == (text if text is not None else "".join(f"t{i}" for i in range(n)))
        assert err.chunks == []  # chunk objects are kept only with keep_chunks=True
        assert err.request_id == "req-stream"
    return check


def _message_has(*words: str) -> Callable[[Any, FaultServer], None]:
    def check(err: Any, srv: FaultServer) -> None:
        for word in words:
            assert word in err.message, err.message
    return check


def _attempts(n: int) -> Callable[[Any, FaultServer], None]:
    def check(err: Any, srv: FaultServer) -> None:
        assert len(srv.requests) == n
        assert len(err.attempts) == n
    return check


def _truncated_error(err: Any, srv: FaultServer) -> None:
    # The body was read only up to the error-body cap: the server could not push much more.
    assert len(err.response.content) <= torouter._base_client.MAX_ERROR_BODY_BYTES
    assert len(err.message) <= 300
    assert srv.bytes_sent < 64 * (1 << 20)


def _capped(err: Any, srv: FaultServer) -> None:
    cap = torouter._base_client.MAX_BODY_BYTES
    assert f"larger than {cap >> 20} MiB" in err.message
    assert err.status_code == 200
    assert srv.bytes_sent < cap + 64 * (1 << 20)  # reading stopped at the cap


GZIP_ERROR = json.dumps({"error": {"type": "upstream_unavailable",
                                   "message": "all channels failed"}}).encode()



SMALL_CAP = 8 << 20


@functools.cache
def gzip_bomb(mib: int) -> bytes:
    """Gzip of ``mib`` MiB of spaces: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    return b"".join([packer.compress(block) for _ in range(mib)] + [packer.flush()])


def send_gzip_bomb(code: int, mib: int = 2 * (SMALL_CAP >> 20)) -> fs.Handler:
    def handler(conn: fs.Conn, req: fs.Request) -> None:
        conn.send(fs.response(code, gzip_bomb(mib), {"content-encoding": "gzip"}))
    return handler

FAULTS = [
    # -- no usable response ------------------------------------------------------------
    Fault("refused", None, APIConnectionError, refused=True),
    Fault("refused-stream", None, APIConnectionError, stream=True, refused=True),
    Fault("reset-before-headers", fs.reset_before_headers, APIConnectionError),
    Fault("reset-before-headers-stream", fs.reset_before_headers, APIConnectionError,
          stream=True),
    Fault("close-before-headers", fs.close_before_headers, APIConnectionError),
    Fault("reset-during-headers", fs.reset_during_headers, APIConnectionError),
    Fault("reset-during-headers-stream", fs.reset_during_headers, APIConnectionError,
          stream=True),
    Fault("reset-mid-body", fs.reset_mid_body, APIConnectionError),
    Fault("garbage-status-line", fs.raw(b"SPLAT\r\n\r\n", close=True), APIConnectionError),
    Fault("bad-content-length", fs.raw(b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n{}"),
          APIConnectionError),
    # Header bytes keep coming: httpx's 16 KiB limit on an unfinished header block ends it.
    Fault("endless-headers", fs.endless_headers, APIConnectionError, client={"timeout": 30.0}),
    Fault("stall-before-headers", fs.stall_before_headers, APITimeoutError,
          client={"timeout": SHORT}),
    Fault("stall-before-headers-stream", fs.stall_before_headers, APITimeoutError, stream=True,
          client={"stream_idle_timeout": SHORT}),
    # -- streams ---------------------------------------------------------------------------
    Fault("reset-mid-stream", fs.reset_mid_stream(2), StreamInterrupted, stream=True,
          check=_chunks(2)),
    Fault("close-mid-stream", fs.raw(fs.head(200, fs.SSE_HEAD) + fs.chunk(fs.chunk_event("a")),
                                     close=True),
          StreamInterrupted, stream=True, check=_chunks(1, "a")),
    Fault("stall-between-chunks", fs.stall_mid_stream(1), StreamIdleTimeout, stream=True,
          client={"stream_idle_timeout": SHORT}, check=_chunks(1)),
    Fault("stall-between-chunks-no-idle-timeout", fs.stall_mid_stream(1), StreamIdleTimeout,
          stream=True, client={"stream_idle_timeout": None, "timeout": SHORT}, check=_chunks(1)),
    # A drip keeps bytes coming (the read timeout never fires) but never completes an event.
    Fault("slow-drip-stream", fs.drip_mid_stream(0.005), StreamIdleTimeout, stream=True,
          client={"timeout": 30.0, "stream_idle_timeout": SHORT}, check=_chunks(1)),
    # Bytes keep coming, so neither timeout fires: the decoder's line limit must end it.
    Fault("stream-line-without-end", fs.endless_line, StreamDecodeError, stream=True),
    Fault("invalid-utf8-event", fs.raw(fs.head(200, fs.SSE_HEAD) + fs.chunk(fs.chunk_event("a"))
                                       + fs.chunk(b'data: {"id": "\xff\xfe", "choices": [}\n\n')
                                       + b"0\r\n\r\n"),
          StreamDecodeError, stream=True),
    Fault("http10-stream-done", fs.http10(fs.chunk_event("a") + fs.DONE, "text/event-stream"),
          None, stream=True),
    Fault("http10-stream-cut", fs.http10(fs.chunk_event("a") + fs.chunk_event("b"),
                                         "text/event-stream"),
          StreamInterrupted, stream=True),
    Fault("stream-5xx", fs.status(500), InternalServerError, stream=True),
    # -- status errors and bodies ------------------------------------------------------------
    Fault("500-storm", fs.status(500), InternalServerError, client={"max_retries": 2},
          check=_attempts(3)),
    Fault("502-storm", fs.status(502, b"<html><title>Bad gateway</title></html>", None,
                                 "text/html"),
          UpstreamUnavailable, client={"max_retries": 2}, check=_attempts(3)),
    Fault("503-storm-empty-body", fs.status(503, b""), NoEligibleChannel,
          client={"max_retries": 1}, check=_attempts(2)),
    Fault("huge-2xx-declared", fs.endless_body(200, declare=1 << 40), APIResponseValidationError,
          check=_capped),
    Fault("huge-2xx-chunked", fs.endless_body(200), APIResponseValidationError, check=_capped,
          body_cap=SMALL_CAP),
    Fault("huge-error-body", fs.endless_body(500), InternalServerError, check=_truncated_error),
    Fault("invalid-utf8-2xx", fs.status(200, b'{"id": "\xff\xfe\xfd", "choices": []'),
          APIResponseValidationError),
    Fault("invalid-utf8-error", fs.status(500, b"\xff\xfe upstream \xfd exploded",
                                          content_type="text/plain"),
          InternalServerError, check=_message_has("not UTF-8")),
    Fault("gzip-error-body", fs.gzip_status(502, GZIP_ERROR), UpstreamUnavailable,
          check=_message_has("all channels failed")),
    Fault("gzip-bomb-error-body", send_gzip_bomb(500), InternalServerError,
          check=_truncated_error),
    Fault("gzip-bomb-2xx", send_gzip_bomb(200), APIResponseValidationError, check=_capped,
          body_cap=SMALL_CAP),
    Fault("corrupt-gzip-error-body", fs.gzip_status(500, b"", corrupt=True), APIConnectionError),
    Fault("http10-json-cut", fs.http10(fs.completion()[:40]), APIResponseValidationError),
    Fault("http10-json-complete", fs.http10(fs.completion("close-delimited")), None),
    # A non-streaming body trickling in: each read succeeds, only the deadline can end it.
    Fault("slow-drip-body", fs.drip_body(0.005), APITimeoutError,
          client={"timeout": 30.0, "deadline": 0.5}),
]


def _prepare(fault: Fault, srv: FaultServer, monkeypatch: pytest.MonkeyPatch) -> str:
    if fault.body_cap is not None:
        monkeypatch.setattr(torouter._base_client, "MAX_BODY_BYTES", fault.body_cap)
    if fault.refused:
        return f"http://127.0.0.1:{fs.closed_port()}/v1"
    assert fault.handler is not None
    srv.handler = fault.handler
    return srv.base_url


def _check_result(fault: Fault, outcome: Any, srv: FaultServer, elapsed: float) -> None:
    assert elapsed < HANG_GUARD, f"{fault.name} took {elapsed:.1f}s"
    if fault.expected is None:  # this "fault" is a legitimate answer
        assert not isinstance(outcome, BaseException), repr(outcome)
        if fault.stream:
            assert [c.choices[0].delta.content for c in outcome][:1] == ["a"]
        else:
            assert outcome.choices[0].message.content == "close-delimited"
            assert outcome.request_id == "req-10"
        return
    assert isinstance(outcome, torouter.ToRouterError), f"{fault.name}: no error ({outcome!r})"
    assert type(outcome) is fault.expected, f"{fault.name}: {type(outcome).__name__}: {outcome}"
    # The transport exception is not chained for display, and has no traceback of its own.
    assert outcome.__cause__ is None
    assert outcome.__context__ is None or outcome.__suppress_context__
    assert "\n" not in str(outcome)
    if fault.check is not None:
        fault.check(outcome, srv)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_sync(fault: Fault, server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    base_url = _prepare(fault, server, monkeypatch)
    with make_sync(base_url, **fault.client) as client:
        start = time.monotonic()
        try:
            outcome: Any = chat_sync(client, stream=fault.stream)
        except torouter.ToRouterError as err:
            outcome = err
        _check_result(fault, outcome, server, time.monotonic() - start)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_fault_async(fault: Fault, server: FaultServer,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    base_url = _prepare(fault, server, monkeypatch)
    async with make_async(base_url, **fault.client) as client:
        start = time.monotonic()
        try:
            outcome: Any = await chat_async(client, stream=fault.stream)
        except torouter.ToRouterError as err:
            outcome = err
        _check_result(fault, outcome, server, time.monotonic() - start)


def test_body_caps_are_the_documented_ones() -> None:
    assert torouter._base_client.MAX_BODY_BYTES == 128 << 20
    assert torouter._base_client.MAX_ERROR_BODY_BYTES == 1 << 20


def test_stream_idle_timeout_default_is_documented_120s() -> None:
    assert torouter.DEFAULT_STREAM_IDLE_TIMEOUT == 120.0
    client = torouter.ToRouter(api_key="sk-x", base_url="http://127.0.0.1:9/v1")
    assert client._stream_idle_timeout == 120.0
    client.close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_redirect_is_not_followed_and_never_reaches_the_other_host(
    kind: str, code: int, server: FaultServer, other_server: FaultServer, async_backend: str
) -> None:
    other_server.handler = fs.record_only
    server.handler = fs.redirect(other_server.base_url + "/chat/completions", code)

    async def run_async() -> torouter.ToRouterError:
        async with make_async(server.base_url, max_retries=2) as client:
            with pytest.raises(torouter.ToRouterError) as info:
                await chat_async(client)
            return info.value

    if kind == "sync":
        with make_sync(server.base_url, max_retries=2) as client, \
                pytest.raises(torouter.ToRouterError) as info:
            chat_sync(client)
        err = info.value
    else:
        err = anyio.run(run_async)
    assert type(err) is APIStatusError
    assert err.status_code == code
    assert "redirect" in err.message and other_server.host in err.message
    assert len(server.requests) == 1  # a redirect is not retried either
    assert other_server.requests == []
