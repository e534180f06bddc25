"""``RedisCoordinator`` against a real redis-server: clients of one key (each with its own
coordinator object, as separate processes would have) share rate-limit pauses, terminal key
states, breakers and the retry budget; nothing secret reaches Redis; Redis down, slow or
misconfigured changes nothing but one WARNING, and coordination comes back by itself.

The cross-process proof (8 processes against one gateway server) is ``test_fleet.py``.
"""

from __future__ import annotations

import logging
import pickle
import signal
import time
from typing import Any

import httpx
import pytest
import redis

import torouter
from torouter import RedisCoordinator
from torouter._coordinator import key_id
from torouter._seam import Layer
from torouter.testing import FakeGateway

pytestmark = pytest.mark.anyio

BASE = "http://gateway.test/v1"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def gw() -> FakeGateway:
    return FakeGateway(seed=3)


@pytest.fixture
def key(gw: FakeGateway) -> str:
    return gw.add_key()


class StandInBreaker:
    """The agreed CircuitBreaker contract, as the coordinator sees it (duck-typed)."""

    def __init__(self, failure_threshold: int = 2, window: float = 30.0,
                 cooldown: float = 0.3) -> None:
        self.failure_threshold = failure_threshold
        self.window = window
        self.cooldown = cooldown

    def counts(self, error: torouter.ToRouterError) -> bool:
        return isinstance(error, torouter.InternalServerError)

    def open_error(self, model: str | None, retry_after: float | None) -> torouter.ToRouterError:
        return CircuitOpen(f"circuit open for {model}", retry_after=retry_after)


class CircuitOpen(torouter.ToRouterError):
    """Stand-in for torouter.CircuitOpen (never retried: ToRouterError's default rule)."""


_MADE: list[RedisCoordinator] = []


@pytest.fixture(autouse=True)
async def _close_coordinators() -> Any:
    """Close what the test's coordinators opened (their asyncio connections die with the loop)."""
    yield
    for coordinator in _MADE:
        coordinator.close()
        await coordinator.aclose()
    _MADE.clear()


def make(kind: str, gw: FakeGateway, key: str, coordinator: RedisCoordinator | None,
         breaker: Any = None, **options: Any) -> Any:
    if coordinator is not None:
        _MADE.append(coordinator)
    base = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter

    class Client(base):  # type: ignore[misc, valid-type]
        def _layers(self) -> tuple[Layer | None, ...]:
            # The fleet layer with the stand-in breaker (or none): not the client's own default
            # breaker, so that these tests see only what they set up.
            return self._coordinated(breaker)  # type: ignore[no-any-return]

    http = httpx.Client(transport=gw.transport()) if kind == "sync" else \
        httpx.AsyncClient(transport=gw.async_transport())
    client = Client(api_key=key, base_url=BASE, http_client=http, coordinator=coordinator,
                    **options)
    sleeps: list[float] = []
    if kind == "sync":
        client._sleep = sleeps.append
    else:
        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
        client._sleep = sleep
    client.test_sleeps = sleeps
    return client


async def call(client: Any, **params: Any) -> Any:
    result = client.chat.completions.create(**{"model": "gpt-5-mini", "messages": MESSAGES,
                                               **params})
    if isinstance(client, torouter.AsyncToRouter):
        result = await result
    return result


def sent(gw: FakeGateway) -> int:
    return len(gw.requests)


# -- shared backoff ------------------------------------------------------------------------


