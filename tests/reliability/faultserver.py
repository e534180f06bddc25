"""A raw-socket HTTP/1.1 server on 127.0.0.x whose every answer the test scripts.

The server parses each request (request line, headers, a ``Content-Length`` body), records it in
``server.requests``, and hands it to a *handler* ``handler(conn, request)`` which writes whatever
bytes it likes: a good answer, half a status line, a reset, a stall, a slow drip ...  Handlers
are taken from ``server.script`` (one per request, in order) and, once it is empty, from
``server.handler``.  After a handler returns, the connection stays open for the next request
unless the handler closed or reset it (so keep-alive pools behave as with a real server).

Every wait is bounded and ends when the server closes, so no test can hang on the server side.
Thread per connection; daemon threads; ``close()`` shuts every open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[["Conn", "Request"], None]

#: Longest a handler may stall: far beyond any client timeout the tests use, but finite.
MAX_STALL = 30.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    conn_id: int
    host: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def marker(self) -> str:
        """The content of the first message (tests put a per-request marker there)."""
        data = self.json() or {}
        messages = data.get("messages") or [{}]
        return str(messages[0].get("content", ""))


class Conn:
    """One accepted connection, as the handler sees it."""

    def __init__(self, server: FaultServer, sock: socket.socket, conn_id: int) -> None:
        self.server = server
        self.sock = sock
        self.id = conn_id
        self.closed = False
        self.sent = 0

    def send(self, data: bytes) -> bool:
        """Write ``data``; False when the client has gone away."""
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            self.close()
            return False
        self.sent += len(data)
        self.server._count_sent(len(data))
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if the server is closing (stop at once)."""
        return self.server._stop.wait(seconds)

    def stall(self, seconds: float = MAX_STALL) -> None:
        """Send nothing until the client closes the connection, the server closes, or timeout."""
        deadline = time.monotonic() + seconds
        self.sock.settimeout(0.05)
        while not self.server._stop.is_set() and time.monotonic() < deadline:
            try:
                if self.sock.recv(65536) == b"":
                    break  # the client hung up
            except TimeoutError:
                continue
            except OSError:
                break
        self.close()

    def drip(self, data: bytes, gap: float = 0.01, limit: float = MAX_STALL) -> None:
        """Send ``data`` a byte at a time, ``gap`` seconds apart, until done or the client goes."""
        deadline = time.monotonic() + limit
        for i in range(len(data)):
            if time.monotonic() > deadline or not self.send(data[i : i + 1]) or self.wait(gap):
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self.sock.close()

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), not an orderly FIN."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                self.sock.close()


class FaultServer:
    """The server; use as a context manager.  ``url`` / ``base_url`` point at it."""

    def __init__(self, handler: Handler | None = None, host: str = "127.0.0.1") -> None:
        self.handler: Handler = handler or not_found
        self.script: deque[Handler] = deque()
        self.requests: list[Request] = []
        self.connections = 0
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open: dict[int, Conn] = {}
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(1024)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"faultserver:{self.port}")
        self._thread.start()

    # -- public --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def push(self, *handlers: Handler) -> None:
        """Use these handlers for the next requests, in order, then ``handler`` again."""
        with self._lock:
            self.script.extend(handlers)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._open.values())
        for conn in conns:
            conn.close()

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------

    def _count_sent(self, n: int) -> None:
        with self._lock:
            self.bytes_sent += n

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                conn = Conn(self, sock, self.connections)
                self._open[conn.id] = conn
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Conn) -> None:
        reader = _Reader(conn.sock)
        try:
            while not conn.closed and not self._stop.is_set():
                request = reader.read_request(conn.id, self.host)
                if request is None:
                    break
                with self._lock:
                    self.requests.append(request)
                    handler = self.script.popleft() if self.script else self.handler
                handler(conn, request)
        except Exception:  # a broken client socket: just drop the connection
            pass
        finally:
            conn.close()
            with self._lock:
                self._open.pop(conn.id, None)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        sock.settimeout(10.0)

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except OSError:
            return False
        self.buf += data
        return bool(data)

    def read_request(self, conn_id: int, host: str) -> Request | None:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(self.buf) < length:
            if not self._fill():
                return None
        body, self.buf = self.buf[:length], self.buf[length:]
        return Request(method, path, headers, body, conn_id, host)


