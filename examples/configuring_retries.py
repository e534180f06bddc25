"""Configuring retries: the per-class policy, a total deadline, a shared budget, on_retry.

    python examples/configuring_retries.py

By default torouter retries the request-rate 429 (RateLimited), 5xx and network failures with
jittered exponential backoff that honours Retry-After, and never retries a dead key, a spent
quota or an empty balance. Here: "retry UpstreamUnavailable 5 times, never RateLimited".
Runs against the fake gateway of torouter.testing (no key, no network); the backoffs are
scaled down so that it finishes in about a second.
"""

from __future__ import annotations

import logging

import torouter
from torouter.testing import FakeGateway, Outcome
from torouter.types import ChatCompletionMessageParam

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "ping"}]


def on_retry(err: torouter.ToRouterError, attempt: torouter.Attempt) -> None:
    """Called before each retry's sleep: count it, log it, feed your metrics."""
    print(f"    retry after attempt {attempt.number}: {type(err).__name__} "
          f"{err.status_code} -> sleeping {attempt.sleep:.3f}s")


def main() -> None:
    # One line per retry also goes to the "torouter" logger at INFO.
    logging.basicConfig(level=logging.WARNING, format="    log: %(message)s")

    # 1. The policy: immutable; each change returns a new one.
    policy = (
        torouter.RetryPolicy(backoff=torouter.Backoff(initial=0.01, maximum=0.05))
        .with_rule(torouter.UpstreamUnavailable, max_retries=5,
                   backoff=torouter.Backoff(initial=0.02, multiplier=2, maximum=0.1))
        .with_rule(torouter.RateLimited, retry=False)
    )
    for cls in (torouter.UpstreamUnavailable, torouter.RateLimited, torouter.UpstreamTimeout,
                torouter.QuotaExhausted):
        rule = policy.rule_for(cls)
        print(f"{cls.__name__:<20} retry={rule.retry!s:<5} max_retries={rule.max_retries} "
              f"(rule from {rule.source.__name__})")

    gateway = FakeGateway()
    with gateway.serve() as server:
        client = torouter.ToRouter(
            api_key=gateway.add_key(),
            base_url=server.base_url,
            retry_policy=policy,
            deadline=2.0,  # seconds for the whole call, attempts and sleeps included
            retry_budget=torouter.RetryBudget(capacity=50),  # shared by threads and copies
            on_retry=on_retry,
            # Off here so that every retry below is shown: by default a model that failed
            # 5 times within 30 s is not called for 30 s (see examples/fallbacks.py).
            circuit_breaker=None,
        )

        print("\n== UpstreamUnavailable four times, then an answer: retried up to 5 times ==")
        gateway.fail_next("upstream_unavailable", times=4)
        reply = client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        print(f"  ok after retries_taken={reply.retries_taken}")

        print("\n== RateLimited: never retried with this policy ==")
        gateway.fail_next("rate limit exceeded")
        try:
            client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        except torouter.RateLimited as err:
            print(f"  raised at once: attempts={len(err.attempts)}, "
                  f"why: {err.attempts[-1].stop_reason}")

        print("\n== The deadline bounds the whole call, whatever the retry count ==")
        slow = client.with_options(deadline=0.3)  # shares the pool and the budget
        gateway.upstream.always(Outcome.plain(502, latency=0.1))
        try:
            slow.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        except torouter.ToRouterError as err:  # the last attempt's timeout shrank to fit
            outcomes = ", ".join(a.outcome for a in err.attempts)
            print(f"  {type(err).__name__} after {len(err.attempts)} attempts ({outcomes}) "
                  f"within the 0.3 s deadline")
        gateway.upstream.always(None)

        print("\n== The retry budget: an outage cannot multiply the traffic ==")
        budget = torouter.RetryBudget(capacity=10, retry_cost=5)  # two retries' worth
        thrifty = client.with_options(retry_budget=budget, on_retry=None)
        gateway.upstream.always(Outcome.plain(502))
        for call in (1, 2):
            try:
                thrifty.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
            except torouter.UpstreamUnavailable as err:
                print(f"  call {call}: attempts={len(err.attempts)} "
                      f"({err.attempts[-1].stop_reason}); budget left {budget.level}")
        gateway.upstream.always(None)

        print("\n== Per call: max_retries=0 for a latency-critical request ==")
        gateway.fail_next("upstream_unavailable")
        try:
            client.with_options(max_retries=0).chat.completions.create(
                model="gpt-5-mini", messages=MESSAGES)
        except torouter.UpstreamUnavailable as err:
            print(f"  no retry: attempts={len(err.attempts)}, retryable by default: "
                  f"{err.retryable}")
        client.close()


if __name__ == "__main__":
    main()
