"""``client.chat.completions.stream(...)``: typed events over the same stream core as
``create(stream=True)`` (same request, retries before the first event, errors), sync and async.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import torouter
from torouter.types import (
    ChatCompletion,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ToolCallArgumentsDeltaEvent,
    ToolCallArgumentsDoneEvent,
)

KEY = "sk-test-HELPER-0123456789"
BASE = "http://gw.test/v1"
MESSAGES = [{"role": "user", "content": "Hi"}]
SSE = {"content-type": "text/event-stream", "x-request-id": "req-helper"}
DONE = b"data: [DONE]\n\n"


def ev(choices: list[dict[str, Any]], **extra: Any) -> bytes:
    obj = {"id": "c1", "model": "m", "choices": choices, **extra}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def d(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


TEXT = [ev([d(role="assistant", reasoning_content="Hmm. ")]), ev([d(content="Hel")]),
        ev([d(content="lo")]), ev([d(finish="stop")]), DONE]
TOOLS = [
    ev([d(tool_calls=[{"index": 0, "id": "a", "type": "function",
                       "function": {"name": "get_weather", "arguments": '{"ci'}}])]),
    ev([d(tool_calls=[{"index": 1, "id": "b", "type": "function",
                       "function": {"name": "get_time", "arguments": "{}"}}])]),
    ev([d(tool_calls=[{"index": 0, "function": {"arguments": 'ty":"Oslo"}'}}])]),
    ev([d(finish="tool_calls")]), DONE,
]
REFUSAL = [ev([d(refusal="I can")]), ev([d(refusal="not.")]), ev([d(finish="stop")]), DONE]


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes], error: Exception | None = None) -> None:
        self.pieces = pieces
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.error is not None:
            raise self.error


class Server:
    """Mock transport answering successive requests with the given bodies (last repeats)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, headers=SSE, stream=Pieces(answer))


def sync_client(server: Server, **kw: Any) -> torouter.ToRouter:
    client = torouter.ToRouter(api_key=KEY, base_url=BASE, **kw,
                               http_client=httpx.Client(transport=httpx.MockTransport(server)))
    client._sleep = lambda seconds: None
    return client


def async_client(server: Server, **kw: Any) -> torouter.AsyncToRouter:
    client = torouter.AsyncToRouter(
        api_key=KEY, base_url=BASE, **kw,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(server)))

    async def no_sleep(seconds: float) -> None:
        return None

    client._sleep = no_sleep
    return client


def collect(body: list[bytes], **params: Any) -> tuple[list[Any], ChatCompletion]:
    """The events and final completion, sync and async (asserting they agree)."""
    params = {"model": "m", "messages": MESSAGES, **params}
    with sync_client(Server(body)).chat.completions.stream(**params) as stream:
        events = list(stream)
        final = stream.get_final_completion()

    async def run() -> tuple[list[Any], ChatCompletion]:
        async with async_client(Server(body)).chat.completions.stream(**params) as s:
            got = [e async for e in s]
            return got, await s.get_final_completion()

    aevents, afinal = asyncio.run(run())
    assert [e.type for e in aevents] == [e.type for e in events]
    assert afinal.model_dump() == final.model_dump()
    return events, final


def test_text_events_in_order_with_snapshots() -> None:
    events, final = collect(TEXT)
    assert [e.type for e in events] == [
        "chunk", "reasoning.delta", "chunk", "content.delta", "chunk", "content.delta",
        "chunk", "content.done"]
    deltas = [e for e in events if isinstance(e, ContentDeltaEvent)]
    assert [(e.delta, e.snapshot) for e in deltas] == [("Hel", "Hel"), ("lo", "Hello")]
    reasoning = [e for e in events if isinstance(e, ReasoningDeltaEvent)]
    assert [(e.delta, e.snapshot) for e in reasoning] == [("Hmm. ", "Hmm. ")]
    done = events[-1]
    assert isinstance(done, ContentDoneEvent) and done.content == "Hello"
    chunks = [e for e in events if isinstance(e, ChunkEvent)]
    assert [e.snapshot.choices[0].message.content for e in chunks] == [None, "Hel", "Hello",
                                                                       "Hello"]
    assert final.choices[0].message.content == "Hello"
    assert final.choices[0].message.reasoning_content == "Hmm. "
    assert final.request_id == "req-helper"


def test_tool_call_events_join_interleaved_fragments_by_index() -> None:
    events, final = collect(TOOLS)
    deltas = [e for e in events if isinstance(e, ToolCallArgumentsDeltaEvent)]
    assert [(e.index, e.name, e.arguments_delta, e.arguments_snapshot) for e in deltas] == [
        (0, "get_weather", '{"ci', '{"ci'), (1, "get_time", "{}", "{}"),
        (0, "get_weather", 'ty":"Oslo"}', '{"city":"Oslo"}')]
    dones = [e for e in events if isinstance(e, ToolCallArgumentsDoneEvent)]
    assert [(e.index, e.name, e.arguments) for e in dones] == [
        (0, "get_weather", '{"city":"Oslo"}'), (1, "get_time", "{}")]
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("a", "get_weather", {"city": "Oslo"}), ("b", "get_time", {})]
    assert final.choices[0].finish_reason == "tool_calls"


def test_refusal_events() -> None:
    events, final = collect(REFUSAL)
    assert [(e.delta, e.snapshot) for e in events if isinstance(e, RefusalDeltaEvent)] == [
        ("I can", "I can"), ("not.", "I cannot.")]
    assert [e.refusal for e in events if isinstance(e, RefusalDoneEvent)] == ["I cannot."]
    assert final.choices[0].message.refusal == "I cannot."