# --- response building blocks ------------------------------------------------------------

REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           307: "Temporary Redirect", 308: "Permanent Redirect", 404: "Not Found",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def head(status: int, headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
         version: str = "HTTP/1.1") -> bytes:
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"{version} {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in items]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(status: int, body: bytes, headers: Mapping[str, str] | None = None,
             content_type: str = "application/json") -> bytes:
    hdrs = {"content-type": content_type, "content-length": str(len(body)), **(headers or {})}
    return head(status, hdrs) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def completion(content: str = "hello", rid: str = "cmpl-1") -> bytes:
    return json.dumps({
        "id": rid, "object": "chat.completion", "created": 1, "model": "gpt-5-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
    }).encode()


def chunk_event(content: str, finish: str | None = None) -> bytes:
    data = json.dumps({
        "id": "chunk-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5-mini",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}],
    })
    return f"data: {data}\n\n".encode()


DONE = b"data: [DONE]\n\n"
SSE_HEAD = {"content-type": "text/event-stream", "transfer-encoding": "chunked",
            "x-request-id": "req-stream"}


def error_body(type_: str = "server_error", message: str = "boom") -> bytes:
    return json.dumps({"error": {"type": type_, "message": message}}).encode()


# --- handlers ------------------------------------------------------------------------------


def raw(data: bytes, *, close: bool = False) -> Handler:
    """Send exactly ``data``; then close the connection if ``close``."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(data)
        if close:
            conn.close()
    return handler


def not_found(conn: Conn, req: Request) -> None:
    conn.send(response(404, error_body("not_found_error", "no handler")))


def ok(content: str = "hello", rid: str = "req-ok") -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.send(response(200, completion(content), {"x-request-id": rid}))
    return handler


def stream_ok(n: int = 3, rid: str = "req-stream") -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, {**SSE_HEAD, "x-request-id": rid}))
        for i in range(n):
            conn.send(chunk(chunk_event(f"t{i}")))
        conn.send(chunk(chunk_event("", "stop")) + chunk(DONE) + b"0\r\n\r\n")
    return handler


def reset_before_headers(conn: Conn, req: Request) -> None:
    conn.reset()


def close_before_headers(conn: Conn, req: Request) -> None:
    conn.close()


def reset_during_headers(conn: Conn, req: Request) -> None:
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Le")
    conn.reset()


def reset_mid_body(conn: Conn, req: Request) -> None:
    body = completion()
    conn.send(head(200, {"content-type": "application/json", "content-length": str(len(body))})
              + body[: len(body) // 2])
    conn.reset()


def reset_mid_stream(after: int = 2) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, SSE_HEAD))
        for i in range(after):
            conn.send(chunk(chunk_event(f"t{i}")))
        conn.reset()
    return handler


def stall_mid_stream(after: int = 1) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, SSE_HEAD))
        for i in range(after):
            conn.send(chunk(chunk_event(f"t{i}")))
        conn.stall()
    return handler


def stall_before_headers(conn: Conn, req: Request) -> None:
    conn.stall()


def drip_mid_stream(gap: float = 0.01) -> Handler:
    """One good event, then an event that never completes, one byte per ``gap`` seconds."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, {k: v for k, v in SSE_HEAD.items() if k != "transfer-encoding"},
                       version="HTTP/1.0"))
        conn.send(chunk_event("t0"))
        conn.drip(b'data: {"id":"' + b"x" * 100_000, gap)
        conn.close()
    return handler


