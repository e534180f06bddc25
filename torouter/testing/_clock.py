"""Injectable clocks for :class:`~torouter.testing.FakeGateway`."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Clock", "FakeClock"]

Clock = Callable[[], float]
"""Any callable returning the current time as epoch seconds (e.g. :func:`time.time`)."""


class FakeClock:
    """A manual clock: returns a fixed epoch time that moves only when told to.

    Pass it as ``FakeGateway(clock=FakeClock())`` to drive expiry and the sliding request
    windows deterministically. Thread-safe.
    """

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        """Start at ``start`` epoch seconds (default 2026-01-01T00:00:00Z)."""
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current fake time in epoch seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (must be >= 0) and return the new time."""
        if seconds < 0:
            raise ValueError("a FakeClock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to an absolute epoch time (may go backwards; use with care)."""
        with self._lock:
            self._now = float(now)

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
