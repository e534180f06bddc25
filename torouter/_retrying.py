"""The retry engine: tenacity strategies that apply a :class:`RetryPolicy` to one API call.

Each strategy is a small tenacity callable (``_tenacity.py``, imported with tenacity itself on
a call's first failure: a call that succeeds at once never needs them); they are combined with
``|`` once, and drive both ``tenacity.Retrying`` (sync client) and ``tenacity.AsyncRetrying``
(async client), so the decision logic exists once.  Per-call state (attempt history, deadline,
the tokens spent) lives in :class:`CallRetryState`, which the strategies find on the tenacity
retry object.

Order of the decision after a failed attempt:

1. ``retry``  -- does the policy retry this error class at all (and was nothing delivered)?
2. ``wait``   -- the server's ``Retry-After`` if it gave one, else the rule's backoff.
3. ``stop``   -- any of: retries for this class used up (or, with a fallback model left, the
   rule's ``fallback_after``); ``Retry-After`` above the cap; the sleep would pass the
   deadline; the retry budget cannot pay.  Stopping re-raises the last error.
4. ``next_spec`` -- after a model's retries ended: the next fallback model, when the rule says
   ``fallback``, a model is left and the deadline has not passed.  The chain shares this state:
   one deadline, one budget, one attempt history (each attempt with its model).  Otherwise the
   call ends with the error, the attempt history attached.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from ._budget import RetryBudget
from ._errors import APIStatusError, APITimeoutError, ToRouterError
from ._retry import ResolvedRule, RetryPolicy

if TYPE_CHECKING:
    import tenacity

    from ._base_client import RequestSpec
    from ._seam import Seam
    from ._streaming import StreamOutcome

__all__ = ["Attempt", "CallRetryState", "OnRetry", "retries_first_failure"]

log = logging.getLogger("torouter")


@dataclass(frozen=True)
class Attempt:
    """One attempt of an API call, as kept in ``err.attempts``.

    ``outcome`` is the error class name, or ``"ok"``; ``sleep`` is the pause that followed it
    (``None`` for the last attempt); ``elapsed`` is how long the attempt took, in seconds;
    ``model`` is the model the attempt asked for (``None`` for an endpoint without one);
    ``next_model`` is set on the last attempt of a model the call then fell back from (the
    model it moved to).
    """

    number: int
    outcome: str
    status_code: int | None
    code: str | None
    request_id: str | None
    elapsed: float
    sleep: float | None = None
    stop_reason: str | None = None
    model: str | None = None
    next_model: str | None = None


#: ``on_retry(error, attempt)`` is called before each retry's sleep (``attempt.sleep`` is set)
#: and before each move to a fallback model (``attempt.next_model`` is set, ``sleep`` is None).
OnRetry = Callable[[ToRouterError, Attempt], None]


class CallRetryState:
    """Per-call state: the clock, the deadline, the attempts so far, tokens spent, and what the
    seam's layers read (``spec``, ``model``, ``notes``, ``extra_headers``; see ``_seam``)."""

    __slots__ = (
        "_attempt_start",
        "_expired",
        "_last_error",
        "attempts",
        "budget",
        "clock",
        "deadline_at",
        "ended",
        "error",
        "extra_headers",
        "fallbacks",
        "label",
        "model",
        "notes",
        "on_retry",
        "policy",
        "rand",
        "response",
        "result",
        "seam",
        "spec",
        "spent",
        "start",
        "stop_reason",
        "stream_outcome",
        "wait",
    )

    def __init__(
        self,
        *,
        policy: RetryPolicy,
        budget: RetryBudget | None,
        clock: Callable[[], float],
        deadline: float | None,
        on_retry: OnRetry | None,
        label: str,
        rand: Callable[[], float] = random.random,
        spec: RequestSpec[Any] | None = None,
        seam: Seam | None = None,
        fallbacks: Sequence[str] = (),
    ) -> None:
        self.policy = policy
        self.budget = budget
        self.clock = clock
        self.on_retry = on_retry
        self.label = label
        self.rand = rand
        self.start = clock()
        self.deadline_at = None if deadline is None else self.start + deadline
        self.attempts: list[Attempt] = []
        self.spent = 0
        self.stop_reason: str | None = None
        self._attempt_start = self.start
        self._expired = False
        self._last_error: ToRouterError | None = None
        self.spec = spec
        self.model: str | None = None if spec is None else spec.model
        #: The fallback models not tried yet, in order.
        self.fallbacks = [m for m in dict.fromkeys(fallbacks) if m != self.model]
        self.seam = seam
        self.notes: dict[object, Any] = {}
        self.extra_headers: dict[str, str] = {}
        self.result: Any = None
        self.response: httpx.Response | None = None  # of the attempt that succeeded
        self.error: ToRouterError | None = None
        self.ended = False
        self.stream_outcome: StreamOutcome | None = None
        #: Seconds the seam's layers asked to wait before the current attempt (0: none).
        self.wait = 0.0

    # -- per attempt ---------------------------------------------------------------------

    def begin(self, timeout: httpx.Timeout) -> httpx.Timeout:
        """Start an attempt; return its timeout, shrunk to what is left of the deadline."""
        now = self._attempt_start = self.clock()
        if self.deadline_at is None:
            return timeout
        left = self.deadline_at - now
        if left <= 0:
            # A sleep overran the deadline: end the call with the last real error (already
            # recorded), not with a new one; should_retry() then says no.
            self._expired = True
            self.stop_reason = "the deadline ran out before the next attempt"
            if self.last_error is not None:
                raise self.last_error
            raise self.failed(APITimeoutError(
                f"the deadline of {self.deadline_at - self.start:g}s ran out before attempt "
                f"{len(self.attempts) + 1}"
            ))
        return httpx.Timeout(
            connect=_shrink(timeout.connect, left),
            read=_shrink(timeout.read, left),
            write=_shrink(timeout.write, left),
            pool=_shrink(timeout.pool, left),
        )

    @property
    def last_error(self) -> ToRouterError | None:
        """The error of the last failed attempt, if any."""
        return self._last_error

    def failed(self, error: ToRouterError) -> ToRouterError:
        """Record a failed attempt; return the error for raising."""
        self._last_error = error
        self.attempts.append(
            Attempt(
                number=len(self.attempts) + 1,
                outcome=type(error).__name__,
                status_code=error.status_code,
                code=error.code,
                request_id=error.request_id,
                elapsed=self.clock() - self._attempt_start,
                model=self.model,
            )
        )
        return error

    def expire(self, reason: str) -> None:
        """End the call after the current attempt whatever the policy says (the deadline, a
        closed client)."""
        self._expired = True
        self.stop_reason = reason

    def refused(self, error: ToRouterError) -> ToRouterError:
        """Record an attempt a seam layer refused (nothing was sent); return the error."""
        self._attempt_start = self.clock()
        return self.failed(error)

    def succeeded(self) -> int:
        """Record a success: refund the budget; return the number of retries it took."""
        if self.budget is not None:
            self.budget.refund(self.spent)
        return len(self.attempts)

    def finish(self, error: ToRouterError) -> None:
        """The call failed: attach the attempt history to its error; tell the seam."""
        if self.attempts and self.stop_reason and self.attempts[-1].stop_reason is None:
            self.attempts[-1] = replace(self.attempts[-1], stop_reason=self.stop_reason)
        error.attempts = tuple(self.attempts)
        self.error = error
        if self.seam is not None:
            self.seam.end(self, error)

    def complete(self, result: Any) -> Any:
        """The call succeeded with ``result``; tell the seam (a stream: when it ends)."""
        self.result = result
        if self.seam is not None:
            spec = self.spec
            # Only a stream can have an end hook: a missing attribute of a pydantic model is
            # a raised and caught AttributeError (~5 us), not worth paying on every call.
            end_hook = None
            if spec is not None and spec.stream:
                stream = result.parse() if spec.raw else result
                end_hook = getattr(stream, "_set_end_hook", None)
            if end_hook is not None:
                end_hook(self._stream_ended)
            else:
                self.seam.end(self, None)
        return result

    def abandon(self, exc: BaseException) -> None:
        """The call stopped on a non-torouter exception (cancelled, interrupted): tell the seam."""
        if self.seam is not None:
            self.seam.abandon(self, exc)

    def _stream_ended(self, outcome: StreamOutcome) -> None:
        """The stream this call returned ended (``outcome.kind``: completed, error, closed)."""
        self.stream_outcome = outcome
        self.error = outcome.error
        if self.seam is not None:
            self.seam.end(self, outcome.error)

    def next_spec(self, error: ToRouterError) -> RequestSpec[Any] | None:
        """After the call's retries for one model ended in ``error``: the request to continue
        with (the next fallback model), or ``None`` to end the call with ``error``.

        Falls back when the rule for ``error``'s class says ``fallback``, a model is left and
        the deadline has not passed; the move is logged, recorded on the last attempt
        (``next_model``) and told to ``on_retry``.  No sleep comes first: it is another model.
        """
        if not self.fallbacks or self.spec is None or not self.attempts or self._expired:
            return None
        if not self.policy.rule_for(type(error)).fallback:
            return None
        if self.deadline_at is not None and self.clock() >= self.deadline_at:
            self.stop_reason = "the deadline ran out before the next fallback model"
            return None
        following = self.fallbacks.pop(0)
        last = self.attempts[-1] = replace(
            self.attempts[-1], next_model=following,
            stop_reason=self.attempts[-1].stop_reason or self.stop_reason,
        )
        self.stop_reason = None
        log.info(
            "falling back from %s to %s after %s (status=%s, code=%s, request_id=%s), %s, "
            "attempt %d", self.model, following, type(error).__name__, error.status_code,
            error.code, error.request_id, self.label, last.number,
        )
        if self.on_retry is not None:
            self.on_retry(error, last)
        self.model = following
        return self.spec.with_model(following)

    # -- what tenacity asks ----------------------------------------------------------------

    def should_retry(self, error: BaseException) -> bool:
        if not isinstance(error, ToRouterError) or self._expired:
            return False
        rule = self.policy.rule_for(type(error))
        if not rule.retry:
            self.stop_reason = "not retried by policy"
            return False
        return not self._falls_over_now(rule, 0)

    def next_sleep(self, error: ToRouterError, retry_number: int) -> float:
        rule = self.policy.rule_for(type(error))
        if isinstance(error, APIStatusError) and error.retry_after is not None:
            return error.retry_after
        return rule.backoff.delay(retry_number, self.rand)

    def stop_after_rule_attempts(self, error: ToRouterError, retries_done: int) -> bool:
        rule = self.policy.rule_for(type(error))
        if retries_done >= rule.max_retries:
            self.stop_reason = f"{rule.max_retries} retries used"
            return True
        return self._falls_over_now(rule, retries_done)

    def _falls_over_now(self, rule: ResolvedRule, retries_done: int) -> bool:
        """With a fallback model left, the rule's ``fallback_after`` ends this model's retries."""
        after = rule.fallback_after
        if rule.fallback and self.fallbacks and after is not None and retries_done >= after:
            self.stop_reason = f"fallback_after={after}: moving to the next model"
            return True
        return False

    def stop_if_retry_after_over_cap(self, error: ToRouterError) -> bool:
        after = error.retry_after
        if after is not None and after > self.policy.max_retry_after:
            self.stop_reason = (
                f"Retry-After {after:g}s is above max_retry_after "
                f"{self.policy.max_retry_after:g}s"
            )
            return True
        return False

    def stop_before_deadline(self, sleep: float) -> bool:
        if self.deadline_at is not None and self.clock() + sleep >= self.deadline_at:
            self.stop_reason = "the deadline would pass before the next attempt"
            return True
        return False

    def stop_when_budget_empty(self, error: ToRouterError) -> bool:
        if self.budget is None:
            return False
        cost = self.budget.try_spend(error)
        if not cost:
            self.stop_reason = "retry budget empty"
            return True
        self.spent += cost
        return False

    def before_sleep(self, error: ToRouterError, sleep: float) -> None:
        last = self.attempts[-1] = replace(self.attempts[-1], sleep=sleep)
        log.info(
            "retrying %s after %s (status=%s, code=%s, request_id=%s), attempt %d, sleeping %.3fs",
            self.label, type(error).__name__, error.status_code, error.code, error.request_id,
            last.number, sleep,
        )
        if self.on_retry is not None:
            self.on_retry(error, last)


def _shrink(value: float | None, left: float) -> float:
    return left if value is None else min(value, left)


# --- tenacity, on the first failure --------------------------------------------------------


def retries_first_failure(retrying: tenacity.BaseRetrying, error: BaseException) -> bool:
    """What ``retrying``'s retry strategy decides after a failed first attempt (see
    ``_tenacity.retries_first_failure``)."""
    from . import _tenacity

    return _tenacity.retries_first_failure(retrying, error)


def sync_retrying(state: CallRetryState, sleep: Callable[[float], None]) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for one sync call."""
    from . import _tenacity

    return _tenacity.sync_retrying(state, sleep)


def async_retrying(state: CallRetryState, sleep: Callable[[float], Any]) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` for one async call (same strategies)."""
    from . import _tenacity

    return _tenacity.async_retrying(state, sleep)


def __getattr__(name: str) -> Any:
    # ``STRATEGIES`` and the strategy classes live in ``_tenacity`` (loaded with tenacity).
    if name == "STRATEGIES" or name.startswith(("retry_", "wait_", "stop_")):
        from . import _tenacity

        return getattr(_tenacity, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
