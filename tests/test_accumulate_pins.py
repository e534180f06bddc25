"""The stream snapshot (``torouter/_accumulate.py``) keeps what a caller reads from
``get_final_completion()`` / ``current_completion_snapshot`` / ``err.partial``: the role, the
log probabilities, tool call ids and types, long texts of many tiny deltas, and the chunk count.
Pinned after a mutation run found these unobserved."""

from __future__ import annotations

from typing import Any

from torouter._accumulate import CompletionAccumulator
from torouter.types import ChatCompletionChunk


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
    first, second = acc.snapshot().choices[0].message.tool_calls or ()
    assert (first.id, first.type, first.function.name) == ("call_1", "function", "lookup")
    assert first.function.arguments == '{"city":1}'
    assert (second.id, second.type, second.function.name) == ("", "function", "other")


def test_the_first_chunk_names_the_completion_and_usage_is_the_last_seen() -> None:
    acc = fold(chunk({"content": "a"}, index=1), chunk({"content": "b"}, index=0))
    snap = acc.snapshot()
    assert (snap.id, snap.model, snap.created) == ("c1", "gpt-5-mini", 7)
    assert [c.index for c in snap.choices] == [0, 1]
    assert [c.message.content for c in snap.choices] == ["b", "a"]
