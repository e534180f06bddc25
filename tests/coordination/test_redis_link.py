"""``torouter/_redis_link.py``: the coordinator's round trips on redis-py connections.

The hand-packed ``EVALSHA`` is byte for byte what redis-py's own packer writes (any keys and
arguments: non-ASCII text, empty strings, negative numbers, the terminal-state JSON); the
connections are reused, closed by ``close()`` / ``aclose()``, and a failed one is closed and
dropped; a failing script is not mistaken for a missing one.  Against a real redis-server."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import PythonRespSerializer

from torouter import RedisCoordinator
from torouter._coordinator import _AFTER, _BEFORE
from torouter._redis_link import _AsyncLinks, _Script

KEYS = st.lists(st.text(max_size=40), max_size=8)
ARGS = st.lists(st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=60)), max_size=16)


def _reference(sha: str, keys: list[str], args: list[object]) -> bytes:
    packer = PythonRespSerializer(6000, lambda v: v if isinstance(v, bytes) else str(v).encode())
    return b"".join(packer.pack("EVALSHA", sha, len(keys), *keys, *args))


@given(keys=KEYS, args=ARGS)
def test_the_packed_evalsha_is_what_redis_py_writes(keys: list[str], args: list[object]) -> None:
    script = _Script(_BEFORE)
    assert script.pack(keys, args) == _reference(script.sha.decode(), keys, args)
    # a second time from the packed-keys cache: the same bytes
    assert script.pack(keys, args) == _reference(script.sha.decode(), keys, args)


def test_the_script_load_command_and_the_sha_match_redis_py() -> None:
    import hashlib

    script = _Script(_AFTER)
    assert script.sha == hashlib.sha1(_AFTER.encode()).hexdigest().encode()
    packer = PythonRespSerializer(6000, lambda v: v if isinstance(v, bytes) else str(v).encode())
    assert script.load == b"".join(packer.pack("SCRIPT", "LOAD", _AFTER))


# -- the links against a real redis-server --------------------------------------------------

BASE = "http://gateway.test/v1"
# The before script's arguments for a plain check (no refund, no breaker, no pending reports).
CHECK = [0, 0, "0", 0, -1, 0, 0, 0, 0, 1]


def _admin(url: str) -> Any:
    return redis.Redis.from_url(url)


def _clients_reach(admin: Any, count: int) -> bool:
    """Whether Redis counts ``count`` clients within 5 s: it sees a closed connection in its
    own time (a hang guard, not a timing assertion)."""
    import time

    give_up = time.monotonic() + 5
    while admin.info("clients")["connected_clients"] != count:
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    return True


async def _aclients_reach(admin: Any, count: int) -> bool:
    """:func:`_clients_reach` letting the event loop run (asyncio closes sockets in it)."""
    for _ in range(500):
        if admin.info("clients")["connected_clients"] == count:
            return True
        await asyncio.sleep(0.01)
    return False


def _keys(coordinator: RedisCoordinator) -> list[str]:
    return coordinator._bind("sk-link-0123456789", BASE)._keys_for("gpt-5-mini")


def test_the_packed_key_lists_are_cached_up_to_4096() -> None:
    script = _Script(_BEFORE)
    script.pack(["a"], [1])
    script.pack(["a"], [2])
    assert len(script._keys) == 1
    for i in range(5000):
        packed = script.pack([f"k{i}"], [i])
        assert packed == _reference(script.sha.decode(), [f"k{i}"], [i])
    assert len(script._keys) == 4096


def test_sync_round_trips_reuse_one_connection_and_close_ends_it(redis_url: str) -> None:
    admin = _admin(redis_url)
    coordinator = RedisCoordinator(redis_url)
    keys = _keys(coordinator)
    opened = admin.info("stats")["total_connections_received"]
    for _ in range(20):
        assert coordinator._call(0, keys, CHECK) == [0, b"0", b""]
    assert admin.info("stats")["total_connections_received"] - opened == 1
    clients = admin.info("clients")["connected_clients"]
    coordinator.close()
    assert _clients_reach(admin, clients - 1)
    admin.close()


@pytest.mark.anyio
async def test_async_round_trips_reuse_one_connection_and_aclose_ends_it(redis_url: str) -> None:
    admin = _admin(redis_url)
    coordinator = RedisCoordinator(redis_url)
    keys = _keys(coordinator)
    opened = admin.info("stats")["total_connections_received"]
    for _ in range(20):
        assert await coordinator._acall(0, keys, CHECK) == [0, b"0", b""]
    assert admin.info("stats")["total_connections_received"] - opened == 1
    clients = admin.info("clients")["connected_clients"]
    gc.disable()  # closed by aclose(), not collected
    try:
        await coordinator.aclose()
        assert await _aclients_reach(admin, clients - 1)
    finally:
        gc.enable()
    admin.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.anyio
async def test_a_script_error_fails_open_once_without_reloading_and_closes_its_connection(
        kind: str, redis_url: str) -> None:
    """A script that fails (here: the pause key holds a hash, so GET is a WRONGTYPE error) is
    not mistaken for a missing script: no SCRIPT LOAD, no second EVALSHA; the connection is
    closed, not left to the garbage collector."""
    admin = _admin(redis_url)
    coordinator = RedisCoordinator(redis_url)
    keys = _keys(coordinator)
    admin.hset(keys[0], "not", "a string")
    admin.config_resetstat()
    clients = admin.info("clients")["connected_clients"]
    gc.disable()  # the connection is closed by the coordinator, not collected
    try:
        if kind == "sync":
            reply = coordinator._call(0, keys, CHECK)
            closed = _clients_reach(admin, clients)
        else:
            reply = await coordinator._acall(0, keys, CHECK)
            closed = await _aclients_reach(admin, clients)
    finally:
        gc.enable()
    assert reply is None  # failed open
    stats = admin.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1 and "cmdstat_script" not in stats
    assert closed  # the coordinator's connection is gone
    coordinator.close()
    await coordinator.aclose()
    admin.close()


class _Broken:
    """A redis.asyncio connection whose sends fail and whose disconnect fails too."""

    disconnects = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        raise redis.ConnectionError("the send failed")

    async def disconnect(self, nowait: bool = False) -> None:
        type(self).disconnects += 1
        raise OSError("and so did the disconnect")


@pytest.mark.anyio
async def test_a_failed_async_round_trip_raises_its_own_error_not_the_disconnects() -> None:
    links = _AsyncLinks(_Broken, timeout=1.0)
    with pytest.raises(redis.ConnectionError, match="the send failed"):
        await links.run(_Script(_BEFORE), ["k"], [1])
    assert _Broken.disconnects == 1
    assert links._idle() == []  # a failed connection is never reused
