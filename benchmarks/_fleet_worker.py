"""One process of the fleet (started by ``_fleet.Fleet``): reads a job per line on stdin, makes
its calls one after another with one torouter client, writes one JSON line of results.

A job: ``{"kind": "sync"|"async", "base_url", "key", "redis_url" (or null), "calls",
"start_at" (epoch seconds, so that all processes start together), "interval" (seconds between
call starts), "deadline", "max_retries"}``.  A result: one row per call ``[outcome class,
from_coordinator, started (epoch), elapsed]``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import torouter

MESSAGES = [{"role": "user", "content": "hi"}]


def _client(job: dict[str, Any], cls: Any) -> Any:
    coordinator = None
    if job["redis_url"]:
        coordinator = torouter.RedisCoordinator(job["redis_url"], namespace=job["namespace"],
                                                socket_timeout=job["socket_timeout"])
    return cls(api_key=job["key"], base_url=job["base_url"], deadline=job["deadline"],
               max_retries=job["max_retries"], coordinator=coordinator)


def _row(outcome: BaseException | None, started: float) -> list[Any]:
    name = "ok" if outcome is None else type(outcome).__name__
    return [name, bool(getattr(outcome, "from_coordinator", False)), started,
            time.time() - started]


def _wait_turn(job: dict[str, Any], i: int) -> None:
    delay = job["start_at"] + i * job["interval"] - time.time()
    if delay > 0:
        time.sleep(delay)


def run_sync(job: dict[str, Any]) -> list[list[Any]]:
    rows = []
    with _client(job, torouter.ToRouter) as client:
        for i in range(job["calls"]):
            _wait_turn(job, i)
            started = time.time()
            try:
                client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
                rows.append(_row(None, started))
            except Exception as exc:  # every outcome is recorded, typed or not
                rows.append(_row(exc, started))
    return rows


async def run_async(job: dict[str, Any]) -> list[list[Any]]:
    rows = []
    client = _client(job, torouter.AsyncToRouter)
    async with client:
        for i in range(job["calls"]):
            delay = job["start_at"] + i * job["interval"] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.time()
            try:
                await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
                rows.append(_row(None, started))
            except Exception as exc:
                rows.append(_row(exc, started))
        if client._coordinator is not None:
            await client._coordinator.aclose()
    return rows


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        rows = run_sync(job) if job["kind"] == "sync" else asyncio.run(run_async(job))
        print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
