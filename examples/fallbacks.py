"""Fallback models and circuit breakers: when a model's upstreams are down, answer from the next.

    python examples/fallbacks.py

Runs against the fake ToRouter gateway of torouter.testing on a real 127.0.0.1 socket (no key,
no network) with gpt-5 down.  It shows: a call that falls back to claude-opus-4-7 after gpt-5's
own retries; a dead key that does not fall back (another model would not help); the circuit
breaker opening after repeated failures, so that the next calls skip gpt-5 without sending
anything; and the half-open probe that closes the circuit once gpt-5 is back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import torouter
from torouter.testing import FakeGateway, Outcome
from torouter.types import ChatCompletionMessageParam

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hi"}]


class ManualClock:
    """The breaker's clock, moved by hand, so that the demo need not wait 30 s of cooldown."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def on_retry(err: torouter.ToRouterError, attempt: torouter.Attempt) -> None:
    """One hook for retries and fallbacks: ``attempt.next_model`` is set for a fallback."""
    if attempt.next_model:
        print(f"  ... {attempt.model}: {type(err).__name__}, falling back to "
              f"{attempt.next_model}")
    else:
        print(f"  ... {attempt.model}: {type(err).__name__}, retrying")


def main() -> None:
    # The SDK's own INFO line for each fallback, as your logging would show it.
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    logging.getLogger("torouter").setLevel(logging.INFO)
    logging.getLogger("torouter").addFilter(lambda r: r.getMessage().startswith("falling"))

    gateway = FakeGateway(reply="Hi! (from whichever model answered)")
    gateway.upstream.always(Outcome.upstream_unavailable(502), model="gpt-5")  # gpt-5 is down
    clock = ManualClock()
    breaker = torouter.CircuitBreaker(failure_threshold=5, window=30.0, cooldown=30.0,
                                      clock=clock)
    with gateway.serve() as server:
        client = torouter.ToRouter(
            api_key=gateway.add_key(),
            base_url=server.base_url,
            fallbacks={"gpt-5": ["claude-opus-4-7"]},  # every gpt-5 call may fall back
            circuit_breaker=breaker,
            retry_policy=torouter.RetryPolicy(backoff=torouter.Backoff(initial=0.01,
                                                                       maximum=0.02)),
            on_retry=on_retry,
        )
        with client:
            print("== 1. gpt-5 is down: its own retries first, then the next model ==")
            reply = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
            print(f"answer: {reply.choices[0].message.content}")
            print(f"served_model={reply.served_model} retries_taken={reply.retries_taken}")

            print("\n== 2. A dead key never falls back: another model would fail the same ==")
            expired = gateway.add_key(expires_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
            try:
                client.with_options(api_key=expired).chat.completions.create(
                    model="gpt-5", messages=MESSAGES)
            except torouter.KeyExpired as err:
                print(f"caught {type(err).__name__} after {len(err.attempts)} attempt(s) "
                      f"(models tried: {[a.model for a in err.attempts]})")

            print("\n== 3. Two more gpt-5 failures open its circuit (5 within 30 s) ==")
            reply = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
            print(f"served_model={reply.served_model}; gpt-5 circuit: {breaker.state('gpt-5')}")

            print("\n== 4. While it is open, gpt-5 is skipped without sending anything ==")
            before = len(gateway.requests)
            reply = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
            sent = [r.model for r in gateway.requests[before:]]
            print(f"served_model={reply.served_model}; requests sent: {sent}")
            try:
                client.chat.completions.create(model="gpt-5", messages=MESSAGES,
                                               fallback_models=[])  # this call: no fallback
            except torouter.CircuitOpen as err:
                print(f"without a fallback: caught CircuitOpen for {err.model}, "
                      f"probe in {err.retry_after:g}s, nothing sent")

            print("\n== 5. gpt-5 is back; after the cooldown one probe closes the circuit ==")
            gateway.upstream.always(None, model="gpt-5")
            clock.now += 30.0
            print(f"gpt-5 circuit: {breaker.state('gpt-5')}")
            reply = client.chat.completions.create(model="gpt-5", messages=MESSAGES)
            print(f"served_model={reply.served_model}; gpt-5 circuit: {breaker.state('gpt-5')}")


if __name__ == "__main__":
    main()
