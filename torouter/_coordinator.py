"""Fleet-wide coordination on Redis: processes sharing one key back off together, learn a dead
key once, share circuit breakers and (optionally) the retry budget.

:class:`RedisCoordinator` is configuration (where Redis is, TTLs, what is shared).  A client
binds it into a seam layer, :class:`_FleetLayer`, for its own key: the layer knows only the key
id, a hash of (API key, base URL), never the key.  Each decision is one Lua script call:

* before an attempt (``_BEFORE``): a recorded terminal state refuses the attempt (the same error
  class, ``from_coordinator=True``); a shared pause makes it wait (or refuse at once with
  ``RateLimited`` when the pause ends past the call's deadline or the policy's
  ``max_retry_after``); an open shared breaker refuses it; a half-open one lets one attempt of
  the whole fleet through as the probe.  Retry-budget refunds ride along.
* after an attempt (``_AFTER``), only when there is something to record: a ``RateLimited``
  pause, a terminal state, a breaker failure or probe outcome, a retry-budget spend.  A clean
  success costs no second call.

The decision logic is written once (``_before_args`` / ``_before_decide``, ``_after_args`` /
``_after_decide``); only the Redis call is written twice (``redis`` and ``redis.asyncio``).
Redis down, slow or misconfigured: the layer behaves as if there were no coordinator, logs one
WARNING per outage and tries Redis again after ``retry_interval`` (``_Health``).  ``redis`` is
imported only when a :class:`RedisCoordinator` is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ._budget import RetryBudget
from ._errors import (
    InsufficientBalance,
    InvalidApiKey,
    InvalidArgumentError,
    KeyDisabled,
    KeyExpired,
    QuotaExhausted,
    RateLimited,
    ToRouterError,
    UsageLimitExceeded,
    UserInactive,
    UserNotFound,
)
from ._redis_link import _AsyncLinks, _Script, _SyncLink
from ._seam import Layer

if TYPE_CHECKING:
    from ._retrying import CallRetryState

__all__ = ["TERMINAL_ERRORS", "RedisCoordinator"]

log = logging.getLogger("torouter")

#: The classes whose state is shared for the key: one process learns it, the others refuse.
TERMINAL_ERRORS: tuple[type[ToRouterError], ...] = (
    InvalidApiKey, KeyDisabled, KeyExpired, UserInactive, UserNotFound,
    QuotaExhausted, UsageLimitExceeded, InsufficientBalance,
)
_TERMINAL_BY_NAME = {cls.__name__: cls for cls in TERMINAL_ERRORS}

# Redis keys of one API key (all under one hash tag, so a Redis Cluster keeps them together):
#   {prefix}:pause        "<until ms> <request id>"            shared backoff, PX = the pause
#   {prefix}:term         "<recorded ms> <json of the error>"   terminal state, PX = its TTL
#   {prefix}:budget       hash level                           shared retry budget
#   {prefix}:brk:<model>  hash open_until, probe_until         shared breaker of one model
#   {prefix}:brkf:<model> zset of failure times                 its failure window
# Times are Redis server time (TIME), so the clocks of the fleet's machines do not matter.
_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A failure the breaker counts (the same decisions as CircuitBreaker._record): while the circuit
-- is open only the probe's failure counts (it opens it again); closed, failures are kept for the
-- window and the threshold-th opens it for the cooldown.
local function failure(kb, kf, threshold, window, cooldown, member, probe)
  if not probe then
    if redis.call('HEXISTS', kb, 'open_until') == 1 then return end
    redis.call('ZADD', kf, now, member)
    redis.call('ZREMRANGEBYSCORE', kf, '-inf', now - window)
    redis.call('PEXPIRE', kf, math.max(window, 1))
    if redis.call('ZCARD', kf) < threshold then return end
  end
  redis.call('DEL', kb, kf)
  redis.call('HSET', kb, 'open_until', now + cooldown)
  redis.call('PEXPIRE', kb, cooldown + 3600000)
end
"""

