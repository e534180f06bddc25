"""Pins for CircuitBreaker behaviours a mutation run of ``torouter/_breaker.py`` showed unpinned.

Each test drives the breaker through its public surface (the constructor, ``repr``, ``state``,
``reset`` and the seam's ``before_attempt``/``after_attempt``/``end_call``) with a fake clock;
the lock tests swap in a recording lock so that they are deterministic, never timed.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import httpx
import pytest

import torouter
from torouter import (
    CircuitBreaker,
    CircuitOpen,
    InternalServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from torouter._breaker import CircuitState
from torouter._seam import Layer
from torouter.testing import FakeGateway, Outcome, instant_retries


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

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.notes: dict[object, Any] = {}
        self.result: object = None


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


def test_a_success_or_an_uncounted_failure_on_a_closed_circuit_takes_no_lock_or_clock() -> None:
    """The common end of an attempt (a success, or a failure that says nothing about the model,
    while the circuit is closed) changes nothing, so it is recorded without the shared lock and
    without reading the clock."""
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    fail(breaker, "gpt-5")  # one failure remembered: closed, with a state
    lock, _ = recording(breaker)
    clock.reads = 0
    for error in (None, InternalServerError("a bad gateway day")):
        call = Call("gpt-5")
        breaker.before_attempt(call)  # type: ignore[arg-type]
        breaker.after_attempt(call, error)  # type: ignore[arg-type]
        assert (lock.acquired, clock.reads) == (0, 0)
    assert breaker.state("gpt-5") == "closed"
    fail(breaker, "gpt-5")  # the remembered failure still counts: the second one opens
    assert breaker.state("gpt-5") == "open"


def test_two_requests_at_a_half_open_circuit_at_the_same_moment_send_one_probe() -> None:
    """A second request arrives while the first is being admitted as the probe: it waits for
    that decision and is refused (without the lock both would go out as the probe).  The
    second thread starts inside the first one's decision, which waits until the second either
    blocked on the lock or finished: no timing involved."""

    class Breaker(CircuitBreaker):
        pass  # no __slots__: the test may wrap ``_admit``

    clock = Clock()
    breaker = Breaker(failure_threshold=1, cooldown=5.0, clock=clock)
    fail(breaker, "gpt-5")
    clock.now += 5.0
    lock = RecordingLock()
    breaker._lock = lock  # type: ignore[assignment]
    finished = threading.Event()
    original = breaker._admit
    second: list[str] = []
    threads: list[threading.Thread] = []

    def other_request() -> None:
        call = Call("gpt-5")
        try:
            breaker.before_attempt(call)  # type: ignore[arg-type]
            second.append("probe" if call.notes[breaker] else "sent")
        except CircuitOpen:
            second.append("refused")
        finished.set()

    def admit(*args: Any) -> Any:
        if not threads:  # only the first request's decision is interleaved
            t = threading.Thread(target=other_request)
            threads.append(t)
            t.start()
            while not (lock.contended.is_set() or finished.is_set()):
                lock.contended.wait(0.001)
        return original(*args)

    breaker._admit = admit  # type: ignore[method-assign, assignment]
    first = Call("gpt-5")
    breaker.before_attempt(first)  # type: ignore[arg-type]
    threads[0].join(timeout=30)  # a watchdog against a hang only, not a timing assertion
    assert first.notes[breaker] is True  # the first request is the probe
    assert second == ["refused"]


# --- the seam's end of a call ------------------------------------------------------------------


def test_a_probe_admitted_but_never_sent_frees_its_slot_at_once() -> None:
    """Half-open: the request is admitted as the probe, then another layer asks for a wait that
    would pass the call's deadline, so the call ends (``APITimeoutError``) before anything is
    sent.  The slot is freed when the call ends: the next request probes at once, instead of
    being refused for another cooldown."""
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    wait = [0.0]

    class Waiter(Layer):
        def before_attempt(self, call: Any) -> float | None:
            return wait[0]

    class Client(torouter.ToRouter):
        def _layers(self) -> tuple[Layer | None, ...]:
            return (Waiter(), breaker)

    gw = FakeGateway(reply="Bonjour")
    with httpx.Client(transport=gw.transport()) as http:
        client = instant_retries(Client(api_key=gw.add_key(), base_url="http://gateway.test/v1",
                                        http_client=http, max_retries=0, deadline=10.0))
        client._clock = clock

        def chat() -> Any:
            return client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "hi"}])

        gw.upstream.always(Outcome.upstream_unavailable(502), model="gpt-5")
        with pytest.raises(UpstreamUnavailable):
            chat()
        clock.now += 5.0
        wait[0] = 60.0
        with pytest.raises(torouter.APITimeoutError):
            chat()
        assert len(gw.requests) == 1 and breaker.state("gpt-5") == "half-open"
        wait[0] = 0.0
        gw.upstream.always(None, model="gpt-5")
        assert chat().served_model == "gpt-5"  # the probe, sent at once
    assert [r.model for r in gw.requests] == ["gpt-5", "gpt-5"]
    assert breaker.state("gpt-5") == "closed"


def test_a_stream_cut_after_its_first_chunk_is_one_failure_towards_the_threshold() -> None:
    """A stream whose first chunk arrived (the attempt succeeded) and whose model then failed
    counts as one failure of the model, like any other: with a threshold of 2 it takes two."""
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    for expected in ("closed", "open"):
        call = Call("gpt-5")
        breaker.before_attempt(call)  # type: ignore[arg-type]
        breaker.after_attempt(call, None)  # type: ignore[arg-type]  # the first chunk
        call.result = object()
        breaker.end_call(call, UpstreamTimeout("the model stalled mid-stream"))  # type: ignore[arg-type]
        assert breaker.state("gpt-5") == expected


def test_a_call_without_a_model_leaves_no_trace() -> None:
    """A call with no model (``models.list()``) is none of the breaker's business: no note on
    the call (whose ``notes`` every layer shares), no state, no clock, whatever its outcome."""
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    call = Call(None)
    assert breaker.before_attempt(call) is None  # type: ignore[arg-type]
    assert call.notes == {}
    breaker.after_attempt(call, UpstreamUnavailable("down"))  # type: ignore[arg-type]
    call.result = object()
    breaker.end_call(call, UpstreamUnavailable("down"))  # type: ignore[arg-type]
    assert call.notes == {} and clock.reads == 0
    assert breaker._states == {}
    assert repr(breaker).endswith("open=[])")


def test_a_circuit_closed_again_by_its_probe_is_forgotten() -> None:
    """The store keeps a state only for a model with something to remember: once the probe
    succeeds, nothing is kept for it (a client calling many models does not keep one entry
    per model it ever probed)."""
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    fail(breaker, "gpt-5")
    assert set(breaker._states) == {"gpt-5"}
    clock.now += 5.0
    probe = Call("gpt-5")
    breaker.before_attempt(probe)  # type: ignore[arg-type]
    breaker.after_attempt(probe, None)  # type: ignore[arg-type]
    assert breaker.state("gpt-5") == "closed"
    assert breaker._states == {}


# --- the state record and the decisions (the fleet contract) -----------------------------------


def test_a_circuit_state_is_an_immutable_compact_value() -> None:
    """What a store keeps per model: compared and hashed by value, never changed in place (the
    closed state is one shared instance), and holding only its three fields (no per-instance
    ``__dict__``)."""
    state = CircuitState(failures=(1.0, 2.0))
    assert state == CircuitState(failures=(1.0, 2.0))
    assert hash(state) == hash(CircuitState(failures=(1.0, 2.0)))
    assert len({CircuitState(), CircuitState(), state}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.opened_at = 5.0  # type: ignore[misc]
    assert not hasattr(state, "__dict__")
    assert [f.name for f in dataclasses.fields(CircuitState)] == [
        "failures", "opened_at", "probe_since"]


def test_the_probe_decision_says_go_now() -> None:
    """``_admit`` (shared with a fleet coordinator) returns, for the probe, the state with the
    probe's start and 0 seconds to wait, like a plain send."""
    b = CircuitBreaker(failure_threshold=1, window=10.0, cooldown=5.0)
    opened = CircuitState(opened_at=2.0)
    assert b._admit(opened, 7.0) == ("probe", CircuitState(opened_at=2.0, probe_since=7.0), 0.0)
    assert b._admit(CircuitState(opened_at=2.0, probe_since=7.0), 12.5) == (
        "probe", CircuitState(opened_at=2.0, probe_since=12.5), 0.0)


def test_the_breaker_is_named_by_its_public_path() -> None:
    """Reprs, tracebacks and docs say ``torouter.CircuitBreaker``, however it was imported."""
    from torouter import _breaker

    assert _breaker.CircuitBreaker is torouter.CircuitBreaker
    assert CircuitBreaker.__module__ == "torouter"
    assert f"{CircuitBreaker.__module__}.{CircuitBreaker.__qualname__}" == "torouter.CircuitBreaker"
