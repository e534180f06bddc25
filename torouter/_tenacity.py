"""tenacity's half of the retry engine (see ``_retrying``): the strategies and the retrying
objects.  Imported on a call's first failure, so that a call that succeeds at once never loads
tenacity (~10 ms of a cold start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import tenacity
from tenacity import RetryCallState
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from ._errors import ToRouterError

if TYPE_CHECKING:
    from ._retrying import CallRetryState

__all__ = ["STRATEGIES", "async_retrying", "retries_first_failure", "sync_retrying"]


def _state(rs: RetryCallState) -> CallRetryState:
    state: CallRetryState = rs.retry_object.torouter_state  # type: ignore[attr-defined]
    return state


def _error(rs: RetryCallState) -> ToRouterError:
    assert rs.outcome is not None
    exc = rs.outcome.exception()
    assert isinstance(exc, ToRouterError)
    return exc


class retry_if_policy_allows(retry_base):
    """Retry when the policy's rule for the error's class says so."""

    def __call__(self, rs: RetryCallState) -> bool:
        assert rs.outcome is not None
        if not rs.outcome.failed:
            return False
        exc = rs.outcome.exception()
        assert exc is not None
        return _state(rs).should_retry(exc)


class wait_retry_after_or_backoff(wait_base):
    """Sleep for the server's Retry-After when given, else the rule's backoff."""

    def __call__(self, rs: RetryCallState) -> float:
        return _state(rs).next_sleep(_error(rs), rs.attempt_number)


class stop_after_rule_attempts(stop_base):
    """Stop when the retries allowed for this error class are used up."""

    def __call__(self, rs: RetryCallState) -> bool:
        return _state(rs).stop_after_rule_attempts(_error(rs), rs.attempt_number - 1)


class stop_if_retry_after_over_cap(stop_base):
    """Stop (raise at once, ``retry_after`` set) when the server asks for more than the cap."""

    def __call__(self, rs: RetryCallState) -> bool:
        return _state(rs).stop_if_retry_after_over_cap(_error(rs))


class stop_before_deadline(stop_base):
    """Stop when sleeping would reach the call's deadline."""

    def __call__(self, rs: RetryCallState) -> bool:
        return _state(rs).stop_before_deadline(rs.upcoming_sleep)


class stop_when_budget_empty(stop_base):
    """Stop when the client's retry budget cannot pay for a retry (spends when it can)."""

    def __call__(self, rs: RetryCallState) -> bool:
        return _state(rs).stop_when_budget_empty(_error(rs))


def _before_sleep(rs: RetryCallState) -> None:
    _state(rs).before_sleep(_error(rs), rs.upcoming_sleep)


# The budget is consulted last: it spends tokens only when nothing else stops the retry.
STRATEGIES: dict[str, Any] = {
    "retry": retry_if_policy_allows(),
    "wait": wait_retry_after_or_backoff(),
    "stop": stop_after_rule_attempts()
    | stop_if_retry_after_over_cap()
    | stop_before_deadline()
    | stop_when_budget_empty(),
    "before_sleep": _before_sleep,
    "reraise": True,
}


def retries_first_failure(retrying: tenacity.BaseRetrying, error: BaseException) -> bool:
    """What ``retrying``'s retry strategy decides after a failed first attempt.

    The clients make an API call's first attempt before building tenacity's loop, so that a
    call that succeeds at once costs no retry machinery.  When that attempt fails they ask
    this (the same strategy tenacity would ask), and only when the answer is to retry do they
    enter the loop, replaying the failure as its attempt 1: every decision stays tenacity's.
    """
    rs = RetryCallState(retrying, None, (), {})
    rs.set_exception((type(error), error, error.__traceback__))
    return bool(retrying.retry(rs))


def sync_retrying(state: CallRetryState, sleep: Callable[[float], None]) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for one sync call."""
    retrying = tenacity.Retrying(sleep=sleep, **STRATEGIES)
    retrying.torouter_state = state  # type: ignore[attr-defined]
    return retrying


def async_retrying(state: CallRetryState, sleep: Callable[[float], Any]) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` for one async call (same strategies)."""
    retrying = tenacity.AsyncRetrying(sleep=sleep, **STRATEGIES)
    retrying.torouter_state = state  # type: ignore[attr-defined]
    return retrying
