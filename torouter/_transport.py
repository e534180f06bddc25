"""Which transport the httpx client torouter builds for itself uses: the one place that decides.

* ``ToRouter``: httpx's own transport (httpcore), as always.
* ``AsyncToRouter``: :class:`AiohttpTransport`, an ``httpx.AsyncBaseTransport`` over aiohttp (a
  dependency).  httpcore 1.0's async pool compares every waiting request with every connection
  whenever one starts or ends: ~2 ms of CPU per request at 50 in flight, minutes for a gather of
  thousands.  aiohttp's connector does the same work in ~0.4 ms, flat.  If aiohttp cannot be
  imported, httpx's own transport is used.

The client on top stays an ``httpx.AsyncClient`` (timeouts, headers, cookies and ``http_client=``
work as before), and every aiohttp failure is raised as the httpx exception httpx's own
transport raises for it, so the error classes are the same on both.  With a proxy configured in
the environment (``HTTPS_PROXY`` ...) the async client stays on httpx's transport, which applies it.

Test mocks: while respx (or pytest-httpx) has patched httpx's own transport, each request goes
through httpx's own transport instead, so the mock sees the default clients exactly as before.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import sys
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import asyncio

    import aiohttp

__all__ = ["AiohttpTransport", "default_http_client"]

#: "aiohttp" or "httpx": the async clients' transport; ``None`` until the first async client
#: (tests set it to run suites on both).
ASYNC_BACKEND: str | None = None


def default_http_client(cls: type[Any], timeout: httpx.Timeout, limits: httpx.Limits) -> Any:
    """The httpx client a torouter client builds when no ``http_client=`` is given."""
    global ASYNC_BACKEND
    verify = _deferred_ssl_context()
    transport = None
    if cls is httpx.AsyncClient:
        if ASYNC_BACKEND is None:
            import importlib.util

            ASYNC_BACKEND = "aiohttp" if importlib.util.find_spec("aiohttp") else "httpx"
        if ASYNC_BACKEND == "aiohttp" and not _environment_proxies():
            transport = AiohttpTransport(limits, verify)
    return cls(timeout=timeout, limits=limits, follow_redirects=False, transport=transport,
               verify=verify)


def _environment_proxies() -> bool:
    """Whether httpx would route requests through a proxy from the environment (HTTP_PROXY,
    HTTPS_PROXY, ALL_PROXY; on macOS and Windows the system settings too).  httpx applies those
    only to its own transport, so such a client stays on it."""
    from urllib.request import getproxies

    proxies = getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class _DeferredCAContext(ssl.SSLContext):
    """The context httpx's ``create_ssl_context()`` makes, reading its CA certificates (and
    copying ``ssl.create_default_context``'s settings) at the first TLS handshake instead of
    when the client is built (~40 ms, most of building a client: a plain-http client never pays
    it, an https one pays it on its first connection).  Until then it has the settings of
    ``PROTOCOL_TLS_CLIENT``: certificates and host names verified."""

    _ca: tuple[str | None, str | None] | None  # None: certifi's bundle
    _pending: bool
    _lock: threading.Lock

    def _load_ca(self) -> None:
        if self._pending:
            with self._lock:
                if self._pending:
                    template = _default_settings()
                    self.verify_mode = template.verify_mode
                    self.check_hostname = template.check_hostname
                    self.verify_flags = template.verify_flags
                    self.options = template.options
                    if self._ca is None:
                        import certifi

                        self._ca = (certifi.where(), None)
                    self.load_verify_locations(*self._ca)
                    self._pending = False

    def wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        self._load_ca()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> Any:
        self._load_ca()
        return super().wrap_bio(*args, **kwargs)


def _deferred_ssl_context() -> ssl.SSLContext:
    """``httpx.create_ssl_context()`` (verify=True, trust_env=True), its CA loading and
    settings deferred to the first handshake: the CA file or directory chosen as httpx does
    (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, read now; else certifi's bundle), the settings those
    of ``ssl.create_default_context`` on this Python."""
    ca: tuple[str | None, str | None] | None = None
    if os.environ.get("SSL_CERT_FILE"):
        ca = (os.environ["SSL_CERT_FILE"], None)
    elif os.environ.get("SSL_CERT_DIR"):
        ca = (None, os.environ["SSL_CERT_DIR"])
    ctx = _DeferredCAContext(ssl.PROTOCOL_TLS_CLIENT)
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:  # as ssl.create_default_context does
        ctx.keylog_filename = keylog
    ctx._ca, ctx._pending, ctx._lock = ca, True, threading.Lock()
    return ctx


_TEMPLATE: list[ssl.SSLContext] = []


def _default_settings() -> ssl.SSLContext:
    # ssl.create_default_context's settings vary by Python (3.13 added strict X.509 flags): read
    # them from one it made around a single certificate (with none it would load the system's).
    if not _TEMPLATE:
        import certifi

        with open(certifi.where(), encoding="ascii") as f:
            bundle = f.read()
        end = "-----END CERTIFICATE-----"
        first = bundle[bundle.index("-----BEGIN CERTIFICATE-----"):bundle.index(end) + len(end)]
        _TEMPLATE.append(ssl.create_default_context(cadata=first))
    return _TEMPLATE[0]


# Where test mocks patch httpx's own transport: respx patches httpcore's pools, pytest-httpx
# httpx's transport class.  A method defined outside the class's own package has been patched.
_MOCK_TARGETS: list[tuple[Any, str, str]] = []


def _mocked() -> bool:
    if not _MOCK_TARGETS:
        import httpcore

        _MOCK_TARGETS.extend([
            (vars(httpcore.AsyncConnectionPool), "handle_async_request", "httpcore"),
            (vars(httpx.AsyncHTTPTransport), "handle_async_request", "httpx"),
        ])
    for namespace, name, package in _MOCK_TARGETS:
        module = getattr(namespace.get(name), "__module__", None) or ""
        if module.partition(".")[0] != package:
            return True
    return False


class _Body(httpx.AsyncByteStream):
    """An aiohttp response body as httpx reads it (bytes as they arrive).

    The read timeout bounds each wait for the next bytes, as on httpx's own transport, and only
    the wait: aiohttp's ``sock_read`` timer runs from the last bytes received whatever the
    reader does, so a caller whose loop body took longer than the stream idle timeout had its
    stream cut although the server had sent everything.  ``sock_read`` bounds the response head
    only; the transport turns it off once the head is in.
    """

    __slots__ = ("_read", "_response")

    def __init__(self, response: aiohttp.ClientResponse, read: float | None) -> None:
        self._response = response
        self._read = read

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import asyncio

        content = self._response.content
        read = self._read
        bound = getattr(asyncio, "timeout", None)  # Python >= 3.11
        try:
            while True:
                if read is None:
                    chunk = await content.readany()
                elif bound is not None:
                    async with bound(read):
                        chunk = await content.readany()
                else:  # pragma: no cover - Python 3.10
                    chunk = await asyncio.wait_for(content.readany(), read)
                if not chunk:
                    return
                yield chunk
        except TimeoutError:
            raise httpx.ReadTimeout(
                f"no data from the server for {read:g}s while reading the body") from None
        except Exception as exc:
            mapped = _httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from None

    async def aclose(self) -> None:
        # Fully read: the connection goes back to the pool; otherwise aiohttp closes it.
        self._response.release()


def _head_only(connection: Any) -> None:
    """Stop aiohttp's ``sock_read`` timer of a connection whose response head is in (see
    :class:`_Body`): the timer's setting to none, rescheduled (which cancels the running one)."""
    protocol = getattr(connection, "protocol", None)
    if protocol is not None and hasattr(protocol, "start_timeout"):
        protocol.read_timeout = None
        protocol.start_timeout()


