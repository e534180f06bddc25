"""The coordinator shares the client's real ``torouter.CircuitBreaker`` (the ``fallback``
branch): skipped until that class is on this branch.  After the merge, ``BaseClient._layers``
must return ``(..., *self._coordinated(self._breaker))`` for this test to pass: the fleet layer
then decides the breaker in Redis and the local breaker layer is left out.
"""

from __future__ import annotations

import httpx
import pytest

import torouter
from torouter import RedisCoordinator
from torouter.testing import FakeGateway

from .test_coordinator import _end_cooldowns

pytestmark = pytest.mark.skipif(not hasattr(torouter, "CircuitBreaker"),
                                reason="torouter.CircuitBreaker is not on this branch yet")

BASE = "http://gateway.test/v1"
MESSAGES = [{"role": "user", "content": "hi"}]


def test_the_clients_circuit_breaker_is_shared_by_the_fleet(redis_url: str) -> None:
    gw = FakeGateway(seed=3)
    key = gw.add_key()
    coordinators = [RedisCoordinator(redis_url) for _ in range(2)]
    a, b = (torouter.ToRouter(  # type: ignore[call-arg]
        api_key=key, base_url=BASE, max_retries=0,
        http_client=httpx.Client(transport=gw.transport()),
        circuit_breaker=torouter.CircuitBreaker(failure_threshold=2, cooldown=30),  # type: ignore[attr-defined]
        coordinator=coordinator) for coordinator in coordinators)
    names = [type(layer).__name__ for layer in a._seam.layers]  # type: ignore[union-attr]
    assert "_FleetLayer" in names and "CircuitBreaker" not in names
    gw.fail_next("upstream_unavailable", times=2)
    for client in (a, b):  # one failure each: the fleet's breaker opens
        with pytest.raises(torouter.UpstreamUnavailable):
            client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    with pytest.raises(torouter.CircuitOpen) as info:  # type: ignore[attr-defined]
        a.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert info.value.from_coordinator and len(gw.requests) == 2
    _end_cooldowns(redis_url)
    b.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)  # the one probe: closes
    a.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert len(gw.requests) == 4
    for coordinator in coordinators:
        coordinator.close()
