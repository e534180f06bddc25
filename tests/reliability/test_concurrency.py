"""One client, many threads or tasks: results and request ids never cross, the budget holds.

The server answers each request with the request's own marker (the first message's content)
and an ``x-request-id`` of ``<marker>-<attempt>``; it fails some markers' first attempt and
other markers' every attempt with a 500.  So each result tells which request it answers, and
which attempt of it.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import httpx
import pytest

import torouter
from torouter import InternalServerError, RetryBudget

from . import faultserver as fs
from .faultserver import FaultServer
from .helpers import _SSL, make_async, make_sync

CAPACITY = 50
COST = 5


def persistent(i: int) -> bool:
    return i % 10 == 7


def flaky(i: int) -> bool:
    return i % 3 == 0


def _plan(marker: str, attempt: int) -> bool:
    i = int(marker[1:])
    return persistent(i) or (flaky(i) and attempt == 1)


class RecordingBudget(RetryBudget):
    """A RetryBudget that records every level it passes through (to prove it stays in range)."""

    def __init__(self) -> None:
        super().__init__(CAPACITY, retry_cost=COST, timeout_cost=2 * COST, success_refund=1)
        self.levels: list[int] = []
        self.record_lock = threading.Lock()

    def try_spend(self, error: torouter.ToRouterError) -> int:
        cost = super().try_spend(error)
        with self.record_lock:
            self.levels.append(self.level)
        return cost

    def refund(self, spent: int) -> None:
        super().refund(spent)
        with self.record_lock:
            self.levels.append(self.level)


def _check(results: dict[int, Any], echo: fs.Echo, server: FaultServer | fs.AsyncServer,
           budget: RecordingBudget) -> None:
    first_try_successes = 0
    failed_retries = 0
    total_calls = 0
    budget_stops = 0
    for i, outcome in results.items():
        marker = f"m{i}"
        if isinstance(outcome, torouter.ToRouterError):
            assert type(outcome) is InternalServerError, outcome
            attempts = len(outcome.attempts)
            assert outcome.request_id == f"{marker}-{attempts}"  # its own last attempt
            assert f"failed {marker}-{attempts}" in outcome.message
            assert [a.request_id for a in outcome.attempts] == [
                f"{marker}-{n}" for n in range(1, attempts + 1)]
            assert persistent(i) or flaky(i)
            stop = outcome.attempts[-1].stop_reason
            if not persistent(i):  # a flaky call fails only when the budget could not pay
                assert stop == "retry budget empty", stop
            budget_stops += stop == "retry budget empty"
            failed_retries += attempts - 1
            total_calls += attempts
        else:
            assert not persistent(i)
            content = outcome.choices[0].message.content if hasattr(outcome, "choices") \
                else "".join(c.choices[0].delta.content or "" for c in outcome[1])
            assert content == marker
            rid = outcome.request_id if hasattr(outcome, "choices") else outcome[0]
            attempts = (outcome.retries_taken if hasattr(outcome, "choices") else outcome[2]) + 1
            assert rid == f"{marker}-{attempts}"
            assert attempts == (2 if flaky(i) else 1)
            first_try_successes += attempts == 1
            total_calls += attempts
        assert echo.calls[marker] == attempts
    # Every server call is accounted for by exactly one attempt of one result.
    assert total_calls == len(server.requests) == sum(echo.calls.values())
    # The budget never left [0, capacity] ...
    assert budget.levels and all(0 <= level <= CAPACITY for level in budget.levels)
    assert 0 <= budget.level <= CAPACITY
    # ... retries that ended in failure were paid from the capacity and first-try refunds ...
    assert failed_retries * COST <= CAPACITY + first_try_successes
    # ... and the budget really did run dry under this load (so the bound above was tested).
    assert budget_stops > 0


def test_one_sync_client_32_threads(server: FaultServer) -> None:
    echo = fs.Echo(fail=_plan)
    server.handler = echo
    budget = RecordingBudget()
    client = make_sync(server.base_url, max_retries=2, retry_budget=budget)
    n = 32 * 20
    results: dict[int, Any] = {}
    threads_seen: Counter[str] = Counter()

    def one(i: int) -> None:
        threads_seen[threading.current_thread().name] += 1
        messages = [{"role": "user", "content": f"m{i}"}]
        try:
            if i % 5 == 0:
                with client.chat.completions.create(model="m", messages=messages,
                                                    stream=True) as s:
                    results[i] = (s.request_id, list(s), s.retries_taken)
            else:
                results[i] = client.chat.completions.create(model="m", messages=messages)
        except torouter.ToRouterError as err:
            results[i] = err

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(n)))
    client.close()
    assert len(results) == n
    assert len(threads_seen) > 1
    _check(results, echo, server, budget)


@pytest.mark.anyio
async def test_one_async_client_1000_concurrent_requests() -> None:
    echo = fs.Echo(fail=_plan)
    async with fs.AsyncServer(echo) as server:
        await _run_1000(echo, server)


@pytest.mark.anyio
async def test_one_default_async_client_1000_concurrent_requests(async_backend: str) -> None:
    """The same 1000 calls on the client torouter builds itself (its own pool of up to 1000
    connections).  httpx's own transport is not run here: with 1000 connections and waiters its
    pool bookkeeping takes minutes (the reason aiohttp is the default), see the test above."""
    if async_backend == "httpx":
        pytest.skip("httpx's transport is covered with a bounded pool by the test above")
    echo = fs.Echo(fail=_plan)
    async with fs.AsyncServer(echo) as server:
        await _run_1000(echo, server, own_pool=True)


async def _run_1000(echo: fs.Echo, server: fs.AsyncServer, own_pool: bool = False) -> None:
    budget = RecordingBudget()
    # 1000 requests in flight at once; the server runs in the same event loop (no threads).
    # The pool is kept small: httpcore scans every queued request against every connection
    # whenever one is released, so 1000 waiters over 1000 connections take ~40 s here, over
    # 16 connections a few seconds.  No pool timeout: a queued request waits for its slot however
    # slow the machine is (a CI box 2x slower must not turn waiting into APITimeoutError).
    http = None if own_pool else httpx.AsyncClient(verify=_SSL,
                                                   limits=httpx.Limits(max_connections=16))
    # Its own pool opens up to 1000 connections at once to a server sharing this event loop:
    # on a loaded machine the accepts lag, so connecting gets the read timeout too (a guard
    # against hangs, not a measurement).
    client = make_async(server.base_url, max_retries=2, retry_budget=budget, http_client=http,
                        timeout=httpx.Timeout(30.0, connect=30.0 if own_pool else 5.0,
                                              pool=None))
    n = 1000
    results: dict[int, Any] = {}
    in_flight = 0
    peak = 0

    async def one(i: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        messages = [{"role": "user", "content": f"m{i}"}]
        try:
            if i % 5 == 0:
                s = await client.chat.completions.create(model="m", messages=messages,
                                                         stream=True)
                async with s:
                    results[i] = (s.request_id, [c async for c in s], s.retries_taken)
            else:
                results[i] = await client.chat.completions.create(model="m", messages=messages)
        except torouter.ToRouterError as err:
            results[i] = err
        finally:
            in_flight -= 1

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    await (client.close() if http is None else http.aclose())
    assert len(results) == n
    assert peak > 100  # they really were in flight together
    _check(results, echo, server, budget)
