"""Streams of server-sent chat chunks: ``Stream`` (sync) and ``AsyncStream`` (async).

All decisions live in :class:`_StreamState` (decode events, build chunks, spot error events,
accumulate the completion, the time bounds, what counts as a clean end, the end callback); the
two stream classes only move bytes, and :class:`_Watch` only cuts a connection when the state
says its time is up.

* **Complete** means ``data: [DONE]``, or (a server that omits it) a body that ends once every
  choice seen has its ``finish_reason``.  Anything else is :class:`StreamInterrupted`, carrying
  the completion so far (``err.partial``).
* ``[DONE]`` ends the iteration at once.  The connection goes back to the pool only if the
  rest of the body is already there (``_DRAIN_GRACE``); a server holding the body open gets
  its connection closed instead of delaying the caller.
* **Time.** ``stream_idle_timeout`` is the longest the stream waits for an event that carries
  data for the caller (a chunk): keep-alives (comments, ``ping`` events, data-less events) do
  not count as progress, and time spent in the caller's own loop body does not count as
  waiting.  Until the first chunk (which ``create()`` returns with) the call's ``deadline``
  bounds the wait too.  On a real connection a watchdog cuts the socket the moment a bound
  passes, so a blocked read ends on time, whatever httpx's per-read timeout is.
* **Stop from anywhere.** ``close()`` may be called from any thread (``await close()`` from
  any task): the reader's iteration ends quietly (no exception) and the connection is closed,
  so the gateway sees the hang-up.  ``get_final_completion()`` then raises
  :class:`StreamInterrupted`, since the answer is not whole.
* An ``error`` object inside an event raises the same class as a non-streaming error would,
  after every chunk before it was delivered, with the response's ``request_id``.
* Memory grows with the text, not the chunk count: chunks are folded into a
  ``CompletionAccumulator`` (``_accumulate``) and dropped, unless ``keep_chunks=True``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import httpx
import pydantic

from ._accumulate import CompletionAccumulator
from ._errors import (
    APITimeoutError,
    InvalidArgumentError,
    StreamDecodeError,
    StreamIdleTimeout,
    StreamInterrupted,
    ToRouterError,
    make_status_error,
    mask_key,
    parse_error_object,
)
from ._sse import SSEDecoder
from .types._base import set_response_info

if TYPE_CHECKING:
    from ._base_client import CallContext
    from .types.chat import ChatCompletion

__all__ = ["AsyncStream", "Stream", "StreamOutcome"]

log = logging.getLogger("torouter")

T = TypeVar("T", bound=pydantic.BaseModel)

_DONE = b"[DONE]"
#: After [DONE], at most this many bytes of the body's end are read for connection reuse ...
_DRAIN_LIMIT = 1 << 16
#: ... and for at most this long (a server holding the body open loses its connection).
_DRAIN_GRACE = 0.02
#: A read that timed out within this much of a bound is that bound's timeout.
_SLACK = 0.05
_MISSING: Any = object()


@dataclass(frozen=True)
class StreamOutcome:
    """How a stream ended, as given to ``_StreamState.on_end`` (exactly once per stream).

    ``kind``: ``"completed"`` (complete, see the module docstring), ``"error"`` (``error`` is
    the typed error the caller got), or ``"closed"`` (the caller stopped it early: ``break``,
    ``close()``, leaving ``with``).  ``snapshot`` is the completion joined so far;
    ``first_chunk_at`` the time (the client's monotonic clock) the first chunk arrived, or
    ``None``; ``chunks`` how many chunks were delivered.
    """

    kind: Literal["completed", "error", "closed"]
    error: ToRouterError | None
    snapshot: ChatCompletion
    first_chunk_at: float | None
    chunks: int


class _StreamState(Generic[T]):
    """Everything a stream decides, shared by the sync and async stream classes."""

    __slots__ = (
        "_cast",
        "_clock",
        "_ctx",
        "_deadline_at",
        "_decoder",
        "_drain_at",
        "_ended",
        "_idle",
        "_info",
        "_last_data",
        "acc",
        "chunks",
        "closed",
        "done",
        "error",
        "expired",
        "first_chunk_at",
        "on_end",
        "waiting",
    )

    def __init__(self, cast: type[T], ctx: CallContext, idle_timeout: float | None,
                 clock: Callable[[], float], *, deadline_at: float | None = None,
                 keep_chunks: bool = False,
                 on_end: Callable[[StreamOutcome], None] | None = None) -> None:
        self._cast = cast
        self._ctx = ctx
        self._decoder = SSEDecoder()
        self._idle = idle_timeout
        self._clock = clock
        self._deadline_at = deadline_at
        self._last_data = clock()
        self._drain_at: float | None = None
        self._ended = False
        # Where every chunk came from: one dict shared by the stream's chunks (read-only), so
        # that a long stream keeps one object less per chunk for the garbage collector to scan.
        self._info = {"_request_id": ctx.request_id, "_retries_taken": ctx.retries_taken}
        self.acc = CompletionAccumulator()
        self.chunks: list[T] | None = [] if keep_chunks else None
        self.done = False
        self.closed = False
        self.waiting = True
        self.error: ToRouterError | None = None
        self.expired: ToRouterError | None = None
        self.first_chunk_at: float | None = None
        #: ``on_end(outcome)``: called exactly once when the stream ends (the integration seam
        #: for telemetry); an exception it raises is logged, never given to the caller.
        self.on_end = on_end

    # -- bytes in, chunks out ------------------------------------------------------------

    def feed(self, raw: bytes, *, check_time: bool = True) -> list[T]:
        """Chunks completed by ``raw``. Sets ``done`` at [DONE], ``error`` on a failure.

        The chunks are *not* yet part of the snapshot: the stream ``take``\\ s each one as it
        hands it to the caller, so the snapshot is always what the caller has received.
        """
        out: list[T] = []
        try:
            events = self._decoder.feed(raw)
            now = self._clock()
            if events:
                validate = self._cast.model_validate_json
                for name, data in events:
                    if data == _DONE:
                        self.done = True
                        break
                    if name == b"error" or b'"error"' in data:
                        self._raise_if_error_event(data, named=name == b"error")
                    if name == b"ping" or (b'"ping"' in data and _is_ping(data)):
                        continue  # a keep-alive: not progress
                    try:
                        chunk = validate(data)
                    except pydantic.ValidationError as exc:
                        raise StreamDecodeError(
                            f"a stream event is not a valid {self._cast.__name__}: "
                            f"{_snippet(data, self._ctx.redact)} "
                            f"({exc.error_count()} validation errors)",
                            request_id=self._ctx.request_id, status_code=self._ctx.status_code,
                        ) from None
                    set_response_info(chunk, self._info)
                    out.append(chunk)
            if out:
                self._last_data = now
                if self.first_chunk_at is None:
                    self.first_chunk_at = now
            elif check_time and not self.done:
                late = self._overdue(now)
                if late is not None:
                    raise late
        except ToRouterError as err:
            self.error = err
        return out

    def take(self, chunk: T) -> None:
        """``chunk`` is being handed to the caller: fold it into the snapshot."""
        self.acc.add(chunk)
        if self.chunks is not None:
            self.chunks.append(chunk)

    def resume(self) -> None:
        """The caller asks for more: the idle timer restarts (its own loop body is not silence)."""
        self._last_data = self._clock()
        self.waiting = True

    def _raise_if_error_event(self, data: bytes, named: bool) -> None:
        """Raise the API error an event carries; an ``event: error`` always is one."""
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            if not named:
                raise StreamDecodeError(
                    f"a stream error event is not JSON: {_snippet(data, self._ctx.redact)}",
                    request_id=self._ctx.request_id,
                ) from None
            obj = data.decode("utf-8", "replace")
        if named or (isinstance(obj, dict)
                     and (obj.get("error") is not None or obj.get("type") == "error")):
            raise make_status_error(
                status=None, parsed=parse_error_object(obj), request_id=self._ctx.request_id,
                response=self._ctx.response, retry_after=None, redact=self._ctx.redact,
            )

    # -- the end of the body ---------------------------------------------------------------

    def flush(self) -> list[T]:
        """The body ended: the chunks of a last event that lacked its closing blank line."""
        if self.done or self.error is not None or self.closed:
            return []
        last = self.feed(b"\n\n", check_time=False) if self._decoder.pending else []
        if isinstance(self.error, StreamDecodeError) and not self.done:
            self.error = None  # an unfinished last event: the body was cut, not malformed
        return last

    def check_end(self) -> None:
        """After ``flush``'s chunks were delivered: a clean end, or ``StreamInterrupted``."""
        if self.done or self.error is not None or self.closed:
            return
        if self.expired is not None:  # the watchdog ended a close-delimited (HTTP/1.0) body
            self.error = self.expired
            return
        if self.acc.complete():
            self.done = True
            return
        self.error = StreamInterrupted(
            f"the stream ended before [DONE] after {self.acc.count} chunks"
            + (" with a choice still unfinished" if self.acc.choices else ""),
            chunks=self.chunks or (), partial=self.snapshot(),
            request_id=self._ctx.request_id, status_code=self._ctx.status_code,
        )

    def eof(self) -> list[T]:
        """``flush`` + ``take`` + ``check_end`` in one (for callers that feed bytes directly)."""
        last = self.flush()
        for chunk in last:
            self.take(chunk)
        self.check_end()
        return last

    def transport_error(self, exc: Exception) -> ToRouterError | None:
        """A transport failure while reading the body, as a typed error (``None``: the caller
        closed the stream, which then ends quietly)."""
        _scrub(exc)
        if self.closed:
            return None
        err = self.expired
        if err is None and isinstance(exc, httpx.TimeoutException):
            err = self._overdue(self._clock() + _SLACK) or StreamIdleTimeout(
                f"no data for longer than the stream's read timeout ({type(exc).__name__})",
                chunks=self.chunks or (), partial=self.snapshot(),
                request_id=self._ctx.request_id,
            )
        if err is None:
            err = StreamInterrupted(
                f"the connection broke after {self.acc.count} chunks: "
                + transport_detail(exc, self._ctx.redact),
                chunks=self.chunks or (), partial=self.snapshot(),
                request_id=self._ctx.request_id, status_code=self._ctx.status_code,
            )
        self.error = err
        return err

    # -- time ------------------------------------------------------------------------------

    def bound(self) -> float | None:
        """When (on the client's clock) the current wait must end; ``None``: never."""
        if self.done:
            return self._drain_at
        at = None if self._idle is None else self._last_data + self._idle
        deadline = self._deadline_at
        if deadline is not None and self.first_chunk_at is None and (at is None or deadline < at):
            at = deadline
        return at

    def _overdue(self, now: float) -> ToRouterError | None:
        """The error for a wait that has passed its bound at ``now`` (else ``None``)."""
        deadline = self._deadline_at
        idle_at = None if self._idle is None else self._last_data + self._idle
        if (deadline is not None and self.first_chunk_at is None and now >= deadline
                and (idle_at is None or deadline <= idle_at)):
            return APITimeoutError(
                "the call's deadline ran out while waiting for the stream's first chunk",
                request_id=self._ctx.request_id,
            )
        if idle_at is not None and now >= idle_at:
            return StreamIdleTimeout(
                f"no chunk for more than {self._idle:g}s (stream_idle_timeout; keep-alives "
                "do not count)",
                chunks=self.chunks or (), partial=self.snapshot(),
                request_id=self._ctx.request_id,
            )
        return None

    def begin_drain(self) -> None:
        """[DONE] arrived: the body's end may be read, briefly, for connection reuse."""
        self._drain_at = self._clock() + _DRAIN_GRACE
        self.waiting = True

    def watch(self) -> float | None:
        """What the watchdog should do now: seconds until the next look (``None``: stop
        watching); ``<= 0``: cut the connection now (``expired`` then says why)."""
        if self._ended or self.closed:
            return None
        at = self.bound()
        if at is None:
            return None
        now = self._clock()
        if now < at:
            return at - now
        if not self.waiting:  # the caller's own loop body is running: look again later
            return self._idle or 0.05
        if not self.done:
            self.expired = self._overdue(now)
        return 0.0

    # -- results -----------------------------------------------------------------------------

    def snapshot(self) -> ChatCompletion:
        """The completion received so far (a fresh ``ChatCompletion``)."""
        snap = self.acc.snapshot()
        set_response_info(snap, self._info)
        return snap

    def final_completion(self) -> ChatCompletion:
        """The whole completion of an ended stream, or the error that ended it."""
        if self.error is not None:
            raise self.error.with_traceback(None)
        if not self.done:
            raise StreamInterrupted(
                f"the stream was closed before it ended (after {self.acc.count} chunks); "
                "err.partial holds what arrived",
                chunks=self.chunks or (), partial=self.snapshot(),
                request_id=self._ctx.request_id, status_code=self._ctx.status_code,
            )
        return self.snapshot()

    def close_requested(self) -> None:
        if not self._ended:
            self.closed = True

    def finish(self) -> None:
        """The stream is over (whatever the reason): tell ``on_end``, once."""
        if self._ended:
            return
        self._ended = True
        if self.on_end is not None:
            self._report(self.on_end)

    def set_on_end(self, callback: Callable[[StreamOutcome], None]) -> None:
        """Set ``on_end``; a stream that has already ended reports to it at once."""
        if self._ended:
            self._report(callback)
        else:
            self.on_end = callback

    def _report(self, callback: Callable[[StreamOutcome], None]) -> None:
        # "closed" wins over a [DONE] already read: the caller stopped before taking every
        # chunk (a body that arrived whole in one read is still "closed" if they broke out).
        kind: Literal["completed", "error", "closed"] = (
            "error" if self.error is not None
            else "completed" if self.done and not self.closed else "closed"
        )
        try:
            callback(StreamOutcome(kind, self.error, self.snapshot(), self.first_chunk_at,
                                   self.acc.count))
        except Exception:
            log.exception("the stream's on_end callback failed")

    @property
    def ended(self) -> bool:
        return self._ended


def _is_ping(data: bytes) -> bool:
    """``{"type": "ping"}`` (an Anthropic-style keep-alive sent as a plain data event)."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and obj.get("type") == "ping" and "choices" not in obj


def transport_detail(exc: BaseException, redact: tuple[str, ...]) -> str:
    """``"ReadError: ..."`` for a transport exception, with any secret masked.

    Used by every transport-error mapper (requests and streams): h11 quotes a rejected header
    value whole, so the text can hold the key.
    """
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    for secret in redact:
        if secret and secret in detail:
            detail = detail.replace(secret, mask_key(secret))
    return detail[:300]


def _snippet(data: bytes, redact: tuple[str, ...] = (), limit: int = 120) -> str:
    for secret in redact:  # a server may echo the key: mask it before the cut, not after
        if secret and secret.encode() in data:
            data = data.replace(secret.encode(), mask_key(secret).encode())
    text = data[:limit].decode("utf-8", "replace")
    return repr(text + ("…" if len(data) > limit else ""))


def _scrub(exc: BaseException | None) -> None:
    """Drop the tracebacks of a transport exception chain (their frames hold header bytes)."""
    seen = 0
    while exc is not None and seen < 16:
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__
        seen += 1


# --- the watchdog: cutting a connection whose time is up ----------------------------------------


def _socket_of(response: httpx.Response) -> Any:
    """The socket under a response (``None`` for a mocked transport): httpcore's documented
    ``network_stream`` response extension."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        return stream.get_extra_info("socket")
    except Exception:  # pragma: no cover - a network stream without that info
        return None


def cut_socket(sock: Any) -> None:
    """Shut a socket down both ways: a read blocked on it (in any thread, or an event loop's
    reader) returns at once with end-of-file.  Safe on a socket already closed."""
    if sock is None:
        return
    try:
        if isinstance(sock, socket.socket):  # (for TLS, the plain socket's shutdown: the
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # SSL object stays untouched)
        else:  # asyncio's TransportSocket
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError, AttributeError):
        pass


