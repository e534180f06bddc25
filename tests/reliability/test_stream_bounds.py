"""Streams on a real 127.0.0.1 server (issue 10): every wait bounded, keep-alives are not
progress, ``[DONE]`` ends at once, a stream stops from any thread or task, complete means
complete, and an async client outlives its first event loop.  Sync and async alike.

No test here measures speed.  Where a call must end "on time", the test asserts the *typed
error* that only the bound produces, and a generous hang guard (the bound + 2 s) only makes
sure nothing hangs.  How precisely the bounds hold (<= deadline + 0.25 s) is measured by
``benchmarks/stream_deadlines.py`` (numbers in RELIABILITY.md).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest

import torouter
from torouter import (
    APIConnectionError,
    APITimeoutError,
    StreamIdleTimeout,
    StreamInterrupted,
    _transport,
)

from . import faultserver as fs
from .faultserver import FaultServer
from .helpers import KEY, MESSAGES, make_async, make_sync, wait_until

DEADLINE = 0.4
#: Hang guard, not a performance claim: far above the bound under test.
GUARD = DEADLINE + 2.0


def _drip_first_event(conn: fs.Conn, req: fs.Request) -> None:
    """Headers, then an event that never completes, one byte every 20 ms."""
    conn.send(fs.head(200, {k: v for k, v in fs.SSE_HEAD.items() if k != "transfer-encoding"},
                      version="HTTP/1.0"))
    conn.drip(b'data: {"id":"' + b"x" * 100_000, 0.02)
    conn.close()


#: Ways for a stream call to wait, up to its first chunk, longer than its deadline.
BEFORE_FIRST_CHUNK = {
    "no-headers": fs.stall_before_headers,
    "late-headers-then-stalled-body": fs.late_headers_then_stall(0.28),
    "pings-only": fs.keepalives_forever("ping", 0.05),
    "comments-only": fs.keepalives_forever("comment", 0.05),
    "anthropic-pings-only": fs.keepalives_forever("anthropic", 0.05),
    "data-less-events-only": fs.keepalives_forever("no-data", 0.05),
    "drip-inside-the-first-event": _drip_first_event,
}


#: Every phase without an idle timeout; keep-alives also under a (longer) idle timeout, which
#: they used to keep resetting.
CASES = [(phase, None) for phase in BEFORE_FIRST_CHUNK] + [
    (phase, 10.0) for phase in BEFORE_FIRST_CHUNK if "only" in phase]
CASE_IDS = [f"{phase}-{'idle-10s' if idle else 'no-idle'}" for phase, idle in CASES]


def _client_kwargs(idle: float | None) -> dict[str, Any]:
    # A long read timeout: only the deadline (or the idle timeout) can end these waits.
    return {"deadline": DEADLINE, "timeout": 30.0, "stream_idle_timeout": idle,
            "max_retries": 2}


@pytest.mark.parametrize(("phase", "idle"), CASES, ids=CASE_IDS)
def test_the_deadline_bounds_a_stream_up_to_its_first_chunk_sync(
        server: FaultServer, phase: str, idle: float | None) -> None:
    server.handler = BEFORE_FIRST_CHUNK[phase]
    with make_sync(server.base_url, **_client_kwargs(idle)) as client:
        start = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        elapsed = time.monotonic() - start
    assert type(info.value) is APITimeoutError  # the deadline's error, not an idle timeout
    assert elapsed < GUARD, f"{phase}: {elapsed:.2f}s"  # hang guard only (see module doc)


@pytest.mark.anyio
@pytest.mark.parametrize(("phase", "idle"), CASES, ids=CASE_IDS)
async def test_the_deadline_bounds_a_stream_up_to_its_first_chunk_async(
        server: FaultServer, phase: str, idle: float | None) -> None:
    server.handler = BEFORE_FIRST_CHUNK[phase]
    async with make_async(server.base_url, **_client_kwargs(idle)) as client:
        start = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        elapsed = time.monotonic() - start
    assert type(info.value) is APITimeoutError
    assert elapsed < GUARD, f"{phase}: {elapsed:.2f}s"  # hang guard only


@pytest.mark.parametrize("kind", list(fs.KEEPALIVES))
def test_keepalives_after_the_first_chunk_do_not_reset_the_idle_timer_sync(
        server: FaultServer, kind: str) -> None:
    server.handler = fs.keepalives_forever(kind, 0.05, first=1)
    got: list[str] = []
    with make_sync(server.base_url, timeout=30.0, stream_idle_timeout=DEADLINE) as client:
        start = time.monotonic()
        with pytest.raises(StreamIdleTimeout) as info, client.chat.completions.create(
                model="m", messages=MESSAGES, stream=True) as stream:
            got.extend(c.choices[0].delta.content for c in stream)
        elapsed = time.monotonic() - start
    assert got == ["t0"]
    assert info.value.text == "t0"  # the partial answer travels with the error
    assert "keep-alives" in info.value.message
    assert elapsed < GUARD  # hang guard only


@pytest.mark.anyio
@pytest.mark.parametrize("kind", list(fs.KEEPALIVES))
async def test_keepalives_after_the_first_chunk_do_not_reset_the_idle_timer_async(
        server: FaultServer, kind: str) -> None:
    server.handler = fs.keepalives_forever(kind, 0.05, first=1)
    got: list[str] = []
    async with make_async(server.base_url, timeout=30.0, stream_idle_timeout=DEADLINE) as client:
        start = time.monotonic()
        with pytest.raises(StreamIdleTimeout) as info:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES,
                                                          stream=True)
            async with stream:
                async for c in stream:
                    got.append(c.choices[0].delta.content)
        elapsed = time.monotonic() - start
    assert got == ["t0"]
    assert info.value.text == "t0"
    assert elapsed < GUARD  # hang guard only


def test_a_stalled_body_after_late_headers_ends_at_the_deadline_not_twice_it(
        server: FaultServer) -> None:
    # Headers at 70% of the deadline, then silence: the body's reads get what is left, not a
    # fresh full timeout (the call used to take almost twice its deadline).
    server.handler = fs.late_headers_then_stall(0.28)
    with make_sync(server.base_url, deadline=DEADLINE, timeout=DEADLINE,
                   stream_idle_timeout=None) as client, pytest.raises(APITimeoutError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert type(info.value) is APITimeoutError
    assert "first chunk" in info.value.message


# --- [DONE] ends the stream at once ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_done_ends_the_stream_even_if_the_server_holds_the_body_open(
        server: FaultServer, kind: str) -> None:
    server.handler = fs.done_then_hold(2)

    async def read_async() -> list[str]:
        async with make_async(server.base_url, timeout=30.0, stream_idle_timeout=30.0) as c:
            s = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with s:
                return [x.choices[0].delta.content async for x in s]

    start = time.monotonic()
    if kind == "sync":
        with make_sync(server.base_url, timeout=30.0, stream_idle_timeout=30.0) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            got = [c.choices[0].delta.content for c in stream]
            assert stream.get_final_completion().choices[0].message.content == "t0t1"
    else:
        got = asyncio.run(read_async())
    assert got == ["t0", "t1", ""]
    assert time.monotonic() - start < 2.0  # hang guard: the idle timeout (30 s) never ran
    # The held-open connection was closed, not pooled: the server sees the hang-up.
    assert wait_until(lambda: server.open_connections == 0)


def test_done_with_the_body_ended_reuses_the_connection(server: FaultServer) -> None:
    server.handler = fs.stream_ok(3)
    with make_sync(server.base_url) as client:
        for _ in range(5):
            with client.chat.completions.create(model="m", messages=MESSAGES,
                                                stream=True) as stream:
                assert "".join(c.choices[0].delta.content or "" for c in stream) == "t0t1t2"
    assert server.connections == 1


# --- stop from anywhere ------------------------------------------------------------------------


@pytest.mark.parametrize("blocked", [True, False], ids=["reader-blocked", "chunks-flowing"])
def test_close_from_another_thread_ends_the_readers_loop_quietly(
        server: FaultServer, blocked: bool) -> None:
    server.handler = fs.stall_mid_stream(2) if blocked else fs.endless_chunks(0.02)
    got: list[str] = []
    failures: list[BaseException] = []
    two = threading.Event()
    with make_sync(server.base_url, timeout=30.0, stream_idle_timeout=30.0) as client:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

        def consume() -> None:
            try:
                for c in stream:
                    got.append(c.choices[0].delta.content)
                    if len(got) == 2:
                        two.set()
            except BaseException as exc:  # what the consumer would see
                failures.append(exc)

        reader = threading.Thread(target=consume)
        reader.start()
        assert two.wait(GUARD)
        stream.close()  # the "stop" button, from another thread
        reader.join(GUARD)  # hang guard: the bound is 1 s, measured in benchmarks
        assert not reader.is_alive()
        assert failures == []  # a quiet end, no foreign exception
        assert got[:2] == ["t0", "t1"]
        # The gateway sees the hang-up (and would stop generating).
        assert wait_until(lambda: server.open_connections == 0)
        with pytest.raises(StreamInterrupted, match="closed before it ended") as info:
            stream.get_final_completion()
        assert info.value.text.startswith("t0t1")


@pytest.mark.anyio
@pytest.mark.parametrize("blocked", [True, False], ids=["reader-blocked", "chunks-flowing"])
async def test_close_from_another_task_ends_the_readers_loop_quietly(
        server: FaultServer, blocked: bool) -> None:
    server.handler = fs.stall_mid_stream(2) if blocked else fs.endless_chunks(0.02)
    got: list[str] = []
    two = asyncio.Event()
    async with make_async(server.base_url, timeout=30.0, stream_idle_timeout=30.0) as client:
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

        async def consume() -> None:
            async for c in stream:
                got.append(c.choices[0].delta.content)
                if len(got) == 2:
                    two.set()

        reader = asyncio.create_task(consume())
        await asyncio.wait_for(two.wait(), GUARD)
        await stream.close()  # from another task
        await asyncio.wait_for(reader, GUARD)  # hang guard; raises what the reader raised
        assert got[:2] == ["t0", "t1"]
        assert wait_until(lambda: server.open_connections == 0)
        with pytest.raises(StreamInterrupted, match="closed before it ended"):
            await stream.get_final_completion()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_client_close_from_another_thread_interrupts_a_call_waiting_for_headers(
        server: FaultServer, stream: bool) -> None:
    server.handler = fs.stall_before_headers
    client = make_sync(server.base_url, timeout=30.0, stream_idle_timeout=30.0, max_retries=2)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.chat.completions.create(model="m", messages=MESSAGES, stream=stream)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert wait_until(lambda: len(server.requests) == 1)
    client.close()
    caller.join(GUARD)  # hang guard: without the fix it sits out its 30 s read timeout
    assert not caller.is_alive()
    assert len(outcome) == 1 and type(outcome[0]) is APIConnectionError, outcome
    assert "client was closed" in str(outcome[0])
    assert len(server.requests) == 1  # not retried


@pytest.mark.anyio
async def test_async_client_close_interrupts_a_call_waiting_for_headers(
        server: FaultServer) -> None:
    server.handler = fs.stall_before_headers
    client = make_async(server.base_url, timeout=30.0, max_retries=2)
    call = asyncio.create_task(
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    while not server.requests:
        await asyncio.sleep(0.01)
    await client.close()
    with pytest.raises(APIConnectionError) as info:
        await asyncio.wait_for(call, GUARD)  # hang guard
    assert not isinstance(info.value, APITimeoutError)
    assert len(server.requests) == 1


# --- complete means complete -----------------------------------------------------------------


def _event(choices: list[dict[str, Any]]) -> bytes:
    obj = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": choices}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _delta(index: int, content: str = "", finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": {"content": content}, "finish_reason": finish}


TWO_CHOICES_CUT = (_event([_delta(0, "a"), _delta(1, "b")]) + _event([_delta(0, finish="stop")])
                   + _event([_delta(1, "c")]))  # choice 1 never finishes; no [DONE]
TWO_CHOICES_DONE = TWO_CHOICES_CUT + _event([_delta(1, finish="length")])
BOM_BODY = b"\xef\xbb\xbf" + _event([_delta(0, "Hello")]) + _event([_delta(0, finish="stop")])


async def _read(server: FaultServer, kind: str) -> Any:
    """The stream's final completion (or the error it ends with), sync or async."""
    try:
        if kind == "sync":
            with make_sync(server.base_url) as client:
                return client.chat.completions.create(
                    model="m", messages=MESSAGES, stream=True, n=2).get_final_completion()
        async with make_async(server.base_url) as aclient:
            s = await aclient.chat.completions.create(model="m", messages=MESSAGES,
                                                      stream=True, n=2)
            return await s.get_final_completion()
    except torouter.ToRouterError as err:
        return err


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_multi_choice_stream_cut_short_is_interrupted(server: FaultServer,
                                                              kind: str) -> None:
    server.handler = fs.sse_body(TWO_CHOICES_CUT)
    err = await _read(server, kind)
    assert type(err) is StreamInterrupted, err
    assert [c.message.content for c in err.partial.choices] == ["a", "bc"]
    assert [c.finish_reason for c in err.partial.choices] == ["stop", None]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_multi_choice_stream_without_done_is_complete_when_every_choice_finished(
        server: FaultServer, kind: str) -> None:
    server.handler = fs.sse_body(TWO_CHOICES_DONE)
    final = await _read(server, kind)
    assert [c.message.content for c in final.choices] == ["a", "bc"]
    assert [c.finish_reason for c in final.choices] == ["stop", "length"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_leading_byte_order_mark_is_stripped(server: FaultServer, kind: str) -> None:
    server.handler = fs.sse_body(BOM_BODY)
    final = await _read(server, kind)
    assert final.choices[0].message.content == "Hello"


# --- event loops -----------------------------------------------------------------------------


def test_an_async_client_works_across_two_asyncio_runs(server: FaultServer) -> None:
    server.handler = fs.Echo()
    client = make_async(server.base_url, max_retries=0)

    async def call(marker: str) -> str:
        reply = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": marker}])
        return str(reply.choices[0].message.content)

    assert asyncio.run(call("first")) == "first"
    assert asyncio.run(call("second")) == "second"  # the old loop's connections were dropped
    asyncio.run(client.close())


def test_a_passed_in_async_pool_on_an_ended_loop_gives_an_error_that_says_so(
        server: FaultServer) -> None:
    server.handler = fs.Echo()
    http = httpx.AsyncClient()
    client = torouter.AsyncToRouter(api_key=KEY, base_url=server.base_url, http_client=http,
                                    max_retries=2)

    async def call() -> Any:
        return await client.chat.completions.create(model="m", messages=MESSAGES)

    asyncio.run(call())
    with pytest.raises(torouter.ToRouterError) as info:
        asyncio.run(call())
    assert "event loop that has ended" in info.value.message
    assert "closed" not in info.value.message  # not misreported as a closed client
    assert len(server.requests) == 1  # not retried


# --- the caller's own loop body is not silence; a finished stream's watch lets go --------------

#: The caller spends longer than the idle timeout on the first chunk; the server sends the rest
#: a little later still (within the idle timeout of the caller asking for more).
SLOW_IDLE, SLOW_BODY, SLOW_GAP = 0.6, 0.8, 0.9


def _one_then_rest_later(conn: fs.Conn, req: fs.Request) -> None:
    conn.send(fs.head(200, fs.SSE_HEAD) + fs.chunk(fs.chunk_event("t0")))
    if conn.wait(SLOW_GAP):
        return
    conn.send(fs.chunk(fs.chunk_event("t1")) + fs.chunk(fs.chunk_event("", "stop"))
              + fs.chunk(fs.DONE) + b"0\r\n\r\n")
    conn.stall(2.0)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_slow_loop_body_is_not_cut_and_the_ended_streams_watch_lets_go(
        server: FaultServer, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The async stream on httpx's own transport: this test is about the stream's own watch;
    # the aiohttp transport's read timeout has its own test below.
    monkeypatch.setattr(_transport, "ASYNC_BACKEND", "httpx")
    server.handler = _one_then_rest_later
    got: list[str | None] = []

    async def read_async() -> Any:
        async with make_async(server.base_url, timeout=30.0,
                              stream_idle_timeout=SLOW_IDLE) as aclient:
            astream = await aclient.chat.completions.create(model="m", messages=MESSAGES,
                                                            stream=True)
            watch = astream._watch
            assert watch is not None and watch.state is not None
            async for c in astream:
                got.append(c.choices[0].delta.content)
                if len(got) == 1:
                    await asyncio.sleep(SLOW_BODY)
            return watch

    if kind == "sync":
        with make_sync(server.base_url, timeout=30.0,
                       stream_idle_timeout=SLOW_IDLE) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            watch = stream._watch
            assert watch is not None and watch.state is not None
            for c in stream:
                got.append(c.choices[0].delta.content)
                if len(got) == 1:
                    time.sleep(SLOW_BODY)  # the caller's own work, longer than the idle timeout
    else:
        watch = asyncio.run(read_async())
    assert got == ["t0", "t1", ""]
    # The ended stream's watch holds neither its state, its socket nor its response.
    assert watch.cancelled and watch.state is None and watch.sock is None
    assert watch.response is None


def test_a_slow_loop_body_is_not_cut_on_the_aiohttp_transport(
        server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's sock_read timer runs from the last bytes received, whatever the reader does;
    the transport bounds each wait for the next bytes instead (torouter/_transport.py)."""
    pytest.importorskip("aiohttp")
    monkeypatch.setattr(_transport, "ASYNC_BACKEND", "aiohttp")
    server.handler = _one_then_rest_later

    async def read_async() -> list[str | None]:
        got: list[str | None] = []
        async with make_async(server.base_url, timeout=30.0,
                              stream_idle_timeout=SLOW_IDLE) as aclient:
            astream = await aclient.chat.completions.create(model="m", messages=MESSAGES,
                                                            stream=True)
            async for c in astream:
                got.append(c.choices[0].delta.content)
                if len(got) == 1:
                    await asyncio.sleep(SLOW_BODY)
        return got

    assert asyncio.run(read_async()) == ["t0", "t1", ""]
