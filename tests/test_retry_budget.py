"""The retry budget on its own: its documented defaults and its thread safety, exactly.

The thread-safety tests do not hope for an unlucky interleaving: a budget whose level pauses
the first reader forces a rival call into the gap between "is there enough?" and "take it",
which is where an unlocked bucket gives the same tokens twice.
"""

from __future__ import annotations

import threading

import pytest

from torouter import APITimeoutError, RetryBudget, ToRouter, UpstreamUnavailable

SERVER_ERROR = UpstreamUnavailable("every channel failed")
TIMEOUT = APITimeoutError("read timed out")


def test_the_documented_defaults() -> None:
    budget = RetryBudget()
    assert (budget.capacity, budget.retry_cost, budget.timeout_cost, budget.success_refund) == (
        500, 5, 10, 1)
    assert budget.level == 500
    assert repr(budget) == "RetryBudget(level=500, capacity=500)"


def test_a_fresh_budget_pays_for_100_retries_after_server_errors_and_50_after_timeouts() -> None:
    budget = RetryBudget()
    granted = [budget.try_spend(SERVER_ERROR) for _ in range(150)]
    assert granted == [5] * 100 + [0] * 50  # "a dead gateway costs 100 extra requests at most"
    assert budget.level == 0
    budget = RetryBudget()
    granted = [budget.try_spend(TIMEOUT) for _ in range(60)]
    assert granted == [10] * 50 + [0] * 10


def test_spending_returns_the_cost_and_an_empty_bucket_pays_nothing() -> None:
    budget = RetryBudget(capacity=12)
    assert budget.try_spend(TIMEOUT) == 10
    assert budget.level == 2
    assert budget.try_spend(SERVER_ERROR) == 0  # 2 tokens cannot pay for 5
    assert budget.level == 2
    exact = RetryBudget(capacity=5)
    assert exact.try_spend(SERVER_ERROR) == 5  # exactly enough is enough
    assert exact.level == 0


def test_a_first_attempt_success_refunds_one_token_and_a_retried_one_what_it_spent() -> None:
    budget = RetryBudget()
    budget.try_spend(SERVER_ERROR)
    budget.try_spend(SERVER_ERROR)
    assert budget.level == 490
    budget.refund(0)  # a success on the first attempt
    assert budget.level == 491
    budget.refund(5)  # a success after one retry gives its 5 tokens back
    assert budget.level == 496
    budget.refund(50)
    assert budget.level == 500  # never above capacity
    stingy = RetryBudget(capacity=10, success_refund=0)
    stingy.try_spend(SERVER_ERROR)
    stingy.refund(0)
    assert stingy.level == 5


def test_a_client_gets_the_default_budget() -> None:
    client = ToRouter(api_key="sk-budget-0123456789", base_url="http://127.0.0.1:9/v1")
    budget = client._budget
    assert isinstance(budget, RetryBudget)
    assert (budget.capacity, budget.retry_cost, budget.timeout_cost, budget.success_refund) == (
        500, 5, 10, 1)
    client.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"capacity": -1}, "capacity >= 0"), ({"retry_cost": 0}, "costs >= 1"),
     ({"timeout_cost": 0}, "costs >= 1"), ({"success_refund": -1}, "refund >= 0"),
     ({"capacity": 1.5}, "capacity must be an int"), ({"retry_cost": True}, "retry_cost must be")],
)
def test_bad_settings_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryBudget(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"capacity": 0}, {"retry_cost": 1}, {"timeout_cost": 1}, {"success_refund": 0}]
)
def test_the_smallest_legal_settings_are_accepted(kwargs: dict[str, int]) -> None:
    budget = RetryBudget(**kwargs)
    for name, value in kwargs.items():
        assert getattr(budget, name) == value


# --- thread safety, with a forced interleaving ------------------------------------------------

# How long the paused reader waits for its rival.  A locked bucket keeps the rival out, so the
# wait always runs to its end there; this only bounds that wait (no timing is asserted).
RIVAL_WAIT = 0.5


class _PausingBudget(RetryBudget):
    """A budget whose first level read, in the thread named "first", waits for a rival call."""

    __slots__ = ("_paused", "rival_done")

    def __init__(self, *args: int, **kwargs: int) -> None:
        self._paused = False
        self.rival_done = threading.Event()
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def _level(self) -> int:
        value: int = RetryBudget._level.__get__(self)  # type: ignore[attr-defined]
        if threading.current_thread().name == "first" and not self._paused:
            self._paused = True
            self.rival_done.wait(RIVAL_WAIT)
        return value

    @_level.setter
    def _level(self, value: int) -> None:
        RetryBudget._level.__set__(self, value)  # type: ignore[attr-defined]


def _race(budget: _PausingBudget, first: object, rival: object) -> None:
    def run_rival() -> None:
        try:
            rival()  # type: ignore[operator]
        finally:
            budget.rival_done.set()

    a = threading.Thread(target=first, name="first")  # type: ignore[arg-type]
    b = threading.Thread(target=run_rival, name="rival")
    a.start()
    while not budget._paused and a.is_alive():  # the first thread is inside: send the rival
        threading.Event().wait(0.001)
    b.start()
    a.join()
    b.join()


def test_two_threads_racing_for_the_last_tokens_get_them_once() -> None:
    budget = _PausingBudget(capacity=5)
    granted: list[int] = []
    _race(budget, lambda: granted.append(budget.try_spend(SERVER_ERROR)),
          lambda: granted.append(budget.try_spend(SERVER_ERROR)))
    assert sorted(granted) == [0, 5], f"one retry's tokens were granted as {granted}"
    assert budget.level == 0


def test_a_refund_racing_a_spend_loses_neither() -> None:
    budget = _PausingBudget(capacity=10)
    budget.try_spend(SERVER_ERROR)
    assert budget.level == 5
    spent: list[int] = []
    _race(budget, lambda: budget.refund(5), lambda: spent.append(budget.try_spend(SERVER_ERROR)))
    assert spent == [5]
    assert budget.level == 5, "the refund overwrote a concurrent spend"