class _Watch:
    """A stream's watch: asks the state what to do, cuts the socket when it says so."""

    __slots__ = ("cancelled", "response", "sock", "state")

    def __init__(self, sock: Any, state: _StreamState[Any], response: httpx.Response) -> None:
        self.sock = sock
        self.state: _StreamState[Any] | None = state
        self.response: httpx.Response | None = response
        self.cancelled = False

    def check(self) -> float | None:
        state = self.state
        if self.cancelled or state is None:
            return None
        left = state.watch()
        if left is not None and left <= 0:
            response = self.response
            # httpx closes a response (its connection goes back to the pool, for another
            # request) the moment its body is read to the end: never cut after that.
            if response is not None and not response.is_closed:
                cut_socket(self.sock)
            return None
        return left

    def schedule(self, delay: float) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def cancel(self) -> None:
        self.cancelled = True
        self.state = self.sock = self.response = None


class _Watchdog:
    """One daemon thread for the whole process, watching every sync stream (lazily: a watch
    whose bound moved later is simply looked at again)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._stale = 0

    def schedule(self, watch: _Watch, delay: float) -> None:
        at = time.monotonic() + delay
        with self._cond:
            heap = self._heap
            heapq.heappush(heap, (at, next(self._seq), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="torouter-stream-watch",
                                                daemon=True)
                self._thread.start()
            elif heap[0][2] is watch:
                self._cond.notify()

    def discard(self, watch: _Watch) -> None:
        _Watch.cancel(watch)
        with self._cond:
            self._stale += 1
            if self._stale > 256 and 2 * self._stale > len(self._heap):
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
                self._stale = 0

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while True:
                heap = self._heap
                if not heap:
                    cond.wait()
                    continue
                at, _, watch = heap[0]
                now = time.monotonic()
                if at > now:
                    cond.wait(at - now)
                    continue
                heapq.heappop(heap)
                if watch.cancelled:
                    self._stale = max(0, self._stale - 1)
                    continue
                cond.release()
                try:
                    delay = watch.check()
                except Exception:  # pragma: no cover - never let the watchdog die
                    delay = None
                finally:
                    cond.acquire()
                if delay is not None:
                    heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), watch))


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG._reset)


class _SyncWatch(_Watch):
    # The lock makes "cut" and "cancel" exclusive: once ``cancel()`` returns (before the
    # response is closed and its connection may serve another request) nothing is cut.
    __slots__ = ("_lock",)

    def __init__(self, sock: Any, state: _StreamState[Any], response: httpx.Response) -> None:
        super().__init__(sock, state, response)
        self._lock = threading.Lock()

    def check(self) -> float | None:
        with self._lock:
            return super().check()

    def schedule(self, delay: float) -> None:
        _WATCHDOG.schedule(self, max(delay, 0.0))

    def cancel(self) -> None:
        if not self.cancelled:
            with self._lock:
                _WATCHDOG.discard(self)


class _AsyncWatch(_Watch):
    __slots__ = ("_handle", "_loop")

    def __init__(self, sock: Any, state: _StreamState[Any], response: httpx.Response) -> None:
        import asyncio

        super().__init__(sock, state, response)
        self._loop = asyncio.get_running_loop()
        self._handle: Any = None

    def schedule(self, delay: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(delay, 0.0), self._fire)

    def _fire(self) -> None:
        self._handle = None
        delay = self.check()
        if delay is not None:
            self.schedule(delay)

    def cancel(self) -> None:
        super().cancel()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _start_watch(cls: type[_Watch], response: httpx.Response,
                 state: _StreamState[Any]) -> _Watch | None:
    sock = _socket_of(response)
    if sock is None:
        return None
    watch = cls(sock, state, response)
    delay = state.watch()
    if delay is not None:
        watch.schedule(delay)
    return watch


# --- the streams ---------------------------------------------------------------------------------


class _StreamBase(Generic[T]):
    __slots__ = ("_ctx", "_first", "_state", "_watch", "response")

    def __init__(self, response: httpx.Response, state: _StreamState[T], ctx: CallContext) -> None:
        self.response = response
        self._state = state
        self._ctx = ctx
        self._first: Any = _MISSING
        self._watch: _Watch | None = None

    @property
    def request_id(self) -> str | None:
        """The gateway's ``x-request-id`` for this stream."""
        return self._ctx.request_id

    @property
    def retries_taken(self) -> int:
        """Retries made before the stream's first event arrived."""
        return self._ctx.retries_taken

    @property
    def chunks(self) -> list[T]:
        """Every chunk received so far; only kept with ``create(..., keep_chunks=True)``."""
        if self._state.chunks is None:
            raise InvalidArgumentError(
                "this stream does not keep its chunks: open it with keep_chunks=True, or use "
                "stream.current_completion_snapshot / stream.get_final_completion()"
            )
        return self._state.chunks

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion received so far, joined from every chunk delivered (a new
        ``ChatCompletion`` on each access)."""
        return self._state.snapshot()

    def _set_end_hook(self, callback: Callable[[StreamOutcome], None]) -> None:
        """The seam's hook: ``callback(outcome)`` once, when the stream ends."""
        self._state.set_on_end(callback)

    def _cut(self) -> None:
        """Wake a reader blocked in another thread or task: shut the socket down."""
        watch = self._watch
        cut_socket(watch.sock if watch is not None and watch.sock is not None
                   else _socket_of(self.response))

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} request_id={self.request_id!r} "
                f"chunks={self._state.acc.count}>")


