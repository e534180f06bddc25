"""pytest plugin (entry point ``torouter``): fixtures for testing code that uses torouter.

Installed with the package and loaded by pytest automatically. Fixtures:

* ``torouter_gateway`` -- a fresh :class:`~torouter.testing.FakeGateway`.
* ``torouter_key`` -- a working key on that gateway.
* ``torouter_client`` / ``torouter_async_client`` -- ``ToRouter`` / ``AsyncToRouter`` wired to
  the gateway in-process (no socket), ``max_retries`` as the default, sleeps skipped.

Importing this module is cheap: nothing heavy loads until a fixture is used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .. import AsyncToRouter, ToRouter
    from ._gateway import FakeGateway

FAKE_BASE_URL = "http://torouter.test/v1"


@pytest.fixture
def torouter_gateway() -> FakeGateway:
    """A fresh in-process fake ToRouter gateway."""
    from ._gateway import FakeGateway

    return FakeGateway()


@pytest.fixture
def torouter_key(torouter_gateway: FakeGateway) -> str:
    """A valid key on ``torouter_gateway`` with no limits."""
    return torouter_gateway.add_key()


@pytest.fixture
def torouter_client(torouter_gateway: FakeGateway, torouter_key: str) -> Iterator[ToRouter]:
    """A ``ToRouter`` talking to ``torouter_gateway`` in-process; retry sleeps are skipped."""
    import httpx

    from .. import ToRouter

    client = ToRouter(
        api_key=torouter_key,
        base_url=FAKE_BASE_URL,
        http_client=httpx.Client(transport=torouter_gateway.transport()),
    )
    client._sleep = lambda seconds: None
    try:
        yield client
    finally:
        client._http.close()


@pytest.fixture
async def torouter_async_client(
    torouter_gateway: FakeGateway, torouter_key: str
) -> AsyncIterator[AsyncToRouter]:
    """An ``AsyncToRouter`` talking to ``torouter_gateway`` in-process (use with anyio)."""
    import httpx

    from .. import AsyncToRouter

    async def no_sleep(seconds: float) -> None:
        return None

    client = AsyncToRouter(
        api_key=torouter_key,
        base_url=FAKE_BASE_URL,
        http_client=httpx.AsyncClient(transport=torouter_gateway.async_transport()),
    )
    client._sleep = no_sleep
    try:
        yield client
    finally:
        await client._http.aclose()
