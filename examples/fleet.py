"""Running a fleet: processes sharing one key back off together and learn a dead key once.

    python examples/fleet.py      # uses REDIS_URL, else starts a local redis-server if installed

Four worker processes call the fake gateway of torouter.testing (a real HTTP server on
127.0.0.1) with one key, each with its own ``RedisCoordinator`` on the same Redis, as the
processes of a web app or a job queue would.  Without Redis it still runs: the coordinator
fails open (one WARNING) and the processes work alone, which the output shows.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import torouter
from torouter.testing import FakeGateway

MESSAGES = [{"role": "user", "content": "hi"}]


def worker(job: tuple[str, str, str, int, int]) -> list[str]:
    """One process of the fleet: ``calls`` calls, one after another; what each ended with."""
    base_url, key, redis_url, calls, max_retries = job
    coordinator = torouter.RedisCoordinator(redis_url, namespace="example")
    outcomes = []
    with torouter.ToRouter(api_key=key, base_url=base_url, coordinator=coordinator,
                           deadline=5.0, max_retries=max_retries) as client:
        for _ in range(calls):
            started = time.monotonic()
            try:
                client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
                outcomes.append(f"ok after {time.monotonic() - started:.1f}s")
            except torouter.ToRouterError as err:
                fleet = " (from the fleet, nothing sent)" if err.from_coordinator else ""
                outcomes.append(f"{type(err).__name__}{fleet}")
    coordinator.close()
    return outcomes


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL, else a throwaway redis-server on a free port, else one where nothing runs."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if binary is None:
        print("(no REDIS_URL and no redis-server: the coordinator will fail open)")
        yield f"redis://127.0.0.1:{port}/0"
        return
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                 "", "--dir", workdir], stdout=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait()


def main() -> None:
    pool = multiprocessing.get_context("spawn").Pool(4)
    with redis_url() as url, pool:
        gateway = FakeGateway()
        key = gateway.add_key()
        with gateway.serve() as server:
            base = server.base_url

            pool.map(worker, [(base, key, url, 1, 2)] * 4)  # the processes are up and warm

            # 1. One process meets the request-rate 429 (Retry-After: 2): the others wait.
            gateway.fail_next("rate limit exceeded", retry_after=2)
            (first,) = worker((base, key, url, 1, 0))
            print(f"this process: {first} (no retries allowed; the fleet pauses for 2 s)")
            results = pool.map(worker, [(base, key, url, 1, 2)] * 4)
            for i, outcomes in enumerate(results, 1):
                print(f"process {i}: {outcomes[0]}")

            # 2. The key expires: one process learns it from the gateway, the others at once.
            gateway.update_key(key, expires_at=datetime.now(timezone.utc))
            gateway.clear_requests()
            results = pool.map(worker, [(base, key, url, 5, 2)] * 4)
            counts = Counter(outcome for outcomes in results for outcome in outcomes)
            for outcome, n in sorted(counts.items()):
                print(f"{n:2d} calls: {outcome}")
            print(f"the gateway saw {len(gateway.requests)} requests with the expired key "
                  f"for {sum(counts.values())} calls")


if __name__ == "__main__":
    main()
