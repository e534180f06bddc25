"""pytest plugin (entry point ``torouter``): fixtures for testing code that uses torouter.

Installed with the package and loaded by pytest automatically; nothing to import
(``pip install "torouter[testing]"`` brings pytest, respx and anyio). Async tests that use
``torouter_async_client`` are marked ``@pytest.mark.anyio``. Fixtures (function-scoped):

* ``torouter_gateway`` -- a fresh :class:`~torouter.testing.FakeGateway` (the documented gateway:
  keys and their limits, accounts, errors, upstream failures you script with ``fail_next``...).
  Override this fixture in your ``conftest.py`` to configure it (``dialect=``, ``clock=``,
  ``reply=``...); the other fixtures follow.
* ``torouter_key`` -- a working key on that gateway, without limits. Make keys with limits with
  ``torouter_gateway.add_key(expires_at=..., quota_usd=..., ip_allow=..., models=...)``.
* ``torouter_client`` -- a :class:`torouter.ToRouter` using ``torouter_key``, wired to the gateway
  in-process (no socket, no network), default retry policy, retry sleeps skipped.
* ``torouter_async_client`` -- the same as an :class:`torouter.AsyncToRouter`. A plain (sync)
  fixture, so it works under anyio's plugin, pytest-asyncio and trio alike.
* ``torouter_server`` -- the gateway behind a real HTTP server on 127.0.0.1 (a free port), for code
  that builds its own client or uses another SDK: ``torouter_server.base_url`` is
  ``http://127.0.0.1:<port>/v1``; closed after the test.

For code that creates its own ``torouter.ToRouter()``, the respx helpers in
:mod:`torouter.testing` (``stub_error``, ``stub_completion``, ``stub_stream``) answer its requests
without any gateway; ``instant_retries(client)`` skips retry sleeps on any client.

Importing this module is cheap: nothing heavy loads until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .. import AsyncToRouter, ToRouter
    from ._gateway import FakeGateway
    from ._server import GatewayServer

#: The base URL the in-process clients use (no DNS lookup or connection ever happens).
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
    from ._respx import instant_retries

    http = httpx.Client(transport=torouter_gateway.transport())
    client = instant_retries(
        ToRouter(api_key=torouter_key, base_url=FAKE_BASE_URL, http_client=http)
    )
    try:
        yield client
    finally:
        http.close()


@pytest.fixture
def torouter_async_client(torouter_gateway: FakeGateway, torouter_key: str) -> AsyncToRouter:
    """An ``AsyncToRouter`` talking to ``torouter_gateway`` in-process; retry sleeps are skipped.

    The in-process transport holds no connection, so nothing needs closing after the test.
    """
    import httpx

    from .. import AsyncToRouter
    from ._respx import instant_retries

    http = httpx.AsyncClient(transport=torouter_gateway.async_transport())
    return instant_retries(
        AsyncToRouter(api_key=torouter_key, base_url=FAKE_BASE_URL, http_client=http)
    )


@pytest.fixture
def torouter_server(torouter_gateway: FakeGateway) -> Iterator[GatewayServer]:
    """``torouter_gateway`` served over HTTP on 127.0.0.1; ``.base_url`` ends with ``/v1``."""
    with torouter_gateway.serve() as server:
        yield server
