"""Pins for CircuitBreaker behaviours a mutation run of ``torouter/_breaker.py`` showed unpinned.

Each test drives the breaker through its public surface (the constructor, ``repr``, ``state``,
``reset`` and the seam's ``before_attempt``/``after_attempt``) with a fake clock; the lock tests
swap in a recording lock so that they are deterministic, never timed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import torouter
from torouter import CircuitBreaker, CircuitOpen, UpstreamUnavailable


class Clock:
    """A monotonic clock moved only by the test; counts how often it is read."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


class Call:
    """The part of a call's state the breaker reads (``model``, ``notes``)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.notes: dict[object, Any] = {}
        self.result = None


def fail(breaker: CircuitBreaker, model: str, times: int = 1) -> None:
    """``times`` admitted requests for ``model`` that each end with a counted failure."""
    for _ in range(times):
        call = Call(model)
        breaker.before_attempt(call)  # type: ignore[arg-type]
        breaker.after_attempt(call, UpstreamUnavailable("down"))  # type: ignore[arg-type]


class RecordingLock:
    """A lock that knows whether it is held, counts its acquisitions, and sets ``contended``
    when a thread finds it taken (before waiting for it)."""

    def __init__(self) -> None:
        self._inner = threading.Lock()
        self.held = False
        self.acquired = 0
        self.contended = threading.Event()

    def __enter__(self) -> RecordingLock:
        if not self._inner.acquire(blocking=False):
            self.contended.set()
            self._inner.acquire()
        self.held = True
        self.acquired += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.held = False
        self._inner.release()


class RecordingStates(dict):  # type: ignore[type-arg]
    """The breaker's state store, noting for each read or write whether the lock was held."""

    def __init__(self, lock: RecordingLock, *args: Any) -> None:
        super().__init__(*args)
        self.lock = lock
        self.log: list[tuple[str, bool]] = []

    def _note(self, what: str) -> None:
        self.log.append((what, self.lock.held))

    def items(self) -> Any:
        self._note("items")
        return super().items()

    def get(self, *args: Any) -> Any:
        self._note("get")
        return super().get(*args)

    def clear(self) -> None:
        self._note("clear")
        super().clear()

    def pop(self, *args: Any) -> Any:
        self._note("pop")
        return super().pop(*args)


def recording(breaker: CircuitBreaker) -> tuple[RecordingLock, RecordingStates]:
    lock = RecordingLock()
    states = RecordingStates(lock, breaker._states)
    breaker._lock = lock  # type: ignore[assignment]
    breaker._states = states
    return lock, states


# --- arguments ------------------------------------------------------------------------------


def test_bad_arguments_name_the_rule_they_break() -> None:
    """A zero window is refused as "> 0"; a negative cooldown as ">= 0" (zero is allowed)."""
    with pytest.raises(torouter.InvalidArgumentError) as info:
        CircuitBreaker(window=0)
    assert info.value.message == (
        "CircuitBreaker.window must be a finite number of seconds > 0, not 0")
    with pytest.raises(torouter.InvalidArgumentError) as info:
        CircuitBreaker(cooldown=-1)
    assert info.value.message == (
        "CircuitBreaker.cooldown must be a finite number of seconds >= 0, not -1")
    assert CircuitBreaker(cooldown=0).cooldown == 0.0


@pytest.mark.parametrize("clock", [5, "monotonic", None])
def test_a_clock_that_cannot_be_called_is_refused_at_construction(clock: Any) -> None:
    with pytest.raises(torouter.InvalidArgumentError) as info:
        CircuitBreaker(clock=clock)
    assert info.value.message == "CircuitBreaker.clock must be callable"


# --- what the user inspects: repr, state, reset ----------------------------------------------


def test_repr_lists_only_the_open_circuits() -> None:
    breaker = CircuitBreaker(failure_threshold=2, window=10.0, cooldown=5.0, clock=Clock())
    fail(breaker, "gpt-5", 2)  # open
    fail(breaker, "o3", 1)  # one failure: still closed
    assert breaker.state("gpt-5") == "open" and breaker.state("o3") == "closed"
    assert repr(breaker) == (
        "CircuitBreaker(failure_threshold=2, window=10, cooldown=5, open=['gpt-5'])")