# KEYS: pause, term, budget, brk, brkf of this call's model, then (brk, brkf) per pending report
# ARGV: refund, capacity, breaker on, probe lease ms, longest wait ms (-1: any), pending count,
#       threshold, window ms, cooldown ms, member prefix, then per pending report 'f' (a
#       failure after the commit point, e.g. a cut stream) or 'r' (a probe never sent)
_BEFORE = _CLOCK + """
local refund = tonumber(ARGV[1])
if refund > 0 then
  local cap = tonumber(ARGV[2])
  local level = tonumber(redis.call('HGET', KEYS[3], 'level') or cap)
  redis.call('HSET', KEYS[3], 'level', math.min(cap, level + refund))
  redis.call('PEXPIRE', KEYS[3], 86400000)
end
for i = 1, tonumber(ARGV[6]) do
  local kb, kf = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  if ARGV[10 + i] == 'f' then
    failure(kb, kf, tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]),
            now .. ':' .. ARGV[10] .. ':' .. i, false)
  else
    redis.call('HDEL', kb, 'probe_until')
  end
end
local term = redis.call('GET', KEYS[2])
if term then return {1, term} end
local wait = 0
local rid = ''
local pause = redis.call('GET', KEYS[1])
if pause then
  local sp = string.find(pause, ' ', 1, true)
  local untl = tonumber(string.sub(pause, 1, sp - 1))
  if untl > now then
    wait = untl - now
    rid = string.sub(pause, sp + 1)
  end
end
local longest = tonumber(ARGV[5])
if longest >= 0 and wait > longest then return {0, tostring(wait), rid} end
if ARGV[3] == '1' then
  local st = redis.call('HMGET', KEYS[4], 'open_until', 'probe_until')
  if st[1] then
    local open_until = tonumber(st[1])
    if now + wait < open_until then return {2, tostring(open_until - now)} end
    if st[2] and tonumber(st[2]) > now then return {2, tostring(tonumber(st[2]) - now)} end
    redis.call('HSET', KEYS[4], 'probe_until', now + wait + tonumber(ARGV[4]))
    return {3, tostring(wait), rid}
  end
end
return {0, tostring(wait), rid}
"""

# KEYS: pause, term, budget, brk, brkf (this call's model)
# ARGV 'ok': elapsed ms of the attempt, probe
# ARGV 'fail': pause ms, request id, terminal JSON (or ''), its TTL ms, counted, threshold,
#       window ms, cooldown ms, probe, retry cost (0: none), capacity, member
_AFTER = _CLOCK + """
local kind = ARGV[1]
if kind == 'ok' then
  local term = redis.call('GET', KEYS[2])
  if term then
    local at = tonumber(string.sub(term, 1, string.find(term, ' ', 1, true) - 1))
    if at <= now - tonumber(ARGV[2]) then redis.call('DEL', KEYS[2]) end
  end
  if ARGV[3] == '1' then redis.call('DEL', KEYS[4], KEYS[5]) end
  return 0
end
local pause = tonumber(ARGV[2])
if pause > 0 then
  local untl = now + pause
  local cur = redis.call('GET', KEYS[1])
  local cur_until = 0
  if cur then cur_until = tonumber(string.sub(cur, 1, string.find(cur, ' ', 1, true) - 1)) end
  if untl > cur_until then redis.call('SET', KEYS[1], untl .. ' ' .. ARGV[3], 'PX', pause) end
end
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], now .. ' ' .. ARGV[4], 'PX', ARGV[5])
end
local probe = ARGV[10] == '1'
if ARGV[6] == '1' then
  failure(KEYS[4], KEYS[5], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]),
          now .. ':' .. ARGV[13], probe)
elseif probe then
  redis.call('HDEL', KEYS[4], 'probe_until')
end
local cost = tonumber(ARGV[11])
if cost > 0 then
  local level = tonumber(redis.call('HGET', KEYS[3], 'level') or ARGV[12])
  local granted = 0
  if level >= cost then
    level = level - cost
    granted = cost
  end
  redis.call('HSET', KEYS[3], 'level', level)
  redis.call('PEXPIRE', KEYS[3], 86400000)
  return granted
end
return 0
"""

_SCRIPTS = (_Script(_BEFORE), _Script(_AFTER))


