"""Pins of the stream core (``torouter/_streaming.py``) that the mutation run asked for, without
a network: what a stream yields, raises and reports at its end (``StreamOutcome``), what
``close()``, ``break`` and ``get_final_completion()`` do, how much of a body's end is read after
``[DONE]``, which bound a timeout is blamed on (a fake clock), what error messages show and
hide, and the watchdog's bookkeeping (one daemon thread, cancelled watches dropped, a fresh
watchdog in a forked child).

The transport behaviour on real sockets (deadlines, cuts, close from another thread) is in
``tests/reliability/test_stream_bounds.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import torouter
from torouter._base_client import CallContext
from torouter._errors import mask_key
from torouter._streaming import (
    _DRAIN_LIMIT,
    AsyncStream,
    Stream,
    StreamOutcome,
    _scrub,
    _snippet,
    _StreamState,
    _Watch,
    _Watchdog,
    transport_detail,
)
from torouter.types import ChatCompletionChunk

KEY = "sk-test-PINS-0123456789abcdef"
BASE = "http://gw.test/v1"
MESSAGES = [{"role": "user", "content": "x"}]
SSE = {"content-type": "text/event-stream", "x-request-id": "req-pins"}
DONE = b"data: [DONE]\n\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(clock: Clock, *, idle: float | None = 10.0, deadline_at: float | None = None,
          keep_chunks: bool = False) -> _StreamState[ChatCompletionChunk]:
    ctx = CallContext(request_id="req-pins", status_code=200, retries_taken=0, response=None,
                      redact=(KEY,))
    return _StreamState(ChatCompletionChunk, ctx, idle, clock, deadline_at=deadline_at,
                        keep_chunks=keep_chunks)


def event(content: str | None = None, *, index: int = 0, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    obj = {"id": "c1", "model": "m", "created": 7,
           "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


PING = b"event: ping\ndata: {}\n\n"
HELLO = [event("Hel"), event("lo"), event(finish="stop"), DONE]


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body given piece by piece; ``read_to_end`` tells whether the reader asked for more
    after the last piece (it drained the body's end)."""

    def __init__(self, pieces: list[bytes], error: Exception | None = None,
                 gate: threading.Event | None = None, pause: float = 0.0) -> None:
        self.pieces = pieces
        self.pause = pause
        self.error = error
        self.gate = gate
        self.blocked = threading.Event()
        self.read_to_end = False

    def __iter__(self) -> Iterator[bytes]:
        for i, piece in enumerate(self.pieces):
            if i == 1 and self.gate is not None:
                self.blocked.set()
                self.gate.wait(10.0)
            yield piece
        time.sleep(self.pause)
        self.read_to_end = True
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        self.read_to_end = True
        if self.error is not None:
            raise self.error


def clients(body: Pieces, *, keep_chunks: bool = False,
            outcomes: list[StreamOutcome] | None = None, idle: float | None = None,
            ) -> tuple[torouter.ToRouter, torouter.AsyncToRouter]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE, stream=body)

    transport = httpx.MockTransport(handler)
    sync = torouter.ToRouter(api_key=KEY, base_url=BASE, max_retries=0, telemetry=False,
                             circuit_breaker=None, stream_idle_timeout=idle,
                             http_client=httpx.Client(transport=transport))
    aclient = torouter.AsyncToRouter(api_key=KEY, base_url=BASE, max_retries=0, telemetry=False,
                                     circuit_breaker=None, stream_idle_timeout=idle,
                                     http_client=httpx.AsyncClient(transport=transport))
    if outcomes is not None:
        for client in (sync, aclient):
            original = client._stream_parts

            def parts(*args: Any, original: Any = original) -> Any:
                st_, ctx = original(*args)
                st_.on_end = outcomes.append
                return st_, ctx

            client._stream_parts = parts  # type: ignore[method-assign]
    return sync, aclient


def open_sync(body: Pieces, **kw: Any) -> Stream[ChatCompletionChunk]:
    sync, _ = clients(body, **kw)
    return sync.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                        keep_chunks=kw.get("keep_chunks", False))


async def open_async(body: Pieces, **kw: Any) -> AsyncStream[ChatCompletionChunk]:
    _, aclient = clients(body, **kw)
    return await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                                 keep_chunks=kw.get("keep_chunks", False))


def texts(chunks: list[ChatCompletionChunk]) -> list[str | None]:
    return [c.choices[0].delta.content if c.choices else None for c in chunks]


# --- the public surface --------------------------------------------------------------------------


