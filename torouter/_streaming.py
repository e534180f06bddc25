"""Streams of server-sent chat chunks: ``Stream`` (sync) and ``AsyncStream`` (async).

All decisions live in :class:`_StreamState` (decode events, build chunks, spot error events,
the idle timeout, what counts as a clean end); the two stream classes only move bytes.

* A stream ends at ``data: [DONE]``; the rest of the body (64 KiB at most) is read so the
  connection goes back to the pool; a failure at that point is ignored, as the answer is whole.
  Breaking out early (or leaving a ``with`` block) closes the response.
* An ``error`` object inside an event raises the same class as a non-streaming error would,
  after every chunk before it was delivered, with the response's ``request_id``.
* A body that ends before ``[DONE]`` without a finish reason, or a connection that drops,
  raises :class:`StreamInterrupted` carrying the chunks received so far.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
import pydantic

from ._errors import (
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

__all__ = ["AsyncStream", "Stream"]

T = TypeVar("T", bound=pydantic.BaseModel)

_DONE = b"[DONE]"
_DRAIN_LIMIT = 1 << 16
_MISSING: Any = object()


class _StreamState(Generic[T]):
    """Everything a stream decides, shared by the sync and async stream classes."""

    __slots__ = (
        "_cast",
        "_clock",
        "_ctx",
        "_decoder",
        "_idle",
        "_info",
        "_last_event",
        "chunks",
        "done",
        "error",
    )

    def __init__(self, cast: type[T], ctx: CallContext, idle_timeout: float | None,
                 clock: Callable[[], float]) -> None:
        self._cast = cast
        self._ctx = ctx
        self._decoder = SSEDecoder()
        self._idle = idle_timeout
        self._clock = clock
        self._last_event = clock()
        # Where every chunk came from: one dict shared by the stream's chunks (read-only), so
        # that a long stream keeps one object less per chunk for the garbage collector to scan.
        self._info = {"_request_id": ctx.request_id, "_retries_taken": ctx.retries_taken,
                      "_served_model": ctx.served_model}
        self.chunks: list[T] = []
        self.done = False
        self.error: ToRouterError | None = None

    def feed(self, raw: bytes) -> list[T]:
        """Chunks completed by ``raw``. Sets ``done`` at [DONE], ``error`` on a failure."""
        out: list[T] = []
        try:
            events = self._decoder.feed(raw)
            if not events:
                if self._idle is not None and self._clock() - self._last_event > self._idle:
                    raise StreamIdleTimeout(
                        f"no event for more than {self._idle:g}s (stream_idle_timeout)",
                        chunks=self.chunks, request_id=self._ctx.request_id,
                    )
                return out
            self._last_event = self._clock()
            validate = self._cast.model_validate_json
            for name, data in events:
                if data == _DONE:
                    self.done = True
                    break
                if name == b"error" or b'"error"' in data:
                    self._raise_if_error_event(data, named=name == b"error")
                if name == b"ping":
                    continue
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
            self.chunks.extend(out)
        except ToRouterError as err:
            self.chunks.extend(out)
            self.error = err
        return out

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

    def eof(self) -> list[T]:
        """The body ended. Fine after [DONE] or a finish reason; else the stream was cut.

        Returns the chunks of a last event that lacked its closing blank line.
        """
        if self.done or self.error is not None:
            return []
        last = self.feed(b"\n\n") if self._decoder.pending else []
        if isinstance(self.error, StreamDecodeError) and not self.done:
            self.error = None  # an unfinished last event: the body was cut, not malformed
        if self.error is None and not self.done and not _finished(self.chunks):
            self.error = StreamInterrupted(
                f"the stream ended before [DONE] after {len(self.chunks)} chunks",
                chunks=self.chunks, request_id=self._ctx.request_id,
                status_code=self._ctx.status_code,
            )
        self.done = self.error is None
        return last

    def transport_error(self, exc: Exception) -> ToRouterError:
        """A transport failure while reading the body, as a typed error."""
        _scrub(exc)
        if isinstance(exc, httpx.TimeoutException):
            return StreamIdleTimeout(
                f"no data for longer than the stream's read timeout ({type(exc).__name__})",
                chunks=self.chunks, request_id=self._ctx.request_id,
            )
        return StreamInterrupted(
            f"the connection broke after {len(self.chunks)} chunks: "
            + transport_detail(exc, self._ctx.redact),
            chunks=self.chunks, request_id=self._ctx.request_id,
            status_code=self._ctx.status_code,
        )


def _finished(chunks: list[Any]) -> bool:
    for chunk in reversed(chunks[-3:]):
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "finish_reason", None):
                return True
    return False


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


class _StreamBase(Generic[T]):
    __slots__ = ("_ctx", "_first", "_state", "response")

    def __init__(self, response: httpx.Response, state: _StreamState[T], ctx: CallContext) -> None:
        self.response = response
        self._state = state
        self._ctx = ctx
        self._first: Any = _MISSING

    @property
    def request_id(self) -> str | None:
        """The gateway's ``x-request-id`` for this stream."""
        return self._ctx.request_id

    @property
    def retries_taken(self) -> int:
        """Retries made before the stream's first event arrived."""
        return self._ctx.retries_taken

    @property
    def served_model(self) -> str | None:
        """The model the stream's request asked for (a fallback model if the call fell back)."""
        return self._ctx.served_model

    @property
    def chunks(self) -> list[T]:
        """Every chunk received so far."""
        return self._state.chunks

    def __repr__(self) -> str:
        return f"<{type(self).__name__} request_id={self.request_id!r} chunks={len(self.chunks)}>"