def key_id(api_key: str | SecretStr, base_url: str) -> str:
    """The id of (API key, base URL) in Redis: a one-way hash, never the key itself."""
    secret = api_key if isinstance(api_key, SecretStr) else SecretStr(str(api_key))
    digest = hashlib.sha256(b"torouter-fleet\x00" + base_url.rstrip("/").encode() + b"\x00" +
                            secret.get_secret_value().encode()).hexdigest()
    return digest[:32]


def _model_id(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()[:16]


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 0)


class _Health:
    """Whether Redis is usable now; one WARNING when an outage starts, one INFO when it ends.

    After a failure Redis is left alone for ``retry_interval`` seconds, so that an outage costs
    each process at most one timeout per interval, not one per call.
    """

    __slots__ = ("_lock", "down", "retry_at", "retry_interval", "where")

    def __init__(self, retry_interval: float, where: str) -> None:
        self._lock = threading.Lock()
        self.down = False
        self.retry_at = 0.0
        self.retry_interval = retry_interval
        self.where = where

    def usable(self) -> bool:
        return not self.down or time.monotonic() >= self.retry_at

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.retry_at = time.monotonic() + self.retry_interval
            if self.down:
                return
            self.down = True
        log.warning(
            "torouter fleet coordination is off: Redis at %s failed (%s: %s); calls go on "
            "uncoordinated, Redis is tried again every %gs", self.where, type(exc).__name__,
            _one_line(exc), self.retry_interval,
        )

    def ok(self) -> None:
        if self.down:
            with self._lock:
                was_down, self.down = self.down, False
            if was_down:
                log.info("torouter fleet coordination is back on: Redis at %s answers",
                         self.where)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


