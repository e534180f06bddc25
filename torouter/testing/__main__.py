"""``python -m torouter.testing``: run a FakeGateway HTTP server until SIGINT/SIGTERM.

Prints ``PORT <n>``, ``BASE_URL <url>`` and one ``KEY <key>`` line per ready key, then serves.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._gateway import FakeGateway


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, start the server, block until a signal arrives."""
    ap = argparse.ArgumentParser(
        prog="python -m torouter.testing", description="Run an in-process fake ToRouter gateway."
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--key", action="append", default=[], help="accept this key (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dialect", choices=["reference", "limits"], default="reference")
    ap.add_argument("--error-shape", choices=["openai", "anthropic", "gemini"], default="openai")
    ap.add_argument("--retry-after", type=float, default=None)
    ap.add_argument("--trust-forwarded-for", action="store_true")
    args = ap.parse_args(argv)

    gateway = FakeGateway(
        seed=args.seed,
        dialect=args.dialect,
        error_shape=args.error_shape,
        retry_after=args.retry_after,
        trust_forwarded_for=args.trust_forwarded_for,
    )
    keys = [gateway.add_key(key=k) for k in args.key] or [gateway.add_key()]
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