def drip_body(gap: float = 0.01) -> Handler:
    """A 2xx JSON body sent one byte per ``gap`` seconds (a non-streaming request)."""
    def handler(conn: Conn, req: Request) -> None:
        body = completion("x" * 100_000)
        conn.send(head(200, {"content-type": "application/json",
                             "content-length": str(len(body))}))
        conn.drip(body, gap)
        conn.close()
    return handler


#: Keep-alives that a stream must not count as progress (each a whole SSE event or comment).
KEEPALIVES = {
    "ping": b"event: ping\ndata: {}\n\n",               # OpenRouter / Anthropic style
    "comment": b": keep-alive\n\n",                     # an SSE comment
    "anthropic": b'data: {"type": "ping"}\n\n',         # a ping as a plain data object
    "no-data": b"event: heartbeat\n\n",                  # an event without data
}


def keepalives_forever(kind: str = "ping", gap: float = 0.1, *, first: int = 0,
                       delay: float = 0.0) -> Handler:
    """SSE headers (after ``delay`` s), ``first`` content events, then only keep-alives of
    ``kind`` every ``gap`` s until the client hangs up (or MAX_STALL)."""
    def handler(conn: Conn, req: Request) -> None:
        if delay and conn.wait(delay):
            return
        conn.send(head(200, SSE_HEAD))
        for i in range(first):
            conn.send(chunk(chunk_event(f"t{i}")))
        deadline = time.monotonic() + MAX_STALL
        while time.monotonic() < deadline and conn.send(chunk(KEEPALIVES[kind])):
            if conn.wait(gap):
                break
        conn.close()
    return handler


def late_headers_then_stall(delay: float, first: int = 0) -> Handler:
    """SSE headers after ``delay`` s, ``first`` content events, then silence."""
    def handler(conn: Conn, req: Request) -> None:
        if conn.wait(delay):
            return
        conn.send(head(200, SSE_HEAD))
        for i in range(first):
            conn.send(chunk(chunk_event(f"t{i}")))
        conn.stall()
    return handler


def done_then_hold(n: int = 2) -> Handler:
    """A whole answer and ``data: [DONE]``, then the chunked body is held open (no last chunk)
    until the client hangs up."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, SSE_HEAD))
        for i in range(n):
            conn.send(chunk(chunk_event(f"t{i}")))
        conn.send(chunk(chunk_event("", "stop")) + chunk(DONE))
        conn.stall()
    return handler


def endless_chunks(gap: float = 0.05) -> Handler:
    """A healthy stream that never ends: one content event every ``gap`` s until the client
    hangs up.  ``conn.hung_up`` tells when it did (for "the gateway sees the hang-up")."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, SSE_HEAD))
        deadline = time.monotonic() + MAX_STALL
        i = 0
        while time.monotonic() < deadline and conn.send(chunk(chunk_event(f"t{i}"))):
            i += 1
            if conn.wait(gap):
                break
        conn.close()
    return handler


