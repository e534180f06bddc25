"""The async transport: real async streams, async latency, many concurrent tasks."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from torouter.testing import FakeGateway, Outcome, _transport

from .conftest import bearer, chat_body

pytestmark = pytest.mark.anyio

HANG_GUARD = 30.0  # seconds; only stops a hung test, never measures one


def aclient(gw: FakeGateway, key: str, client_ip: str | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=gw.async_transport(client_ip=client_ip),
        base_url="http://gateway.test/v1",
        headers=bearer(key),
    )


async def test_async_chat_and_stream(gw: FakeGateway, key: str) -> None:
    async with aclient(gw, key) as c:
        r = await c.post("/chat/completions", json=chat_body(text="hi"))
        assert r.json()["choices"][0]["message"]["content"] == "hi"
        lines = []
        async with c.stream("POST", "/chat/completions", json=chat_body(stream=True)) as s:
            assert s.headers["content-type"] == "text/event-stream"
            async for line in s.aiter_lines():
                if line:
                    lines.append(line)
        assert lines[-1] == "data: [DONE]"
        assert json.loads(lines[1][6:])["choices"][0]["delta"]["content"] == "hello "


async def test_async_drop_and_disconnect(gw: FakeGateway, key: str) -> None:
    async with aclient(gw, key) as c:
        gw.script(Outcome.drop(after=2))
        seen = 0
        with pytest.raises(httpx.RemoteProtocolError):
            async with c.stream("POST", "/chat/completions", json=chat_body(stream=True)) as s:
                async for line in s.aiter_lines():
                    seen += bool(line)
        assert seen == 2
        gw.script(Outcome.disconnect())
        with pytest.raises(httpx.ReadError):
            await c.post("/chat/completions", json=chat_body())


async def test_async_latency_does_not_block_other_tasks(
    gw: FakeGateway, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scripted latency is an anyio.sleep: replace it by a wait that returns only once all 20
    # requests are waiting at the same time.  Concurrent tasks get there; tasks served one after
    # another never would (the fail_after below is only a hang guard, no timing is asserted).
    waiting = 0
    peak = 0
    all_waiting = anyio.Event()
    delays: list[float] = []

    async def latency(seconds: float) -> None:
        nonlocal waiting, peak
        delays.append(seconds)
        waiting += 1
        peak = max(peak, waiting)
        if waiting == 20:
            all_waiting.set()
        await all_waiting.wait()
        waiting -= 1

    monkeypatch.setattr(_transport.anyio, "sleep", latency)
    gw.upstream.always(Outcome.slow(0.1))
    statuses: list[int] = []
    async with aclient(gw, key) as c:

        async def one() -> None:
            statuses.append((await c.post("/chat/completions", json=chat_body())).status_code)

        with anyio.fail_after(HANG_GUARD):
            async with anyio.create_task_group() as tg:
                for _ in range(20):
                    tg.start_soon(one)
    assert statuses == [200] * 20
    assert peak == 20 and delays == [0.1] * 20
    assert len({r.request_id for r in gw.requests}) == 20


async def test_async_client_ip_and_windows(gw: FakeGateway) -> None:
    k = gw.add_key(ip_allow=["2001:db8::/64"], windows=(3, 0, 0))
    async with aclient(gw, k, client_ip="2001:db8::42") as c:
        codes = [(await c.get("/models")).status_code for _ in range(2)]
        codes += [
            (await c.post("/chat/completions", json=chat_body())).status_code for _ in range(4)
        ]
    assert codes == [200, 200, 200, 200, 200, 429]  # /models is not counted in the windows
    async with aclient(gw, k, client_ip="2001:db9::1") as c:
        assert (await c.get("/models")).status_code == 403
