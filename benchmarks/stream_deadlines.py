"""How precisely streams keep their time bounds, on a real 127.0.0.1 server.

    python benchmarks/stream_deadlines.py            # ~1 minute; prints a table
    python benchmarks/stream_deadlines.py --runs 10 --markdown

For each way a stream call can wait (issue 10), sync and async, it measures the wall time of
``create(stream=True, deadline=D)`` (or of the event being timed) against the bound it must keep:

* up to the first chunk, the call's ``deadline`` bounds every phase: connect (a listener whose
  backlog is full, so the handshake never completes), no headers, late headers then a stalled
  body, only keep-alives (pings, comments, ``{"type": "ping"}`` objects, data-less events), an
  event dripping in byte by byte.  The read timeout is 30 s and there are retries: only the
  deadline can end these calls.  Target: wall <= deadline + 0.25 s.
* after the first chunk, ``stream_idle_timeout`` bounds the silence however many keep-alives
  arrive.  Target: wall from the first chunk <= idle + 0.25 s.
* ``[DONE]`` with the body held open: from ``[DONE]``'s arrival to the end of the loop
  (target: a few ms); ``stream.close()`` from another thread/task: from ``close()`` to the end
  of the reader's loop (target: <= 1 s); ``client.close()`` from another thread while a call
  waits for headers: from ``close()`` to the call's typed error.

The server is the test suite's fault server (``tests/reliability/faultserver.py``).  Times are
wall clock on a possibly shared machine: the table shows min / median / max over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reliability import faultserver as fs

import torouter

KEY = "sk-bench-deadlines-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]
DEADLINE = 1.0
IDLE = 1.0
SLACK = 0.25


def _drip_first_event(conn: fs.Conn, req: fs.Request) -> None:
    conn.send(fs.head(200, {k: v for k, v in fs.SSE_HEAD.items() if k != "transfer-encoding"},
                      version="HTTP/1.0"))
    conn.drip(b'data: {"id":"' + b"x" * 100_000, 0.02)
    conn.close()


PHASES: dict[str, fs.Handler | None] = {
    "connect (backlog full)": None,
    "no headers": fs.stall_before_headers,
    "headers at 70%, then a stalled body": fs.late_headers_then_stall(0.7 * DEADLINE),
    "only `event: ping`, every 100 ms": fs.keepalives_forever("ping", 0.1),
    "only `: comments`, every 100 ms": fs.keepalives_forever("comment", 0.1),
    "only `{\"type\":\"ping\"}`, every 100 ms": fs.keepalives_forever("anthropic", 0.1),
    "only data-less events, every 100 ms": fs.keepalives_forever("no-data", 0.1),
    "an event dripping in, 1 byte / 20 ms": _drip_first_event,
}


class FullBacklog:
    """A 127.0.0.1 listener that never accepts, its backlog filled: connects hang."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", self.port))
            self.fillers.append(s)
        time.sleep(0.05)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        for s in [*self.fillers, self.sock]:
            s.close()


def _kwargs(**kw: Any) -> dict[str, Any]:
    return {"api_key": KEY, "timeout": 30.0, "max_retries": 2, **kw}


def time_sync(base: str, **kw: Any) -> tuple[float, str]:
    with torouter.ToRouter(base_url=base, **_kwargs(**kw)) as client:
        start = time.monotonic()
        try:
            client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            outcome = "no error"
        except torouter.ToRouterError as err:
            outcome = type(err).__name__
        return time.monotonic() - start, outcome


def time_async(base: str, **kw: Any) -> tuple[float, str]:
    async def run() -> tuple[float, str]:
        async with torouter.AsyncToRouter(base_url=base, **_kwargs(**kw)) as client:
            start = time.monotonic()
            try:
                await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
                outcome = "no error"
            except torouter.ToRouterError as err:
                outcome = type(err).__name__
            return time.monotonic() - start, outcome

    return asyncio.run(run())


def idle_after_first_chunk(base: str, kind: str) -> tuple[float, str]:
    """Seconds from the first chunk to the end of the loop (keep-alives only after it)."""
    kw = _kwargs(stream_idle_timeout=IDLE, max_retries=0)
    if kind == "sync":
        with torouter.ToRouter(base_url=base, **kw) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            start = time.monotonic()
            try:
                for _ in stream:
                    pass
                return time.monotonic() - start, "no error"
            except torouter.ToRouterError as err:
                return time.monotonic() - start, type(err).__name__

    async def run() -> tuple[float, str]:
        async with torouter.AsyncToRouter(base_url=base, **kw) as client:
            s = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            start = time.monotonic()
            try:
                async for _ in s:
                    pass
                return time.monotonic() - start, "no error"
            except torouter.ToRouterError as err:
                return time.monotonic() - start, type(err).__name__

    return asyncio.run(run())


def done_held_open(base: str, kind: str) -> tuple[float, str]:
    """Seconds from the last chunk before [DONE] to the end of the loop."""
    kw = _kwargs(stream_idle_timeout=30.0)
    if kind == "sync":
        with torouter.ToRouter(base_url=base, **kw) as client:
            last = 0.0
            for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                last = time.monotonic()
            return time.monotonic() - last, "ended"

    async def run() -> tuple[float, str]:
        async with torouter.AsyncToRouter(base_url=base, **kw) as client:
            last = 0.0
            s = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for _ in s:
                last = time.monotonic()
            return time.monotonic() - last, "ended"

    return asyncio.run(run())