def test_the_stream_classes_carry_their_public_module() -> None:
    assert Stream.__module__ == "torouter" and AsyncStream.__module__ == "torouter"


def test_a_stream_outcome_cannot_be_changed_by_a_callback() -> None:
    outcomes: list[StreamOutcome] = []
    list(open_sync(Pieces([b"".join(HELLO)]), outcomes=outcomes))
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcomes[0].kind = "error"  # type: ignore[misc]


def test_a_state_keeps_no_chunks_unless_asked() -> None:
    ctx = CallContext(request_id=None, status_code=200, retries_taken=0, response=None,
                      redact=(KEY,))
    s = _StreamState(ChatCompletionChunk, ctx, None, Clock())
    s.feed(event("a"))
    assert s.chunks is None


# --- what a stream yields ------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["ping", "error"])
def test_a_chunk_whose_text_is_ping_or_error_is_delivered(word: str) -> None:
    # The quick substring tests for keep-alives and error objects must not drop or fail a
    # chunk that merely says the word.
    s = state(Clock())
    got = s.feed(event(word) + event(finish="stop") + DONE)
    assert texts(got) == [word, None] and s.error is None and s.done


def test_an_unnamed_error_event_that_is_not_json_is_a_decode_error_saying_so() -> None:
    s = state(Clock())
    s.feed(b'data: {"error": oops\n\n')
    assert type(s.error) is torouter.StreamDecodeError
    assert "error event is not JSON" in s.error.message


def test_broken_json_that_mentions_ping_is_not_a_keepalive() -> None:
    s = state(Clock())
    assert s.feed(b'data: {"type": "ping"\n\n') == []
    assert type(s.error) is torouter.StreamDecodeError


def test_done_after_a_long_silence_is_still_a_clean_end() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    s.feed(event("a"))
    clock.now += 60.0
    assert s.feed(DONE) == [] and s.done and s.error is None


# --- the end of the body -------------------------------------------------------------------------


def test_done_without_its_blank_line_at_the_body_end_completes() -> None:
    s = state(Clock())
    for c in s.feed(event("a")):
        s.take(c)
    s.feed(b"data: [DONE]")
    assert s.eof() == [] and s.done and s.error is None


def test_an_unfinished_tail_after_done_is_ignored_at_the_body_end() -> None:
    s = state(Clock())
    for c in s.feed(event("a") + DONE + b'data: {"half an ev'):
        s.take(c)
    assert s.eof() == [] and s.done and s.error is None
    assert s.final_completion().choices[0].message.content == "a"


def test_an_error_event_cut_at_the_body_end_is_the_api_error() -> None:
    s = state(Clock())
    s.feed(event("a"))
    s.feed(b'data: {"error": {"message": "upstream fell over", "type": "server_error"}}')
    s.eof()
    assert isinstance(s.error, torouter.APIStatusError)
    assert s.error.message == "upstream fell over"


def test_a_last_event_without_its_blank_line_is_delivered_and_in_the_partial() -> None:
    s = state(Clock())
    for c in s.feed(event("a")):
        s.take(c)
    s.feed(event("b")[:-2])  # the body ends before the event's blank line
    assert texts(s.eof()) == ["b"]
    assert type(s.error) is torouter.StreamInterrupted
    assert s.error.text == "ab"


def test_a_body_ending_after_a_silence_is_interrupted_not_idle() -> None:
    # The body's end is the news: the silence before it is not a timeout.
    clock = Clock()
    s = state(clock, idle=10.0)
    for c in s.feed(event("a")):
        s.take(c)
    s.feed(b": a comment that never ends")
    clock.now += 60.0
    s.eof()
    assert type(s.error) is torouter.StreamInterrupted


def test_a_close_delimited_body_ended_by_the_watchdog_is_the_timeout() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    for c in s.feed(event("a")):
        s.take(c)
    clock.now += 10.0
    assert s.watch() == 0.0  # cut now
    s.eof()  # the cut ends an HTTP/1.0 body like a normal end of file
    assert type(s.error) is torouter.StreamIdleTimeout
    assert s.error is s.expired


def test_the_interruption_message_says_what_was_left_unfinished() -> None:
    s = state(Clock())
    s.eof()
    assert s.error is not None
    assert s.error.message == "the stream ended before [DONE] after 0 chunks"
    s = state(Clock())
    for c in s.feed(event("a")):
        s.take(c)
    s.eof()
    assert s.error is not None
    assert s.error.message == ("the stream ended before [DONE] after 1 chunks with a choice "
                               "still unfinished")


