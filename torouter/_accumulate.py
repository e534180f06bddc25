"""Accumulate streamed chat chunks into one ``ChatCompletion``-shaped snapshot.

A stream keeps this, not its chunks: memory grows with the *text* (and tool-call arguments,
and logprobs when asked for), not with the number of chunks.  It is shared by everything that
needs a view of a stream so far: ``Stream.current_completion_snapshot`` /
``get_final_completion()``, ``StreamInterrupted.partial``, "is every choice finished?", and
the stream helper's events (``_stream_helper``).

Rules (the same as joining the deltas by hand):

* text fields (``content``, ``reasoning_content``, ``refusal``) are the concatenation of their
  deltas, per choice ``index``; a field never sent stays ``None``;
* tool calls are joined by their ``index`` within a choice: ``id``/``type``/``name`` from the
  first fragment that carries them, ``arguments`` the concatenation of every fragment;
* ``finish_reason`` and ``role``: the last value sent; ``usage``: the last one sent;
* ``id``, ``model``, ``created``, ``object``, ``system_fingerprint``, ``service_tier``: the first
  value sent.
"""

from __future__ import annotations

from typing import Any

from .types.chat import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceLogprobs,
    CompletionUsage,
    Function,
)

__all__ = ["ChoiceAccumulator", "CompletionAccumulator", "ToolCallAccumulator"]

#: Text parts are joined into one string once this many are pending (bounds the per-part
#: overhead of a stream of tiny deltas without re-joining the text on every chunk).
_COMPACT_AT = 2048