class Stream(_StreamBase[T]):
    """A sync stream of chunks: iterate it, ideally inside ``with``.

    ``close()`` may be called from any thread; the iterating thread's loop then ends quietly.
    """

    __slots__ = ("_gen", "_iterator")

    def __init__(self, response: httpx.Response, state: _StreamState[T], ctx: CallContext) -> None:
        super().__init__(response, state, ctx)
        self._watch = _start_watch(_SyncWatch, response, state)
        self._gen = self._chunks()
        self._iterator: Iterator[T] | None = None

    def _chunks(self) -> Generator[T, None, None]:
        state = self._state
        response = self.response
        # Chunks are folded into the snapshot as they are handed over (the bound method of
        # the accumulator itself unless chunk objects are kept too: one call less per chunk).
        take = state.take if state.chunks is not None else state.acc.add
        clock = state._clock
        try:
            try:
                it = response.iter_bytes()
                for raw in it:
                    items = state.feed(raw)
                    if items:
                        state.waiting = False
                        try:
                            for item in items:
                                take(item)
                                yield item
                        except GeneratorExit:  # the caller stopped (break, close, with exit)
                            if item is not items[-1]:  # ... before taking every chunk read
                                state.close_requested()
                            raise
                        state._last_data = clock()  # state.resume(), inlined (per chunk)
                        state.waiting = True
                    if state.done or state.error is not None or state.closed:
                        break
                else:
                    for item in state.flush():
                        take(item)
                        yield item
                    state.check_end()
                if state.error is not None:
                    raw = b""  # received bytes (a server may echo the key) stay out of tb locals
                    raise state.error.with_traceback(None)
            except httpx.HTTPError as exc:
                err = state.transport_error(exc)
                if err is None:
                    return  # closed by the caller
                raise err from None
            if state.done:
                self._drain(it)
        finally:
            if self._watch is not None:
                self._watch.cancel()
            response.close()
            state.finish()

    def _drain(self, it: Iterator[bytes]) -> None:
        """After [DONE]: read the body's end if it is there, so the connection is reused."""
        if self._watch is not None:
            self._state.begin_drain()
            self._watch.schedule(_DRAIN_GRACE)
        try:
            drained = 0
            for rest in it:
                drained += len(rest)
                if drained > _DRAIN_LIMIT:
                    break
        except httpx.HTTPError:
            pass  # the answer is complete: a failure now only costs the connection

    def _prefetch(self) -> None:
        """Read up to the first chunk (inside the retry loop: errors before it are retryable)."""
        self._first = next(self._gen, _MISSING)

    def __iter__(self) -> Iterator[T]:
        try:
            first, self._first = self._first, _MISSING
            if first is not _MISSING:
                yield first
            try:
                yield from self._gen
            except ValueError:
                # close() from another thread was finishing the generator just as this thread
                # asked for the next chunk ("generator already executing"): the quiet end the
                # caller asked for, not an error.
                if not self._state.closed:
                    raise
        finally:
            self.close()

    def __next__(self) -> T:
        if self._iterator is None:
            self._iterator = iter(self)
        return next(self._iterator)

    def close(self) -> None:
        """Stop reading and close the connection; safe from any thread, at any time.

        If another thread is iterating, its loop ends quietly within moments (its blocked
        read is woken by shutting the socket down).
        """
        self._state.close_requested()
        self._first = _MISSING  # a closed stream yields nothing, not even a prefetched chunk
        try:
            self._gen.close()
        except ValueError:  # "generator already executing": another thread is reading
            self._cut()
            return
        self.response.close()

    def until_done(self) -> Stream[T]:
        """Read the stream to its end (raising what iteration would raise)."""
        for _ in self:
            pass
        return self

    def get_final_completion(self) -> ChatCompletion:
        """The whole completion (reading the rest of the stream first, if any).

        Raises the stream's error, or :class:`StreamInterrupted` if it was closed early.
        """
        if not self._state.ended:
            self.until_done()
        return self._state.final_completion()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(_StreamBase[T]):
    """An async stream of chunks: ``async for`` it, ideally inside ``async with``.

    ``await close()`` may be called from any task; the iterating task's loop then ends quietly.
    """

    __slots__ = ("_agen", "_aiterator")

    def __init__(self, response: httpx.Response, state: _StreamState[T], ctx: CallContext) -> None:
        super().__init__(response, state, ctx)
        self._watch = _start_watch(_AsyncWatch, response, state)
        self._agen = self._chunks()
        self._aiterator: AsyncIterator[T] | None = None

    async def _chunks(self) -> AsyncGenerator[T, None]:
        state = self._state
        response = self.response
        # Chunks are folded into the snapshot as they are handed over (the bound method of
        # the accumulator itself unless chunk objects are kept too: one call less per chunk).
        take = state.take if state.chunks is not None else state.acc.add
        clock = state._clock
        try:
            try:
                it = response.aiter_bytes()
                async for raw in it:
                    items = state.feed(raw)
                    if items:
                        state.waiting = False
                        try:
                            for item in items:
                                take(item)
                                yield item
                        except GeneratorExit:  # the caller stopped (break, close, with exit)
                            if item is not items[-1]:  # ... before taking every chunk read
                                state.close_requested()
                            raise
                        state._last_data = clock()  # state.resume(), inlined (per chunk)
                        state.waiting = True
                    if state.done or state.error is not None or state.closed:
                        break
                else:
                    for item in state.flush():
                        take(item)
                        yield item
                    state.check_end()
                if state.error is not None:
                    raw = b""
                    raise state.error.with_traceback(None)
            except httpx.HTTPError as exc:
                err = state.transport_error(exc)
                if err is None:
                    return
                raise err from None
            if state.done:
                await self._drain(it)
        finally:
            if self._watch is not None:
                self._watch.cancel()
            await response.aclose()
            state.finish()

    async def _drain(self, it: AsyncIterator[bytes]) -> None:
        if self._watch is not None:
            self._state.begin_drain()
            self._watch.schedule(_DRAIN_GRACE)
        try:
            drained = 0
            async for rest in it:
                drained += len(rest)
                if drained > _DRAIN_LIMIT:
                    break
        except httpx.HTTPError:
            pass

    async def _prefetch(self) -> None:
        try:
            self._first = await self._agen.__anext__()
        except StopAsyncIteration:
            self._first = _MISSING

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            first, self._first = self._first, _MISSING
            if first is not _MISSING:
                yield first
            async for item in self._agen:
                yield item
        finally:
            await self.close()

    async def __anext__(self) -> T:
        if self._aiterator is None:
            self._aiterator = self.__aiter__()
        return await self._aiterator.__anext__()

    async def close(self) -> None:
        """Stop reading and close the connection; safe from any task, at any time.

        If another task is iterating, its loop ends quietly within moments.
        """
        self._state.close_requested()
        self._first = _MISSING
        if getattr(self._agen, "ag_running", False):
            # Another task is inside the generator (or an ``async with`` is exiting while
            # asyncio finalises the loop's iterator): wake its read; it closes the response.
            self._cut()
            return
        await self._agen.aclose()
        await self.response.aclose()

    async def until_done(self) -> AsyncStream[T]:
        """Read the stream to its end (raising what iteration would raise)."""
        async for _ in self:
            pass
        return self

    async def get_final_completion(self) -> ChatCompletion:
        """The whole completion (reading the rest of the stream first, if any)."""
        if not self._state.ended:
            await self.until_done()
        return self._state.final_completion()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
