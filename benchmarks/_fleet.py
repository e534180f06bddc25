"""The fleet scenario, shared by ``benchmarks/fleet.py`` (prints the table) and
``tests/coordination/test_fleet.py`` (asserts on it).

N worker processes (``_fleet_worker.py``, half on the sync client, half on the async one) make
their calls one after another against ONE fake gateway server (``torouter.testing``, a real
HTTP server on 127.0.0.1) with the same key, with or without a ``RedisCoordinator`` on a real
Redis.  What the gateway received is counted from its request log:

* ``rate``: the gateway allows ``limit`` requests per ``window`` seconds from the host (its
  sliding per-IP window) and answers the rest with the request-rate 429 and ``Retry-After``.
  Counted: requests, 429s, and requests received after the first 429.
* ``expiry``: the key expires after ``expire_after`` successful calls.  Counted: requests that
  reached the gateway after the expiry was first recorded (the first process to see
  ``KeyExpired`` raises it right after recording it), and the calls started after that moment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from torouter.testing import FakeGateway

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class FleetResult:
    scenario: str
    coordinated: bool
    calls: int
    requests: int
    rate_limited: int
    wall: float
    outcomes: Counter[str]
    from_coordinator: int
    #: requests the gateway received after the first 429 (``rate``) or after the expiry was
    #: first recorded (``expiry``)
    after_first: int
    #: calls started after the first 429 / the recorded expiry
    calls_after_first: int
    #: calls whose outcome is not a ToRouterError (must be 0)
    untyped: list[str] = field(default_factory=list)
    #: seconds by which the slowest call passed its deadline (<= 0: all within)
    worst_overrun: float = 0.0


def _typed(name: str) -> bool:
    """``ok``, or the name of a torouter error class."""
    import torouter

    cls = getattr(torouter, name, None)
    return name == "ok" or (isinstance(cls, type) and issubclass(cls, torouter.ToRouterError))


class Fleet:
    """``processes`` long-lived workers (started once, reused by every run)."""

    def __init__(self, processes: int = 8) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.workers = [
            subprocess.Popen([sys.executable, str(HERE / "_fleet_worker.py")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(processes)
        ]
        for worker in self.workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            if line.strip() != "ready":
                self.close()
                raise RuntimeError(f"a fleet worker did not start: {line!r}")

    def close(self) -> None:
        for worker in self.workers:  # end of input: every worker exits (all at once)
            if worker.poll() is None and worker.stdin is not None:
                worker.stdin.close()
        for worker in self.workers:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck worker
                worker.kill()
                worker.wait()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, scenario: str, *, redis_url: str | None, calls: int = 50,
            interval: float = 0.0, deadline: float = 2.0, max_retries: int = 2,
            limit: int = 20, window: float = 1.0, retry_after: float = 1.0,
            expire_after: int = 100, socket_timeout: float = 0.05) -> FleetResult:
        gateway = FakeGateway(seed=1)
        if scenario == "rate":
            gateway.ip_rate_limit = (limit, window)
            gateway.retry_after = retry_after
        key = gateway.add_key()
        if scenario == "expiry":
            served = [0]

            def reply(messages: list[dict[str, Any]]) -> str:
                served[0] += 1
                if served[0] == expire_after:  # this reply is the last the key gets
                    gateway.update_key(key, expires_at=datetime.now(timezone.utc))
                return "hi"

            gateway.reply = reply
        with gateway.serve() as server:
            start_at = time.time() + 0.3
            job = {"base_url": server.base_url, "key": key, "redis_url": redis_url,
                   "namespace": f"bench-{uuid.uuid4().hex[:8]}", "calls": calls,
                   "start_at": start_at, "interval": interval, "deadline": deadline,
                   "max_retries": max_retries, "socket_timeout": socket_timeout}
            for i, worker in enumerate(self.workers):
                assert worker.stdin is not None
                worker.stdin.write(json.dumps({**job, "kind": "sync" if i % 2 == 0 else "async"})
                                   + "\n")
                worker.stdin.flush()
            rows: list[list[Any]] = []
            for worker in self.workers:
                assert worker.stdout is not None
                rows.extend(json.loads(worker.stdout.readline()))
            wall = time.time() - start_at
            log = gateway.requests
        statuses = [r.status for r in log]
        if scenario == "rate":
            first = min((r.time for r in log if r.status == 429), default=None)
        else:
            first = min((row[2] + row[3] for row in rows
                         if row[0] == "KeyExpired" and not row[1]), default=None)
        after = 0 if first is None else sum(1 for r in log if r.time > first)
        calls_after = 0 if first is None else sum(1 for row in rows if row[2] > first)
        return FleetResult(
            scenario=scenario, coordinated=redis_url is not None, calls=len(rows),
            requests=len(log), rate_limited=statuses.count(429), wall=wall,
            outcomes=Counter(row[0] for row in rows),
            from_coordinator=sum(1 for row in rows if row[1]),
            after_first=after, calls_after_first=calls_after,
            untyped=[row[0] for row in rows if not _typed(row[0])],
            worst_overrun=max(row[3] - deadline for row in rows),
        )