# --- which bound a timeout is blamed on ----------------------------------------------------------


def test_a_read_timeout_just_short_of_the_idle_bound_is_the_idle_timeout() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    s.feed(event("a"))
    clock.now += 9.97  # httpx's read timeout fired a hair before the idle bound
    err = s.transport_error(httpx.ReadTimeout("timed out"))
    assert type(err) is torouter.StreamIdleTimeout
    assert "stream_idle_timeout" in err.message


def test_a_read_timeout_well_before_any_bound_is_the_read_timeout() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    s.feed(event("a"))
    clock.now += 9.0
    err = s.transport_error(httpx.ReadTimeout("timed out"))
    assert type(err) is torouter.StreamIdleTimeout
    assert "read timeout (ReadTimeout)" in err.message


def test_when_deadline_and_idle_bound_coincide_the_deadline_is_blamed() -> None:
    clock = Clock()
    s = state(clock, idle=5.0, deadline_at=clock.now + 5.0)
    clock.now += 5.0
    s.feed(PING)
    assert type(s.error) is torouter.APITimeoutError


def test_a_read_failing_after_close_is_the_quiet_end() -> None:
    s = state(Clock())
    s.feed(event("a"))
    s.close_requested()
    assert s.transport_error(httpx.ReadError("socket shut down")) is None
    assert s.error is None


def test_without_an_idle_timeout_or_deadline_nothing_is_watched() -> None:
    s = state(Clock(), idle=None)
    assert s.bound() is None and s.watch() is None


def test_a_stream_that_has_not_sent_a_chunk_is_cut_at_its_idle_bound() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    clock.now += 10.0
    assert s.watch() == 0.0
    assert type(s.expired) is torouter.StreamIdleTimeout


def test_after_done_only_the_short_drain_is_watched() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    s.feed(event("a") + DONE)
    assert s.bound() is None  # a finished answer is never cut for idleness ...
    clock.now += 60.0
    assert s.watch() is None
    s.begin_drain()  # ... only its body's end is given a moment
    first = s.watch()
    assert first is not None and 0 < first < 0.5
    clock.now += 0.5
    assert s.watch() == 0.0 and s.expired is None


def test_a_closed_or_ended_stream_is_not_watched() -> None:
    clock = Clock()
    s = state(clock, idle=10.0)
    s.close_requested()
    clock.now += 60.0
    assert s.watch() is None
    s = state(clock, idle=10.0)
    s.finish()
    clock.now += 60.0
    assert s.watch() is None


# --- the stream classes --------------------------------------------------------------------------


def test_chunks_are_refused_unless_kept() -> None:
    stream = open_sync(Pieces([b"".join(HELLO)]))
    with pytest.raises(torouter.InvalidArgumentError):
        stream.chunks  # noqa: B018


def test_an_async_stream_keeps_its_chunks_on_request() -> None:
    async def run() -> list[str | None]:
        s = await open_async(Pieces(HELLO), keep_chunks=True)
        async for _ in s:
            pass
        return texts(s.chunks)

    assert asyncio.run(run()) == ["Hel", "lo", None]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_get_final_completion_reads_a_fresh_stream_to_its_end(use_async: bool) -> None:
    async def run() -> str | None:
        s = await open_async(Pieces(HELLO))
        return (await s.get_final_completion()).choices[0].message.content

    if use_async:
        assert asyncio.run(run()) == "Hello"
    else:
        stream = open_sync(Pieces(HELLO))
        assert stream.get_final_completion().choices[0].message.content == "Hello"


def test_get_final_completion_raises_the_streams_error_again() -> None:
    stream = open_sync(Pieces(HELLO[:2]))
    with pytest.raises(torouter.StreamInterrupted) as first:
        list(stream)
    with pytest.raises(torouter.StreamInterrupted) as again:
        stream.get_final_completion()
    assert again.value.message == first.value.message


def test_a_stream_closed_early_keeps_what_arrived_in_the_error() -> None:
    stream = open_sync(Pieces(HELLO), keep_chunks=True)
    for _ in stream:
        break
    with pytest.raises(torouter.StreamInterrupted, match="closed before it ended") as info:
        stream.get_final_completion()
    assert texts(info.value.chunks) == ["Hel"] and info.value.text == "Hel"


def test_breaking_out_of_a_for_loop_closes_the_stream() -> None:
    outcomes: list[StreamOutcome] = []
    stream = open_sync(Pieces(HELLO), outcomes=outcomes)
    for _ in stream:
        break
    assert stream.response.is_closed
    assert [o.kind for o in outcomes] == ["closed"]


