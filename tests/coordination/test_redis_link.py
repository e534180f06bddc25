"""``torouter/_redis_link.py`` packs its ``EVALSHA`` by hand: the bytes must be exactly what
redis-py's own packer writes for the same command, for any keys and arguments (non-ASCII text,
empty strings, negative numbers, the terminal-state JSON)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.connection import PythonRespSerializer

from torouter._coordinator import _AFTER, _BEFORE
from torouter._redis_link import _Script

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
