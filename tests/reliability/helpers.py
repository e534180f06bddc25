"""Helpers of the reliability suite: the key, clients with small timeouts, fd counting."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from typing import Any

import httpx

import torouter

#: A key that must never show up anywhere but the Authorization header of the right host.
KEY = "sk-reliability-SECRET-7f3c9a1e5b2d4680"
#: Fragments that would betray the key even when it is cut or re-encoded.
KEY_PARTS = ("reliability-SECRET", "7f3c9a1e5b2d")

#: Default per-attempt timeout and stream idle timeout of the test clients: long enough that a
#: loaded machine never trips them by accident.  Faults that are about timeouts set small ones.
TIMEOUT = httpx.Timeout(3.0, connect=1.0)
IDLE = 3.0
#: A small timeout for the faults that are about timeouts.
SHORT = 0.2
#: No faulty call may take longer than this ("no hang", not a performance claim).  It is far
#: above TIMEOUT (5x), so a fault that only ended because a default timeout fired still passes on
#: a loaded machine; the faults that must end *without* the read timeout set ``timeout=30``,
#: twice this guard, and so prove it.
HANG_GUARD = 15.0


def _no_sleep(seconds: float) -> None:
    return None


async def _no_async_sleep(seconds: float) -> None:
    return None


#: For the httpx clients the tests build themselves (plain HTTP: no certificates needed).
_SSL = ssl.create_default_context()


def _opts(base_url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {"api_key": KEY, "base_url": base_url, "timeout": TIMEOUT,
                            "max_retries": 0, "stream_idle_timeout": IDLE}
    opts.update(kwargs)
    return opts


def make_sync(base_url: str, **kwargs: Any) -> torouter.ToRouter:
    """A sync client with small timeouts; retry sleeps are skipped (backoff is not under test).

    Without ``http_client=`` the SDK builds its own httpx client, as for a user.
    """
    client = torouter.ToRouter(**_opts(base_url, kwargs))
    client._sleep = _no_sleep
    return client


def make_async(base_url: str, **kwargs: Any) -> torouter.AsyncToRouter:
    client = torouter.AsyncToRouter(**_opts(base_url, kwargs))
    client._sleep = _no_async_sleep
    return client


MESSAGES = [{"role": "user", "content": "hi"}]


def chat_sync(client: torouter.ToRouter, *, stream: bool = False, marker: str = "hi") -> Any:
    """One chat call; a stream is read to the end. Returns the completion or the chunks."""
    messages = [{"role": "user", "content": marker}]
    if not stream:
        return client.chat.completions.create(model="gpt-5-mini", messages=messages)
    with client.chat.completions.create(model="gpt-5-mini", messages=messages,
                                        stream=True) as s:
        return list(s)


async def chat_async(client: torouter.AsyncToRouter, *, stream: bool = False,
                     marker: str = "hi") -> Any:
    messages = [{"role": "user", "content": marker}]
    if not stream:
        return await client.chat.completions.create(model="gpt-5-mini", messages=messages)
    s = await client.chat.completions.create(model="gpt-5-mini", messages=messages, stream=True)
    async with s:
        return [c async for c in s]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` (server threads close their sockets a moment after the client)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