def sse_body(body: bytes, rid: str = "req-stream") -> Handler:
    """An SSE answer whose whole body is ``body`` (sent as one chunk, then the body's end)."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(200, {**SSE_HEAD, "x-request-id": rid}) + chunk(body) + b"0\r\n\r\n")
    return handler


def status(code: int, body: bytes | None = None, headers: Mapping[str, str] | None = None,
           content_type: str = "application/json") -> Handler:
    payload = error_body() if body is None else body

    def handler(conn: Conn, req: Request) -> None:
        conn.send(response(code, payload, headers, content_type))
    return handler


def gzip_status(code: int, body: bytes, *, corrupt: bool = False) -> Handler:
    payload = b"\x1f\x8b not really gzip" if corrupt else gzip.compress(body)

    def handler(conn: Conn, req: Request) -> None:
        conn.send(response(code, payload, {"content-encoding": "gzip"}))
    return handler


def endless_body(code: int, *, declare: int | None = None, block: int = 1 << 20) -> Handler:
    """A body that never ends (chunked), or declares ``declare`` bytes and sends until cut off."""
    data = b" " * block

    def handler(conn: Conn, req: Request) -> None:
        if declare is None:
            conn.send(head(code, {"content-type": "application/json",
                                  "transfer-encoding": "chunked"}))
            frame = chunk(data)
        else:
            conn.send(head(code, {"content-type": "application/json",
                                  "content-length": str(declare)}))
            frame = data
        sent = 0
        while conn.send(frame) and sent < (1 << 32):
            sent += block
        conn.close()
    return handler


def endless_line(conn: Conn, req: Request) -> None:
    """One good event, then a ``data:`` line that never ends (until the client hangs up)."""
    conn.send(head(200, SSE_HEAD) + chunk(chunk_event("a")) + chunk(b"data: "))
    frame = chunk(b"x" * (1 << 20))
    for _ in range(1 << 12):
        if not conn.send(frame):
            break
    conn.close()


def endless_headers(conn: Conn, req: Request) -> None:
    """A status line, then one header line that never ends (until the client hangs up)."""
    conn.send(b"HTTP/1.1 200 OK\r\nX-Pad: ")
    for _ in range(1 << 12):
        if not conn.send(b"a" * 1024) or conn.wait(0.001):
            break
    conn.close()


def http10(body: bytes, content_type: str = "application/json", code: int = 200) -> Handler:
    """An HTTP/1.0 answer without Content-Length: the body ends when the server closes."""
    def handler(conn: Conn, req: Request) -> None:
        conn.send(head(code, {"content-type": content_type, "x-request-id": "req-10"},
                       version="HTTP/1.0") + body)
        conn.close()
    return handler


def redirect(location: str, code: int = 307) -> Handler:
    def handler(conn: Conn, req: Request) -> None:
        conn.send(response(code, b"", {"location": location}))
    return handler


def record_only(conn: Conn, req: Request) -> None:
    """Answer a harmless 200 (the request is recorded in ``server.requests`` anyway)."""
    conn.send(response(200, completion("redirected"), {"x-request-id": "req-other"}))


@dataclass
class Echo:
    """Answers with the request's own marker; ``fail(marker, attempt)`` picks 500s.

    ``calls`` counts every request per marker (thread-safe).
    """

    fail: Callable[[str, int], bool] = lambda marker, attempt: False
    stream: bool = False
    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, conn: Conn, req: Request) -> None:
        marker = req.marker
        with self.lock:
            attempt = self.calls[marker] = self.calls.get(marker, 0) + 1
        rid = f"{marker}-{attempt}"
        if self.fail(marker, attempt):
            conn.send(response(500, error_body("server_error", f"failed {rid}"),
                               {"x-request-id": rid}))
            return
        if (req.json() or {}).get("stream"):
            conn.send(head(200, {**SSE_HEAD, "x-request-id": rid}))
            conn.send(chunk(chunk_event(marker)) + chunk(chunk_event("", "stop")) + chunk(DONE)
                      + b"0\r\n\r\n")
            return
        conn.send(response(200, completion(marker, rid), {"x-request-id": rid}))


class _Collect:
    """What a handler writes, collected for an asyncio server (handlers that never wait)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def send(self, data: bytes) -> bool:
        self.parts.append(data)
        return True

    def close(self) -> None:
        self.closed = True

    reset = close


class AsyncServer:
    """An asyncio HTTP/1.1 server for handlers that answer at once (such as :class:`Echo`).

    It runs in the caller's event loop, so a thousand concurrent connections cost no threads
    (a thread per connection beside an event loop makes both crawl on the GIL).
    """

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.requests: list[Request] = []
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    async def __aenter__(self) -> AsyncServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_id = self.connections
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = raw[:-4].decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                request = Request(method, path, headers, body, conn_id, self.host)
                self.requests.append(request)
                out = _Collect()
                self.handler(out, request)  # type: ignore[arg-type]
                writer.write(b"".join(out.parts))
                await writer.drain()
                if out.closed:
                    return
        finally:
            self._writers.discard(writer)
            writer.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` with nothing listening (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
