"""Typed events of the stream helper (``client.chat.completions.stream(...)``).

Each event is a small frozen dataclass with a literal ``type``, so a loop can ``match`` on the
class or on ``event.type``::

    for event in stream:
        match event:
            case ContentDeltaEvent(delta=delta):
                print(delta, end="")
            case ToolCallArgumentsDoneEvent(name=name, arguments=arguments):
                run_tool(name, arguments)

Per chunk the helper gives a :class:`ChunkEvent` first, then the events the chunk causes, for
each choice in order.  ``choice_index`` says which choice an event belongs to (always 0 unless
``n > 1`` was requested).  "Done" events come when the choice's ``finish_reason`` arrives (a
tool call's also when the next tool call of the same choice starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from .chat import ChatCompletion, ChatCompletionChunk

__all__ = [
    "ChatCompletionStreamEvent",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "ReasoningDeltaEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "ToolCallArgumentsDeltaEvent",
    "ToolCallArgumentsDoneEvent",
]


@dataclass(frozen=True, slots=True)
class ChunkEvent:
    """A chunk arrived; ``snapshot`` is the completion so far, this chunk included."""

    chunk: ChatCompletionChunk
    snapshot: ChatCompletion
    type: Literal["chunk"] = field(default="chunk", init=False)


@dataclass(frozen=True, slots=True)
class ContentDeltaEvent:
    """More message text: ``delta`` is the new piece, ``snapshot`` the text so far."""

    delta: str
    snapshot: str
    choice_index: int = 0
    type: Literal["content.delta"] = field(default="content.delta", init=False)


@dataclass(frozen=True, slots=True)
class ContentDoneEvent:
    """The choice finished; ``content`` is its whole text."""

    content: str
    choice_index: int = 0
    type: Literal["content.done"] = field(default="content.done", init=False)


@dataclass(frozen=True, slots=True)
class ReasoningDeltaEvent:
    """More reasoning text (``reasoning_content``, a gateway addition)."""

    delta: str
    snapshot: str
    choice_index: int = 0
    type: Literal["reasoning.delta"] = field(default="reasoning.delta", init=False)


@dataclass(frozen=True, slots=True)
class RefusalDeltaEvent:
    """More refusal text."""

    delta: str
    snapshot: str
    choice_index: int = 0
    type: Literal["refusal.delta"] = field(default="refusal.delta", init=False)


@dataclass(frozen=True, slots=True)
class RefusalDoneEvent:
    """The choice finished with a refusal; ``refusal`` is its whole text."""

    refusal: str
    choice_index: int = 0
    type: Literal["refusal.done"] = field(default="refusal.done", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallArgumentsDeltaEvent:
    """More JSON arguments of tool call ``index`` (``arguments_snapshot``: the text so far)."""

    index: int
    name: str | None
    arguments_delta: str
    arguments_snapshot: str
    choice_index: int = 0
    type: Literal["tool_calls.function.arguments.delta"] = field(
        default="tool_calls.function.arguments.delta", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallArgumentsDoneEvent:
    """Tool call ``index`` is complete; ``arguments`` is its whole JSON text (not parsed)."""

    index: int
    name: str | None
    arguments: str
    choice_index: int = 0
    type: Literal["tool_calls.function.arguments.done"] = field(
        default="tool_calls.function.arguments.done", init=False)


ChatCompletionStreamEvent = Union[  # noqa: UP007 (a runtime alias; Python 3.10 compatible)
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ToolCallArgumentsDeltaEvent,
    ToolCallArgumentsDoneEvent,
]
"""Any event the stream helper yields."""
