"""The clients: ``ToRouter`` (sync) and ``AsyncToRouter`` (async).

Both inherit every decision from :class:`~torouter._base_client.BaseClient` and drive the
same tenacity strategies (``_retrying``); what is written here twice is only I/O: send a
request, read an error body, read a stream's first event, sleep, close.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ._base_client import BaseClient, RequestSpec
from ._errors import ToRouterError
from ._retrying import async_retrying, retries_first_failure, sync_retrying
from ._streaming import AsyncStream, Stream
from .resources import AsyncChat, AsyncEmbeddings, AsyncModels, Chat, Embeddings, Models

__all__ = ["AsyncToRouter", "ToRouter"]

_TRANSPORT_ERRORS = (httpx.HTTPError, RuntimeError)


async def _asyncio_sleep(seconds: float) -> None:
    """``asyncio.sleep``, imported on first use: a program using only the sync client never
    loads asyncio (~12 ms of a cold start)."""
    import asyncio

    await asyncio.sleep(seconds)


def _running_loop() -> Any:
    import asyncio

    return asyncio.get_running_loop()


class ToRouter(BaseClient[httpx.Client]):
    """Sync client for the ToRouter gateway.

    Args:
        api_key: the key (``sk-...``); default: env ``TOROUTER_API_KEY``.  Sent only as
            ``Authorization: Bearer``.  Missing -> :class:`ApiKeyRequired`, no request sent.
        base_url: default env ``TOROUTER_BASE_URL``, else ``https://portal.torouter.ai/v1``.
        timeout: per attempt, seconds or ``httpx.Timeout``; default 600 s read, 5 s connect.
        max_retries: retries for every retried class without a count of its own (default 2;
            ``RateLimitError`` keeps 1); 0 disables retries.
        default_headers: headers sent with every request.
        http_client: your own ``httpx.Client`` (you close it).
        retry_policy: a :class:`RetryPolicy`, the per-class retry table.
        deadline: total seconds for a call across attempts and sleeps (default 900); ``None``
            for none.  Each attempt's timeout shrinks to what is left.
        retry_budget: a :class:`RetryBudget` shared by every thread using this client;
            ``True`` (default) for a fresh one, ``None``/``False`` to switch it off.
        on_retry: ``on_retry(error, attempt)`` called before each retry's sleep.
        stream_idle_timeout: longest silence between two stream events (default 120 s).
        coordinator: a :class:`RedisCoordinator` shared by a fleet of processes using the same
            key: shared rate-limit pauses, terminal key states, breakers (``docs/fleet.md``).
        telemetry: OpenTelemetry spans and metrics (see docs/telemetry.md): on by default when
            ``opentelemetry`` is installed (``pip install "torouter[otel]"``), ``False`` off.
        tracer_provider: where spans go (default: the global tracer provider).
        meter_provider: where metrics go (default: the global meter provider).
        capture_content: record prompts and completions in spans (default: env
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``; off otherwise).
        propagate_context: send the trace context (``traceparent``) with each attempt (default).
    """

    chat: Chat
    models: Models
    embeddings: Embeddings
    _http: httpx.Client
    _sleep: Callable[[float], None]
    _http_class = httpx.Client
    _default_sleep = staticmethod(time.sleep)

    def _init_resources(self) -> None:
        self.chat = Chat(self)
        self.models = Models(self)
        self.embeddings = Embeddings(self)

    # -- I/O ------------------------------------------------------------------------------

    def _request(self, spec: RequestSpec[Any]) -> Any:
        call = self._new_call(spec)
        while True:
            try:
                result = self._retry_loop(spec, call)
            except ToRouterError as err:
                following = call.next_spec(err)  # the core decides (e.g. a fallback model)
                if following is None:
                    call.finish(err)
                    raise
                spec = call.spec = following
                continue
            except BaseException as exc:  # cancelled or interrupted: the layers still hear it
                call.abandon(exc)
                raise
            return call.complete(result)

    def _retry_loop(self, spec: RequestSpec[Any], call: Any) -> Any:
        try:  # the first attempt; tenacity's loop is built only after a failure
            return self._attempt(spec, call)
        except ToRouterError as err:
            retrying = sync_retrying(call, self._sleep)
            if not retries_first_failure(retrying, err):
                raise
            first: ToRouterError | None = err
        for attempt in retrying:
            with attempt:
                if first is not None:  # tenacity's attempt 1 is the failure above
                    replay, first = first, None
                    raise replay
                return self._attempt(spec, call)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, spec: RequestSpec[Any], call: Any) -> Any:
        seam = call.seam
        if seam is None:
            return self._send(spec, call)
        wait = seam.before(call)  # the layers decide: proceed, wait, or refuse (raises)
        if wait:
            self._sleep(wait)
        seam.send(call)
        try:
            result = self._send(spec, call)
        except ToRouterError as err:
            seam.after(call, err)
            raise
        seam.after(call, None)
        return result

    def _send(self, spec: RequestSpec[Any], call: Any) -> Any:
        request = self._build(self._http, spec, call)
        try:
            response = self._http.send(request, stream=True)
            if self._needs_body(response, spec):
                try:
                    self._read_body(response, call)
                finally:
                    response.close()
        except _TRANSPORT_ERRORS as exc:
            raise self._transport_error(exc, call) from None
        result = self._finish(response, spec, call)
        if not spec.stream:
            return result
        stream = Stream(response, *self._stream_parts(response, spec, call))
        try:
            stream._prefetch()
        except ToRouterError as err:
            raise call.failed(err) from None
        return self._stream_result(stream, spec, call)

    def _read_body(self, response: httpx.Response, call: Any) -> None:
        """Read the body, at most up to its cap (see ``_body_limit``), within the deadline."""
        limit = self._body_limit(response, call)
        parts: list[bytes] = []
        size = 0
        for part in response.iter_bytes():
            parts.append(part)
            size += len(part)
            if not self._body_progress(response, size, limit, call):
                break
        self._keep_body(response, parts, limit)

    def close(self) -> None:
        """Close the connection pool (not one passed in as ``http_client``).

        Safe from another thread: calls in flight on this client's connections (waiting for
        headers, or reading a stream) fail at once with ``APIConnectionError``.
        """
        if self._owns_http:
            self._closing = True
            self._cut_live_connections()  # first: a closed socket would not wake its reader
            self._http.close()

    def __enter__(self) -> ToRouter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncToRouter(BaseClient[httpx.AsyncClient]):
    """Async client for the ToRouter gateway; the same arguments as :class:`ToRouter`
    (``http_client`` is an ``httpx.AsyncClient``)."""

    chat: AsyncChat
    models: AsyncModels
    embeddings: AsyncEmbeddings
    _http: httpx.AsyncClient
    _sleep: Callable[[float], Awaitable[None]]
    _http_class = httpx.AsyncClient
    _default_sleep = staticmethod(_asyncio_sleep)

    def _init_resources(self) -> None:
        self.chat = AsyncChat(self)
        self.models = AsyncModels(self)
        self.embeddings = AsyncEmbeddings(self)

    # -- I/O ------------------------------------------------------------------------------

    async def _request(self, spec: RequestSpec[Any]) -> Any:
        call = self._new_call(spec)
        while True:
            try:
                result = await self._retry_loop(spec, call)
            except ToRouterError as err:
                following = call.next_spec(err)  # the core decides (e.g. a fallback model)
                if following is None:
                    call.finish(err)
                    raise
                spec = call.spec = following
                continue
            except BaseException as exc:  # cancelled or interrupted: the layers still hear it
                call.abandon(exc)
                raise
            return call.complete(result)

    async def _retry_loop(self, spec: RequestSpec[Any], call: Any) -> Any:
        try:  # the first attempt; tenacity's loop is built only after a failure
            return await self._attempt(spec, call)
        except ToRouterError as err:
            retrying = async_retrying(call, self._sleep)
            if not retries_first_failure(retrying, err):
                raise
            first: ToRouterError | None = err
        async for attempt in retrying:
            with attempt:
                if first is not None:  # tenacity's attempt 1 is the failure above
                    replay, first = first, None
                    raise replay
                return await self._attempt(spec, call)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, spec: RequestSpec[Any], call: Any) -> Any:
        seam = call.seam
        if seam is None:
            return await self._send(spec, call)
        wait = await seam.abefore(call)  # the layers decide: proceed, wait, or refuse (raises)
        if wait:
            await self._sleep(wait)
        seam.send(call)
        try:
            result = await self._send(spec, call)
        except ToRouterError as err:
            await seam.aafter(call, err)
            raise
        await seam.aafter(call, None)
        return result

    async def _send(self, spec: RequestSpec[Any], call: Any) -> Any:
        self._rebind_loop(_running_loop(), call)
        request = self._build(self._http, spec, call)
        try:
            response = await self._http.send(request, stream=True)
            if self._needs_body(response, spec):
                try:
                    await self._read_body(response, call)
                finally:
                    await response.aclose()
        except _TRANSPORT_ERRORS as exc:
            raise self._transport_error(exc, call) from None
        result = self._finish(response, spec, call)
        if not spec.stream:
            return result
        stream = AsyncStream(response, *self._stream_parts(response, spec, call))
        try:
            await stream._prefetch()
        except ToRouterError as err:
            raise call.failed(err) from None
        return self._stream_result(stream, spec, call)

    async def _read_body(self, response: httpx.Response, call: Any) -> None:
        limit = self._body_limit(response, call)
        parts: list[bytes] = []
        size = 0
        async for part in response.aiter_bytes():
            parts.append(part)
            size += len(part)
            if not self._body_progress(response, size, limit, call):
                break
        self._keep_body(response, parts, limit)

    async def close(self) -> None:
        """Close the connection pool (not one passed in as ``http_client``); calls in flight
        on it fail at once with ``APIConnectionError``."""
        if self._owns_http:
            self._closing = True
            try:
                await self._http.aclose()
            except RuntimeError:
                if not self._loop_ended():
                    raise
                # The pool's connections belong to an event loop that has ended: they are
                # gone with it and cannot be closed from this one (the client is closed).

    aclose = close

    async def __aenter__(self) -> AsyncToRouter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