class _NetworkStream:
    """What httpcore's ``network_stream`` response extension offers that torouter reads:
    ``get_extra_info`` (``"socket"``, ``"peername"`` ...) of the connection's transport."""

    __slots__ = ("_transport",)

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def get_extra_info(self, name: str) -> Any:
        return self._transport.get_extra_info(name)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent with one aiohttp session per event loop (HTTP/1.1).

    ``limits.max_connections`` caps the connections, idle ones close after
    ``limits.keepalive_expiry``.  httpx's write timeout has no aiohttp equivalent; connect, read
    (between two reads of the body) and pool timeouts apply.
    """

    def __init__(self, limits: httpx.Limits, verify: ssl.SSLContext | None = None) -> None:
        self._limits = limits
        self._verify = verify
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._aiohttp: Any = None

    def _new_session(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        import aiohttp

        self._aiohttp = aiohttp
        if self._session is not None:  # a client used from a second event loop
            _discard(self._session)
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry if limits.keepalive_expiry else 0.0,
        )
        # httpx does cookies, decoding, redirects and proxies (from the environment): aiohttp
        # only moves bytes.
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            trust_env=False, skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
        )
        self._loop = loop
        return self._session

    def _ssl_context(self) -> ssl.SSLContext:
        if self._verify is None:
            self._verify = _deferred_ssl_context()
        return self._verify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _mocked():
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport(verify=self._ssl_context(),
                                                          limits=self._limits)
            return await self._fallback.handle_async_request(request)
        import asyncio

        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or self._loop is not loop:
            session = self._new_session(loop)
        aiohttp = self._aiohttp
        url = request.url
        timeout = request.extensions.get("timeout") or {}
        try:
            body: Any = request.content
        except httpx.RequestNotRead:  # a streamed body: aiohttp reads async iterables
            body = request.stream
        try:
            response = await session.request(
                request.method,
                str(url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                ssl=self._ssl_context() if url.scheme == "https" else True,
                server_hostname=request.extensions.get("sni_hostname"),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except Exception as exc:
            mapped = _httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from None  # aiohttp's frames hold the request headers: the key
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        connection = response.connection
        if connection is not None:
            _head_only(connection)
        if connection is not None and connection.transport is not None:
            # httpcore's documented extension: the stream watchdog finds the socket through it
            extensions["network_stream"] = _NetworkStream(connection.transport)
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(response.status, headers=response.raw_headers,
                              stream=_Body(response, timeout.get("read")), request=request,
                              extensions=extensions)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._fallback is not None:
            await self._fallback.aclose()

    def __del__(self) -> None:
        # A client dropped unclosed: close its sockets quietly, as httpx's own transport leaves
        # them to the garbage collector (aiohttp would log "Unclosed client session" errors).
        if self._session is not None:
            _discard(self._session)
            self._session = None


def _discard(session: aiohttp.ClientSession) -> None:
    """Close a session's connections without awaiting (its event loop may be gone)."""
    connector = session.connector
    session.detach()  # the session counts as closed from now on
    if connector is not None:
        with contextlib.suppress(Exception):  # best effort: nobody to report to now
            connector._close(abort_ssl=True)


def _httpx_error(exc: Exception) -> Exception:
    """The httpx exception httpx's own transport raises for what ``exc`` says happened (an
    exception that is not aiohttp's, e.g. cancellation, is returned as it is)."""
    import asyncio

    import aiohttp

    if not isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return exc
    try:
        message = str(exc) or type(exc).__name__
    except Exception:  # aiohttp's __str__ needs attributes a bare instance may lack
        message = type(exc).__name__
    kind: type[httpx.HTTPError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.SocketTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, asyncio.TimeoutError):  # another aiohttp timeout (a pool wait)
        kind = httpx.PoolTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        kind = httpx.ConnectError
    elif isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                          aiohttp.ClientResponseError)):  # closed early, cut or malformed
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, (aiohttp.ClientOSError, aiohttp.ClientConnectionError)):  # reset
        kind = httpx.ReadError
    elif isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        kind = httpx.UnsupportedProtocol
    else:
        kind = httpx.TransportError
    return kind(message)
