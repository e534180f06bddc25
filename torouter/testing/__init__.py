"""Test helpers for torouter: :class:`FakeGateway`, an in-process emulator of the ToRouter gateway.

``pip install "torouter[testing]"`` brings what the kit uses: pytest, respx and anyio.

Importing this package is cheap: names load on first use (PEP 562), and the fake gateway does not
use the SDK (it answers any HTTP client). Typical use::

    gw = FakeGateway()
    key = gw.add_key(quota_usd=1)
    client = httpx.Client(transport=gw.transport(), base_url="http://gateway/v1")
    with gw.serve() as server:            # or a real HTTP/1.1 server on 127.0.0.1
        httpx.get(server.base_url + "/models", headers={"Authorization": f"Bearer {key}"})

For tests of code that makes its own client, one-line respx stubs (sync and async alike)::

    stub_error(respx_mock, torouter.KeyExpired)       # any class of torouter.ERROR_CATALOG
    stub_completion(respx_mock, text="hi")
    stub_stream(respx_mock, ["Hel", "lo"], drop_after=1)

The pytest plugin (loaded automatically) adds the fixtures ``torouter_gateway``, ``torouter_key``,
``torouter_client``, ``torouter_async_client`` and ``torouter_server``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clock import Clock, FakeClock
    from ._errors import RATE_LIMIT, Dialect, ErrorShape
    from ._gateway import CatalogModel, FakeGateway, RequestRecord
    from ._keys import Account, KeyState
    from ._respx import (
        Stub,
        completion_response,
        error_body,
        error_response,
        instant_retries,
        stream_response,
        stub_completion,
        stub_error,
        stub_stream,
    )
    from ._server import GatewayServer
    from ._upstream import Channel, Outcome, Upstream

__all__ = [
    "RATE_LIMIT",
    "Account",
    "CatalogModel",
    "Channel",
    "Clock",
    "Dialect",
    "ErrorShape",
    "FakeClock",
    "FakeGateway",
    "GatewayServer",
    "KeyState",
    "Outcome",
    "RequestRecord",
    "Stub",
    "Upstream",
    "completion_response",
    "error_body",
    "error_response",
    "instant_retries",
    "stream_response",
    "stub_completion",
    "stub_error",
    "stub_stream",
]

_WHERE = {
    "Clock": "_clock",
    "FakeClock": "_clock",
    "RATE_LIMIT": "_errors",
    "Dialect": "_errors",
    "ErrorShape": "_errors",
    "CatalogModel": "_gateway",
    "FakeGateway": "_gateway",
    "RequestRecord": "_gateway",
    "Account": "_keys",
    "KeyState": "_keys",
    "GatewayServer": "_server",
    "Channel": "_upstream",
    "Outcome": "_upstream",
    "Upstream": "_upstream",
    "Stub": "_respx",
    "completion_response": "_respx",
    "error_body": "_respx",
    "error_response": "_respx",
    "instant_retries": "_respx",
    "stream_response": "_respx",
    "stub_completion": "_respx",
    "stub_error": "_respx",
    "stub_stream": "_respx",
}


def __getattr__(name: str) -> Any:
    """Load a public name on first access."""
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
