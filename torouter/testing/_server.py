"""A real HTTP/1.1 server (stdlib ``ThreadingHTTPServer``) in front of a :class:`FakeGateway`.

Keep-alive, ``Content-Length`` for JSON, chunked transfer for SSE; a scripted drop closes the
socket mid-body (httpx then raises ``RemoteProtocolError``), a scripted disconnect closes it before
any response byte. Daemon threads; :meth:`GatewayServer.close` stops accepting, closes open
connections and joins the serving thread.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING

from ._gateway import GatewayRequest

if TYPE_CHECKING:
    from ._gateway import FakeGateway

__all__ = ["GatewayServer"]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, host: str, port: int, gateway: FakeGateway) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.gateway = gateway
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's getfqdn(): a reverse DNS lookup can stall offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "torouter-fake-gateway/0.1"
    sys_version = ""
    timeout = 30.0  # idle keep-alive connections end after this
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self) -> None:
        with self.server.conns_lock:
            self.server.conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _abort(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self) -> None:
        body = self._read_body()
        reply = self.server.gateway.handle(
            GatewayRequest(
                method=self.command,
                target=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                peer_ip=str(self.client_address[0]),
            )
        )
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.disconnect:
            self._abort()
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            if reply.events is None:
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i, event in enumerate(reply.events):
                if i and reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            if reply.drop:
                self._abort()
                return
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle


class GatewayServer:
    """A running server for a :class:`FakeGateway` (from :meth:`FakeGateway.serve`).

    Attributes: ``host``, ``port``, ``url`` (``http://127.0.0.1:PORT``), ``base_url``
    (``url + "/v1"``). The client address the gateway sees is the socket peer (or
    ``X-Forwarded-For`` when the gateway trusts it).
    """

    def __init__(self, gateway: FakeGateway, host: str = "127.0.0.1", port: int = 0) -> None:
        self.gateway = gateway
        self._httpd = _HTTPServer(host, port, gateway)
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._closed = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"torouter-fake-gateway:{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8123``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-surface base URL, e.g. ``http://127.0.0.1:8123/v1``."""
        return self.url + "/v1"

    def close(self) -> None:
        """Stop serving, close open connections, join the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._httpd.conns_lock:
            conns = list(self._httpd.conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> GatewayServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GatewayServer({self.base_url!r}, closed={self._closed})"


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
