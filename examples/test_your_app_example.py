"""Testing your own application's torouter code: no key, no network.

    pip install "torouter[testing]"      # pytest, respx and anyio
    pytest examples/test_your_app_example.py

Installing torouter installs its pytest plugin, so these fixtures need no import:
``torouter_gateway`` (a fake ToRouter gateway), ``torouter_key``, ``torouter_client`` /
``torouter_async_client`` (clients wired to the gateway in-process, retry sleeps skipped) and
``torouter_server`` (the gateway on a real 127.0.0.1 port). For code that builds its own client,
``torouter.testing.stub_error`` / ``stub_stream`` answer its requests through respx.
"""

from __future__ import annotations

import pytest
import respx

import torouter
from torouter.testing import FakeGateway, GatewayServer, Outcome, stub_error, stub_stream

# --- the application under test (normally in your own package) ------------------------------


def summarize(client: torouter.ToRouter, text: str) -> str:
    """Summarise ``text``; degrade gracefully when the model cannot answer."""
    try:
        reply = client.chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": f"Summarise: {text}"}]
        )
    except torouter.QuotaExhausted:
        return "[no summary: the AI budget is spent]"
    except torouter.UpstreamUnavailable:
        return "[no summary: the AI provider is down, try again later]"
    return reply.choices[0].message.content or ""


async def stream_summary(client: torouter.AsyncToRouter, text: str) -> str:
    """The async, streamed variant: keep what arrived if the stream breaks."""
    parts: list[str] = []
    stream = await client.chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": text}], stream=True
    )
    try:
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
    except torouter.StreamInterrupted:
        parts.append(" [cut off]")
    return "".join(parts)


# --- its tests, on the fake gateway ------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # async tests run through anyio's pytest plugin (installed with httpx)


def test_summary(torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway) -> None:
    torouter_gateway.reply = "Short version."
    assert summarize(torouter_client, "a long text") == "Short version."


def test_spent_budget(torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway) -> None:
    # A key with a $0.001 spend cap: the first call crosses it, the second is refused.
    capped = torouter_client.with_options(api_key=torouter_gateway.add_key(quota_usd=0.001))
    summarize(capped, "first")
    assert summarize(capped, "second") == "[no summary: the AI budget is spent]"


def test_outage_is_retried_then_reported(
    torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway
) -> None:
    torouter_gateway.upstream.always(Outcome.upstream_unavailable(502))
    assert "provider is down" in summarize(torouter_client, "text")
    assert len(torouter_gateway.requests) == 3  # the SDK retried twice; no test time slept


def test_a_brief_outage_is_invisible(
    torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway
) -> None:
    torouter_gateway.fail_next("upstream_unavailable")
    torouter_gateway.reply = "Fine."
    assert summarize(torouter_client, "text") == "Fine."


@pytest.mark.anyio
async def test_stream_cut_off(
    torouter_async_client: torouter.AsyncToRouter, torouter_gateway: FakeGateway
) -> None:
    torouter_gateway.script(Outcome.drop(after=3))  # the role chunk and two words, then a drop
    assert await stream_summary(torouter_async_client, "one two three") == "one two  [cut off]"


def test_over_a_real_socket(torouter_server: GatewayServer, torouter_key: str) -> None:
    client = torouter.ToRouter(api_key=torouter_key, base_url=torouter_server.base_url)
    with client:
        assert summarize(client, "hello") == "Summarise: hello"  # the fake echoes by default


# --- code that builds its own client: respx stubs, one line each ------------------------------


def test_with_respx(respx_mock: respx.MockRouter) -> None:
    client = torouter.ToRouter(api_key="sk-test", max_retries=0)
    stub_error(respx_mock, torouter.QuotaExhausted)  # any class of torouter.ERROR_CATALOG
    assert summarize(client, "text") == "[no summary: the AI budget is spent]"


@pytest.mark.anyio
async def test_with_respx_async(respx_mock: respx.MockRouter) -> None:
    stub_stream(respx_mock, ["Sum", "mary"], drop_after=1)
    async with torouter.AsyncToRouter(api_key="sk-test") as client:
        assert await stream_summary(client, "text") == "Sum [cut off]"
