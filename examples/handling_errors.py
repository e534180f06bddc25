"""Handling specific torouter errors: catch what your app can act on, by meaning.

    python examples/handling_errors.py

Every failure is one class of a typed tree (torouter.ToRouterError at the root), chosen by the
gateway's type code first and the HTTP status second: ``except torouter.KeyExpired`` works
whether the gateway says 403 or 401. Runs against the fake gateway of torouter.testing
(no key, no network).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import torouter
from torouter.testing import FakeGateway, Outcome
from torouter.types import ChatCompletionMessageParam

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Summarise the meeting notes."},
]


def ask(client: torouter.ToRouter, model: str = "gpt-5-mini") -> str:
    """What an application does: one call, and a decision for each kind of failure."""
    try:
        reply = client.chat.completions.create(model=model, messages=MESSAGES)
        return f"answer: {reply.choices[0].message.content}"
    except (torouter.QuotaExhausted, torouter.InsufficientBalance) as err:
        # Money: retrying cannot help. Alert whoever owns the key, with the request id.
        return f"ALERT billing ({type(err).__name__}, request {err.request_id}): {err.hint}"
    except (torouter.KeyExpired, torouter.KeyDisabled, torouter.InvalidApiKey) as err:
        return f"ALERT the key is dead ({type(err).__name__}, status {err.status_code}): {err.hint}"
    except torouter.AccessDenied as err:
        # A key rule: the IP allowlist/blocklist or the model whitelist.
        return f"blocked by a key rule ({err.code}: {err.message})"
    except torouter.RateLimitError as err:
        # Already retried with backoff; err.retry_after is what the gateway asked for, if anything.
        return f"busy, try later (retry_after={err.retry_after}, attempts={len(err.attempts)})"
    except torouter.UpstreamUnavailable as err:
        # Retried already; a fallback model is a good next step.
        return f"provider down after {len(err.attempts)} attempts; falling back to another model"
    except torouter.APIStatusError as err:
        return f"gateway said no: {err}"  # one line: class, status, code, message, id, hint
    except torouter.APIConnectionError as err:
        return f"network problem ({type(err).__name__}): {err.hint}"


def main() -> None:
    # The docs give some statuses two ways (an expired key: 403 or 401); the class is the same.
    for dialect in ("reference", "limits"):
        gateway = FakeGateway(dialect=dialect)
        fast = torouter.Backoff(initial=0.01, maximum=0.02)
        policy = torouter.RetryPolicy(backoff=fast).with_rule(torouter.RateLimited, backoff=fast)
        with gateway.serve() as server, torouter.ToRouter(
            api_key=gateway.add_key(), base_url=server.base_url, retry_policy=policy
        ) as base:  # closing base closes the pool its with_options() copies share

            def client(base: torouter.ToRouter = base, gateway: FakeGateway = gateway,
                       **limits: Any) -> torouter.ToRouter:
                """A client with a new key (sharing base's connection pool)."""
                return base.with_options(api_key=gateway.add_key(**limits))

            print(f"== the gateway's '{dialect}' dialect ==")
            print("expired key    ->", ask(client(expires_at=datetime(2025, 1, 1,
                                                                     tzinfo=timezone.utc))))
            print("disabled key   ->", ask(client(enabled=False)))
            capped = client(quota_usd=0.001)
            ask(capped)  # the first call crosses the spend cap
            print("spent quota    ->", ask(capped))
            print("IP not allowed ->", ask(client(ip_allow=["203.0.113.0/24"])))
            print("model blocked  ->", ask(client(models=["gpt-5"])))
            busy = client(windows=(1, 0, 0))  # one request per ~5 h window
            ask(busy)
            print("rate limited   ->", ask(busy))
            ok = client()
            gateway.upstream.always(Outcome.upstream_unavailable(502))
            print("outage         ->", ask(ok))
            gateway.upstream.always(None)
            print("all good       ->", ask(ok))
            print()

    # Everything an error carries, for logs and support tickets:
    gateway = FakeGateway()
    with gateway.serve() as server:
        key = gateway.add_key(expires_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
        with torouter.ToRouter(api_key=key, base_url=server.base_url) as expired:
            try:
                expired.models.list()
            except torouter.ToRouterError as err:
                print("== the attributes of one error ==")
                for name in ("status_code", "code", "message", "request_id", "retryable",
                             "retry_after", "hint", "doc_url"):
                    print(f"  err.{name:<12} = {getattr(err, name)!r}")
                print(f"  isinstance(err, torouter.AuthenticationError) = "
                      f"{isinstance(err, torouter.AuthenticationError)}")
    # The same catalog feeds the docs' error table and `torouter explain`:
    entry = next(e for e in torouter.ERROR_CATALOG if e.cls is torouter.KeyExpired)
    print(f"  catalog: {entry.name}: codes={entry.codes} statuses={entry.statuses}")


if __name__ == "__main__":
    main()
