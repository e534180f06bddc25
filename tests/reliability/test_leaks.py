"""No resource leaks: after many failed requests of each kind the same client still works.

For each kind of failure (refused, reset, 5xx storm, stream dropped mid-way), sync and async:

* the pool (``max_connections=4``) still has all four connections to give: four requests that
  the server answers only once all four have arrived succeed (a leaked, never-released
  connection would make one of them wait for the pool and fail with a pool timeout);
* while the client is open, the process holds no more file descriptors than the pool's
  connections (and the server's ends of them) account for;
* once the client is closed, the process holds no more descriptors than before it was made.

The default run makes 300 failed requests per kind; ``pytest -m soak`` runs 1000.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest

import torouter

from . import faultserver as fs
from .faultserver import FaultServer
from .helpers import _SSL, chat_async, chat_sync, make_async, make_sync, open_fds, wait_until

POOL = 4
#: Descriptors a live pool may hold: its connections, and the server's end of each.
SLACK = 2 * POOL + 2
LIMITS = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
#: A leaked connection shows up as a pool timeout, quickly.
POOL_TIMEOUT = httpx.Timeout(3.0, connect=1.0, pool=1.0)


@dataclass
class Kind:
    name: str
    handler: fs.Handler | None  # None: connection refused
    expected: type[torouter.ToRouterError]
    stream: bool = False
    max_retries: int = 0


KINDS = [
    Kind("refused", None, torouter.APIConnectionError),
    Kind("reset", fs.reset_before_headers, torouter.APIConnectionError),
    Kind("500-storm", fs.status(500), torouter.InternalServerError, max_retries=2),
    Kind("mid-stream-drop", fs.reset_mid_stream(1), torouter.StreamInterrupted, stream=True),
]


def _all_at_once(n: int, timeout: float = 3.0) -> fs.Handler:
    """Answer only when ``n`` requests are in flight at the same time (on ``n`` connections)."""
    barrier = threading.Barrier(n, timeout=timeout)

    def handler(conn: fs.Conn, req: fs.Request) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            conn.send(fs.response(503, fs.error_body("server_error", "not all at once")))
            return
        conn.send(fs.response(200, fs.completion(req.marker), {"x-request-id": req.marker}))
    return handler


def _target(kind: Kind, server: FaultServer) -> str:
    if kind.handler is None:
        return f"http://127.0.0.1:{fs.closed_port()}/v1"
    server.handler = kind.handler
    return server.base_url


def _leak_sync(kind: Kind, server: FaultServer, n: int) -> None:
    fds_at_start = open_fds()
    http = httpx.Client(verify=_SSL, limits=LIMITS, follow_redirects=False)
    client = make_sync(_target(kind, server), http_client=http, timeout=POOL_TIMEOUT,
                       max_retries=kind.max_retries)
    good = client.with_options(base_url=server.base_url)  # same pool, a working server
    for _ in range(n):
        with pytest.raises(kind.expected):
            chat_sync(client, stream=kind.stream)

    server.handler = _all_at_once(POOL)
    with ThreadPoolExecutor(POOL) as pool:
        replies = list(pool.map(lambda i: chat_sync(good, marker=f"m{i}"), range(POOL)))
    assert [r.choices[0].message.content for r in replies] == [f"m{i}" for i in range(POOL)]
    assert open_fds() <= fds_at_start + SLACK

    http.close()
    assert wait_until(lambda: open_fds() <= fds_at_start), (open_fds(), fds_at_start)


async def _leak_async(kind: Kind, server: FaultServer, n: int) -> None:
    fds_at_start = open_fds()
    http = httpx.AsyncClient(verify=_SSL, limits=LIMITS, follow_redirects=False)
    client = make_async(_target(kind, server), http_client=http, timeout=POOL_TIMEOUT,
                        max_retries=kind.max_retries)
    good = client.with_options(base_url=server.base_url)
    for _ in range(n):
        with pytest.raises(kind.expected):
            await chat_async(client, stream=kind.stream)

    server.handler = _all_at_once(POOL)
    replies: list[Any] = [None] * POOL

    async def one(i: int) -> None:
        replies[i] = await chat_async(good, marker=f"m{i}")

    async with anyio.create_task_group() as tg:
        for i in range(POOL):
            tg.start_soon(one, i)
    assert [r.choices[0].message.content for r in replies] == [f"m{i}" for i in range(POOL)]
    assert open_fds() <= fds_at_start + SLACK

    await http.aclose()
    assert await anyio.to_thread.run_sync(
        lambda: wait_until(lambda: open_fds() <= fds_at_start)), (open_fds(), fds_at_start)


Runner = Callable[[Kind, FaultServer, int], Any]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_no_leak_after_300_failures_sync(kind: Kind, server: FaultServer) -> None:
    _leak_sync(kind, server, 300)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
async def test_no_leak_after_300_failures_async(kind: Kind, server: FaultServer) -> None:
    await _leak_async(kind, server, 300)


@pytest.mark.soak
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_no_leak_after_1000_failures_sync(kind: Kind, server: FaultServer) -> None:
    _leak_sync(kind, server, 1000)


@pytest.mark.soak
@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
async def test_no_leak_after_1000_failures_async(kind: Kind, server: FaultServer) -> None:
    await _leak_async(kind, server, 1000)


def test_a_leaked_connection_would_be_caught(server: FaultServer) -> None:
    """The check above can fail: responses never closed pin the pool and the barrier fails."""
    http = httpx.Client(verify=_SSL, limits=LIMITS)
    server.handler = fs.ok()
    leaked = [http.send(http.build_request("GET", server.url + "/x"), stream=True)]
    client = make_sync(server.base_url, http_client=http,
                       timeout=httpx.Timeout(3.0, pool=0.5))
    server.handler = _all_at_once(POOL, timeout=0.5)
    with ThreadPoolExecutor(POOL) as pool:
        outcomes = list(pool.map(lambda i: _try(lambda: chat_sync(client, marker=f"m{i}")),
                                 range(POOL)))
    assert any(isinstance(o, torouter.ToRouterError) for o in outcomes)
    leaked[0].close()
    http.close()


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except torouter.ToRouterError as err:
        return err
