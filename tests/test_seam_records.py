"""What a seam layer reads on the call, and what the attempt history says when a layer ends a
call: the call's result or error at its end, the stop reason and the time of a refused attempt.

(The seam's order of points and its refusals are in test_seam.py.)
"""

from __future__ import annotations

import inspect
from typing import Any

import httpx
import pytest

import torouter
from torouter._seam import Layer

pytestmark = pytest.mark.anyio

KEY = "sk-seam-records-0123456789ab"
OK = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-5-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hi"}}],
}


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Clock:
    """A clock that only moves when told to (a layer's work, here)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Watcher(Layer):
    """Takes ``busy`` seconds of the clock before each attempt, may ask for a wait, and keeps
    what the call says at its end."""

    __slots__ = ("busy", "clock", "ended", "wait")

    def __init__(self, clock: Clock, *, busy: float = 0.0, wait: float = 0.0) -> None:
        self.clock = clock
        self.busy = busy
        self.wait = wait
        self.ended: list[tuple[Any, Any]] = []

    def before_attempt(self, call: Any) -> float | None:
        self.clock.now += self.busy
        return self.wait

    def end_call(self, call: Any, error: torouter.ToRouterError | None) -> None:
        self.ended.append((call.result, call.error))


def make(kind: str, layer: Layer, clock: Clock, status: int, **options: Any) -> Any:
    base = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter

    class Client(base):  # type: ignore[misc, valid-type]
        def _layers(self) -> tuple[Layer | None, ...]:
            return (layer,)

    def handler(request: httpx.Request) -> httpx.Response:
        body = OK if status == 200 else {"error": {"type": "INVALID_API_KEY", "message": "no"}}
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(handler)
    http = httpx.Client(transport=transport) if kind == "sync" else \
        httpx.AsyncClient(transport=transport)
    client = Client(api_key=KEY, base_url="http://127.0.0.1:9/v1", http_client=http, **options)
    client._clock = clock
    sleeps: list[float] = []
    if kind == "sync":
        client._sleep = sleeps.append
    else:
        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
        client._sleep = sleep
    client.test_sleeps = sleeps
    return client


async def call(client: Any) -> Any:
    result = client.chat.completions.create(model="gpt-5-mini",
                                            messages=[{"role": "user", "content": "hi"}])
    return await result if inspect.isawaitable(result) else result


async def test_a_layer_sees_the_result_at_the_end_of_a_call(kind: str) -> None:
    clock = Clock()
    layer = Watcher(clock)
    reply = await call(make(kind, layer, clock, 200))
    assert layer.ended == [(reply, None)]


async def test_a_layer_sees_the_error_at_the_end_of_a_call(kind: str) -> None:
    clock = Clock()
    layer = Watcher(clock)
    with pytest.raises(torouter.InvalidApiKey) as info:
        await call(make(kind, layer, clock, 401))
    assert layer.ended == [(None, info.value)]


async def test_a_wait_past_the_deadline_is_recorded_as_why_the_call_ended(kind: str) -> None:
    clock = Clock()
    # The layer's own work took 2 s of the clock, then it asked for a 30 s wait: the attempt it
    # refused took no time of its own, and the history says why the call ended.
    layer = Watcher(clock, busy=2.0, wait=30.0)
    with pytest.raises(torouter.APITimeoutError) as info:
        await call(make(kind, layer, clock, 200, deadline=5.0))
    (attempt,) = info.value.attempts
    assert attempt.stop_reason == "a wait asked before the attempt would pass the deadline"
    assert attempt.elapsed == 0.0
    assert layer.ended == [(None, info.value)]



@pytest.mark.parametrize("wait", [None, 0.0])
async def test_a_layer_that_asks_no_wait_adds_no_sleep(kind: str, wait: float | None) -> None:
    clock = Clock()
    layer = Watcher(clock)
    layer.wait = wait  # type: ignore[assignment]
    client = make(kind, layer, clock, 200)
    await call(client)
    assert client.test_sleeps == []


@pytest.mark.parametrize(("busy", "wait", "refused"),
                         [(2.0, 3.0, True),  # the wait would end exactly at the deadline
                          (4.75, 0.5, True),  # a wait under a second, still past it
                          (2.0, 2.5, False)])  # room left: slept, then sent
async def test_a_wait_is_refused_when_it_would_reach_the_deadline(
    kind: str, busy: float, wait: float, refused: bool
) -> None:
    clock = Clock()
    client = make(kind, Watcher(clock, busy=busy, wait=wait), clock, 200, deadline=5.0)
    if not refused:
        await call(client)
        assert client.test_sleeps == [wait]
        return
    with pytest.raises(torouter.APITimeoutError) as info:
        await call(client)
    assert client.test_sleeps == []
    assert info.value.message == (
        f"waiting {wait:.3g}s before attempt 1 (asked by the client's coordination) would pass "
        "the deadline of 5s; nothing was sent")


def test_only_layers_can_be_wired_into_the_seam() -> None:
    from torouter._seam import build_seam

    assert build_seam([None, None]) is None  # no layers: no seam at all
    with pytest.raises(TypeError, match="is not a torouter seam Layer"):
        build_seam([object()])


async def test_a_layer_that_used_up_the_deadline_without_asking_a_wait(kind: str) -> None:
    clock = Clock()
    client = make(kind, Watcher(clock, busy=5.0, wait=0.0), clock, 200, deadline=5.0)
    with pytest.raises(torouter.APITimeoutError) as info:
        await call(client)
    # no wait was asked: it is the attempt that finds no time left
    assert info.value.message == "the deadline of 5s ran out before attempt 1"
