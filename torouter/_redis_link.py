"""The coordinator's round trips: one ``EVALSHA`` on a redis-py connection, without the client.

redis-py's client costs more per command than Redis does: its connection pool takes a lock,
checks the connection, records metrics and dispatches events, and it packs every argument
through its encoder; ``redis.asyncio`` also starts a task per write (``wait_for``).  At one
round trip per attempt that is most of the coordinator's cost.  So the two scripts run here on
redis-py *connections* (they keep the handshake: AUTH, SELECT, TLS, the RESP version, the
parser, hiredis when installed) kept in a free list, with the command packed by hand and one
timeout around the whole round trip.

A connection that failed in any way is disconnected and dropped, never reused; a script the
server does not know (``NOSCRIPT``: a restarted or flushed Redis) is loaded and run again once.
Connections of ``redis.asyncio`` belong to one event loop: :class:`_AsyncLinks` keeps one free
list per loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__: list[str] = []


def _bulk(value: object) -> bytes:
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class _Script:
    """One Lua script: its text, its SHA1, and the packed head of an ``EVALSHA`` of it."""

    __slots__ = ("_keys", "load", "sha")

    def __init__(self, text: str) -> None:
        self.sha = hashlib.sha1(text.encode()).hexdigest().encode()
        self.load = b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n" + _bulk(text)
        self._keys: dict[tuple[str, ...], bytes] = {}  # packed key lists: a client has few

    def pack(self, keys: Sequence[str], args: Sequence[object]) -> bytes:
        names = tuple(keys)
        packed_keys = self._keys.get(names)
        if packed_keys is None:
            packed_keys = _bulk(len(names)) + b"".join(_bulk(k) for k in names)
            if len(self._keys) < 4096:
                self._keys[names] = packed_keys
        parts = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(names) + len(args)), _bulk(self.sha),
                 packed_keys]
        parts.extend(_bulk(a) for a in args)
        return b"".join(parts)


def _is_noscript(exc: BaseException) -> bool:
    return type(exc).__name__ == "NoScriptError" or str(exc).startswith("NOSCRIPT")


class _SyncLink:
    """Sync connections (``redis.Connection`` or its TLS / unix socket kin) in a free list.

    The socket timeout set on the connections bounds each read and write.
    """

    __slots__ = ("_idle", "_make")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._idle: list[Any] = []

    def run(self, script: _Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        try:
            conn = self._idle.pop()  # list.pop / append are atomic: threads share the list
        except IndexError:
            conn = self._make()
        try:
            conn.send_packed_command([script.pack(keys, args)], check_health=False)
            try:
                reply = conn.read_response()
            except Exception as exc:
                if not _is_noscript(exc):
                    raise
                conn.send_packed_command([script.load], check_health=False)
                conn.read_response()
                conn.send_packed_command([script.pack(keys, args)], check_health=False)
                reply = conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        self._idle.append(conn)
        return reply

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


_timeout: Callable[[float], Any] | None = getattr(asyncio, "timeout", None)  # Python >= 3.11


class _AsyncLinks:
    """``redis.asyncio`` connections in one free list per event loop.

    They are made without a socket timeout: ``timeout`` bounds the whole round trip instead
    (one timer, not redis.asyncio's task per write and timer per read).
    """

    __slots__ = ("_by_loop", "_make", "timeout")

    def __init__(self, make: Callable[[], Any], timeout: float) -> None:
        self._make = make
        self.timeout = timeout
        self._by_loop: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()

    def _idle(self) -> list[Any]:
        loop = asyncio.get_running_loop()
        idle = self._by_loop.get(loop)
        if idle is None:  # one dict operation (WeakKeyDictionary.setdefault): thread-safe
            idle = self._by_loop.setdefault(loop, [])
        return idle

    async def run(self, script: _Script, keys: Sequence[str], args: Sequence[object]) -> Any:
        idle = self._idle()
        try:
            conn = idle.pop()
        except IndexError:
            conn = self._make()
        try:
            if _timeout is not None:
                async with _timeout(self.timeout):
                    reply = await self._round_trip(conn, script, keys, args)
            else:  # pragma: no cover - Python 3.10
                reply = await asyncio.wait_for(self._round_trip(conn, script, keys, args),
                                               self.timeout)
        except BaseException:
            await _quietly(conn.disconnect(nowait=True))
            raise
        idle.append(conn)
        return reply

    @staticmethod
    async def _round_trip(conn: Any, script: _Script, keys: Sequence[str],
                          args: Sequence[object]) -> Any:
        await conn.send_packed_command([script.pack(keys, args)], check_health=False)
        try:
            return await conn.read_response()
        except Exception as exc:
            if not _is_noscript(exc):
                raise
        await conn.send_packed_command([script.load], check_health=False)
        await conn.read_response()
        await conn.send_packed_command([script.pack(keys, args)], check_health=False)
        return await conn.read_response()

    async def aclose(self) -> None:
        """Disconnect the connections of the running loop."""
        idle = self._by_loop.pop(asyncio.get_running_loop(), [])
        for conn in idle:
            await _quietly(conn.disconnect())


async def _quietly(awaitable: Awaitable[Any]) -> None:
    with contextlib.suppress(Exception):  # a connection already broken: nothing more to do
        await awaitable
