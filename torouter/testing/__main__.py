"""``python -m torouter.testing``: run a FakeGateway HTTP server until SIGINT/SIGTERM.

Prints ``PORT <n>``, ``BASE_URL <url>`` and one ``KEY <key>`` line per ready key on stdout, then
serves, writing one access-log line per request on stderr (method, path, status, gateway code,
request id, masked key).  Flags put the gateway in the state to reproduce: a key that is expired,
disabled, over its spend cap, on an empty balance or owned by an inactive user; a model whose
upstream is down (502, 503 or 504); a request-rate limit; a slow or dropping stream::

    python -m torouter.testing --port 0 --key-expired
    python -m torouter.testing --port 0 --model-down gemini-2.5-flash=502 --model-down gpt-5=504
    python -m torouter.testing --port 0 --rate-limit 0 --retry-after 2
    python -m torouter.testing --port 0 --chunk-delay 0.5 --drop-stream-after 3
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from types import FrameType

from ._gateway import FakeGateway, RequestRecord
from ._upstream import Outcome

_KEY_STATES = {
    "key_expired": "the printed key has expired: API_KEY_EXPIRED (403; 401 with --dialect limits)",
    "key_disabled": "the printed key is disabled: 401 API_KEY_DISABLED",
    "over_quota": "the printed key has spent its spend cap: API_KEY_QUOTA_EXHAUSTED (429; 402 "
                  "with --dialect limits) on chat and embeddings",
    "zero_balance": "the key's account balance is 0: INSUFFICIENT_BALANCE (403; 402 with "
                    "--dialect limits) on chat and embeddings",
    "user_inactive": "the key's owner account is inactive: 401 USER_INACTIVE",
}
_DOWN = {
    502: lambda: Outcome.upstream_unavailable(502),
    503: lambda: Outcome.no_channel(),
    504: lambda: Outcome.timeout(),
}


def _model_down(text: str) -> tuple[str, int]:
    model, _, status = text.partition("=")
    if not model:
        raise argparse.ArgumentTypeError(f"expected MODEL or MODEL=STATUS, not {text!r}")
    try:
        code = int(status or 502)
    except ValueError:
        message = f"STATUS must be 502, 503 or 504, not {status!r}"
        raise argparse.ArgumentTypeError(message) from None
    if code not in _DOWN:
        raise argparse.ArgumentTypeError(f"STATUS must be 502, 503 or 504, not {code}")
    return model, code


def _non_negative(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m torouter.testing``."""
    ap = argparse.ArgumentParser(
        prog="python -m torouter.testing",
        description="Run the fake ToRouter gateway on a real 127.0.0.1 socket: any HTTP client "
                    "(torouter, the openai package, curl) can talk to it. Prints PORT, BASE_URL "
                    "and KEY lines, then logs one line per request on stderr.",
    )
    server = ap.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on "
                        "(default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=0, help="port to listen on (0 picks a free "
                        "port; the PORT line says which)")
    server.add_argument("--key", action="append", default=[], metavar="KEY",
                        help="accept this key (repeatable); default: one generated sk-fake-... key")
    server.add_argument("--seed", type=int, default=0,
                        help="seed for generated keys and request ids (same seed, same keys)")
    server.add_argument("--dialect", choices=["reference", "limits"], default="reference",
                        help="where the gateway's docs disagree, answer like the error-codes "
                             "page (reference, default) or the key-limits page (limits)")
    server.add_argument("--error-shape", choices=["openai", "anthropic", "gemini"],
                        default="openai", help="error body shape (default: openai)")
    server.add_argument("--retry-after", type=_non_negative(float), default=None,
                        metavar="SECONDS", help="send Retry-After with every 429 and 503")
    server.add_argument("--trust-forwarded-for", action="store_true",
                        help="take the client address from X-Forwarded-For")
    server.add_argument("--quiet", action="store_true", help="no access log on stderr")

    keys = ap.add_argument_group("key and account state (applies to every printed key)")
    for name, text in _KEY_STATES.items():
        keys.add_argument("--" + name.replace("_", "-"), action="store_true", help=text)
    keys.add_argument("--key-models", default="", metavar="MODEL,...",
                      help="the printed key's model whitelist: other models get ACCESS_DENIED "
                           "(403; model_not_allowed with --dialect limits)")

    up = ap.add_argument_group("upstream")
    up.add_argument("--model-down", action="append", default=[], type=_model_down,
                    metavar="MODEL[=STATUS]",
                    help="every request for MODEL (added to the catalog if absent) fails: "
                         "502 upstream_unavailable (default), 503 upstream_unavailable (no "
                         "eligible channel) or 504 (upstream timeout); "
                         "repeatable, e.g. --model-down gpt-5=503")
    up.add_argument("--rate-limit", type=_non_negative(int), default=None, metavar="N",
                    help="each key is admitted N chat/embedding requests per window, then gets "
                         "429 'rate limit exceeded' (0: every one is refused)")
    up.add_argument("--latency", type=_non_negative(float), default=0.0, metavar="SECONDS",
                    help="wait this long before every chat/embedding answer")
    up.add_argument("--chunk-delay", type=_non_negative(float), default=0.0, metavar="SECONDS",
                    help="a slow stream: wait this long between streamed events")
    up.add_argument("--drop-stream-after", type=_non_negative(int), default=None, metavar="N",
                    help="a dropping stream: close the connection after N events, without "
                         "[DONE] (a non-streamed request then gets no response at all)")
    return ap


def configure(args: argparse.Namespace) -> tuple[FakeGateway, list[str]]:
    """The gateway and its printed keys, in the state the flags ask for."""
    gateway = FakeGateway(
        seed=args.seed,
        dialect=args.dialect,
        error_shape=args.error_shape,
        retry_after=args.retry_after,
        trust_forwarded_for=args.trust_forwarded_for,
    )
    expired = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=1)

    def add(key: str | None) -> str:
        return gateway.add_key(
            key=key,
            expires_at=expired if args.key_expired else None,
            enabled=not args.key_disabled,
            quota_usd=0.01 if args.over_quota else 0,
            windows=(int(args.rate_limit or 0), 0, 0),
            models=args.key_models,
        )

    keys = [add(k) for k in args.key] or [add(None)]
    for key in keys:
        if args.over_quota:
            state = gateway.key_info(key)
            state.spent_usd = state.quota_usd
    if args.zero_balance:
        gateway.set_balance("user", 0)
    if args.user_inactive:
        gateway.set_user_state("user", "inactive")
    if args.rate_limit == 0:
        gateway.upstream.always(Outcome.rate_limited())
    elif args.drop_stream_after is not None:
        gateway.upstream.always(Outcome.drop(after=args.drop_stream_after, latency=args.latency,
                                             chunk_delay=args.chunk_delay))
    elif args.latency or args.chunk_delay:
        gateway.upstream.always(Outcome.ok(latency=args.latency, chunk_delay=args.chunk_delay))
    for model, status in args.model_down:
        if model not in gateway.catalog:  # a model the catalog lacks: serve it, then fail it
            gateway.add_model(model, owned_by="fake")
        gateway.upstream.always(_DOWN[status](), model=model)
    return gateway, keys


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, start the server, block until a signal arrives."""
    args = build_parser().parse_args(argv)
    gateway, keys = configure(args)
    if not args.quiet:
        def log(record: RequestRecord) -> None:
            print(record.log_line(), file=sys.stderr, flush=True)

        gateway.on_request = log
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with gateway.serve(args.host, args.port) as server:
        print(f"PORT {server.port}")
        print(f"BASE_URL {server.base_url}")
        for key in keys:
            print(f"KEY {key}")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
