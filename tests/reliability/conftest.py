"""Fixtures for the reliability suite: fault servers on 127.0.0.1 (and 127.0.0.2)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest

from torouter import _transport

from .faultserver import FaultServer

#: The transports a default AsyncToRouter can be on (``torouter/_transport.py``): every async
#: test of this suite runs on each (sync tests do not touch the async transport).
ASYNC_BACKENDS = ["aiohttp", "httpx"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if inspect.iscoroutinefunction(metafunc.function) or "async_backend" in metafunc.fixturenames:
        if "async_backend" not in metafunc.fixturenames:
            metafunc.fixturenames.append("async_backend")
        metafunc.parametrize("async_backend", ASYNC_BACKENDS, indirect=True)


@pytest.fixture
def async_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transport the default async clients of this test use."""
    backend: str = getattr(request, "param", "aiohttp")
    monkeypatch.setattr(_transport, "ASYNC_BACKEND", backend)
    return backend


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def other_server() -> Iterator[FaultServer]:
    """A second server on another loopback address (another host for redirects)."""
    try:
        srv = FaultServer(host="127.0.0.2")
    except OSError:  # pragma: no cover - 127.0.0.2 not routable here
        srv = FaultServer()
    with srv:
        yield srv


@pytest.fixture(scope="session")
def _one_ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    bundle = Path(certifi.where()).read_text()
    end = "-----END CERTIFICATE-----"
    start = bundle.index("-----BEGIN CERTIFICATE-----")
    path = tmp_path_factory.mktemp("ca") / "one.pem"
    path.write_text(bundle[start:bundle.index(end) + len(end)] + "\n")
    return str(path)


@pytest.fixture(autouse=True)
def _fast_ssl_context(_one_ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every httpx client loads its CA bundle (~0.1 s); these tests make hundreds of clients and
    speak plain HTTP, so the clients the SDK builds for itself load a one-certificate file."""
    monkeypatch.setenv("SSL_CERT_FILE", _one_ca_file)
