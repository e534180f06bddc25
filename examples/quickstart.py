"""torouter quickstart: a chat, a stream, and each failure a user meets, with its typed exception.

    python examples/quickstart.py

Without TOROUTER_API_KEY it starts the fake ToRouter gateway that ships with torouter
(torouter.testing.FakeGateway) on a real 127.0.0.1 socket: no key and no network needed.
With TOROUTER_API_KEY set it talks to the gateway it is given (TOROUTER_BASE_URL, else the real
ToRouter gateway) and says which one, runs only the chat and the stream (the failure demos need
the built-in fake gateway, which can be scripted), and exits non-zero with the typed error if they
fail: it never falls back to the fake gateway.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import torouter
from torouter.types import ChatCompletionMessageParam

MODEL = os.environ.get("TOROUTER_MODEL", "gpt-5-mini")
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Say hello in French, in one short sentence."},
]


def heading(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(3, 66 - len(title)))


def masked(key: str) -> str:
    """Never print a key: its prefix and last four characters only, as the SDK writes it."""
    return f"{key[:3]}…{key[-4:]}" if len(key) >= 12 else f"{key[:3]}…"


def show_error(err: torouter.ToRouterError) -> None:
    """What every torouter error carries: its class, one readable line, and what to do."""
    print(f"caught torouter.{type(err).__name__}")
    print(f"  str(err): {err}")
    print(f"  hint:     {err.hint}")


def on_retry(err: torouter.ToRouterError, attempt: torouter.Attempt) -> None:
    status = f" ({err.status_code})" if err.status_code is not None else ""
    print(f"  ... attempt {attempt.number} failed with {type(err).__name__}{status}; "
          f"retrying in {attempt.sleep:.2f}s")


def chat(client: torouter.ToRouter) -> None:
    heading("1. A chat")
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION)
    print(f"assistant: {reply.choices[0].message.content}")
    print(f"request_id={reply.request_id} retries_taken={reply.retries_taken}")


def stream(client: torouter.ToRouter) -> None:
    heading("2. A stream, printed as it arrives")
    print("assistant: ", end="", flush=True)
    # The stream helper: typed events (docs/stream-helper.md); text_stream is just the text.
    with client.chat.completions.stream(model=MODEL, messages=QUESTION) as answer:
        for text in answer.text_stream:
            print(text, end="", flush=True)
        final = answer.get_final_completion()  # the whole completion, joined
    print(f"\n[stream done, request_id={answer.request_id}, "
          f"finish_reason={final.choices[0].finish_reason}]")


def real_gateway(key: str) -> int:
    base_url = os.environ.get("TOROUTER_BASE_URL") or torouter.DEFAULT_BASE_URL
    if base_url.rstrip("/") in (torouter.DEFAULT_BASE_URL, "https://portal.torouter.ai/api/v1"):
        where = f"the REAL ToRouter gateway at {base_url}"
    else:
        where = f"the gateway at {base_url} (from TOROUTER_BASE_URL, not the real ToRouter one)"
    print(f"TOROUTER_API_KEY is set: using {where} with key {masked(key)} (model {MODEL}).")
    print("Running the chat and the stream; the failure demos need the built-in fake gateway "
          "(unset TOROUTER_API_KEY to see them).")
    try:
        with torouter.ToRouter(on_retry=on_retry) as client:
            chat(client)
            stream(client)
    except torouter.ToRouterError as err:
        print()
        show_error(err)
        print("The real gateway call failed; not falling back to the fake gateway.")
        return 1
    return 0


def fake_gateway() -> int:
    from torouter.testing import FakeGateway, Outcome

    gateway = FakeGateway(reply="Bonjour ! Ravi de vous rencontrer.")
    key = gateway.add_key()
    with gateway.serve() as server:  # a real HTTP server on 127.0.0.1, port picked by the OS
        print(f"No TOROUTER_API_KEY set: running against the built-in FAKE ToRouter gateway on a "
              f"real socket at {server.base_url} (no key, no network).")
        # Short retry sleeps so the demo is quick; the defaults are 0.5 s -> 8 s (1 s -> 32 s
        # for RateLimited) with jitter.
        fast = torouter.Backoff(initial=0.05, maximum=0.2, jitter=False)
        policy = torouter.RetryPolicy(backoff=fast).with_rule(torouter.RateLimited, backoff=fast)
        client = torouter.ToRouter(api_key=key, base_url=server.base_url, retry_policy=policy,
                                   on_retry=on_retry)
        with client:
            chat(client)
            gateway.script(Outcome.ok(chunk_delay=0.04))  # words arrive one by one
            stream(client)

            heading("3. An expired key")
            expired = gateway.add_key(expires_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
            try:
                client.with_options(api_key=expired).chat.completions.create(
                    model=MODEL, messages=QUESTION)
            except torouter.KeyExpired as err:
                show_error(err)

            heading("4. A spent quota (the key's spend cap)")
            capped = client.with_options(api_key=gateway.add_key(quota_usd=0.002))
            capped.chat.completions.create(model=MODEL, messages=QUESTION)
            print("first request served: it used up the key's $0.002 cap")
            try:
                capped.chat.completions.create(model=MODEL, messages=QUESTION)
            except torouter.QuotaExhausted as err:
                show_error(err)
                print(f"  retried? {err.retryable} (attempts: {len(err.attempts)})")

            heading("5. This machine's IP is not allowed")
            office_only = gateway.add_key(ip_allow=["203.0.113.0/24"])
            try:
                client.with_options(api_key=office_only).models.list()
            except torouter.AccessDenied as err:
                show_error(err)

            heading("6. A rate limit that a retry recovers from")
            gateway.fail_next("rate limit exceeded", retry_after=0.2)
            reply = client.chat.completions.create(model=MODEL, messages=QUESTION)
            print(f"succeeded after the retry: retries_taken={reply.retries_taken} "
                  f"(the gateway's Retry-After of 0.2s was honoured)")
            print(f"assistant: {reply.choices[0].message.content}")

            heading("7. An upstream outage")
            gateway.upstream.always(Outcome.upstream_unavailable(502))
            try:
                client.chat.completions.create(model=MODEL, messages=QUESTION)
            except torouter.UpstreamUnavailable as err:
                show_error(err)
                print(f"  gave up after {len(err.attempts)} attempts: "
                      + ", ".join(f"{a.outcome} {a.status_code}" for a in err.attempts))
            gateway.upstream.always(None)

    print("\nDone. Every failure above is a torouter.ToRouterError subclass: catch the ones "
          "your app can act on.")
    return 0


def main() -> int:
    key = os.environ.get("TOROUTER_API_KEY", "").strip()
    return real_gateway(key) if key else fake_gateway()


if __name__ == "__main__":
    sys.exit(main())