async def test_a_429_pauses_the_fleet_and_others_wait_before_sending(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    a = make(kind, gw, key, RedisCoordinator(redis_url))
    b = make(kind, gw, key, RedisCoordinator(redis_url))
    gw.fail_next("rate limit exceeded", retry_after=5)
    await call(a)  # 429, waits the Retry-After (a fake sleep), retried: ok
    assert sent(gw) == 2 and a.test_sleeps[0] == 5
    reply = await call(b)
    assert reply.choices[0].message.content
    (waited,) = b.test_sleeps  # b never saw the 429 but waited out the fleet's pause first
    assert 3 < waited <= 5
    assert sent(gw) == 3


async def test_a_pause_past_the_deadline_raises_rate_limited_at_once_sending_nothing(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    a = make(kind, gw, key, RedisCoordinator(redis_url), max_retries=0)
    b = make(kind, gw, key, RedisCoordinator(redis_url), deadline=2.0)
    gw.fail_next("rate limit exceeded", retry_after=30)
    with pytest.raises(torouter.RateLimited) as first:
        await call(a)
    before = sent(gw)
    with pytest.raises(torouter.RateLimited) as info:
        await call(b)
    err = info.value
    assert sent(gw) == before and b.test_sleeps == []  # nothing sent, nothing slept, not retried
    assert err.from_coordinator and not first.value.from_coordinator
    assert 29 < (err.retry_after or 0) <= 30
    assert err.request_id == first.value.request_id  # the 429 that started the pause
    assert [a.outcome for a in err.attempts] == ["RateLimited"]
    assert "nothing was sent" in str(err)


async def test_a_pause_above_max_retry_after_raises_at_once(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    a = make(kind, gw, key, RedisCoordinator(redis_url), max_retries=0)
    b = make(kind, gw, key, RedisCoordinator(redis_url),
             retry_policy=torouter.RetryPolicy(max_retry_after=1.0))
    gw.fail_next("rate limit exceeded", retry_after=5)
    with pytest.raises(torouter.RateLimited):
        await call(a)
    with pytest.raises(torouter.RateLimited, match="max_retry_after") as info:
        await call(b)
    assert info.value.from_coordinator and sent(gw) == 1


async def test_without_retry_after_the_pause_is_the_clients_own_backoff(
        gw: FakeGateway, key: str, redis_url: str) -> None:
    backoff = torouter.Backoff(initial=5, maximum=5, jitter=True)
    policy = torouter.RetryPolicy(rules={torouter.RateLimited: torouter.RetryRule(
        max_retries=0, backoff=backoff)})
    a = make("sync", gw, key, RedisCoordinator(redis_url), retry_policy=policy)
    b = make("sync", gw, key, RedisCoordinator(redis_url))
    gw.fail_next("rate limit exceeded")  # no Retry-After
    with pytest.raises(torouter.RateLimited):
        await call(a)
    await call(b)
    (waited,) = b.test_sleeps
    assert 3 < waited <= 5  # the backoff's ceiling for that retry, without jitter


# -- shared terminal state ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["API_KEY_EXPIRED", "INVALID_API_KEY", "API_KEY_DISABLED",
                                  "USER_INACTIVE", "USER_NOT_FOUND", "API_KEY_QUOTA_EXHAUSTED",
                                  "USAGE_LIMIT_EXCEEDED", "INSUFFICIENT_BALANCE"])
async def test_a_terminal_error_seen_once_is_raised_by_the_others_without_sending(
        kind: str, gw: FakeGateway, key: str, redis_url: str, code: str) -> None:
    a = make(kind, gw, key, RedisCoordinator(redis_url))
    b = make(kind, gw, key, RedisCoordinator(redis_url))
    gw.fail_next(code, message=f"{code} for this key")
    with pytest.raises(torouter.ToRouterError) as original:
        await call(a)
    with pytest.raises(type(original.value)) as info:
        await call(b)
    err, orig = info.value, original.value
    assert sent(gw) == 1
    assert err.from_coordinator and not orig.from_coordinator
    assert type(err) is type(orig)
    assert (err.status_code, err.code, err.message, err.hint, err.request_id, err.doc_url) == \
        (orig.status_code, orig.code, orig.message, orig.hint, orig.request_id, orig.doc_url)
    assert [x.outcome for x in err.attempts] == [type(orig).__name__]
    assert pickle.loads(pickle.dumps(err)).from_coordinator


async def test_a_refused_terminal_error_ends_the_call_even_when_the_policy_retries_it(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    policy = torouter.RetryPolicy().with_rule(torouter.KeyExpired, retry=True, max_retries=3)
    a = make(kind, gw, key, RedisCoordinator(redis_url), max_retries=0)
    b = make(kind, gw, key, RedisCoordinator(redis_url), retry_policy=policy)
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    with pytest.raises(torouter.KeyExpired) as info:
        await call(b)
    assert len(info.value.attempts) == 1 and b.test_sleeps == [] and sent(gw) == 1


async def test_terminal_ttl_per_class_and_expiry(gw: FakeGateway, key: str,
                                                 redis_url: str) -> None:
    ttl = {torouter.KeyExpired: 1.0, torouter.QuotaExhausted: 0}
    a = make("sync", gw, key, RedisCoordinator(redis_url, terminal_ttl=ttl))
    b = make("sync", gw, key, RedisCoordinator(redis_url, terminal_ttl=ttl))
    gw.fail_next("API_KEY_QUOTA_EXHAUSTED")
    with pytest.raises(torouter.QuotaExhausted):
        await call(a)
    await call(b)  # a TTL of 0: not shared, b sends (and succeeds)
    assert sent(gw) == 2
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    with pytest.raises(torouter.KeyExpired):
        await call(b)
    assert sent(gw) == 3
    with redis.Redis.from_url(redis_url) as r:
        (name,) = r.keys("*:term")
        assert 0 < r.pttl(name) <= 1000
    time.sleep(1.05)  # the recorded state's TTL (Redis time) runs out
    await call(b)
    assert sent(gw) == 4


async def test_a_success_sent_after_the_record_clears_it_an_earlier_one_does_not(
        gw: FakeGateway, key: str, redis_url: str) -> None:
    from torouter._retrying import CallRetryState

    coord = RedisCoordinator(redis_url)
    layer = coord._bind(key, BASE)

    def new_call() -> CallRetryState:
        c = CallRetryState(policy=torouter.RetryPolicy(), budget=None, clock=time.monotonic,
                           deadline=10, on_retry=None, label="t")
        layer.start_call(c)
        return c

    in_flight = new_call()
    assert layer.before_attempt(in_flight) is None  # checked: nothing recorded yet
    failing = new_call()
    layer.before_attempt(failing)
    layer.after_attempt(failing, failing.failed(torouter.KeyExpired("expired",
                                                                    code="API_KEY_EXPIRED")))
    layer.after_attempt(in_flight, None)  # sent before the record: proves nothing, no clear
    with pytest.raises(torouter.KeyExpired):
        layer.before_attempt(new_call())
    unchecked = new_call()  # e.g. sent while Redis did not answer
    layer.after_attempt(unchecked, None)
    assert layer.before_attempt(new_call()) is None  # cleared


async def test_reset_forgets_the_recorded_state(gw: FakeGateway, key: str,
                                                redis_url: str) -> None:
    coord = RedisCoordinator(redis_url)
    a = make("sync", gw, key, coord)
    gw.fail_next("API_KEY_DISABLED")
    with pytest.raises(torouter.KeyDisabled):
        await call(a)
    with pytest.raises(torouter.KeyDisabled):
        await call(a)
    coord.reset(key, BASE)
    await call(a)
    assert sent(gw) == 2


# -- shared breakers -----------------------------------------------------------------------


async def test_the_breaker_is_fleet_wide_with_one_half_open_probe(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    breaker = StandInBreaker(failure_threshold=2, cooldown=30)
    a = make(kind, gw, key, RedisCoordinator(redis_url), breaker, max_retries=0)
    b = make(kind, gw, key, RedisCoordinator(redis_url), breaker, max_retries=0)
    gw.fail_next(500, times=2)
    for client in (a, b):  # one failure each: two in the fleet's window
        with pytest.raises(torouter.InternalServerError):
            await call(client)
    with pytest.raises(CircuitOpen) as info:
        await call(a)
    assert info.value.from_coordinator and 25 < (info.value.retry_after or 0) <= 30
    assert sent(gw) == 2
    await call(b, model="gpt-5")  # another model: its own breaker, closed
    assert sent(gw) == 3
    _end_cooldowns(redis_url)  # half-open

    layer_a = a._seam.layers[0]
    probe = a._new_call(_spec())
    assert await _before(kind, layer_a, probe) is None  # a is the fleet's one probe
    with pytest.raises(CircuitOpen):  # b may not probe while a does
        await call(b)
    await _after(kind, layer_a, probe, None)  # the probe succeeded: closed for everyone
    await call(b)
    assert sent(gw) == 4


async def test_a_failed_probe_opens_the_breaker_again(gw: FakeGateway, key: str,
                                                      redis_url: str) -> None:
    breaker = StandInBreaker(failure_threshold=1, cooldown=30)
    a = make("sync", gw, key, RedisCoordinator(redis_url), breaker, max_retries=0)
    gw.fail_next(500, times=2)
    with pytest.raises(torouter.InternalServerError):
        await call(a)
    _end_cooldowns(redis_url)
    with pytest.raises(torouter.InternalServerError):  # the probe fails
        await call(a)
    with pytest.raises(CircuitOpen):
        await call(a)
    assert sent(gw) == 2


def _end_cooldowns(url: str) -> None:
    """Fast-forward every open breaker to the end of its cooldown (no sleeping in tests)."""
    with redis.Redis.from_url(url) as r:
        for name in r.scan_iter(match="*:brk:*"):
            if r.hexists(name, "open_until"):
                r.hset(name, "open_until", 0)


def _spec() -> Any:
    from torouter._base_client import RequestSpec
    from torouter.types import ChatCompletion

    return RequestSpec("POST", "/chat/completions", ChatCompletion,
                       params={"model": "gpt-5-mini", "messages": MESSAGES})


async def _before(kind: str, layer: Any, c: Any) -> float | None:
    if kind == "sync":
        return layer.before_attempt(c)  # type: ignore[no-any-return]
    return await layer.abefore_attempt(c)  # type: ignore[no-any-return]


async def _after(kind: str, layer: Any, c: Any, error: Any) -> None:
    if kind == "sync":
        layer.after_attempt(c, error)
    else:
        await layer.aafter_attempt(c, error)


# -- shared retry budget -------------------------------------------------------------------


async def test_the_retry_budget_can_be_shared(kind: str, gw: FakeGateway, key: str,
                                              redis_url: str) -> None:
    def budget() -> torouter.RetryBudget:
        return torouter.RetryBudget(10, retry_cost=5, success_refund=1)

    a = make(kind, gw, key, RedisCoordinator(redis_url, share_retry_budget=True),
             retry_budget=budget(), max_retries=5)
    b = make(kind, gw, key, RedisCoordinator(redis_url, share_retry_budget=True),
             retry_budget=budget(), max_retries=5)
    gw.fail_next(503, times=10)
    with pytest.raises(torouter.NoEligibleChannel) as info:
        await call(a)  # two retries drain the fleet's 10 tokens
    assert len(info.value.attempts) == 3
    assert info.value.attempts[-1].stop_reason == "retry budget empty"
    with pytest.raises(torouter.NoEligibleChannel) as info:
        await call(b)  # b's own bucket is full, but the fleet's is empty
    assert len(info.value.attempts) == 1
    assert info.value.attempts[-1].stop_reason == "retry budget empty"


async def test_a_private_budget_is_the_default(gw: FakeGateway, key: str,
                                               redis_url: str) -> None:
    def budget() -> torouter.RetryBudget:
        return torouter.RetryBudget(10, retry_cost=5)

    a = make("sync", gw, key, RedisCoordinator(redis_url), retry_budget=budget(), max_retries=5)
    b = make("sync", gw, key, RedisCoordinator(redis_url), retry_budget=budget(), max_retries=5)
    gw.fail_next(503, times=6)
    for client in (a, b):
        with pytest.raises(torouter.NoEligibleChannel) as info:
            await call(client)
        assert len(info.value.attempts) == 3


# -- secrets and key layout -----------------------------------------------------------------


async def test_redis_never_holds_the_key(kind: str, gw: FakeGateway, key: str,
                                         redis_url: str) -> None:
    coord = RedisCoordinator(redis_url, share_retry_budget=True)
    a = make(kind, gw, key, coord, StandInBreaker(failure_threshold=1, cooldown=30),
             max_retries=1)
    gw.fail_next("rate limit exceeded", retry_after=5)
    await call(a)
    gw.fail_next(500, message=f"boom {key}")
    with pytest.raises(CircuitOpen):  # the retry is refused: the breaker opened
        await call(a, model="gpt-5")
    gw.fail_next("API_KEY_EXPIRED", message=f"key {key} expired")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    dump = _dump(redis_url)
    assert dump and key not in dump and key[3:] not in dump and key[-12:] not in dump
    kid = key_id(key, BASE)
    with redis.Redis.from_url(redis_url) as r:
        names = sorted(k.decode() for k in r.scan_iter())
    assert all(n.startswith(f"torouter:{{{kid}}}:") for n in names)
    assert {n.split(":")[2] for n in names} >= {"pause", "term", "budget", "brk"}
    assert key not in repr(coord) and key not in repr(a._seam.layers[0])


def _dump(url: str) -> str:
    out = []
    with redis.Redis.from_url(url) as r:
        for name in r.scan_iter():
            out.append(name.decode())
            kind = r.type(name).decode()
            if kind == "string":
                out.append(r.get(name).decode())
            elif kind == "hash":
                out.extend(f"{k.decode()}={v.decode()}" for k, v in r.hgetall(name).items())
            elif kind == "zset":
                out.extend(m.decode() for m in r.zrange(name, 0, -1))
    return "\n".join(out)


async def test_the_key_id_depends_on_key_and_base_url_only() -> None:
    assert key_id("sk-a", BASE) == key_id("sk-a", BASE + "/")
    assert len({key_id("sk-a", BASE), key_id("sk-b", BASE), key_id("sk-a", "http://x/v1")}) == 3


async def test_namespaces_do_not_meet(gw: FakeGateway, key: str, redis_url: str) -> None:
    a = make("sync", gw, key, RedisCoordinator(redis_url, namespace="app1"))
    b = make("sync", gw, key, RedisCoordinator(redis_url, namespace="app2"))
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    await call(b)
    assert sent(gw) == 2


# -- configuration ------------------------------------------------------------------------


async def test_configuration_is_checked(redis_url: str) -> None:
    bad: list[tuple[Any, dict[str, Any]]] = [
        (42, {}), ("http://not-redis", {}), (redis_url, {"namespace": ""}),
        (redis_url, {"namespace": "a b"}), (redis_url, {"socket_timeout": 0}),
        (redis_url, {"terminal_ttl": -1}),
        (redis_url, {"terminal_ttl": {torouter.NotFoundError: 1}}),
    ]
    for arg, options in bad:
        with pytest.raises(torouter.InvalidArgumentError):
            RedisCoordinator(arg, **options)
    with pytest.raises(torouter.InvalidArgumentError, match="coordinator"):
        torouter.ToRouter(api_key="sk-x", coordinator="redis://localhost")  # type: ignore[arg-type]


async def test_with_options_keeps_or_changes_the_coordinator(gw: FakeGateway, key: str,
                                                             redis_url: str) -> None:
    from torouter._coordinator import _FleetLayer

    def fleet_layers(client: Any) -> list[Layer]:
        seam = client._seam
        return [] if seam is None else [x for x in seam.layers if isinstance(x, _FleetLayer)]

    coord = RedisCoordinator(redis_url)
    a = torouter.ToRouter(api_key=key, base_url=BASE, coordinator=coord)
    assert a.with_options(timeout=5)._coordinator is coord
    assert len(fleet_layers(a.with_options(timeout=5))) == 1
    assert fleet_layers(a.with_options(coordinator=None)) == []
    plain = torouter.ToRouter(api_key=key, base_url=BASE)
    assert fleet_layers(plain) == []
    assert len(fleet_layers(plain.with_options(coordinator=coord))) == 1
    assert len(fleet_layers(torouter.AsyncToRouter(api_key=key, base_url=BASE,
                                                   coordinator=coord))) == 1


async def test_a_client_given_as_object_works_for_both_client_kinds(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    import redis.asyncio

    given = redis.Redis.from_url(redis_url) if kind == "sync" else \
        redis.asyncio.Redis.from_url(redis_url)
    other = "async" if kind == "sync" else "sync"
    a = make(kind, gw, key, RedisCoordinator(given))
    b = make(other, gw, key, RedisCoordinator(given))  # the twin, built from given's settings
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    with pytest.raises(torouter.KeyExpired) as info:
        await call(b)
    assert info.value.from_coordinator and sent(gw) == 1
    if kind == "async":
        await given.aclose()  # the user's client is the user's to close
    else:
        given.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "torouter"]


# -- fail open -------------------------------------------------------------------------------


async def test_redis_killed_mid_run_fails_open_with_one_warning_and_recovers(
        kind: str, gw: FakeGateway, key: str, own_redis: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    a = make(kind, gw, key, RedisCoordinator(own_redis.url, retry_interval=0.2))
    b = make(kind, gw, key, RedisCoordinator(own_redis.url, retry_interval=0.2))
    await call(a)
    own_redis.stop()
    caplog.set_level(logging.INFO, "torouter")
    for _ in range(20):  # calls go on as without a coordinator
        await call(a)
        await call(b)
    warnings = _warnings(caplog)
    assert len(warnings) == 2  # one per coordinator (per process), not one per call
    assert "fleet coordination is off" in warnings[0].getMessage()
    assert key not in caplog.text
    own_redis.start()  # the same port
    time.sleep(0.25)  # retry_interval: Redis is tried again
    await call(a)
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    with pytest.raises(torouter.KeyExpired) as info:
        await call(b)
    assert info.value.from_coordinator  # coordination is back
    assert "back on" in caplog.text
    assert len(_warnings(caplog)) == 2


async def test_a_stalled_redis_costs_one_short_timeout_not_one_per_call(
        kind: str, gw: FakeGateway, key: str, own_redis: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    a = make(kind, gw, key, RedisCoordinator(own_redis.url, socket_timeout=0.05,
                                             retry_interval=30))
    await call(a)
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)  # alive but silent
    try:
        for _ in range(10):
            await call(a)
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert sent(gw) == 11
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "Timeout" in warnings[0].getMessage()


async def test_a_round_trip_cut_by_its_timeout_never_leaves_its_late_reply_behind(
        kind: str, gw: FakeGateway, key: str, own_redis: Any) -> None:
    """The stalled Redis answers the cut round trip once it resumes; that late reply must not be
    read as the answer to the next check (the connection is dropped, not reused)."""
    a = make(kind, gw, key, RedisCoordinator(own_redis.url, socket_timeout=0.05,
                                             retry_interval=0.1))
    b = make(kind, gw, key, RedisCoordinator(own_redis.url))
    await call(a)
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        await call(a)  # the check times out: sent uncoordinated
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    time.sleep(0.15)  # retry_interval
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(b)
    before = sent(gw)
    with pytest.raises(torouter.KeyExpired) as info:
        await call(a)  # a stale "[0, 0, '']" reply would have let it send
    assert info.value.from_coordinator and sent(gw) == before


async def test_a_flushed_script_cache_is_loaded_again_without_a_warning(
        kind: str, gw: FakeGateway, key: str, redis_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A restarted Redis (or SCRIPT FLUSH) forgets the scripts: NOSCRIPT loads them again."""
    a = make(kind, gw, key, RedisCoordinator(redis_url))
    b = make(kind, gw, key, RedisCoordinator(redis_url))
    await call(a)
    await call(b)
    with redis.Redis.from_url(redis_url) as admin:
        admin.script_flush()
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired):
        await call(a)
    with pytest.raises(torouter.KeyExpired) as info:
        await call(b)
    assert info.value.from_coordinator and sent(gw) == 3
    assert _warnings(caplog) == []


async def test_a_client_given_with_decode_responses_keeps_the_pauses_request_id(
        kind: str, gw: FakeGateway, key: str, redis_url: str) -> None:
    import redis.asyncio

    factory = redis.Redis if kind == "sync" else redis.asyncio.Redis
    given = factory.from_url(redis_url, decode_responses=True)
    a = make(kind, gw, key, RedisCoordinator(given), max_retries=0)
    b = make(kind, gw, key, RedisCoordinator(given), deadline=2.0)
    gw.fail_next("rate limit exceeded", retry_after=30)
    with pytest.raises(torouter.RateLimited) as first:
        await call(a)
    with pytest.raises(torouter.RateLimited) as info:
        await call(b)
    assert info.value.from_coordinator and info.value.request_id
    assert info.value.request_id == first.value.request_id
    if kind == "async":
        await given.aclose()
    else:
        given.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "redis://127.0.0.1:{port}/999",
                                 "redis://:secret-pw@127.0.0.1:{http}/0"])
async def test_misconfigured_redis_fails_open(kind: str, gw: FakeGateway, key: str,
                                              _shared_redis: Any, url: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening; a database that does not exist; an HTTP server, not Redis."""
    with FakeGateway().serve() as http_server:
        http_port = httpx.URL(http_server.base_url).port
        coord = RedisCoordinator(url.format(port=_shared_redis.port, http=http_port))
        await _run_uncoordinated(kind, gw, key, coord)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "secret-pw" not in caplog.text + repr(coord)


async def _run_uncoordinated(kind: str, gw: FakeGateway, key: str,
                             coord: RedisCoordinator) -> None:
    a = make(kind, gw, key, coord)
    gw.fail_next("API_KEY_EXPIRED")
    with pytest.raises(torouter.KeyExpired) as info:
        await call(a)
    assert not info.value.from_coordinator
    for _ in range(3):
        await call(a)
    assert sent(gw) == 4


async def test_a_shared_breaker_replaces_the_local_breaker_layer(key: str, redis_url: str) -> None:
    """The wiring for the client's CircuitBreaker (the last layer): shared -> decided by the
    fleet layer in its Redis round trip, local layer dropped; not shared -> kept."""
    local = StandInBreaker()
    client = torouter.ToRouter(api_key=key, base_url=BASE,
                               coordinator=RedisCoordinator(redis_url))
    fleet, breaker = client._coordinated(local)
    assert fleet is not None and fleet.breaker is local and breaker is None
    client = client.with_options(coordinator=RedisCoordinator(redis_url, share_breakers=False))
    fleet, breaker = client._coordinated(local)
    assert fleet is not None and fleet.breaker is None and breaker is local
    assert client.with_options(coordinator=None)._coordinated(local) == (None, local)


def _layer_call(layer: Any) -> Any:
    from torouter._retrying import CallRetryState

    c = CallRetryState(policy=torouter.RetryPolicy(), budget=None, clock=time.monotonic,
                       deadline=10, on_retry=None, label="t", spec=_spec())
    layer.start_call(c)
    return c


async def test_a_failure_known_only_at_the_call_end_rides_along_with_the_next_check(
        key: str, redis_url: str) -> None:
    """A stream cut after its first chunk: the breaker counts it when the call ends (no I/O
    there), and the next check of this process records it in the same round trip."""
    layer = RedisCoordinator(redis_url)._bind(key, BASE, StandInBreaker(failure_threshold=1))
    streamed = _layer_call(layer)
    assert layer.before_attempt(streamed) is None
    layer.on_send(streamed)
    layer.after_attempt(streamed, None)  # the first chunk arrived: a success so far
    streamed.result = object()
    layer.end_call(streamed, torouter.InternalServerError("cut mid-stream"))
    with pytest.raises(CircuitOpen):  # recorded, then read, by the next check
        layer.before_attempt(_layer_call(layer))


async def test_a_probe_slot_taken_by_an_attempt_never_sent_is_freed(
        key: str, redis_url: str) -> None:
    layer = RedisCoordinator(redis_url)._bind(key, BASE, StandInBreaker(failure_threshold=1))
    failed = _layer_call(layer)
    layer.before_attempt(failed)
    layer.after_attempt(failed, failed.failed(torouter.InternalServerError("down")))
    _end_cooldowns(redis_url)
    probe = _layer_call(layer)
    assert layer.before_attempt(probe) is None  # the probe slot: taken
    with pytest.raises(CircuitOpen):
        layer.before_attempt(_layer_call(layer))  # another may not probe meanwhile
    layer.end_call(probe, torouter.APITimeoutError("a later wait passed the deadline"))
    assert layer.before_attempt(_layer_call(layer)) is None  # freed: this one probes


async def test_an_attempt_refused_for_the_pause_takes_no_probe_slot(key: str,
                                                                    redis_url: str) -> None:
    layer = RedisCoordinator(redis_url)._bind(key, BASE, StandInBreaker(failure_threshold=1))
    failed = _layer_call(layer)
    layer.before_attempt(failed)
    layer.after_attempt(failed, failed.failed(torouter.InternalServerError("down")))
    _end_cooldowns(redis_url)
    limited = _layer_call(layer)
    layer.before_attempt(limited)
    layer.after_attempt(limited, limited.failed(torouter.RateLimited("slow", retry_after=30)))
    short = _layer_call(layer)
    short.deadline_at = short.start + 1.0
    with pytest.raises(torouter.RateLimited):  # the pause outlasts its deadline
        layer.before_attempt(short)
    patient = _layer_call(layer)
    patient.deadline_at = patient.start + 60
    assert 25 < (layer.before_attempt(patient) or 0) <= 30  # waits, then probes
    assert patient.notes[layer].probe


# -- pins found by a mutation run of _coordinator -----------------------------------------------


async def test_the_documented_defaults(redis_url: str) -> None:
    coordinator = RedisCoordinator(redis_url)
    assert coordinator.socket_timeout == 0.05  # 50 ms per Redis call (docs/fleet.md)
    assert coordinator.retry_interval == 1.0
    assert coordinator.namespace == "torouter"
    assert not coordinator.share_retry_budget and coordinator.share_breakers
    assert set(coordinator.terminal_ttl.values()) == {60.0}


async def test_the_per_model_key_lists_are_cached_up_to_1024_models(redis_url: str) -> None:
    layer = RedisCoordinator(redis_url)._bind("sk-cache-0123456789", BASE)
    first = layer._keys_for("gpt-5-mini")
    assert layer._keys_for("gpt-5-mini") is first  # built once
    for i in range(1100):
        keys = layer._keys_for(f"model-{i}")
        assert keys[-2].startswith(layer.prefix + ":brk:")
    assert len(layer._model_keys) == 1024
