#!/usr/bin/env python3
"""Running a fleet: what the RedisCoordinator saves the gateway, and what it costs per call.

    python benchmarks/fleet.py                 # ~1 minute on an idle 2-core machine
    python benchmarks/fleet.py --overhead-only

Needs ``redis-server`` on the PATH (``apt-get install redis-server``) and the ``redis`` package
(``pip install 'torouter[redis]'``).  It starts its own Redis on a free port.

1. The fleet table: 8 processes x 50 calls, one key, one fake gateway server (see
   ``benchmarks/_fleet.py`` for the two scenarios), without and with the coordinator: requests
   the gateway received, 429s it answered, requests after the first 429 / the recorded expiry,
   wall time and the calls' outcomes.
2. The coordinator's overhead per call: the median wall time of a sync call (and an async one)
   against an in-process transport answering at once, with and without a coordinator on the
   local Redis, in alternating blocks; the difference of the medians is the overhead (target:
   <= 0.3 ms).  A clean success costs one Redis round trip (the check before sending).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _fleet import Fleet, FleetResult
from _redis import RedisServer

import torouter

OK = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-5-mini",
      "choices": [{"index": 0, "finish_reason": "stop",
                   "message": {"role": "assistant", "content": "hi"}}]}
MESSAGES = [{"role": "user", "content": "hi"}]
RATE: dict[str, Any] = {"limit": 20, "window": 1.0, "retry_after": 2.0, "deadline": 1.0,
                        "interval": 0.02}
EXPIRY: dict[str, Any] = {"expire_after": 100, "deadline": 5.0}


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=OK)


def _row(label: str, r: FleetResult) -> str:
    outcomes = ", ".join(f"{k} {v}" for k, v in r.outcomes.most_common())
    return (f"| {label} | {'with' if r.coordinated else 'without'} | {r.requests} | "
            f"{r.rate_limited} | {r.after_first} | {r.wall:.1f} s | {outcomes} |")


def fleet_table(redis_url: str, processes: int, calls: int, socket_timeout: float) -> None:
    print(f"\n## Fleet: {processes} processes x {calls} calls, one key, one gateway\n")
    print("| scenario | coordinator | requests | 429s | requests after the first 429 / "
          "the recorded expiry | wall | outcomes |")
    print("|---|---|---|---|---|---|---|")
    with Fleet(processes) as fleet:
        for label, scenario, params in (
            ("rate limit 20/s, Retry-After 2 s, deadline 1 s", "rate", RATE),
            ("key expires after 100 calls", "expiry", EXPIRY),
        ):
            for url in (None, redis_url):
                result = fleet.run(scenario, redis_url=url, calls=calls,
                                   socket_timeout=socket_timeout, **params)
                print(_row(label, result), flush=True)


def _block(client: Any, n: int) -> tuple[float, float]:
    """(median wall seconds per call, CPU seconds of this process per call) over ``n`` calls."""
    times = []
    cpu = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (time.process_time() - cpu) / n


async def _ablock(client: Any, n: int) -> tuple[float, float]:
    times = []
    cpu = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (time.process_time() - cpu) / n


def overhead(redis_url: str, rounds: int, block: int) -> None:
    coordinator = torouter.RedisCoordinator(redis_url)
    key, base = "sk-bench-0123456789abcdef", "http://gateway.test/v1"
    variants = (("without", None), ("with", coordinator))
    results: dict[str, list[tuple[float, float]]] = {}
    sync = {
        name: torouter.ToRouter(api_key=key, base_url=base, coordinator=coord,
                                http_client=httpx.Client(transport=httpx.MockTransport(_answer)))
        for name, coord in variants
    }
    for client in sync.values():  # warm up: connections, scripts loaded
        _block(client, 50)
    for _ in range(rounds):
        for name, client in sync.items():
            results.setdefault(f"sync {name}", []).append(_block(client, block))

    async def run_async() -> None:
        clients = {
            name: torouter.AsyncToRouter(
                api_key=key, base_url=base, coordinator=coord,
                http_client=httpx.AsyncClient(transport=httpx.MockTransport(_answer)))
            for name, coord in variants
        }
        for client in clients.values():
            await _ablock(client, 50)
        for _ in range(rounds):
            for name, client in clients.items():
                results.setdefault(f"async {name}", []).append(await _ablock(client, block))

    asyncio.run(run_async())
    decision = _decision_alone(coordinator, rounds, block)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n## Coordinator overhead per call (local Redis; medians of {rounds} blocks of "
          f"{block} calls; load average {load:.1f} on {os.cpu_count()} CPUs)\n")
    print("| client | wall without | wall with | wall overhead (target <= 0.3 ms) | "
          "client CPU overhead |")
    print("|---|---|---|---|---|")
    for kind in ("sync", "async"):
        without = results[f"{kind} without"]
        with_ = results[f"{kind} with"]
        wall0 = statistics.median(w for w, _ in without) * 1000
        wall1 = statistics.median(w for w, _ in with_) * 1000
        cpu = statistics.median(c1 - c0 for (_, c0), (_, c1) in zip(without, with_,
                                                                     strict=True)) * 1000
        print(f"| {kind} | {wall0:.3f} ms | {wall1:.3f} ms | {wall1 - wall0:.3f} ms | "
              f"{cpu:.3f} ms |")
    print(f"| the check before an attempt alone, back to back | | | {decision * 1000:.3f} ms | |")
    print("\nOn a loaded machine the difference of the first rows is mostly the time the OS "
          "takes to\nschedule redis-server after a client burst of CPU; the last row is the "
          "round trip itself.")


def _decision_alone(coordinator: torouter.RedisCoordinator, rounds: int, block: int) -> float:
    """Median wall time of the fleet layer's before check, calls back to back."""
    from torouter._base_client import RequestSpec
    from torouter._retrying import CallRetryState
    from torouter.types import ChatCompletion

    layer = coordinator._bind("sk-bench-0123456789abcdef", "http://gateway.test/v1")
    spec = RequestSpec("POST", "/chat/completions", ChatCompletion,
                       params={"model": "gpt-5-mini", "messages": MESSAGES})
    policy = torouter.RetryPolicy()
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(block):
            call = CallRetryState(policy=policy, budget=None, clock=time.monotonic, deadline=10,
                                  on_retry=None, label="bench", spec=spec)
            layer.start_call(call)
            t0 = time.perf_counter()
            layer.before_attempt(call)
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times))
    return statistics.median(medians)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--overhead-only", action="store_true")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--block", type=int, default=300)
    parser.add_argument("--socket-timeout", type=float, default=0.05,
                        help="the coordinator's Redis timeout in the fleet runs (default 50 ms)")
    args = parser.parse_args()
    with RedisServer() as redis_server:
        overhead(redis_server.url, args.rounds, args.block)
        if not args.overhead_only:
            fleet_table(redis_server.url, args.processes, args.calls, args.socket_timeout)


if __name__ == "__main__":
    main()
