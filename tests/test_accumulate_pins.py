"""The stream snapshot (``torouter/_accumulate.py``) keeps what a caller reads from
``get_final_completion()`` / ``current_completion_snapshot`` / ``err.partial``: the role, the
log probabilities, tool call ids and types, long texts of many tiny deltas, and the chunk count;
it holds a stream's texts in memory that follows the text, not the number of chunks.  Pinned
after mutation runs found these unobserved."""

from __future__ import annotations

import gc
import tracemalloc
from types import SimpleNamespace
from typing import Any

from torouter._accumulate import ChoiceAccumulator, CompletionAccumulator
from torouter.types import ChatCompletion, ChatCompletionChunk
from torouter.types.chat import ChatCompletionMessageFunctionToolCall


def chunk(delta: dict[str, Any] | None = None, *, index: int = 0, finish: str | None = None,
          logprobs: dict[str, Any] | None = None) -> ChatCompletionChunk:
    choice: dict[str, Any] = {"index": index, "delta": delta or {}, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return ChatCompletionChunk.model_validate({
        "id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "gpt-5-mini",
        "choices": [choice]})


def token(text: str, logprob: float) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode()), "top_logprobs": []}


def tool_calls(snapshot: ChatCompletion) -> list[ChatCompletionMessageFunctionToolCall]:
    """The tool calls of choice 0 of a snapshot (function calls: what a stream joins)."""
    calls = snapshot.choices[0].message.tool_calls or []
    functions = [c for c in calls if isinstance(c, ChatCompletionMessageFunctionToolCall)]
    assert functions == list(calls), calls
    return functions


def fold(*chunks: ChatCompletionChunk) -> CompletionAccumulator:
    acc = CompletionAccumulator()
    for c in chunks:
        acc.add(c)
    return acc


def test_the_role_the_stream_sends_is_the_role_of_the_snapshot() -> None:
    acc = fold(chunk({"role": "developer", "content": "a"}), chunk({"content": "b"}))
    message = acc.snapshot().choices[0].message
    assert message.role == "developer" and message.content == "ab"
    assert fold(chunk({"content": "x"})).snapshot().choices[0].message.role == "assistant"


def test_log_probabilities_of_content_and_refusal_are_joined_in_order() -> None:
    acc = fold(
        chunk({"content": "Hi"}, logprobs={"content": [token("Hi", -0.1)]}),
        chunk({"content": " there"}, logprobs={"content": [token(" there", -0.2)],
                                                "refusal": [token("no", -3.0)]}),
        chunk({}, finish="stop", logprobs={"refusal": [token("pe", -4.0)]}),
    )
    logprobs = acc.snapshot().choices[0].logprobs
    assert logprobs is not None
    assert [t.token for t in logprobs.content or ()] == ["Hi", " there"]
    assert [t.logprob for t in logprobs.content or ()] == [-0.1, -0.2]
    assert [t.token for t in logprobs.refusal or ()] == ["no", "pe"]


def test_a_stream_without_log_probabilities_has_none() -> None:
    assert fold(chunk({"content": "a"}, finish="stop")).snapshot().choices[0].logprobs is None
    only_content = fold(chunk({"content": "a"}, logprobs={"content": [token("a", -1.0)]}))
    logprobs = only_content.snapshot().choices[0].logprobs
    assert logprobs is not None and logprobs.refusal is None


def test_the_chunk_count_counts_every_chunk_once() -> None:
    acc = CompletionAccumulator()
    assert acc.count == 0
    for i in range(5):
        acc.add(chunk({"content": str(i)}))
        assert acc.count == i + 1


def test_many_tiny_deltas_give_the_whole_text_read_before_during_and_after() -> None:
    acc = CompletionAccumulator()
    pieces = [chr(ord("a") + i % 26) for i in range(5000)]
    for i, piece in enumerate(pieces):
        acc.add(chunk({"content": piece, "reasoning_content": piece, "refusal": piece}))
        if i in (10, 2047, 2048, 2049, 4095):
            expected = "".join(pieces[: i + 1])
            assert acc.text() == expected
            choice = acc.choices[0]
            assert choice.reasoning_content == expected and choice.refusal == expected
    text = "".join(pieces)
    message = acc.snapshot().choices[0].message
    assert (message.content, message.reasoning_content, message.refusal) == (text, text, text)
    assert acc.text(1) == ""


def test_tool_calls_keep_their_first_id_type_and_name_and_join_their_arguments() -> None:
    acc = fold(
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "lookup", "arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "call_X", "function": {"arguments": 'ty":1}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"name": "other", "arguments": "{}"}}]}),
    )
    first, second = tool_calls(acc.snapshot())
    assert (first.id, first.type, first.function.name) == ("call_1", "function", "lookup")
    assert first.function.arguments == '{"city":1}'
    assert (second.id, second.type, second.function.name) == ("", "function", "other")


def test_the_first_chunk_names_the_completion_and_usage_is_the_last_seen() -> None:
    acc = fold(chunk({"content": "a"}, index=1), chunk({"content": "b"}, index=0))
    snap = acc.snapshot()
    assert (snap.id, snap.model, snap.created) == ("c1", "gpt-5-mini", 7)
    assert [c.index for c in snap.choices] == [0, 1]
    assert [c.message.content for c in snap.choices] == ["b", "a"]