def test_an_end_hook_set_after_the_end_is_told_at_once_and_once() -> None:
    stream = open_sync(Pieces([b"".join(HELLO)]))
    list(stream)
    seen: list[StreamOutcome] = []
    stream._set_end_hook(seen.append)
    assert [o.kind for o in seen] == ["completed"]
    assert seen[0].snapshot.choices[0].message.content == "Hello" and seen[0].chunks == 3


def test_a_failing_end_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def boom(outcome: StreamOutcome) -> None:
        raise RuntimeError("callback bug")

    stream = open_sync(Pieces([b"".join(HELLO)]))
    stream._set_end_hook(boom)
    with caplog.at_level(logging.ERROR, logger="torouter"):
        assert texts(list(stream)) == ["Hel", "lo", None]
    assert "on_end callback failed" in caplog.text


def test_close_from_another_thread_on_a_socketless_transport_ends_quietly() -> None:
    gate = threading.Event()
    body = Pieces([event("a"), event("b") + event(finish="stop") + DONE], gate=gate)
    stream = open_sync(body)
    got: list[str | None] = []
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            got.extend(texts(list(stream)))
        except BaseException as exc:
            failures.append(exc)

    reader = threading.Thread(target=consume)
    reader.start()
    assert body.blocked.wait(5.0)
    try:
        stream.close()  # the reader is inside the stream's generator: nothing to cut here
    finally:
        gate.set()
        reader.join(5.0)
    assert not reader.is_alive() and failures == []
    assert got[:1] == ["a"] and stream.response.is_closed


def test_a_socketless_body_that_pauses_then_ends_is_interrupted() -> None:
    # No socket, no watch: the body's end is the news, however long it paused before it.
    stream = open_sync(Pieces([event("a")], pause=0.3), idle=0.05)
    with pytest.raises(torouter.StreamInterrupted) as info:
        list(stream)
    assert info.value.text == "a" and stream._watch is None


# --- after [DONE]: how much of the body's end is read for connection reuse -----------------------


def _tail(size: int) -> list[bytes]:
    piece = 1 << 14
    return [b"\n" * piece] * (size // piece) + ([b"\n" * (size % piece)] if size % piece else [])


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("tail", "read_to_end"), [(_DRAIN_LIMIT, True),
                                                   (_DRAIN_LIMIT + 1, False)],
                         ids=["64KiB-drained", "just-over-64KiB-left"])
def test_a_tail_after_done_is_read_up_to_64_kib(use_async: bool, tail: int,
                                                read_to_end: bool) -> None:
    assert _DRAIN_LIMIT == 64 * 1024
    body = Pieces([b"".join(HELLO), *_tail(tail)])

    async def run() -> list[str | None]:
        s = await open_async(body)
        return [c.choices[0].delta.content async for c in s]

    got = asyncio.run(run()) if use_async else texts(list(open_sync(body)))
    assert got == ["Hel", "lo", None]
    assert body.read_to_end is read_to_end


# --- what messages show and hide -----------------------------------------------------------------


def test_a_bad_event_is_quoted_up_to_120_characters() -> None:
    for size, cut in ((120, False), (121, True), (500, True)):
        s = state(Clock())
        s.feed(b"data: " + b"x" * size + b"\n\n")
        assert s.error is not None
        quoted = "x" * min(size, 120) + ("…" if cut else "")
        assert f"{quoted!r}" in s.error.message, (size, s.error.message)


def test_a_bad_event_echoing_the_key_is_quoted_masked() -> None:
    s = state(Clock())
    s.feed(b"data: {bad " + KEY.encode() + b"\n\n")
    assert s.error is not None
    assert KEY not in s.error.message and mask_key(KEY) in s.error.message
    assert _snippet(b"no key here", (KEY,)) == "'no key here'"


def test_a_transport_detail_is_at_most_300_characters() -> None:
    detail = transport_detail(httpx.ReadError("y" * 1000), ())
    assert len(detail) == 300 and detail.startswith("ReadError: yyy")


def _chain(n: int) -> list[BaseException]:
    """``n`` exceptions with tracebacks, each the cause (odd) or context (even) of the next."""
    excs: list[BaseException] = []
    for i in range(n):
        try:
            raise ValueError(i)
        except ValueError as exc:
            if excs:
                if i % 2:
                    exc.__cause__ = excs[-1]
                else:
                    exc.__context__ = excs[-1]
            excs.append(exc)
    return excs


