"""Scriptable upstream behaviour: outcomes, channels and failover order (api doc §6).

Two levels of scripting:

* **Gateway level** (``gateway.upstream.script(...)``, ``gateway.fail_next(...)``): the outcome *is*
  what the client sees, after every gateway check (auth, limits) passed.
* **Channel level** (``gateway.upstream.channel(name).script(...)``): the outcome is what one
  upstream channel did; the gateway then fails over as documented [p3][p4]: upstream 429, 401, 402,
  403, any 5xx, timeouts and network errors before the first byte go to the next candidate; 400, 404
  and content-policy rejections are relayed at once; anything after the first streamed byte (a drop,
  a mid-stream error) reaches the client. When every candidate failed the client gets
  ``upstream_unavailable`` 502 (504 if they all timed out); with no eligible channel, 503.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from ._errors import RATE_LIMIT

__all__ = ["Channel", "Outcome", "OutcomeKind", "Upstream", "fails_over"]

OutcomeKind = Literal[
    "ok",
    "error",
    "plain",
    "timeout",
    "disconnect",
    "drop",
    "stream_error",
    "content_policy",
    "raw",
]


def fails_over(outcome: Outcome, status: int) -> bool:
    """Whether the gateway tries the next channel after a channel produced ``outcome`` whose
    (resolved) HTTP status is ``status`` (§6): timeouts, network errors, 401/402/403/429, 5xx."""
    if outcome.kind in ("timeout", "disconnect"):
        return True
    return outcome.kind in ("error", "plain", "raw") and (
        status in (401, 402, 403, 429) or status >= 500
    )


@dataclass(frozen=True)
class Outcome:
    """One scripted upstream result. Build it with the class methods, not the constructor.

    Every outcome may carry ``latency`` (seconds slept before the response head: real sleep on the
    socket server and the sync transport, ``anyio.sleep`` in the async transport) and, for streams,
    ``chunk_delay`` (seconds between SSE events).
    """

    kind: OutcomeKind
    status: int = 200
    code: str | None = None
    message: str | None = None
    text: str | None = None
    after: int = 0
    latency: float = 0.0
    chunk_delay: float = 0.0
    retry_after: float | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()

    # -- success -----------------------------------------------------------------------------
    @classmethod
    def ok(
        cls, text: str | None = None, *, latency: float = 0.0, chunk_delay: float = 0.0
    ) -> Outcome:
        """A normal answer; ``text`` replaces the default reply (echo of the last user message)."""
        return cls("ok", text=text, latency=latency, chunk_delay=chunk_delay)

    @classmethod
    def slow(cls, seconds: float, text: str | None = None) -> Outcome:
        """A normal answer that arrives after ``seconds``."""
        return cls("ok", text=text, latency=seconds)

    # -- errors --------------------------------------------------------------------------------
    @classmethod
    def error(
        cls,
        code: str,
        *,
        status: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        latency: float = 0.0,
    ) -> Outcome:
        """Force a documented error ``code`` (§3), e.g. ``"USAGE_LIMIT_EXCEEDED"``.

        ``status`` defaults to the code's status in the gateway's dialect; ``"rate limit exceeded"``
        gives the code-less 429 body.
        """
        return cls(
            "error",
            status=status or 0,
            code=code,
            message=message,
            retry_after=retry_after,
            latency=latency,
        )

    @classmethod
    def rate_limited(cls, *, retry_after: float | None = None) -> Outcome:
        """The code-less ``{"error": "rate limit exceeded"}`` 429 (§5)."""
        return cls.error(RATE_LIMIT, retry_after=retry_after)

    @classmethod
    def upstream_unavailable(
        cls,
        status: int = 502,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        latency: float = 0.0,
    ) -> Outcome:
        """``{"error": {"type": "upstream_unavailable", ...}}`` with status 502 or 503 (§6)."""
        return cls.error(
            "upstream_unavailable",
            status=status,
            message=message,
            retry_after=retry_after,
            latency=latency,
        )

    @classmethod
    def plain(
        cls,
        status: int,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        latency: float = 0.0,
    ) -> Outcome:
        """An error whose code the docs leave out (e.g. 500, 502, 503, 504); no ``type`` (§3)."""
        return cls(
            "plain", status=status, message=message, retry_after=retry_after, latency=latency
        )

    @classmethod
    def timeout(cls, *, latency: float = 0.0) -> Outcome:
        """The upstream timed out: plain 504 [p2] (on a channel: failed over first)."""
        return cls("timeout", status=504, latency=latency)

    @classmethod
    def no_channel(cls, *, plain: bool = False, retry_after: float | None = None) -> Outcome:
        """No eligible channel: 503 ``upstream_unavailable`` [p3], or a code-less 503 [p2]."""
        if plain:
            return cls.plain(503, retry_after=retry_after)
        return cls.upstream_unavailable(503, retry_after=retry_after)

    @classmethod
    def disconnect(cls, *, latency: float = 0.0) -> Outcome:
        """Close the connection without any response (a network error before the first byte)."""
        return cls("disconnect", status=0, latency=latency)

    @classmethod
    def content_policy(cls, message: str = "content rejected by the provider's policy") -> Outcome:
        """Provider content-policy rejection, relayed unchanged and never failed over [p4]:
        400 ``{"error": {"type": "invalid_request_error", "code": "content_policy_violation"}}``."""
        return cls("content_policy", status=400, code="invalid_request_error", message=message)

    @classmethod
    def raw(
        cls,
        status: int,
        body: bytes | str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        latency: float = 0.0,
    ) -> Outcome:
        """A verbatim response (status, body, extra headers)."""
        data = body.encode() if isinstance(body, str) else body
        return cls("raw", status=status, body=data, headers=headers, latency=latency)

    # -- streams -------------------------------------------------------------------------------
    @classmethod
    def drop(cls, after: int = 1, *, latency: float = 0.0, chunk_delay: float = 0.0) -> Outcome:
        """A stream whose connection closes after ``after`` SSE events, without ``[DONE]``
        (the truncated stream of [p3]). A non-streaming request gets no response at all."""
        return cls("drop", after=after, latency=latency, chunk_delay=chunk_delay)

    @classmethod
    def stream_error(
        cls,
        after: int = 1,
        *,
        code: str = "upstream_unavailable",
        message: str = "upstream connection lost",
        chunk_delay: float = 0.0,
    ) -> Outcome:
        """After ``after`` SSE events send ``data: {"error": {"type": code, "message": ...}}``
        and end the body without ``[DONE]`` (the mid-stream error of [p4]; its format is
        inferred). A non-streaming request gets 502 ``upstream_unavailable``."""
        return cls("stream_error", after=after, code=code, message=message, chunk_delay=chunk_delay)


_OK = Outcome.ok()


@dataclass(eq=False)
class Channel:
    """One upstream channel (§6 [p4]): smaller ``priority`` preferred, then least recently used,
    then a seeded weighted-random pick. ``models=None`` serves every model."""

    name: str
    priority: int = 0
    weight: int = 1
    models: frozenset[str] | None = None
    enabled: bool = True
    last_used: int = field(default=0, repr=False)
    _queue: deque[Outcome] = field(default_factory=deque, repr=False)
    _always: Outcome | None = field(default=None, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def script(self, *outcomes: Outcome, times: int = 1) -> Channel:
        """Queue ``outcomes`` (repeated ``times``) for this channel's next attempts."""
        with self._lock:
            for _ in range(times):
                self._queue.extend(outcomes)
        return self

    def always(self, outcome: Outcome | None) -> Channel:
        """Use ``outcome`` whenever the queue is empty (``None`` → answer normally)."""
        with self._lock:
            self._always = outcome
        return self

    def clear(self) -> None:
        """Forget queued and permanent outcomes."""
        with self._lock:
            self._queue.clear()
            self._always = None

    def serves(self, model: str) -> bool:
        """Whether this channel may serve ``model``."""
        return self.enabled and (self.models is None or model in self.models)

    def next_outcome(self) -> Outcome:
        """Pop the next scripted outcome (or the permanent one, or a normal answer)."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return self._always or _OK


@dataclass
class _Scripted:
    outcome: Outcome
    path: str | None
    model: str | None = None

    def applies(self, path: str, upstream_bound: bool, models: Collection[str]) -> bool:
        if self.model is not None and self.model not in models:
            return False
        return (self.path is None and upstream_bound) or bool(self.path and self.path in path)


class Upstream:
    """Script the upstream: gateway-level outcomes and the channel list (see module docs).

    Gateway-level scripts apply only to upstream-bound routes (chat completions, embeddings) unless
    a ``path`` substring is given (e.g. ``path="/models"``).  With ``model=`` they apply only to
    requests for that model (the id as requested, or the catalog id it resolves to), e.g. one
    model down while the others answer::

        gateway.upstream.always(Outcome.upstream_unavailable(503), model="gpt-5")
    """

    def __init__(self, lock: threading.RLock, seed: int) -> None:
        self._lock = lock
        self._queue: deque[_Scripted] = deque()
        self._always: _Scripted | None = None
        self._always_by_model: dict[str, _Scripted] = {}
        self._channels: dict[str, Channel] = {"default": Channel("default", _lock=lock)}
        self._rng = random.Random(f"{seed}:channels")
        self._uses = 0

    # -- gateway level -------------------------------------------------------------------------
    def script(
        self, *outcomes: Outcome, times: int = 1, path: str | None = None,
        model: str | None = None,
    ) -> None:
        """Queue ``outcomes`` (repeated ``times``) for the next requests that pass the gateway
        (only requests for ``model`` when it is given)."""
        with self._lock:
            for _ in range(times):
                self._queue.extend(_Scripted(o, path, model) for o in outcomes)

    def always(
        self, outcome: Outcome | None, *, path: str | None = None, model: str | None = None
    ) -> None:
        """Apply ``outcome`` to every request once the queue is empty (``None`` switches it off).

        With ``model`` it applies to that model's requests only, and takes precedence over a
        permanent outcome without a model; ``always(None, model=m)`` brings ``m`` back.
        """
        with self._lock:
            if model is not None:
                if outcome is None:
                    self._always_by_model.pop(model, None)
                else:
                    self._always_by_model[model] = _Scripted(outcome, path, model)
                return
            self._always = None if outcome is None else _Scripted(outcome, path)

    def clear(self) -> None:
        """Drop gateway-level and channel-level scripts."""
        with self._lock:
            self._queue.clear()
            self._always = None
            self._always_by_model.clear()
            for ch in self._channels.values():
                ch.clear()

    @property
    def pending(self) -> int:
        """Number of queued gateway-level outcomes not consumed yet."""
        with self._lock:
            return len(self._queue)

    def take(
        self, path: str, upstream_bound: bool, models: Collection[str] = ()
    ) -> Outcome | None:
        """Consume the next gateway-level outcome that applies to ``path`` and a request for one
        of ``models`` (the requested id and its catalog id) (internal)."""
        with self._lock:
            for i, item in enumerate(self._queue):
                if item.applies(path, upstream_bound, models):
                    del self._queue[i]
                    return item.outcome
            for model in models:
                m = self._always_by_model.get(model)
                if m is not None and m.applies(path, upstream_bound, models):
                    return m.outcome
            a = self._always
            if a is not None and a.applies(path, upstream_bound, models):
                return a.outcome
            return None

    # -- channels ------------------------------------------------------------------------------
    @property
    def channels(self) -> list[Channel]:
        """The channels, in insertion order (a ``"default"`` one exists at start)."""
        with self._lock:
            return list(self._channels.values())

    def add_channel(
        self,
        name: str,
        *,
        priority: int = 0,
        weight: int = 1,
        models: tuple[str, ...] | None = None,
    ) -> Channel:
        """Add (or replace) a channel and return it."""
        ch = Channel(
            name,
            priority=priority,
            weight=max(1, weight),
            models=None if models is None else frozenset(models),
            _lock=self._lock,
        )
        with self._lock:
            self._channels[name] = ch
        return ch

    def channel(self, name: str = "default") -> Channel:
        """The channel called ``name`` (``KeyError`` if absent)."""
        with self._lock:
            return self._channels[name]

    def remove_channel(self, name: str) -> None:
        """Remove a channel; with none left every upstream-bound request gets 503."""
        with self._lock:
            self._channels.pop(name, None)

    def candidates(self, model: str) -> list[Channel]:
        """Failover order for ``model`` (internal): priority, least recently used, weighted pick."""
        with self._lock:
            cands = [c for c in self._channels.values() if c.serves(model)]
            keyed = [
                (c.priority, c.last_used, -(self._rng.random() ** (1.0 / c.weight)), i, c)
                for i, c in enumerate(cands)
            ]
            keyed.sort(key=lambda t: t[:4])
            return [t[4] for t in keyed]

    def mark_used(self, ch: Channel) -> None:
        """Record an attempt on ``ch`` for least-recently-used ordering (internal)."""
        with self._lock:
            self._uses += 1
            ch.last_used = self._uses


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
