"""The seam around every call and every attempt: one place where layers plug in.

Fallbacks and circuit breakers, fleet-wide coordination and telemetry all need the same points
of a call.  They are *layers*; a client builds its tuple of layers once (``build_layers``) and
the core runs them through :class:`Seam` at fixed points, the same for the sync and the async
client::

    call starts ─ start_call()                       (outermost first; no I/O)
    │  for each attempt (retries and fallback models alike):
    │     before_attempt()   decide: proceed (None/0), wait (seconds > 0) or refuse (raise)
    │     on_send()          the attempt goes out now (e.g. an attempt span, a traceparent)
    │     ── the client sends; the core classifies the outcome ──
    │     after_attempt()    outcome: error or None; timing and model are on the call
    call ends ─ end_call()                           (for a stream: when the stream ends)
    call abandoned ─ abandon_call()                  (cancelled or interrupted, instead of end)

Rules:

* Layers decide; only ``_client.py`` does I/O (it sleeps for a wait, sends the request).  A
  layer whose state lives elsewhere (Redis) does its own round trip in ``before_attempt`` /
  ``after_attempt`` and the awaitable twins ``abefore_attempt`` / ``aafter_attempt``, which the
  async client calls (their default runs the sync method: right for every layer without I/O).
* A refusal is a :class:`ToRouterError` raised by ``before_attempt``; the seam records it as an
  attempt that sent nothing and the call's retry table decides what follows (a fallback model,
  or the end of the call).  A refused attempt gets no ``on_send`` / ``after_attempt``.
* A wait is counted against the call's deadline: a wait that would pass it ends the call with
  :class:`APITimeoutError` before anything is sent.
* After the commit point (a plain response parsed, a stream's first chunk in hand) nothing here
  can change the call any more; ``end_call`` still reports how it ended.
* With no layers a client has no seam at all (``call.seam is None``): zero cost.

Per-call facts a layer reads are on the :class:`~torouter._retrying.CallRetryState` passed to
every method: ``spec`` (method, path, operation, params), ``model`` (of this attempt),
``attempts`` (failed attempts so far, each with its model), ``start``/``deadline_at``/``clock``,
``extra_headers`` (headers a layer adds to the next attempt), ``notes`` (a dict where a layer
keeps its per-call state, keyed by the layer), ``result`` (the success) and ``error``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._errors import APITimeoutError, ToRouterError

if TYPE_CHECKING:
    from ._retrying import CallRetryState

__all__ = ["Layer", "Seam"]


class Layer:
    """A participant in every call a client makes.  Override only what you need.

    Layers are shared by every thread and task using a client and its ``with_options`` copies:
    keep per-call state in ``call.notes[self]``, not on ``self``.
    """

    __slots__ = ()

    def start_call(self, call: CallRetryState) -> None:
        """The call begins (before its first attempt).  No I/O."""

    def before_attempt(self, call: CallRetryState) -> float | None:
        """Decide about the next attempt: ``None`` or ``0`` to proceed, seconds to wait first,
        or raise a :class:`ToRouterError` to refuse it (nothing is sent)."""
        return None

    async def abefore_attempt(self, call: CallRetryState) -> float | None:
        """``before_attempt`` for the async client (override when the decision needs I/O)."""
        return self.before_attempt(call)

    def on_send(self, call: CallRetryState) -> None:
        """Every layer agreed: the attempt is sent now.  No I/O."""

    def after_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        """The attempt ended: ``error`` is its typed failure, ``None`` a success."""

    async def aafter_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        """``after_attempt`` for the async client (override when recording needs I/O)."""
        self.after_attempt(call, error)

    def end_call(self, call: CallRetryState, error: ToRouterError | None) -> None:
        """The call ended (a stream: when it ended, was cut or was closed).  No I/O."""

    def abandon_call(self, call: CallRetryState, exc: BaseException) -> None:
        """The call stopped on something that is not a torouter error (the task was cancelled,
        ``KeyboardInterrupt``), possibly in the middle of an attempt; it gets no ``end_call``.
        Release what the call holds.  No I/O."""


class Seam:
    """Runs a client's layers at the seam's points, in order (``after``/``end`` in reverse)."""

    __slots__ = ("layers", "reverse")

    def __init__(self, layers: Iterable[Layer]) -> None:
        self.layers = tuple(layers)
        self.reverse = self.layers[::-1]

    def __repr__(self) -> str:
        return f"Seam({', '.join(type(layer).__name__ for layer in self.layers)})"

    # -- call ----------------------------------------------------------------------------

    def start(self, call: CallRetryState) -> None:
        for layer in self.layers:
            layer.start_call(call)

    def end(self, call: CallRetryState, error: ToRouterError | None) -> None:
        """Report the call's end once (a second report, e.g. a stream closed twice, is ignored)."""
        if call.ended:
            return
        call.ended = True
        for layer in self.reverse:
            layer.end_call(call, error)

    def abandon(self, call: CallRetryState, exc: BaseException) -> None:
        """The call was cancelled or interrupted (once, and never after ``end``)."""
        if call.ended:
            return
        call.ended = True
        for layer in self.reverse:
            layer.abandon_call(call, exc)

    # -- attempt ---------------------------------------------------------------------------

    def before(self, call: CallRetryState) -> float:
        """Seconds to wait before the attempt (0: send now); raises the refusal, recorded."""
        wait = 0.0
        try:
            for layer in self.layers:
                wait = max(wait, layer.before_attempt(call) or 0.0)
        except ToRouterError as err:
            raise call.refused(err) from None
        return self._checked(call, wait)

    async def abefore(self, call: CallRetryState) -> float:
        wait = 0.0
        try:
            for layer in self.layers:
                wait = max(wait, await layer.abefore_attempt(call) or 0.0)
        except ToRouterError as err:
            raise call.refused(err) from None
        return self._checked(call, wait)

    @staticmethod
    def _checked(call: CallRetryState, wait: float) -> float:
        call.wait = wait
        if wait > 0 and call.deadline_at is not None and call.clock() + wait >= call.deadline_at:
            call.expire("a wait asked before the attempt would pass the deadline")
            raise call.refused(APITimeoutError(
                f"waiting {wait:.3g}s before attempt {len(call.attempts) + 1} (asked by the "
                f"client's coordination) would pass the deadline of "
                f"{call.deadline_at - call.start:g}s; nothing was sent"
            ))
        return wait

    def send(self, call: CallRetryState) -> None:
        for layer in self.layers:
            layer.on_send(call)

    def after(self, call: CallRetryState, error: ToRouterError | None) -> None:
        for layer in self.reverse:
            layer.after_attempt(call, error)

    async def aafter(self, call: CallRetryState, error: ToRouterError | None) -> None:
        for layer in self.reverse:
            await layer.aafter_attempt(call, error)


def build_seam(layers: Iterable[Any]) -> Seam | None:
    """The client's seam from its configured layers (``None`` entries skipped); ``None`` when
    there are none, so that a client without layers pays nothing."""
    present = tuple(layer for layer in layers if layer is not None)
    for layer in present:
        if not isinstance(layer, Layer):  # pragma: no cover - internal wiring
            raise TypeError(f"{layer!r} is not a torouter seam Layer")
    return Seam(present) if present else None