class Stream(_StreamBase[T]):
    """A sync stream of chunks: iterate it, ideally inside ``with``."""

    __slots__ = ("_gen", "_iterator")

    def __init__(self, response: httpx.Response, state: _StreamState[T], ctx: CallContext) -> None:
        super().__init__(response, state, ctx)
        self._gen = self._chunks()
        self._iterator: Iterator[T] | None = None

    def _chunks(self) -> Generator[T, None, None]:
        state = self._state
        response = self.response
        try:
            try:
                it = response.iter_bytes()
                for raw in it:
                    items = state.feed(raw)
                    if items:
                        yield from items
                    if state.done or state.error is not None:
                        break
                else:
                    yield from state.eof()
                if state.error is not None:
                    raw = b""  # received bytes (a server may echo the key) stay out of tb locals
                    raise state.error.with_traceback(None)
            except httpx.HTTPError as exc:
                raise state.transport_error(exc) from None
            try:  # after [DONE]: read the body's end so the connection goes back to the pool
                drained = 0
                for rest in it:
                    drained += len(rest)
                    if drained > _DRAIN_LIMIT:
                        break
            except httpx.HTTPError:
                pass  # the answer is complete: a failure now only costs the connection
        finally:
            response.close()

    def _prefetch(self) -> None:
        """Read up to the first chunk (inside the retry loop: errors before it are retryable)."""
        self._first = next(self._gen, _MISSING)

    def __iter__(self) -> Iterator[T]:
        try:
            first, self._first = self._first, _MISSING
            if first is not _MISSING:
                yield first
            yield from self._gen
        finally:
            self.close()

    def __next__(self) -> T:
        if self._iterator is None:
            self._iterator = iter(self)
        return next(self._iterator)

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._first = _MISSING  # a closed stream yields nothing, not even a prefetched chunk
        self._gen.close()
        self.response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncStream(_StreamBase[T]):
    """An async stream of chunks: ``async for`` it, ideally inside ``async with``."""

    __slots__ = ("_agen", "_aiterator")

    def __init__(self, response: httpx.Response, state: _StreamState[T], ctx: CallContext) -> None:
        super().__init__(response, state, ctx)
        self._agen = self._chunks()
        self._aiterator: AsyncIterator[T] | None = None

    async def _chunks(self) -> AsyncGenerator[T, None]:
        state = self._state
        response = self.response
        try:
            try:
                it = response.aiter_bytes()
                async for raw in it:
                    items = state.feed(raw)
                    for item in items:
                        yield item
                    if state.done or state.error is not None:
                        break
                else:
                    for item in state.eof():
                        yield item
                if state.error is not None:
                    raw = b""
                    raise state.error.with_traceback(None)
            except httpx.HTTPError as exc:
                raise state.transport_error(exc) from None
            try:  # after [DONE]: read the body's end so the connection goes back to the pool
                drained = 0
                async for rest in it:
                    drained += len(rest)
                    if drained > _DRAIN_LIMIT:
                        break
            except httpx.HTTPError:
                pass  # the answer is complete: a failure now only costs the connection
        finally:
            await response.aclose()

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
        """Stop reading and release the connection."""
        self._first = _MISSING
        # A close already in progress (e.g. ``async with`` exiting on an error raised inside
        # ``async for``, while asyncio finalises the loop's iterator) finishes the job itself.
        if getattr(self._agen, "ag_running", False):
            return
        await self._agen.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
