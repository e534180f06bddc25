"""FakeGateway test fixtures: a fake clock, a gateway, a key, clients on both front ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from torouter.testing import FakeClock, FakeGateway

ClientFactory = Callable[..., httpx.Client]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gw(clock: FakeClock) -> FakeGateway:
    return FakeGateway(clock=clock, seed=7)


@pytest.fixture
def key(gw: FakeGateway) -> str:
    return gw.add_key()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat_body(model: str = "gpt-5", text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def connect() -> Iterator[ClientFactory]:
    """``connect(gw, key=None, client_ip=None)`` → an httpx.Client on the in-process transport."""
    clients: list[httpx.Client] = []

    def factory(
        gateway: FakeGateway, key: str | None = None, client_ip: str | None = None
    ) -> httpx.Client:
        c = httpx.Client(
            transport=gateway.transport(client_ip=client_ip),
            base_url="http://gateway.test/v1",
            headers=bearer(key) if key else {},
        )
        clients.append(c)
        return c

    yield factory
    for c in clients:
        c.close()


@pytest.fixture(params=["transport", "socket"])
def frontend(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    """Like ``connect`` but parametrised over the in-process transport and the socket server."""
    closers: list[Callable[[], None]] = []

    def factory(gateway: FakeGateway, key: str | None = None) -> httpx.Client:
        headers = bearer(key) if key else {}
        if request.param == "transport":
            c = httpx.Client(
                transport=gateway.transport(), base_url="http://gateway.test/v1", headers=headers
            )
        else:
            server = gateway.serve()
            closers.append(server.close)
            c = httpx.Client(base_url=server.base_url, headers=headers)
        closers.insert(0, c.close)
        return c

    yield factory
    for close in closers:
        close()