class RedisCoordinator:
    """Fleet-wide coordination of every client using one key, through Redis.

    Pass it to a client: ``ToRouter(coordinator=RedisCoordinator("redis://localhost:6379/0"))``
    (or ``AsyncToRouter``, or ``with_options(coordinator=...)``).  Every process using the same
    key and base URL with a coordinator on the same Redis and ``namespace`` then:

    * waits out a request-rate pause (``RateLimited``) that any of them received, within its
      call's deadline (else raises ``RateLimited`` at once with ``retry_after``, sending nothing);
    * raises a terminal key error (``KeyExpired``, ``QuotaExhausted`` ... see
      ``TERMINAL_ERRORS``) at once, sending nothing, for ``terminal_ttl`` seconds after any of
      them received it (``err.from_coordinator`` is ``True``);
    * shares the per-model circuit breaker (one probe for the whole fleet) when the client has
      one and ``share_breakers`` is on;
    * shares the retry budget when ``share_retry_budget=True``.

    Redis down, slow (``socket_timeout``) or misconfigured: clients behave as without a
    coordinator, log one WARNING per outage, and pick Redis up again when it is back.

    Args:
        redis_client_or_url: a ``redis://`` / ``rediss://`` / ``unix://`` URL, or a
            ``redis.Redis`` / ``redis.asyncio.Redis`` client (the other flavour, needed by the
            other kind of torouter client, is built from its connection settings).
        namespace: prefix of every Redis key (fleets with separate namespaces do not meet).
        terminal_ttl: seconds a terminal state is kept: one number for all classes, or a mapping
            of class to seconds (classes not in it keep 60 s; 0 means not shared).
        share_breakers: share the client's circuit breaker state (default on).
        share_retry_budget: one retry budget for the whole fleet (default off).
        socket_timeout: seconds one Redis call may take (default 50 ms); with a client object
            that sets its own socket_timeout, that one.
        retry_interval: seconds to leave Redis alone after it failed.
    """

    def __init__(
        self,
        redis_client_or_url: Any,
        namespace: str = "torouter",
        *,
        terminal_ttl: float | Mapping[type[ToRouterError], float] = 60.0,
        share_breakers: bool = True,
        share_retry_budget: bool = False,
        socket_timeout: float = 0.05,
        retry_interval: float = 1.0,
    ) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError:  # pragma: no cover - the extra is installed in the test venv
            raise InvalidArgumentError(
                "RedisCoordinator needs the redis package",
                hint="pip install 'torouter[redis]'",
            ) from None
        if not isinstance(namespace, str) or not namespace or any(c in namespace for c in "{} "):
            raise InvalidArgumentError(
                "namespace must be a non-empty string without {, } or spaces")
        for name, value in (("socket_timeout", socket_timeout),
                            ("retry_interval", retry_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidArgumentError(f"RedisCoordinator.{name} must be a positive number")
        self.namespace = namespace
        self.terminal_ttl = _terminal_ttls(terminal_ttl)
        self.share_breakers = bool(share_breakers)
        self.share_retry_budget = bool(share_retry_budget)
        self.socket_timeout = float(socket_timeout)
        self.retry_interval = float(retry_interval)
        self._url: str | None = None
        self._sync: Any = None
        self._async: Any = None
        if isinstance(redis_client_or_url, str):
            try:
                parsed = redis.connection.parse_url(  # type: ignore[no-untyped-call]
                    redis_client_or_url)
            except ValueError as exc:
                raise InvalidArgumentError(f"not a Redis URL: {exc}") from None
            self._url = redis_client_or_url
            where = _where(parsed)
        elif isinstance(redis_client_or_url, redis.asyncio.Redis):
            self._async = redis_client_or_url
            where = _where(redis_client_or_url.connection_pool.connection_kwargs)
        elif isinstance(redis_client_or_url, redis.Redis):
            self._sync = redis_client_or_url
            where = _where(redis_client_or_url.connection_pool.connection_kwargs)
        else:
            raise InvalidArgumentError(
                "RedisCoordinator takes a redis:// URL or a redis.Redis / redis.asyncio.Redis "
                f"client, not {type(redis_client_or_url).__name__}"
            )
        self._where = where
        self._health = _Health(self.retry_interval, where)
        self._lock = threading.Lock()
        self._sync_link: _SyncLink | None = None
        self._async_links: _AsyncLinks | None = None

    def __repr__(self) -> str:
        shared = ["pause", "terminal"]
        if self.share_breakers:
            shared.append("breakers")
        if self.share_retry_budget:
            shared.append("retry_budget")
        return (f"RedisCoordinator({self._where!r}, namespace={self.namespace!r}, "
                f"shares={'+'.join(shared)})")

    # -- binding -------------------------------------------------------------------------

    def _bind(self, api_key: str | SecretStr, base_url: str, breaker: Any = None) -> _FleetLayer:
        """The seam layer of one client (its key); ``breaker`` is the client's circuit breaker
        when it is to be shared (the client then drops its local breaker layer)."""
        if breaker is not None and not self.share_breakers:
            breaker = None
        return _FleetLayer(self, key_id(api_key, base_url), breaker)

    def reset(self, api_key: str | SecretStr, base_url: str) -> None:
        """Forget what the fleet recorded for this key (e.g. after fixing an expired key).

        Unlike the calls' own round trips this raises when Redis cannot be reached.
        """
        prefix = f"{self.namespace}:{{{key_id(api_key, str(base_url))}}}"
        client = self._sync_client()
        keys = [f"{prefix}:pause", f"{prefix}:term", f"{prefix}:budget"]
        keys += list(client.scan_iter(match=f"{prefix}:brk*", count=100))
        client.delete(*keys)

    def close(self) -> None:
        """Close the connections the coordinator opened for sync clients (not a client you
        passed in).  It reconnects if used again."""
        with self._lock:
            client = self._sync
            link, self._sync_link = self._sync_link, None
            if self._url is not None:
                self._sync = None
        if link is not None:
            link.close()
        if client is not None and self._url is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the connections the coordinator opened in the running event loop (call it
        before the loop ends, e.g. next to ``await client.close()``)."""
        if self._async_links is not None:
            await self._async_links.aclose()

    # -- Redis I/O (the only code written twice) -----------------------------------------

    def _sync_client(self) -> Any:
        """A redis-py client, for :meth:`reset` (the calls' round trips use ``_redis_link``)."""
        if self._sync is None:
            import redis

            with self._lock:
                if self._sync is None:
                    if self._url is not None:
                        self._sync = redis.Redis.from_url(self._url, **self._options())
                    else:
                        self._sync = redis.Redis(**_twin_kwargs(self._async, self._options()))
        return self._sync

    def _options(self) -> dict[str, Any]:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return {"socket_timeout": self.socket_timeout,
                "socket_connect_timeout": self.socket_timeout,
                "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}

    def _pool(self, flavour: str) -> Any:
        """A connection pool of ``flavour`` ("sync" or "async") with the coordinator's Redis
        settings: the source of the links' connections (the pool itself is never used)."""
        import redis
        import redis.asyncio

        options = self._options()
        if flavour == "sync":
            if self._url is not None:
                return redis.ConnectionPool.from_url(self._url, **options)
            if self._sync is not None:
                return self._sync.connection_pool
            return redis.Redis(**_twin_kwargs(self._async, options)).connection_pool
        if self._url is not None:
            return redis.asyncio.ConnectionPool.from_url(self._url, **options)
        if self._async is not None:
            return self._async.connection_pool
        return redis.asyncio.Redis(**_twin_kwargs(self._sync, options)).connection_pool

    def _connection_factory(self, flavour: str) -> tuple[Any, float]:
        """(a function making one connection, the bound of one round trip in seconds)."""
        pool = self._pool(flavour)
        cls, kwargs = pool.connection_class, dict(pool.connection_kwargs)
        for name in ("socket_timeout", "socket_connect_timeout"):
            if kwargs.get(name) is None:  # a client passed in without timeouts: ours
                kwargs[name] = self.socket_timeout
        kwargs["health_check_interval"] = 0  # no PING before a round trip
        bound = float(kwargs["socket_timeout"])
        if flavour == "async":  # the link bounds the whole round trip instead
            kwargs["socket_timeout"] = None
        return (lambda: cls(**kwargs)), bound

    def _call(self, which: int, keys: list[str], args: list[Any]) -> Any:
        """Run script ``which`` (0 before, 1 after); ``None`` when Redis failed (fail open)."""
        health = self._health
        if not health.usable():
            return None
        try:
            link = self._sync_link
            if link is None:
                with self._lock:
                    link = self._sync_link
                    if link is None:
                        link = self._sync_link = _SyncLink(self._connection_factory("sync")[0])
            reply = link.run(_SCRIPTS[which], keys, args)
        except Exception as exc:  # never raise because of Redis
            health.failed(exc)
            return None
        health.ok()
        return reply

    async def _acall(self, which: int, keys: list[str], args: list[Any]) -> Any:
        health = self._health
        if not health.usable():
            return None
        try:
            links = self._async_links
            if links is None:
                with self._lock:
                    links = self._async_links
                    if links is None:
                        links = self._async_links = _AsyncLinks(
                            *self._connection_factory("async"))
            reply = await links.run(_SCRIPTS[which], keys, args)
        except Exception as exc:  # never raise because of Redis
            health.failed(exc)
            return None
        health.ok()
        return reply


_TWIN_KWARGS = ("host", "port", "db", "username", "password", "path", "socket_timeout",
                "socket_connect_timeout", "client_name", "ssl_keyfile", "ssl_certfile",
                "ssl_cert_reqs", "ssl_ca_certs", "ssl_check_hostname")


def _twin_kwargs(client: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Connection settings of a Redis client of the other flavour (sync <-> asyncio)."""
    pool = client.connection_pool
    given = pool.connection_kwargs
    kwargs = {k: given[k] for k in _TWIN_KWARGS if given.get(k) is not None}
    if "path" in kwargs:
        kwargs["unix_socket_path"] = kwargs.pop("path")
    if "SSL" in pool.connection_class.__name__:
        kwargs["ssl"] = True
    else:
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("ssl_")}
    for name in ("socket_timeout", "socket_connect_timeout"):
        kwargs.setdefault(name, options[name])
    kwargs["retry"] = options["retry"]
    return kwargs


def _where(kwargs: Mapping[str, Any]) -> str:
    """Where Redis is, for log lines: host:port/db or the socket path (never a password)."""
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _terminal_ttls(value: object) -> dict[type[ToRouterError], float]:
    default = 60.0
    overrides: Mapping[Any, Any] = {}
    if isinstance(value, Mapping):
        overrides = value
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidArgumentError(
            "terminal_ttl must be seconds >= 0 or a mapping of class -> seconds")
    else:
        default = float(value)
    ttls = dict.fromkeys(TERMINAL_ERRORS, default)
    for cls, seconds in overrides.items():
        if cls not in ttls:
            names = ", ".join(c.__name__ for c in TERMINAL_ERRORS)
            raise InvalidArgumentError(f"terminal_ttl keys must be among {names}, not {cls!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise InvalidArgumentError(f"terminal_ttl[{cls.__name__}] must be seconds >= 0")
        ttls[cls] = float(seconds)
    return ttls


@dataclass(slots=True)
class _Note:
    """What the layer knows about the current attempt of one call."""

    checked: bool = False   # the before check reached Redis
    probe: bool = False     # this attempt is the fleet's half-open breaker probe (not reported)
    sent: bool = False      # the attempt went out (on_send)
    granted: int | None = None  # retry-budget tokens the after call reserved (None: not asked)


class _FleetLayer(Layer):
    """The coordinator bound to one client's key: the seam layer (see the module docstring)."""

    __slots__ = ("_attempts", "_keys", "_model_keys", "_pending", "_pending_lock", "_reports",
                 "breaker", "coordinator", "prefix")

    def __init__(self, coordinator: RedisCoordinator, kid: str, breaker: Any) -> None:
        self.coordinator = coordinator
        self.prefix = f"{coordinator.namespace}:{{{kid}}}"
        self.breaker = breaker
        self._keys = [f"{self.prefix}:pause", f"{self.prefix}:term", f"{self.prefix}:budget"]
        self._model_keys: dict[str, list[str]] = {}
        self._pending = 0  # retry-budget tokens to give back with the next round trip
        # breaker reports that could not be sent when they happened (no I/O at a call's end):
        # (model, "f") a failure after the commit point, (model, "r") a probe never sent
        self._reports: list[tuple[str, str]] = []
        self._pending_lock = threading.Lock()
        self._attempts = 0

    def __repr__(self) -> str:
        return f"<fleet layer {self.prefix}>"

    def _keys_for(self, model: str) -> list[str]:
        keys = self._model_keys.get(model)
        if keys is None:
            mid = _model_id(model)
            keys = [*self._keys, f"{self.prefix}:brk:{mid}", f"{self.prefix}:brkf:{mid}"]
            if len(self._model_keys) < 1024:  # a bounded cache: models are few
                self._model_keys[model] = keys
        return keys

    # -- the call ------------------------------------------------------------------------

    def start_call(self, call: CallRetryState) -> None:
        call.notes[self] = _Note()
        if self.coordinator.share_retry_budget and call.budget is not None:
            call.budget = _SharedBudget(call.budget, self, call)

    def on_send(self, call: CallRetryState) -> None:
        call.notes[self].sent = True

    def end_call(self, call: CallRetryState, error: ToRouterError | None) -> None:
        note: _Note | None = call.notes.get(self)
        if note is None:
            return
        if note.granted:  # reserved for a retry the policy did not make
            self.give_back(note.granted)
            note.granted = None
        model, breaker = call.model, self.breaker
        if breaker is None or not model:
            return
        if note.probe and not note.sent:  # the probe slot was taken, nothing went out
            self._report(model, "r")
        elif call.result is not None and error is not None and breaker.counts(error):
            self._report(model, "f")  # a stream that failed after its first chunk

    def _report(self, model: str, kind: str) -> None:
        with self._pending_lock:
            if len(self._reports) < 16:
                self._reports.append((model, kind))

    def give_back(self, tokens: int) -> None:
        with self._pending_lock:
            self._pending += tokens

    def _take_pending(self) -> int:
        with self._pending_lock:
            tokens, self._pending = self._pending, 0
        return tokens

    # -- before an attempt ---------------------------------------------------------------

    def before_attempt(self, call: CallRetryState) -> float | None:
        keys, args, reports = self._before_args(call)
        reply = self.coordinator._call(0, keys, args)
        return self._before_decide(call, reply, args, reports)

    async def abefore_attempt(self, call: CallRetryState) -> float | None:
        keys, args, reports = self._before_args(call)
        reply = await self.coordinator._acall(0, keys, args)
        return self._before_decide(call, reply, args, reports)

    def _before_args(self, call: CallRetryState
                     ) -> tuple[list[str], list[Any], list[tuple[str, str]]]:
        note: _Note = call.notes[self]
        note.checked = note.probe = note.sent = False
        budget = call.budget
        capacity = budget.capacity if isinstance(budget, RetryBudget) else 0
        refund = self._take_pending() if capacity else 0
        longest = call.policy.max_retry_after
        if call.deadline_at is not None:
            longest = min(longest, call.deadline_at - call.clock())
        breaker = self.breaker
        keys = self._keys_for(call.model or "")
        args: list[Any] = [refund, capacity, "1" if breaker is not None and call.model else "0",
                           0, _ms(longest) if longest < float("inf") else -1, 0, 0, 0, 0,
                           os.getpid()]
        reports: list[tuple[str, str]] = []
        if breaker is not None:
            args[3] = _ms(breaker.cooldown)  # a probe that never reports frees its slot then
            if self._reports:
                with self._pending_lock:
                    reports, self._reports = self._reports, []
            if reports:
                keys = list(keys)
                for model, _kind in reports:
                    keys.extend(self._keys_for(model)[3:])
                args[5:9] = [len(reports), int(breaker.failure_threshold),
                             _ms(breaker.window), _ms(breaker.cooldown)]
                args.extend(kind for _model, kind in reports)
        return keys, args, reports

    def _before_decide(self, call: CallRetryState, reply: Any, args: list[Any],
                       reports: list[tuple[str, str]]) -> float | None:
        if reply is None:  # Redis failed: what was to ride along goes with the next call
            if args[0]:
                self.give_back(args[0])
            for report in reports:
                self._report(*report)
            return None
        try:
            kind = int(reply[0])
            value = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
            rid = None
            if len(reply) > 2:  # bytes, or str from a client made with decode_responses=True
                rid = reply[2].decode() if isinstance(reply[2], bytes) else str(reply[2])
            if kind == 1:
                blob = value.partition(" ")[2]
                refusal: ToRouterError | None = _terminal_error(blob)
            else:
                refusal = None
                millis = int(value)
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # a foreign value: ignore
            self.coordinator._health.failed(exc)
            return None
        note: _Note = call.notes[self]
        note.checked = True
        if refusal is not None:
            call.expire(f"{type(refusal).__name__} recorded by the fleet coordinator")
            raise refusal
        if kind == 2:  # the shared breaker is open (or another process is probing)
            assert self.breaker is not None
            err: ToRouterError = self.breaker.open_error(call.model, millis / 1000)
            err.from_coordinator = True
            raise err
        note.probe = kind == 3
        wait = millis / 1000
        if wait <= 0:
            return None
        over = ("the policy's max_retry_after" if wait > call.policy.max_retry_after else
                "the call's deadline" if call.deadline_at is not None and
                call.clock() + wait >= call.deadline_at else None)
        if over is None:
            return wait
        call.expire(f"the fleet's rate-limit pause ends after {over}")
        paused = RateLimited(
            f"the key is paused fleet-wide for {wait:.3g}s more after a request-rate 429 "
            f"(past {over}); nothing was sent",
            request_id=rid or None, retry_after=wait,
        )
        paused.from_coordinator = True
        raise paused

    # -- after an attempt ----------------------------------------------------------------

    def after_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        args = self._after_args(call, error)
        if args is not None:
            reply = self.coordinator._call(1, self._keys_for(call.model or ""), args)
            self._after_decide(call, reply)

    async def aafter_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        args = self._after_args(call, error)
        if args is not None:
            reply = await self.coordinator._acall(1, self._keys_for(call.model or ""), args)
            self._after_decide(call, reply)

    def _after_args(self, call: CallRetryState, error: ToRouterError | None) -> list[Any] | None:
        """The after script's arguments, or ``None`` when there is nothing to record."""
        note: _Note = call.notes[self]
        elapsed = call.attempts[-1].elapsed if error is not None and call.attempts else \
            call.clock() - call.start
        if error is None:
            # A success clears a terminal state recorded before this attempt was sent: the
            # before check saw none, so only an attempt sent unchecked (Redis was failing) can
            # meet one; and it ends this attempt's breaker probe.
            if note.checked and not note.probe:
                return None
            return ["ok", _ms(elapsed) if note.checked else 0, "1" if note.probe else "0"]
        pause = 0.0
        rid = ""
        if isinstance(error, RateLimited):
            pause = error.retry_after if error.retry_after is not None else \
                self._own_backoff(call, error)
            rid = error.request_id or ""
        term = ""
        ttl = self._terminal_ttl(error)
        if ttl:
            term = json.dumps({
                "cls": type(error).__name__, "status": error.status_code, "code": error.code,
                "message": error.message, "hint": error.hint, "doc_url": error.doc_url,
                "request_id": error.request_id,
            }, separators=(",", ":"))
        breaker = self.breaker
        counted = breaker is not None and bool(call.model) and bool(breaker.counts(error))
        cost = 0
        budget = call.budget
        if isinstance(budget, _SharedBudget) and call.policy.rule_for(type(error)).retry:
            cost = budget.local.cost_of(error)
        if not (pause or term or counted or note.probe or cost):
            return None
        threshold = window = cooldown = 0
        if counted:
            threshold = int(breaker.failure_threshold)
            window = _ms(breaker.window)
            cooldown = _ms(breaker.cooldown)
        self._attempts += 1
        return ["fail", _ms(pause), rid, term, _ms(ttl), "1" if counted else "0", threshold,
                window, cooldown, "1" if note.probe else "0", cost,
                budget.capacity if isinstance(budget, RetryBudget) else 0,
                f"{os.getpid()}.{id(call)}.{self._attempts}"]

    def _after_decide(self, call: CallRetryState, reply: Any) -> None:
        note: _Note = call.notes[self]
        note.probe = False
        if isinstance(call.budget, _SharedBudget):
            note.granted = None if reply is None else int(reply)

    def _terminal_ttl(self, error: ToRouterError) -> float:
        if error.from_coordinator:
            return 0.0
        for cls in type(error).__mro__:
            ttl = self.coordinator.terminal_ttl.get(cls)
            if ttl is not None:
                return float(ttl)
        return 0.0

    @staticmethod
    def _own_backoff(call: CallRetryState, error: ToRouterError) -> float:
        """Without ``Retry-After``: the client's own backoff for this retry (its ceiling,
        without jitter: the longest the client itself may sleep)."""
        rule = call.policy.rule_for(type(error))
        number = sum(1 for a in call.attempts if a.outcome == type(error).__name__)
        backoff = rule.backoff
        exponent = min(max(number - 1, 0), 64)
        return float(min(backoff.maximum, backoff.initial * backoff.multiplier ** exponent))


class _SharedBudget(RetryBudget):
    """A call's view of the fleet's retry budget: the after script reserved (or refused) the
    tokens for a retry in the same round trip that recorded the failure; refunds ride along
    with the next round trip.  When Redis failed, the client's own budget decides."""

    __slots__ = ("call", "layer", "local")

    def __init__(self, local: RetryBudget, layer: _FleetLayer, call: CallRetryState) -> None:
        # Not RetryBudget.__init__: this view has no bucket of its own.
        self.local = local
        self.layer = layer
        self.call = call
        self.capacity = local.capacity
        self.retry_cost = local.retry_cost
        self.timeout_cost = local.timeout_cost
        self.success_refund = local.success_refund

    @property
    def level(self) -> int:
        return self.local.level

    def try_spend(self, error: ToRouterError) -> int:
        note: _Note = self.call.notes[self.layer]
        granted, note.granted = note.granted, None
        if granted is None:
            return self.local.try_spend(error)
        return granted

    def refund(self, spent: int) -> None:
        amount = spent if spent else self.success_refund
        if amount > 0:
            self.layer.give_back(amount)

    def __repr__(self) -> str:
        return f"SharedRetryBudget(capacity={self.capacity}, fleet={self.layer.prefix!r})"


def _terminal_error(blob: str) -> ToRouterError:
    """The error another process recorded, rebuilt: same class, status, code, message, hint,
    request id; ``from_coordinator`` set."""
    data = json.loads(blob)
    cls = _TERMINAL_BY_NAME[data["cls"]]
    err = cls(
        str(data["message"]), status_code=data.get("status"), code=data.get("code"),
        request_id=data.get("request_id"), hint=data.get("hint"), doc_url=data.get("doc_url"),
    )
    err.from_coordinator = True
    return err


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
