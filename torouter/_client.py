"""The clients: ``ToRouter`` (sync) and ``AsyncToRouter`` (async).

Both inherit every decision from :class:`~torouter._base_client.BaseClient` and drive the
same tenacity strategies (``_retrying``); what is written here twice is only I/O: send a
request, read an error body, read a stream's first event, sleep, close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from ._base_client import (
    DEFAULT_DEADLINE,
    DEFAULT_LIMITS,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
    BaseClient,
    RequestSpec,
)
from ._budget import RetryBudget
from ._errors import InvalidArgumentError, ToRouterError
from ._retry import RetryPolicy
from ._retrying import OnRetry, async_retrying, sync_retrying
from ._streaming import AsyncStream, Stream
from .resources import AsyncChat, AsyncEmbeddings, AsyncModels, Chat, Embeddings, Models

__all__ = ["AsyncToRouter", "ToRouter"]

_TRANSPORT_ERRORS = (httpx.HTTPError, RuntimeError)


class ToRouter(BaseClient):
    """Sync client for the ToRouter gateway.

    Args:
        api_key: the key (``sk-...``); default: env ``TOROUTER_API_KEY``.  Sent only as
            ``Authorization: Bearer``.  Missing -> :class:`ApiKeyRequired`, no request sent.
        base_url: default env ``TOROUTER_BASE_URL``, else ``https://portal.torouter.ai/v1``.
        timeout: per attempt, seconds or ``httpx.Timeout``; default 600 s read, 5 s connect.
        max_retries: retries for every retried error class (default 2); 0 disables retries.
        default_headers: headers sent with every request.
        http_client: your own ``httpx.Client`` (you close it).
        retry_policy: a :class:`RetryPolicy`, the per-class retry table.
        deadline: total seconds for a call across attempts and sleeps (default 900); ``None``
            for none.  Each attempt's timeout shrinks to what is left.
        retry_budget: a :class:`RetryBudget` shared by every thread using this client;
            ``True`` (default) for a fresh one, ``None``/``False`` to switch it off.
        on_retry: ``on_retry(error, attempt)`` called before each retry's sleep.
        stream_idle_timeout: longest silence between two stream events (default 120 s).
    """

    chat: Chat
    models: Models
    embeddings: Embeddings
    _http: httpx.Client
    _sleep: Callable[[float], None]

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = DEFAULT_DEADLINE,
        retry_budget: RetryBudget | bool | None = True,
        on_retry: OnRetry | None = None,
        stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidArgumentError("http_client must be an httpx.Client (AsyncToRouter "
                                       "takes an httpx.AsyncClient)")
        self._configure(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
            default_headers=default_headers, retry_policy=retry_policy, deadline=deadline,
            retry_budget=retry_budget, on_retry=on_retry, stream_idle_timeout=stream_idle_timeout,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            timeout=self._timeout, limits=DEFAULT_LIMITS, follow_redirects=False
        )
        self._sleep = time.sleep
        self._init_resources()

    def _init_resources(self) -> None:
        self.chat = Chat(self)
        self.models = Models(self)
        self.embeddings = Embeddings(self)

    def _share_transport(self, other: Any) -> None:
        self._http = other._http
        self._owns_http = False
        self._sleep = other._sleep
        self._init_resources()

    def with_options(self, **overrides: Any) -> ToRouter:
        """A copy with some settings changed, sharing this client's connection pool and budget.

        Accepts the constructor's keywords except ``http_client``.
        """
        clone: ToRouter = self._derive(overrides)
        return clone

    # -- I/O ------------------------------------------------------------------------------

    def _request(self, spec: RequestSpec[Any]) -> Any:
        call = self._new_call(spec)
        try:
            for attempt in sync_retrying(call, self._sleep):
                with attempt:
                    return self._attempt(spec, call)
        except ToRouterError as err:
            call.finish(err)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, spec: RequestSpec[Any], call: Any) -> Any:
        request = self._build(self._http, spec, call)
        try:
            response = self._http.send(request, stream=spec.stream)
            if self._needs_body(response, spec):
                try:
                    response.read()
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

    def close(self) -> None:
        """Close the connection pool (not one passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ToRouter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncToRouter(BaseClient):
    """Async client for the ToRouter gateway; the same arguments as :class:`ToRouter`
    (``http_client`` is an ``httpx.AsyncClient``)."""

    chat: AsyncChat
    models: AsyncModels
    embeddings: AsyncEmbeddings
    _http: httpx.AsyncClient
    _sleep: Callable[[float], Awaitable[None]]

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = DEFAULT_DEADLINE,
        retry_budget: RetryBudget | bool | None = True,
        on_retry: OnRetry | None = None,
        stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidArgumentError("http_client must be an httpx.AsyncClient (ToRouter "
                                       "takes an httpx.Client)")
        self._configure(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
            default_headers=default_headers, retry_policy=retry_policy, deadline=deadline,
            retry_budget=retry_budget, on_retry=on_retry, stream_idle_timeout=stream_idle_timeout,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=self._timeout, limits=DEFAULT_LIMITS, follow_redirects=False
        )
        self._sleep = asyncio.sleep
        self._init_resources()

    def _init_resources(self) -> None:
        self.chat = AsyncChat(self)
        self.models = AsyncModels(self)
        self.embeddings = AsyncEmbeddings(self)

    def _share_transport(self, other: Any) -> None:
        self._http = other._http
        self._owns_http = False
        self._sleep = other._sleep
        self._init_resources()

    def with_options(self, **overrides: Any) -> AsyncToRouter:
        """A copy with some settings changed, sharing this client's connection pool and budget."""
        clone: AsyncToRouter = self._derive(overrides)
        return clone

    # -- I/O ------------------------------------------------------------------------------

    async def _request(self, spec: RequestSpec[Any]) -> Any:
        call = self._new_call(spec)
        try:
            async for attempt in async_retrying(call, self._sleep):
                with attempt:
                    return await self._attempt(spec, call)
        except ToRouterError as err:
            call.finish(err)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, spec: RequestSpec[Any], call: Any) -> Any:
        request = self._build(self._http, spec, call)
        try:
            response = await self._http.send(request, stream=spec.stream)
            if self._needs_body(response, spec):
                try:
                    await response.aread()
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

    async def close(self) -> None:
        """Close the connection pool (not one passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncToRouter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
