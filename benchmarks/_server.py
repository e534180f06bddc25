"""A tiny, cheap loopback server for ``benchmarks/run.py`` (run as a subprocess).

It answers ``POST <prefix>/v1/chat/completions`` the way an OpenAI-compatible gateway does, with
pre-rendered bodies so that it spends as little CPU as possible and the benchmark measures the
client.  What to answer is chosen by a path prefix, so that any SDK can be pointed at it with
nothing but a ``base_url``:

    /v1/...                 200 chat.completion JSON (or an SSE stream when the body has
                            "stream": true; 20 chunks)
    /chunks/N/v1/...        streams have N chunks (each its own HTTP chunk), then data: [DONE]
    /status/S/v1/...        status S with an OpenAI-style {"error": {...}} body
    GET /__stats            {"requests": n, "accepts": TCP connections accepted, "cpu": s}

Prints ``PORT <n>`` on stdout once listening; exits on SIGTERM/SIGINT or when stdin closes
(so it never outlives the benchmark that started it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

_ID = "chatcmpl-bench0000000000000000000000"
_MODEL = "gpt-4o-mini-2024-07-18"
_TEXT = (
    "Asyncio runs many IO-bound tasks on one thread: an event loop switches between coroutines "
    "whenever one awaits the network, so a program can keep hundreds of HTTP calls in flight "
    "without threads. Use it for clients and servers that mostly wait; for CPU-heavy work use "
    "processes instead."
)
_PIECES = [w + " " for w in _TEXT.split(" ")]


def _usage(prompt: int, completion: int) -> dict[str, object]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


COMPLETION = json.dumps(
    {
        "id": _ID,
        "object": "chat.completion",
        "created": 1764000000,
        "model": _MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _TEXT, "refusal": None,
                            "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(24, 61),
        "system_fingerprint": "fp_bench",
    },
    indent=2,
).encode()


def _event(i: int, n: int) -> bytes:
    delta: dict[str, object]
    if i == 0:
        delta, finish = {"role": "assistant", "content": ""}, None
    elif i == n - 1:
        delta, finish = {}, "stop"
    else:
        delta, finish = {"content": _PIECES[i % len(_PIECES)]}, None
    chunk = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": _MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(24, n) if i == n - 1 else None,
    }
    data = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


_streams: dict[int, bytes] = {}


def stream_body(n: int) -> bytes:
    body = _streams.get(n)
    if body is None:
        done = b"data: [DONE]\n\n"
        body = b"".join(_event(i, n) for i in range(n))
        body += b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)
        _streams.clear()
        _streams[n] = body
    return body


def error_body(status: int) -> bytes:
    message = {401: "Incorrect API key provided.", 429: "Rate limit reached."}.get(
        status, f"error {status}")
    etype = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "api_error")
    code = {401: "invalid_api_key"}.get(status)
    return json.dumps(
        {"error": {"message": message, "type": etype, "param": None, "code": code}}
    ).encode()


REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found",
           429: b"Too Many Requests", 500: b"Internal Server Error"}
_EXTRA = (
    b"server: bench\r\n"
    b"x-ratelimit-limit-requests: 10000\r\n"
    b"x-ratelimit-remaining-requests: 9999\r\n"
    b"x-content-type-options: nosniff\r\n"
)


class Stats:
    requests = 0
    accepts = 0


def head(status: int, ctype: bytes, length: int | None) -> bytes:
    Stats.requests += 1
    size = b"transfer-encoding: chunked" if length is None else b"content-length: %d" % length
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n%s\r\nx-request-id: req-%d\r\n%s\r\n"
        % (status, REASONS.get(status, b"Error"), ctype, size, Stats.requests, _EXTRA)
    )


class Conn(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Stats.accepts += 1
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].split(b"\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            method, target = lines[0].split(b" ")[:2]
            self.transport.write(respond(method, target, body))


def respond(method: bytes, target: bytes, body: bytes) -> bytes:
    if target == b"/__stats":
        data = json.dumps({"requests": Stats.requests, "accepts": Stats.accepts,
                           "cpu": time.process_time()}).encode()
        Stats.requests -= 1  # the stats call itself does not count
        return head(200, b"application/json", len(data)) + data
    parts = target.split(b"/")
    status, chunks = 200, 20
    if len(parts) > 3 and parts[1] == b"status":
        status = int(parts[2])
    elif len(parts) > 3 and parts[1] == b"chunks":
        chunks = max(2, int(parts[2]))
    if method != b"POST" or not target.endswith(b"/chat/completions"):
        status = 404
    if status != 200:
        data = error_body(status)
        return head(status, b"application/json", len(data)) + data
    if b'"stream":true' in body.replace(b" ", b""):
        return head(200, b"text/event-stream; charset=utf-8", None) + stream_body(chunks)
    return head(200, b"application/json", len(COMPLETION)) + COMPLETION


async def serve() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(sys.stdin.fileno(), stop.set)  # the parent went away
    server = await loop.create_server(Conn, "127.0.0.1", 0, backlog=2048)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    os.environ.pop("PYTHONASYNCIODEBUG", None)
    try:
        import uvloop  # a cheaper loop makes the server cheaper still, when installed

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


if __name__ == "__main__":
    main()
