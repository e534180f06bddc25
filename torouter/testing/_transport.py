"""httpx transports that serve a :class:`FakeGateway` in-process (sync and async).

Only I/O lives here: sleeping for scripted latency, yielding SSE events one by one (so drops and
mid-stream errors happen while the client reads), raising on scripted disconnects.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import anyio
import httpx

from ._gateway import GatewayRequest, Reply

if TYPE_CHECKING:
    from ._gateway import FakeGateway

__all__ = ["AsyncGatewayTransport", "GatewayTransport", "StreamDropped"]


class StreamDropped(httpx.RemoteProtocolError, httpx.ReadError):
    """A scripted connection drop. Like a real socket, it is an ``httpx.RemoteProtocolError``
    (what httpx raises when a server closes mid-body); it is also an ``httpx.ReadError``."""


_NO_RESPONSE = "Server disconnected without sending a response."
_TRUNCATED = (
    "peer closed connection without sending complete message body (incomplete chunked read)"
)


def _gateway_request(request: httpx.Request, body: bytes, client_ip: str | None) -> GatewayRequest:
    return GatewayRequest(
        method=request.method,
        target=request.url.raw_path.decode("ascii"),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        peer_ip=client_ip,
    )


def _response(
    reply: Reply,
    request: httpx.Request,
    stream: httpx.SyncByteStream | httpx.AsyncByteStream | None,
) -> httpx.Response:
    ext = {"http_version": b"HTTP/1.1"}
    if stream is None:
        return httpx.Response(
            reply.status, headers=reply.headers, content=reply.body, request=request, extensions=ext
        )
    return httpx.Response(
        reply.status, headers=reply.headers, stream=stream, request=request, extensions=ext
    )


class _SyncEvents(httpx.SyncByteStream):
    def __init__(self, reply: Reply, request: httpx.Request) -> None:
        self._reply = reply
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        events = self._reply.events or []
        for i, event in enumerate(events):
            if i and self._reply.chunk_delay:
                time.sleep(self._reply.chunk_delay)
            yield event
        if self._reply.drop:
            raise StreamDropped(_TRUNCATED, request=self._request)


class _AsyncEvents(httpx.AsyncByteStream):
    def __init__(self, reply: Reply, request: httpx.Request) -> None:
        self._reply = reply
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        events = self._reply.events or []
        for i, event in enumerate(events):
            if i and self._reply.chunk_delay:
                await anyio.sleep(self._reply.chunk_delay)
            yield event
        if self._reply.drop:
            raise StreamDropped(_TRUNCATED, request=self._request)


class GatewayTransport(httpx.BaseTransport):
    """Sync transport: ``httpx.Client(transport=gateway.transport())``.

    ``client_ip`` is the address the gateway sees (default: the gateway's ``client_ip``).
    Scripted latency is a real ``time.sleep``; httpx timeouts do not apply to custom transports.
    """

    def __init__(self, gateway: FakeGateway, *, client_ip: str | None = None) -> None:
        self.gateway = gateway
        self.client_ip = client_ip

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = self.gateway.handle(_gateway_request(request, request.read(), self.client_ip))
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.disconnect:
            raise StreamDropped(_NO_RESPONSE, request=request)
        stream = None if reply.events is None else _SyncEvents(reply, request)
        return _response(reply, request, stream)


class AsyncGatewayTransport(httpx.AsyncBaseTransport):
    """Async transport: ``httpx.AsyncClient(transport=gateway.async_transport())``.

    Scripted latency is an ``anyio.sleep`` (works under asyncio and trio), so many tasks can wait
    concurrently.
    """

    def __init__(self, gateway: FakeGateway, *, client_ip: str | None = None) -> None:
        self.gateway = gateway
        self.client_ip = client_ip

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        reply = self.gateway.handle(_gateway_request(request, body, self.client_ip))
        if reply.delay > 0:
            await anyio.sleep(reply.delay)
        if reply.disconnect:
            raise StreamDropped(_NO_RESPONSE, request=request)
        stream = None if reply.events is None else _AsyncEvents(reply, request)
        return _response(reply, request, stream)