def test_later_fragments_repeating_a_tool_calls_fields_blank_change_nothing() -> None:
    """Some OpenAI-compatible upstreams repeat ``id``, ``type`` and ``name`` in every fragment,
    blank after the first: the call keeps the first values (in the snapshot, and in the state
    the stream keeps, which the stream helper's events read), and the arguments join."""
    acc = fold(
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "grep", "arguments": '{"q":'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "", "type": "",
                               "function": {"name": "", "arguments": '"x"}'}}]}),
    )
    (call,) = tool_calls(acc.snapshot())
    assert (call.id, call.type, call.function.name) == ("call_1", "function", "grep")
    assert call.function.arguments == '{"q":"x"}'
    kept = acc.choices[0].tool_calls[0]
    assert (kept.id, kept.type, kept.name, kept.arguments) == (
        "call_1", "function", "grep", '{"q":"x"}')


def test_the_choices_and_tool_calls_kept_know_their_index() -> None:
    """The per-choice and per-tool-call state the stream helper reads carries its own index."""
    acc = fold(chunk({"tool_calls": [{"index": 2, "id": "call_1", "type": "function",
                                      "function": {"name": "f", "arguments": "{}"}}]}, index=1))
    choice = acc.choices[1]
    assert isinstance(choice, ChoiceAccumulator) and choice.index == 1
    assert [(i, t.index) for i, t in choice.tool_calls.items()] == [(2, 2)]


# --- memory: the texts of a stream nobody reads until its end ---------------------------------


def tiny(i: int) -> SimpleNamespace:
    """A chunk of the ChatCompletionChunk shape (what ``add`` folds) carrying a new two-letter
    string (as parsed from JSON: not a shared interned one) in each text field and in the
    arguments of tool call 0.  Built by hand: validating tens of thousands of chunks would only
    slow the test."""
    def piece() -> str:
        return f"{i % 100:02d}"

    call = SimpleNamespace(index=0, id=None, type=None,
                           function=SimpleNamespace(name=None, arguments=piece()))
    delta = SimpleNamespace(content=piece(), reasoning_content=piece(), refusal=piece(),
                            role=None, tool_calls=[call])
    return SimpleNamespace(
        id="c1", model="m", created=1, object="chat.completion.chunk", system_fingerprint=None,
        service_tier=None, usage=None,
        choices=[SimpleNamespace(index=0, delta=delta, finish_reason=None, logprobs=None)])


def pending(acc: CompletionAccumulator) -> list[int]:
    """How many separate pieces each text of choice 0 holds (content, reasoning, refusal,
    tool call 0's arguments), read without joining them."""
    c = acc.choices[0]
    texts = (c._content, c._reasoning, c._refusal, c.tool_calls[0]._arguments)
    return [len(t._parts) for t in texts if t is not None]


def test_an_unread_stream_of_tiny_deltas_holds_its_text_not_one_object_per_delta() -> None:
    """Memory follows the text, not the number of chunks, even when nothing reads the text
    before the end (``get_final_completion()``): 20,000 two-letter deltas in each of four
    texts (160 KB of text) are held in about 0.5 MiB; keeping one string object per delta
    would add over 1 MiB per text."""
    n = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        acc = CompletionAccumulator()
        for i in range(n):
            acc.add(tiny(i))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held <= 2**20, f"{held / 2**20:.2f} MiB held after {n} chunks"
    text = "".join(f"{i % 100:02d}" for i in range(n))
    message = acc.snapshot().choices[0].message
    assert (message.content, message.reasoning_content, message.refusal) == (text, text, text)
    assert tool_calls(acc.snapshot())[0].function.arguments == text


def test_an_unread_text_is_joined_before_2048_pieces_pile_up() -> None:
    """The bound behind the memory promise: each text holds at most 2047 separate pieces;
    the 2048th joins them into one string (which then counts as the first piece)."""
    acc = CompletionAccumulator()
    for i in range(5000):
        acc.add(tiny(i))
        counts = pending(acc)
        assert len(counts) == 4 and max(counts) < 2048, (i, counts)
        if i in (2047, 2047 + 2047):
            assert counts == [1, 1, 1, 1], i
    assert pending(acc) == [1 + 5000 - 4095] * 4


def test_a_text_read_once_is_kept_as_the_one_string_handed_out() -> None:
    """Reading the text (``text()``, a snapshot) joins its pieces once and keeps that string:
    reading again without new deltas returns that very string, not another copy, and the
    accumulator no longer holds the pieces besides it."""
    acc = CompletionAccumulator()
    for i in range(10):
        acc.add(tiny(i))
    assert min(pending(acc)) == 10
    text = acc.text()
    assert text == "".join(f"{i:02d}" for i in range(10))
    message = acc.snapshot().choices[0].message
    assert message.content is text and acc.text() is text and acc.choices[0].content is text
    arguments = tool_calls(acc.snapshot())[0].function.arguments
    assert message.reasoning_content == message.refusal == arguments == text
    assert pending(acc) == [1, 1, 1, 1]
