"""The fleet proof: 8 processes x 50 calls on one key against ONE fake gateway server, with and
without a RedisCoordinator on a real Redis (the scenario lives in ``benchmarks/_fleet.py``,
which ``benchmarks/fleet.py`` prints as a table).

* Request-rate limit: the gateway allows 20 requests a second from the host and answers the
  rest with the request-rate 429 and ``Retry-After: 2``; each call has a 1 s deadline (a web
  request), so no call can wait out a 429 it meets.  Without coordination every process keeps
  sending into the 429s; with it the first 429 pauses the fleet: calls wait when the pause ends
  within their deadline, else raise ``RateLimited`` at once, sending nothing.
* Key expiry: the key expires after 100 successful calls.  Without coordination every later
  call sends one request to learn it; with it only the requests already in flight do.

Counts only: no assertion on how fast anything ran (the machine is shared).  The processes
are started once for the module (~1 s each of CPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _fleet import Fleet, FleetResult  # benchmarks/, put on sys.path by conftest.py
from _redis import RedisServer

PROCESSES, CALLS = 8, 50
# Redis is local, but 8 workers + the gateway + a loaded 2-core CI box can stall a process for
# longer than the default 50 ms; this test is about coordination, test_coordinator.py proves
# the timeout and fail-open.
SOCKET_TIMEOUT = 1.0
RATE: dict[str, Any] = {"limit": 20, "window": 1.0, "retry_after": 2.0, "deadline": 1.0,
                        "interval": 0.02, "socket_timeout": SOCKET_TIMEOUT}
EXPIRY: dict[str, Any] = {"expire_after": 100, "deadline": 5.0, "socket_timeout": SOCKET_TIMEOUT}


@pytest.fixture(scope="module")
def fleet(_shared_redis: RedisServer) -> Iterator[Fleet]:
    with Fleet(PROCESSES) as workers:
        yield workers


def _check_every_call_ended_typed(result: FleetResult, deadline: float) -> None:
    assert result.calls == PROCESSES * CALLS
    assert result.untyped == []  # every outcome is a success or a torouter error
    # Within its deadline: the deadline bounds every wait and attempt; the slack only absorbs
    # a starved process on a loaded machine (a watchdog against unbounded waits, not a timing).
    assert result.worst_overrun < deadline + 2.0


def test_the_fleet_backs_off_together_on_the_request_rate_429(
        fleet: Fleet, _shared_redis: RedisServer) -> None:
    alone = fleet.run("rate", redis_url=None, calls=CALLS, **RATE)
    together = fleet.run("rate", redis_url=_shared_redis.url, calls=CALLS,
                         **RATE)
    for result in (alone, together):
        _check_every_call_ended_typed(result, RATE["deadline"])
        assert result.rate_limited > 0
    print(f"\nrate: without {alone}\nrate: with    {together}")
    assert alone.from_coordinator == 0 and together.from_coordinator > 0
    # The acceptance criterion: requests sent after the first 429 drop by at least 5x.
    assert alone.after_first >= 5 * together.after_first, (alone, together)
    assert alone.rate_limited >= 5 * together.rate_limited


def test_the_fleet_learns_an_expired_key_once(fleet: Fleet, _shared_redis: RedisServer) -> None:
    alone = fleet.run("expiry", redis_url=None, calls=CALLS, **EXPIRY)
    together = fleet.run("expiry", redis_url=_shared_redis.url, calls=CALLS,
                         **EXPIRY)
    print(f"\nexpiry: without {alone}\nexpiry: with    {together}")
    for result in (alone, together):
        _check_every_call_ended_typed(result, EXPIRY["deadline"])
        assert result.outcomes["ok"] == 100
        assert result.outcomes["KeyExpired"] == PROCESSES * CALLS - 100
        assert result.calls_after_first > 100  # the expiry came mid-run
    # Without: every call started after the expiry was first seen sends a request to learn it.
    assert alone.after_first >= alone.calls_after_first
    # With: only the requests already in flight at that moment (at most one per process).
    assert together.after_first <= PROCESSES
    assert together.from_coordinator >= together.calls_after_first - PROCESSES