def test_reset_of_one_model_closes_only_that_model() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    fail(breaker, "gpt-5")
    fail(breaker, "o3")
    breaker.reset("gpt-5")
    assert breaker.state("gpt-5") == "closed" and breaker.state("o3") == "open"
    breaker.before_attempt(Call("gpt-5"))  # type: ignore[arg-type]  # sent, not refused
    with pytest.raises(CircuitOpen):
        breaker.before_attempt(Call("o3"))  # type: ignore[arg-type]
    breaker.reset("never-seen")  # an unknown model: nothing to do, no error
    breaker.reset()
    assert breaker.state("o3") == "closed"


def test_a_failure_exactly_window_seconds_old_no_longer_counts() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, window=10.0, clock=clock)
    fail(breaker, "gpt-5")
    clock.now += 10.0
    fail(breaker, "gpt-5")
    assert breaker.state("gpt-5") == "closed"
    clock.now += 9.5  # the previous failure is 9.5 s old: it still counts
    fail(breaker, "gpt-5")
    assert breaker.state("gpt-5") == "open"


# --- the lock --------------------------------------------------------------------------------


def test_repr_and_reset_touch_the_states_only_under_the_lock() -> None:
    """``repr`` iterates the states and ``reset`` removes them while other threads' reports
    read, decide and write under the lock: both must hold it too (else a repr can see the dict
    change size mid-iteration, and a reset landing between a report's read and write is lost)."""
    breaker = CircuitBreaker(failure_threshold=1, clock=Clock())
    fail(breaker, "gpt-5")
    fail(breaker, "o3")
    lock, states = recording(breaker)
    assert "open=['gpt-5', 'o3']" in repr(breaker)
    breaker.reset("gpt-5")
    breaker.reset()
    assert [what for what, _ in states.log] == ["items", "pop", "clear"]
    assert all(held for _, held in states.log), states.log
    assert not lock.held


def test_a_reset_during_a_failure_report_is_not_lost() -> None:
    """Another thread's ``reset()`` arrives while a failure is being recorded: it waits for the
    report to finish, then closes the circuit (without the lock the report would write the
    open circuit back over the reset)."""

    class Breaker(CircuitBreaker):
        pass  # no __slots__: the test may wrap ``_record``

    breaker = Breaker(failure_threshold=1, clock=Clock())
    lock = RecordingLock()
    breaker._lock = lock  # type: ignore[assignment]
    contended = lock.contended  # the resetting thread found the lock taken
    finished = threading.Event()  # ... or it ran straight through
    original = breaker._record
    resetter: list[threading.Thread] = []

    def record(*args: Any) -> Any:
        # Inside the report's critical section: let another thread reset, and wait until it
        # either blocked on the lock or finished (no timing involved).
        def reset() -> None:
            breaker.reset()
            finished.set()

        t = threading.Thread(target=reset)
        resetter.append(t)
        t.start()
        while not (contended.is_set() or finished.is_set()):
            contended.wait(0.001)
        return original(*args)

    breaker._record = record  # type: ignore[method-assign, assignment]
    fail(breaker, "gpt-5")
    resetter[0].join(timeout=30)  # a watchdog against a hang only, not a timing assertion
    assert contended.is_set()
    assert breaker.state("gpt-5") == "closed"


def test_a_closed_circuit_admits_without_the_lock_or_the_clock() -> None:
    """The common path (every request while the model is healthy) is one atomic read: it takes
    no lock shared by every thread and does not read the clock."""
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    lock, _ = recording(breaker)
    for model in ("gpt-5", "gpt-5"):  # never seen, then closed with one failure remembered
        call = Call(model)
        assert breaker.before_attempt(call) is None  # type: ignore[arg-type]
        assert (lock.acquired, clock.reads) == (0, 0)
        breaker.after_attempt(call, UpstreamUnavailable("down"))  # type: ignore[arg-type]
        lock.acquired, clock.reads = 0, 0
    assert breaker.state("gpt-5") == "open"
