"""The retry budget: a token bucket per client so that an outage cannot multiply traffic.

Modelled on botocore's standard-mode retry quota and gRPC retry throttling: every retry spends
tokens (a timeout spends more), every success refunds; when the bucket cannot pay for a retry,
errors surface at once.  One budget is shared by all threads and tasks using a client and by
its ``with_options`` copies.
"""

from __future__ import annotations

import threading

from ._errors import APITimeoutError, InvalidArgumentError, ToRouterError

__all__ = ["RetryBudget"]


class RetryBudget:
    """A thread-safe token bucket for retries.

    Args:
        capacity: tokens in a full bucket (and the starting level).
        retry_cost: tokens one retry spends.
        timeout_cost: tokens one retry after a timeout spends (timeouts are expensive).
        success_refund: tokens a success on the first attempt puts back; a success after
            retries puts back what those retries cost.

    With the defaults a client facing a dead gateway makes at most ``capacity / retry_cost``
    (100) retries in total before it stops retrying, until successes refill the bucket.
    """

    __slots__ = ("_level", "_lock", "capacity", "retry_cost", "success_refund", "timeout_cost")

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_refund: int = 1,
    ) -> None:
        for name, value in (("capacity", capacity), ("retry_cost", retry_cost),
                            ("timeout_cost", timeout_cost), ("success_refund", success_refund)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgumentError(f"RetryBudget.{name} must be an int, not {value!r}")
        if capacity < 0 or retry_cost < 1 or timeout_cost < 1 or success_refund < 0:
            raise InvalidArgumentError("RetryBudget needs capacity >= 0, costs >= 1, refund >= 0")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refund = success_refund
        self._level = capacity
        self._lock = threading.Lock()

    @property
    def level(self) -> int:
        """Tokens in the bucket now."""
        return self._level

    def cost_of(self, error: ToRouterError) -> int:
        """What retrying after ``error`` costs."""
        return self.timeout_cost if isinstance(error, APITimeoutError) else self.retry_cost

    def try_spend(self, error: ToRouterError) -> int:
        """Take the cost of one retry; return it, or 0 when the bucket cannot pay (no retry)."""
        cost = self.cost_of(error)
        with self._lock:
            if self._level < cost:
                return 0
            self._level -= cost
            return cost

    def refund(self, spent: int) -> None:
        """A request succeeded after spending ``spent`` tokens on its retries."""
        amount = spent if spent else self.success_refund
        if amount > 0:
            with self._lock:
                self._level = min(self.capacity, self._level + amount)

    def __repr__(self) -> str:
        return f"RetryBudget(level={self._level}, capacity={self.capacity})"


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