def test_done_events_come_at_done_when_no_finish_reason_was_sent() -> None:
    events, _ = collect([ev([d(content="a")]), DONE])
    assert [e.type for e in events] == ["chunk", "content.delta", "content.done"]


def test_several_choices_carry_their_index() -> None:
    body = [ev([d(0, content="a"), d(1, content="b")]), ev([d(0, "stop"), d(1, "stop")]), DONE]
    events, final = collect(body, n=2)
    assert [(e.choice_index, e.delta) for e in events if isinstance(e, ContentDeltaEvent)] == [
        (0, "a"), (1, "b")]
    assert [c.message.content for c in final.choices] == ["a", "b"]


def test_every_event_has_a_literal_type_to_match_on() -> None:
    events, _ = collect(TOOLS)
    seen = []
    for event in events:
        match event:
            case ChunkEvent(chunk=chunk):
                seen.append(("chunk", chunk.id))
            case ToolCallArgumentsDoneEvent(name=name, arguments=arguments):
                seen.append((name, arguments))
            case _:
                pass
    assert ("get_time", "{}") in seen and ("chunk", "c1") in seen
    with pytest.raises(AttributeError):
        events[0].type = "other"  # frozen


def test_text_stream_and_until_done() -> None:
    with sync_client(Server(TEXT)).chat.completions.stream(model="m",
                                                           messages=MESSAGES) as stream:
        assert list(stream.text_stream) == ["Hel", "lo"]
        assert stream.get_final_completion().choices[0].message.content == "Hello"

    async def run() -> tuple[list[str], str | None]:
        async with async_client(Server(TEXT)).chat.completions.stream(
                model="m", messages=MESSAGES) as s:
            text = [t async for t in s.text_stream]
            await s.until_done()
            return text, (await s.get_final_completion()).choices[0].message.content

    assert asyncio.run(run()) == (["Hel", "lo"], "Hello")


def test_the_helper_sends_the_same_request_as_create_and_forwards_every_argument() -> None:
    server = Server(TEXT)
    client = sync_client(server)
    with client.chat.completions.stream(model="m", messages=MESSAGES, temperature=0.5,
                                        extra_body={"fallback_models": ["x"]},
                                        extra_headers={"x-trace": "1"}) as stream:
        stream.until_done()
    client.chat.completions.create(model="m", messages=MESSAGES, temperature=0.5,
                                   extra_body={"fallback_models": ["x"]},
                                   extra_headers={"x-trace": "1"}, stream=True).close()
    first, second = server.requests
    assert json.loads(first.content) == json.loads(second.content)
    assert json.loads(first.content)["stream"] is True
    assert first.headers["x-trace"] == second.headers["x-trace"] == "1"
    with pytest.raises(torouter.InvalidArgumentError):
        client.chat.completions.stream(model="m", messages=MESSAGES, stream=True)  # type: ignore[call-arg]
    with pytest.raises(torouter.InvalidArgumentError):
        client.chat.completions.stream(model="m", messages=MESSAGES, temprature=1)  # type: ignore[call-arg]


def test_errors_before_the_first_event_are_retried_like_create() -> None:
    unavailable = httpx.Response(503, json={"error": {"type": "upstream_unavailable",
                                                      "message": "busy"}})
    error_event = [b'event: error\ndata: {"message": "upstream died"}\n\n']
    server = Server(unavailable, error_event, TEXT)
    with sync_client(server).chat.completions.stream(model="m", messages=MESSAGES) as stream:
        assert stream.get_final_completion().choices[0].message.content == "Hello"
        assert stream.stream.retries_taken == 2
    assert len(server.requests) == 3


def test_a_cut_stream_raises_stream_interrupted_with_the_partial_answer() -> None:
    body = TEXT[:3]  # no finish reason, no [DONE]
    with pytest.raises(torouter.StreamInterrupted) as info, sync_client(
            Server(body)).chat.completions.stream(model="m", messages=MESSAGES) as stream:
        for _ in stream:
            pass
    assert info.value.text == "Hello"
    with pytest.raises(torouter.StreamInterrupted):
        stream.get_final_completion()  # the same error again, never a half answer

    async def run() -> None:
        async with async_client(Server(body)).chat.completions.stream(
                model="m", messages=MESSAGES) as s:
            await s.get_final_completion()

    with pytest.raises(torouter.StreamInterrupted) as ainfo:
        asyncio.run(run())
    assert ainfo.value.text == "Hello"


def test_an_error_event_mid_stream_raises_its_class() -> None:
    body = [TEXT[1], ev([], error={"type": "upstream_unavailable", "message": "gone"})]
    server = Server(body)
    with pytest.raises(torouter.UpstreamUnavailable), sync_client(
            server, max_retries=2).chat.completions.stream(model="m",
                                                           messages=MESSAGES) as stream:
        stream.until_done()
    assert len(server.requests) == 1  # not retried after the first event reached the caller


def test_leaving_the_block_early_closes_the_stream() -> None:
    with sync_client(Server(TEXT)).chat.completions.stream(model="m",
                                                           messages=MESSAGES) as stream:
        for event in stream:
            if isinstance(event, ContentDeltaEvent):
                break
    assert stream.response.is_closed
    with pytest.raises(torouter.StreamInterrupted, match="closed before it ended"):
        stream.get_final_completion()
    assert stream.current_completion_snapshot.choices[0].message.content == "Hel"
