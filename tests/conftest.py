"""Shared test configuration: async tests run on asyncio through anyio's pytest plugin."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# Property tests never fail on a slow example (a loaded CI machine): no per-example deadline.
# Under CI they are also derandomized, so a run never meets a new example by chance.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_ambient_torouter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real key or gateway from the environment."""
    monkeypatch.delenv("TOROUTER_API_KEY", raising=False)
    monkeypatch.delenv("TOROUTER_BASE_URL", raising=False)