def close_from_elsewhere(base: str, kind: str) -> tuple[float, str]:
    """Seconds from ``stream.close()`` in another thread/task to the end of the reader's loop
    (the reader is blocked: the server sent 2 chunks, then nothing)."""
    kw = _kwargs(stream_idle_timeout=30.0)
    if kind == "sync":
        with torouter.ToRouter(base_url=base, **kw) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            ended: list[float] = []
            reader = threading.Thread(target=lambda: (list(stream), ended.append(time.monotonic())))
            reader.start()
            time.sleep(0.2)
            start = time.monotonic()
            stream.close()
            reader.join(10)
            return (ended[0] - start if ended else float("nan")), "quiet end" if ended else "hung"

    async def run() -> tuple[float, str]:
        async with torouter.AsyncToRouter(base_url=base, **kw) as client:
            s = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)

            async def consume() -> float:
                async for _ in s:
                    pass
                return time.monotonic()

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.2)
            start = time.monotonic()
            await s.close()
            return await asyncio.wait_for(task, 10) - start, "quiet end"

    return asyncio.run(run())


def client_close_during_headers(base: str, kind: str) -> tuple[float, str]:
    if kind == "sync":
        client = torouter.ToRouter(base_url=base, **_kwargs())
        out: list[Any] = []

        def call() -> None:
            try:
                client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            except torouter.ToRouterError as err:
                out.append((time.monotonic(), type(err).__name__))

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.2)
        start = time.monotonic()
        client.close()
        caller.join(10)
        return (out[0][0] - start, out[0][1]) if out else (float("nan"), "hung")

    async def run() -> tuple[float, str]:
        client = torouter.AsyncToRouter(base_url=base, **_kwargs())
        task = asyncio.create_task(
            client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        await asyncio.sleep(0.2)
        start = time.monotonic()
        await client.close()
        try:
            await asyncio.wait_for(task, 10)
            return time.monotonic() - start, "no error"
        except torouter.ToRouterError as err:
            return time.monotonic() - start, type(err).__name__

    return asyncio.run(run())


def measure(runs: int, fn: Callable[[], tuple[float, str]]) -> tuple[list[float], set[str]]:
    times: list[float] = []
    outcomes: set[str] = set()
    for _ in range(runs):
        t, outcome = fn()
        times.append(t)
        outcomes.add(outcome)
    return times, outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    rows: list[list[str]] = []

    def row(what: str, kind: str, bound: float | None, times: list[float],
            outcomes: set[str], target: str) -> None:
        worst = max(times)
        ok = "-" if bound is None else ("yes" if worst <= bound + SLACK else "NO")
        rows.append([what, kind, ", ".join(sorted(outcomes)), f"{min(times):.3f}",
                     f"{statistics.median(times):.3f}", f"{worst:.3f}", target, ok])
        print(f"  {what} [{kind}]: max {worst:.3f}s", file=sys.stderr, flush=True)

    with fs.FaultServer() as server:
        for phase, handler in PHASES.items():
            for kind, timer in (("sync", time_sync), ("async", time_async)):
                if handler is None:
                    backlog = FullBacklog()
                    url = backlog.base_url
                    try:
                        times, outcomes = measure(args.runs, lambda: timer(  # noqa: B023
                            url, deadline=DEADLINE, stream_idle_timeout=None))  # noqa: B023
                    finally:
                        backlog.close()
                else:
                    server.handler = handler
                    times, outcomes = measure(args.runs, lambda: timer(  # noqa: B023
                        server.base_url, deadline=DEADLINE, stream_idle_timeout=None))
                row(f"until the first chunk: {phase}", kind, DEADLINE, times, outcomes,
                    f"<= deadline {DEADLINE:g} s + {SLACK} s")
        for ka in fs.KEEPALIVES:
            server.handler = fs.keepalives_forever(ka, 0.1, first=1)
            for kind in ("sync", "async"):
                times, outcomes = measure(
                    args.runs, lambda: idle_after_first_chunk(server.base_url, kind))  # noqa: B023
                row(f"after the first chunk: only {ka} keep-alives", kind, IDLE, times,
                    outcomes, f"<= idle {IDLE:g} s + {SLACK} s")
        server.handler = fs.done_then_hold(2)
        for kind in ("sync", "async"):
            times, outcomes = measure(args.runs, lambda: done_held_open(server.base_url, kind))  # noqa: B023
            row("[DONE], body held open: last chunk -> loop ends", kind, None, times, outcomes,
                "a few ms")
        server.handler = fs.stall_mid_stream(2)
        for kind in ("sync", "async"):
            times, outcomes = measure(
                args.runs, lambda: close_from_elsewhere(server.base_url, kind))  # noqa: B023
            row("stream.close() from another thread/task -> reader ends", kind, 1.0 - SLACK,
                times, outcomes, "<= 1 s")
        server.handler = fs.stall_before_headers
        for kind in ("sync", "async"):
            times, outcomes = measure(
                args.runs, lambda: client_close_during_headers(server.base_url, kind))  # noqa: B023
            row("client.close() while waiting for headers -> call fails", kind, 1.0 - SLACK,
                times, outcomes, "<= 1 s")

    header = ["wait", "client", "outcome", "min s", "median s", "max s", "target", "met"]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    print(f"\n{args.runs} runs each; torouter {torouter.__version__}; python "
          f"{sys.version.split()[0]}; {os.cpu_count()} CPUs, load average "
          + " ".join(f"{x:.1f}" if isinstance(x, float) else x for x in load))


if __name__ == "__main__":
    main()
