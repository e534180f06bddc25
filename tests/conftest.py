"""Shared test configuration: async tests run on asyncio through anyio's pytest plugin."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_ambient_torouter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real key or gateway from the environment."""
    monkeypatch.delenv("TOROUTER_API_KEY", raising=False)
    monkeypatch.delenv("TOROUTER_BASE_URL", raising=False)