class _Text:
    """A growing string: appended in O(1), joined when read (and then kept joined)."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    def add(self, part: str) -> None:
        parts = self._parts
        parts.append(part)
        if len(parts) >= _COMPACT_AT:
            self._parts = ["".join(parts)]

    def __str__(self) -> str:
        parts = self._parts
        if len(parts) == 1:
            return parts[0]
        text = "".join(parts)
        self._parts = [text]
        return text


class ToolCallAccumulator:
    """One tool call of a choice, joined from its fragments."""

    __slots__ = ("_arguments", "id", "index", "name", "type")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self._arguments = _Text()

    @property
    def arguments(self) -> str:
        return str(self._arguments)


class ChoiceAccumulator:
    """One choice of the completion, joined from its deltas."""

    __slots__ = ("_content", "_reasoning", "_refusal", "finish_reason", "index",
                 "logprobs_content", "logprobs_refusal", "role", "tool_calls")

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self._content: _Text | None = None
        self._reasoning: _Text | None = None
        self._refusal: _Text | None = None
        self.tool_calls: dict[int, ToolCallAccumulator] = {}
        self.finish_reason: str | None = None
        self.logprobs_content: list[ChatCompletionTokenLogprob] | None = None
        self.logprobs_refusal: list[ChatCompletionTokenLogprob] | None = None

    @property
    def content(self) -> str | None:
        return None if self._content is None else str(self._content)

    @property
    def reasoning_content(self) -> str | None:
        return None if self._reasoning is None else str(self._reasoning)

    @property
    def refusal(self) -> str | None:
        return None if self._refusal is None else str(self._refusal)

    def message(self) -> ChatCompletionMessage:
        tools = None
        if self.tool_calls:
            tools = [
                ChatCompletionMessageToolCall.model_construct(
                    id=t.id or "", type=t.type or "function",
                    function=Function.model_construct(name=t.name or "", arguments=t.arguments),
                )
                for _, t in sorted(self.tool_calls.items())
            ]
        return ChatCompletionMessage.model_construct(
            role=self.role or "assistant", content=self.content, refusal=self.refusal,
            tool_calls=tools, reasoning_content=self.reasoning_content,
        )


class CompletionAccumulator:
    """The snapshot of a chat completion stream so far (see the module docstring)."""

    __slots__ = ("choices", "count", "created", "id", "model", "object", "service_tier",
                 "system_fingerprint", "usage")

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.object: str | None = None
        self.system_fingerprint: str | None = None
        self.service_tier: str | None = None
        self.usage: CompletionUsage | None = None
        self.choices: dict[int, ChoiceAccumulator] = {}
        self.count = 0

    def add(self, chunk: Any) -> None:
        """Fold one chunk (a ``ChatCompletionChunk``, or any object of that shape) in.

        This runs for every chunk of every stream: kept flat on purpose (no helper calls on
        the common path of one text delta).
        """
        self.count += 1
        if self.id is None:
            self._first_seen(chunk)
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
        choices = self.choices
        for c in chunk.choices:
            choice = choices.get(c.index)
            if choice is None:
                choice = choices[c.index] = ChoiceAccumulator(c.index)
            d = c.delta
            text = d.content
            if text is not None:
                held = choice._content
                if held is None:
                    choice._content = held = _Text()
                parts = held._parts
                parts.append(text)
                if len(parts) >= _COMPACT_AT:
                    held._parts = ["".join(parts)]
            if d.reasoning_content is not None:
                if choice._reasoning is None:
                    choice._reasoning = _Text()
                choice._reasoning.add(d.reasoning_content)
            if d.refusal is not None:
                if choice._refusal is None:
                    choice._refusal = _Text()
                choice._refusal.add(d.refusal)
            if d.role is not None:
                choice.role = d.role
            if d.tool_calls:
                _add_tool_calls(choice, d.tool_calls)
            if c.finish_reason is not None:
                choice.finish_reason = c.finish_reason
            if c.logprobs is not None:
                _add_logprobs(choice, c.logprobs)

    def _first_seen(self, chunk: Any) -> None:
        for name in ("id", "model", "created", "object", "system_fingerprint", "service_tier"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(chunk, name, None))

    def complete(self) -> bool:
        """Whether every choice seen so far has its ``finish_reason`` (and there is one)."""
        return bool(self.choices) and all(
            c.finish_reason is not None for c in self.choices.values()
        )

    def text(self, index: int = 0) -> str:
        """The content of choice ``index`` so far (``""`` if none)."""
        choice = self.choices.get(index)
        return (choice.content or "") if choice is not None else ""

    def snapshot(self) -> ChatCompletion:
        """The completion so far, as a ``ChatCompletion`` (built fresh on each call)."""
        choices = []
        for index, c in sorted(self.choices.items()):
            logprobs = None
            if c.logprobs_content is not None or c.logprobs_refusal is not None:
                logprobs = ChoiceLogprobs.model_construct(
                    content=c.logprobs_content, refusal=c.logprobs_refusal)
            choices.append(Choice.model_construct(
                index=index, message=c.message(), finish_reason=c.finish_reason,
                logprobs=logprobs,
            ))
        return ChatCompletion.model_construct(
            id=self.id or "", choices=choices, created=self.created, model=self.model,
            object="chat.completion", service_tier=self.service_tier,
            system_fingerprint=self.system_fingerprint, usage=self.usage,
        )


def _add_tool_calls(choice: ChoiceAccumulator, fragments: Any) -> None:
    for frag in fragments:
        call = choice.tool_calls.get(frag.index)
        if call is None:
            call = choice.tool_calls[frag.index] = ToolCallAccumulator(frag.index)
        if frag.id is not None and call.id is None:
            call.id = frag.id
        if frag.type is not None and call.type is None:
            call.type = frag.type
        fn = frag.function
        if fn is not None:
            if fn.name is not None and call.name is None:
                call.name = fn.name
            if fn.arguments:
                call._arguments.add(fn.arguments)


def _add_logprobs(choice: ChoiceAccumulator, logprobs: Any) -> None:
    if logprobs.content is not None:
        if choice.logprobs_content is None:
            choice.logprobs_content = []
        choice.logprobs_content.extend(logprobs.content)
    if logprobs.refusal is not None:
        if choice.logprobs_refusal is None:
            choice.logprobs_refusal = []
        choice.logprobs_refusal.extend(logprobs.refusal)
