"""Fixtures for the fleet-coordination tests: a REAL ``redis-server`` on 127.0.0.1 (a free port,
no persistence), started from ``benchmarks/_redis.py``.

Without the binary the tests are skipped with the reason, except under CI (``CI=true``, or
``TOROUTER_REQUIRE_REDIS=1`` as ``.ci/run`` sets after installing it), where a missing binary is
a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _redis import RedisServer, redis_server_binary

NO_REDIS = "redis-server is not installed (apt-get install redis-server); fleet tests skipped"


def _need_redis() -> None:
    if redis_server_binary() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes") or \
                os.environ.get("TOROUTER_REQUIRE_REDIS") == "1":
            pytest.fail("CI must run the fleet tests: redis-server is missing (.ci/run installs "
                        "it)", pytrace=False)
        pytest.skip(NO_REDIS)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _shared_redis() -> Iterator[RedisServer]:
    _need_redis()
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def redis_url(_shared_redis: RedisServer) -> str:
    """A clean database on the session's Redis server."""
    import redis

    with redis.Redis.from_url(_shared_redis.url) as client:
        client.flushall()
    return _shared_redis.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own, to kill and restart."""
    _need_redis()
    with RedisServer() as srv:
        yield srv
