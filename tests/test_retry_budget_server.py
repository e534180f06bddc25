"""The retry budget against a real HTTP server on 127.0.0.1 that fails every request.

A gateway outage must not multiply the traffic: with a budget of ``capacity`` tokens and
``retry_cost`` tokens per retry, N failing calls reach the server at most
N + capacity / retry_cost times, whatever ``max_retries`` says.  Without a budget every call
makes 1 + max_retries requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from torouter import RetryBudget, ToRouter, UpstreamUnavailable

BODY = json.dumps({"error": {"type": "upstream_unavailable", "message": "down"}}).encode()
N = 10
MAX_RETRIES = 3
CAPACITY = 20
RETRY_COST = 5


class DownServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), DownHandler)
        self.lock = threading.Lock()
        self.requests = 0
        self.paths: list[str] = []

    def count(self, path: str) -> None:
        with self.lock:
            self.requests += 1
            self.paths.append(path)

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.paths.clear()


class DownHandler(BaseHTTPRequestHandler):
    """Answers every request 503 upstream_unavailable, after reading its body."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls
    server: DownServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.server.count(self.path)
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.send_header("x-request-id", f"req-{self.server.requests}")
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[DownServer]:
    srv = DownServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def client_for(server: DownServer, budget: RetryBudget | None) -> ToRouter:
    host, port = server.server_address[:2]
    client = ToRouter(api_key="sk-budget-test-0000000000", base_url=f"http://{host}:{port}/v1",
                      max_retries=MAX_RETRIES, retry_budget=budget, timeout=5, deadline=30,
                      circuit_breaker=None)  # the budget alone; the breaker would cut it short
    client._sleep = lambda seconds: None  # no real waiting between retries
    return client


def send(client: ToRouter, calls: int) -> list[UpstreamUnavailable]:
    errors = []
    for _ in range(calls):
        with pytest.raises(UpstreamUnavailable) as info:
            client.chat.completions.create(
                model="gpt-5-mini", messages=[{"role": "user", "content": "hello"}])
        errors.append(info.value)
    return errors


def test_with_the_budget_on_an_outage_costs_at_most_n_plus_the_allowance(
    server: DownServer,
) -> None:
    budget = RetryBudget(capacity=CAPACITY, retry_cost=RETRY_COST)
    allowance = CAPACITY // RETRY_COST  # 4 retries in all
    with client_for(server, budget) as client:
        errors = send(client, N)
    expected = N + allowance  # 10 + 20 / 5 = 14
    assert server.requests == expected, (
        f"the server saw {server.requests} requests for N={N} calls with a budget of "
        f"capacity={CAPACITY}, retry_cost={RETRY_COST} (allowance {allowance} retries): "
        f"expected N + capacity/retry_cost = {N} + {allowance} = {expected}, "
        f"not N * (1 + max_retries) = {N * (1 + MAX_RETRIES)}"
    )
    assert set(server.paths) == {"/v1/chat/completions"}
    assert budget.level == 0
    # The first call retried 3 times (15 tokens), the second once (the last 5), then none.
    assert [len(e.attempts) for e in errors] == [4, 2] + [1] * (N - 2)
    assert [e.attempts[-1].stop_reason for e in errors[1:]] == ["retry budget empty"] * (N - 1)
    assert errors[0].attempts[-1].stop_reason == f"{MAX_RETRIES} retries used"


def test_with_the_budget_off_every_call_retries_fully(server: DownServer) -> None:
    with client_for(server, None) as client:
        errors = send(client, N)
    expected = N * (1 + MAX_RETRIES)
    assert server.requests == expected, (
        f"the server saw {server.requests} requests for N={N} calls without a budget: "
        f"expected N * (1 + max_retries) = {N} * (1 + {MAX_RETRIES}) = {expected}"
    )
    assert all(len(e.attempts) == 1 + MAX_RETRIES for e in errors)


def test_the_budget_holds_across_threads_and_with_options_copies(server: DownServer) -> None:
    budget = RetryBudget(capacity=CAPACITY, retry_cost=RETRY_COST)
    with client_for(server, budget) as client:
        copies = [client, client.with_options(timeout=4), client.with_options(deadline=20)]
        failures: list[BaseException] = []

        def work(c: ToRouter) -> None:
            try:
                send(c, N)
            except BaseException as exc:  # pragma: no cover - reported below
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(copies[i % 3],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert not failures
    calls = 4 * N
    expected = calls + CAPACITY // RETRY_COST
    assert server.requests == expected, (
        f"the server saw {server.requests} requests for {calls} calls from 4 threads sharing "
        f"one budget (capacity={CAPACITY}, retry_cost={RETRY_COST}): expected "
        f"{calls} + {CAPACITY // RETRY_COST} = {expected}"
    )