def test_scrubbing_drops_the_tracebacks_of_a_chain_of_16() -> None:
    excs = _chain(16)
    assert all(e.__traceback__ is not None for e in excs)
    _scrub(excs[-1])
    assert all(e.__traceback__ is None for e in excs)


def test_scrubbing_stops_at_16_links_and_ends_on_a_cycle() -> None:
    excs = _chain(18)
    _scrub(excs[-1])
    assert [e.__traceback__ is None for e in reversed(excs)] == [True] * 16 + [False] * 2
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    _scrub(a)  # returns


def test_a_broken_stream_error_holds_no_transport_traceback() -> None:
    stream = open_sync(Pieces([event("a")], httpx.ReadError("reset")))
    with pytest.raises(torouter.StreamInterrupted) as info:
        list(stream)
    cause = info.value.__context__
    assert isinstance(cause, httpx.ReadError) and cause.__traceback__ is None


# --- the watchdog's bookkeeping ------------------------------------------------------------------


class _Probe(_Watch):
    """A watch over nothing that counts its looks."""

    __slots__ = ("looks",)

    def __init__(self) -> None:
        super().__init__(None, None, None)  # type: ignore[arg-type]
        self.looks = 0

    def check(self) -> float | None:
        self.looks += 1
        return None


def _poll(predicate: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_one_daemon_thread_watches_every_stream() -> None:
    dog = _Watchdog()
    dog.schedule(_Probe(), 3600.0)
    thread = dog._thread
    assert thread is not None and thread.daemon and thread.is_alive()
    dog.schedule(_Probe(), 3600.0)
    assert dog._thread is thread


def test_a_watch_due_sooner_wakes_the_watchdog() -> None:
    dog = _Watchdog()
    late, soon = _Probe(), _Probe()
    dog.schedule(late, 3600.0)
    dog.schedule(soon, 0.0)
    assert _poll(lambda: soon.looks == 1)  # hang guard: not a timing claim
    assert late.looks == 0


def _heap_ok(heap: list[Any]) -> bool:
    return all(heap[(i - 1) // 2] <= heap[i] for i in range(1, len(heap)))


def test_cancelled_watches_are_dropped_once_they_are_most_of_the_heap() -> None:
    dog = _Watchdog()
    watches = [_Probe() for _ in range(300)]
    for i, w in enumerate(watches):
        dog.schedule(w, 3600.0 + (i * 7919) % 300)
    for w in watches[:256]:
        dog.discard(w)
    assert len(dog._heap) == 300 and dog._stale == 256
    dog.discard(watches[256])  # 257 stale of 300: dropped
    assert len(dog._heap) == 43 and dog._stale == 0 and _heap_ok(dog._heap)
    assert all(not e[2].cancelled for e in dog._heap)
    for w in watches[257:]:
        dog.discard(w)
    assert len(dog._heap) == 43 and dog._stale == 43


def test_cancelled_watches_are_kept_while_they_are_at_most_half_the_heap() -> None:
    dog = _Watchdog()
    watches = [_Probe() for _ in range(1000)]
    for i, w in enumerate(watches):
        dog.schedule(w, 3600.0 + (i * 7919) % 1000)
    for w in watches[:500]:
        dog.discard(w)
    assert len(dog._heap) == 1000 and dog._stale == 500
    dog.discard(watches[500])
    assert len(dog._heap) == 499 and dog._stale == 0 and _heap_ok(dog._heap)


def test_a_watch_asking_to_look_again_is_looked_at_again() -> None:
    class Twice(_Probe):
        def check(self) -> float | None:
            self.looks += 1
            return 0.0 if self.looks < 2 else None

    dog = _Watchdog()
    w = Twice()
    dog.schedule(w, 0.0)
    assert _poll(lambda: w.looks == 2)


def test_a_discarded_watch_lets_go_of_its_stream() -> None:
    dog = _Watchdog()
    w = _Watch(object(), state(Clock()), httpx.Response(200))
    dog.schedule(w, 3600.0)
    dog.discard(w)
    assert w.cancelled and w.state is None and w.sock is None and w.response is None
    assert w.check() is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_working_watchdog_of_its_own() -> None:
    from torouter import _streaming

    _streaming._WATCHDOG.schedule(_Probe(), 3600.0)  # the parent's thread is running
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            dog = _streaming._WATCHDOG
            probe = _Probe()
            fresh = not dog._heap and dog._thread is None
            dog.schedule(probe, 0.0)
            ok = fresh and _poll(lambda: probe.looks == 1)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
