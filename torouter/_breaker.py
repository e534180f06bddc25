"""Per-model circuit breakers: stop sending requests to a model known to be down.

A :class:`CircuitBreaker` is a layer of the client's seam (``_seam``).  Per model::

    closed     requests go out; each counted failure is remembered for ``window`` seconds, and
               ``failure_threshold`` of them within the window open the circuit
    open       requests for the model are refused before anything is sent (:class:`CircuitOpen`,
               recorded as an attempt; the call falls back to its next model by default) until
               ``cooldown`` seconds have passed
    half-open  then exactly one request (the probe) goes out, whichever thread or task asks
               first; its success closes the circuit, a counted failure opens it for another
               ``cooldown``, any other outcome (a 429, a bad key) lets the next request probe.
               Meanwhile every other request is refused.  A probe that never reports (its task
               was cancelled) frees its slot after another ``cooldown``.

Only model-level failures count (:meth:`CircuitBreaker.counts`): ``UpstreamUnavailable`` (and
``NoEligibleChannel``) and ``UpstreamTimeout``, the classes that fall back by default.  Never a
key, account, request or rate-limit problem: another request for the model would not fare better
because the model is up.

The decisions are pure functions of a model's :class:`CircuitState` and the time
(``_admit`` and ``_record``), apart from where the states are kept (``_states``, behind a lock).
A fleet coordinator sharing breaker state between processes keeps the states elsewhere and
calls the same two functions; it also uses ``failure_threshold``, ``window``, ``cooldown``,
:meth:`counts` and :meth:`open_error`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from ._errors import (
    CircuitOpen,
    InvalidArgumentError,
    ToRouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from ._seam import Layer

if TYPE_CHECKING:
    from ._retrying import CallRetryState

__all__ = ["CircuitBreaker", "CircuitState"]

#: What ``_admit`` decides for the next request: send it, send it as the probe, or refuse it.
Admission = Literal["send", "probe", "refuse"]
#: What ``_record`` is told: a success, a counted failure, or an outcome that says nothing.
Outcome = Literal["ok", "failure", "neutral"]


@dataclass(frozen=True, slots=True)
class CircuitState:
    """One model's circuit, as plain data (what a shared store keeps).

    ``failures``: times of the counted failures within the window (closed); ``opened_at``: when
    the circuit opened (``None``: closed); ``probe_since``: when the half-open probe went out
    (``None``: no probe in flight).
    """

    failures: tuple[float, ...] = ()
    opened_at: float | None = None
    probe_since: float | None = None


_CLOSED = CircuitState()


class CircuitBreaker(Layer):
    """Per-model circuit breakers, shared by every thread and task of a client and its copies.

    Args:
        failure_threshold: counted failures of one model within ``window`` that open its
            circuit.
        window: seconds a counted failure is remembered.
        cooldown: seconds an open circuit refuses requests before letting one probe through.
        clock: monotonic seconds (inject a fake clock in tests).

    ``ToRouter(circuit_breaker=CircuitBreaker(...))``; the default client has one with these
    defaults, ``circuit_breaker=None`` switches it off.
    """

    __slots__ = ("_clock", "_lock", "_states", "cooldown", "failure_threshold", "window")

    #: The failures counted (see :meth:`counts`).
    counted: tuple[type[ToRouterError], ...] = (UpstreamUnavailable, UpstreamTimeout)

    def __init__(
        self,
        failure_threshold: int = 5,
        window: float = 30.0,
        cooldown: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(failure_threshold, bool) or not isinstance(failure_threshold, int) \
                or failure_threshold < 1:
            raise InvalidArgumentError(
                f"CircuitBreaker.failure_threshold must be an int >= 1, not {failure_threshold!r}")
        for name, value, least in (("window", window, 0.0), ("cooldown", cooldown, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not least <= value < float("inf") or (name == "window" and value == 0):
                raise InvalidArgumentError(
                    f"CircuitBreaker.{name} must be a finite number of seconds "
                    f"{'> 0' if name == 'window' else '>= 0'}, not {value!r}")
        if not callable(clock):
            raise InvalidArgumentError("CircuitBreaker.clock must be callable")
        self.failure_threshold = failure_threshold
        self.window = float(window)
        self.cooldown = float(cooldown)
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, CircuitState] = {}

    def __repr__(self) -> str:
        with self._lock:
            opened = sorted(m for m, s in self._states.items() if s.opened_at is not None)
        return (f"CircuitBreaker(failure_threshold={self.failure_threshold}, "
                f"window={self.window:g}, cooldown={self.cooldown:g}, open={opened})")

    # -- public ----------------------------------------------------------------------------

    def counts(self, error: ToRouterError) -> bool:
        """Whether ``error`` is a failure of the model that the breaker counts."""
        return isinstance(error, self.counted)

    def open_error(self, model: str, retry_after: float) -> CircuitOpen:
        """The refusal for a request to ``model`` while its circuit is open."""
        return CircuitOpen(
            f"the circuit breaker for {model!r} is open ({self.failure_threshold} failures "
            f"within {self.window:g}s); nothing was sent; a probe goes through in "
            f"{retry_after:.3g}s",
            model=model, retry_after=retry_after,
        )

    def state(self, model: str) -> Literal["closed", "open", "half-open"]:
        """The circuit of ``model`` now: ``closed``, ``open`` or ``half-open`` (a probe may go,
        or is out)."""
        with self._lock:
            st = self._states.get(model, _CLOSED)
        if st.opened_at is None:
            return "closed"
        return "open" if self._clock() < st.opened_at + self.cooldown else "half-open"

    def reset(self, model: str | None = None) -> None:
        """Close the circuit of ``model`` (of every model with ``None``) and forget its
        failures."""
        with self._lock:
            if model is None:
                self._states.clear()
            else:
                self._states.pop(model, None)

    # -- the decisions (pure) --------------------------------------------------------------

    def _admit(self, st: CircuitState, now: float) -> tuple[Admission, CircuitState, float]:
        """For the next request: the admission, the new state, and (refused) the seconds until
        a probe may go."""
        if st.opened_at is None:
            return "send", st, 0.0
        half_open_at = st.opened_at + self.cooldown
        if now < half_open_at:
            return "refuse", st, min(half_open_at - now, self.cooldown)  # (float rounding)
        if st.probe_since is not None and now < st.probe_since + self.cooldown:
            return "refuse", st, min(st.probe_since + self.cooldown - now, self.cooldown)
        return "probe", replace(st, probe_since=now), 0.0

    def _record(self, st: CircuitState, now: float, outcome: Outcome, probe: bool
                ) -> CircuitState:
        """The state after a request (the probe if ``probe``) ended with ``outcome``."""
        if probe:
            if outcome == "ok":
                return _CLOSED
            if outcome == "failure":
                return CircuitState(opened_at=now)
            return replace(st, probe_since=None)
        if outcome != "failure" or st.opened_at is not None:
            return st
        recent = (*(t for t in st.failures if t > now - self.window), now)
        if len(recent) >= self.failure_threshold:
            return CircuitState(opened_at=now)
        return replace(st, failures=recent)

    def _outcome(self, error: ToRouterError | None) -> Outcome:
        if error is None:
            return "ok"
        return "failure" if self.counts(error) else "neutral"

    # -- the in-memory store -----------------------------------------------------------------

    def _enter(self, model: str) -> tuple[Admission, float]:
        st = self._states.get(model)  # one atomic read: a closed circuit needs no lock
        if st is None or st.opened_at is None:
            return "send", 0.0
        now = self._clock()
        with self._lock:
            admission, st, retry_after = self._admit(self._states.get(model, _CLOSED), now)
            if admission == "probe":
                self._states[model] = st
        return admission, retry_after

    def _report(self, model: str, outcome: Outcome, probe: bool) -> None:
        if outcome != "failure" and not probe:
            return  # nothing changes: no lock taken on the common path (a success, closed)
        now = self._clock()
        with self._lock:
            st = self._record(self._states.get(model, _CLOSED), now, outcome, probe)
            if st == _CLOSED:
                self._states.pop(model, None)
            else:
                self._states[model] = st

    # -- the seam ----------------------------------------------------------------------------

    def before_attempt(self, call: CallRetryState) -> float | None:
        model = call.model
        if model is None:
            return None
        admission, retry_after = self._enter(model)
        if admission == "refuse":
            raise self.open_error(model, retry_after)
        call.notes[self] = admission == "probe"  # whether this attempt is the probe
        return None

    def after_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        model = call.model
        if model is not None:
            self._report(model, self._outcome(error), bool(call.notes.pop(self, False)))

    def end_call(self, call: CallRetryState, error: ToRouterError | None) -> None:
        model = call.model
        if model is None:
            return
        if call.notes.pop(self, False):
            # A probe admitted but never sent (a later wait passed the deadline): free the slot.
            self._report(model, "neutral", True)
        elif call.result is not None and error is not None and self.counts(error):
            # A stream that failed after its first chunk: the model failed after all.
            self._report(model, "failure", False)


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
