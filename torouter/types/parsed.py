"""Structured outputs: the result of ``chat.completions.parse``.

A :class:`ParsedChatCompletion` is a :class:`~torouter.types.ChatCompletion` whose messages also
carry ``parsed`` (an instance of the pydantic model given as ``response_format``, ``None`` on a
refusal or a tool-call-only answer) and whose function tool calls carry ``parsed_arguments``
(an instance of the model given to :func:`torouter.pydantic_function_tool`).
"""

from typing import Annotated, Generic, TypeVar

import pydantic

from .chat import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageUnknownToolCall,
    Choice,
    Function,
    _tagged,
)

__all__ = [
    "ContentT",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
    "ParsedToolCallUnion",
]

ContentT = TypeVar("ContentT")
"""The type of ``message.parsed``: the pydantic model given as ``response_format``."""


class ParsedFunction(Function):
    """A function call with its arguments parsed (when the tool came from a pydantic model)."""

    parsed_arguments: object = None
    """The arguments as an instance of the tool's pydantic model
    (:func:`torouter.pydantic_function_tool`), as a ``dict`` for another ``strict`` function
    tool, else ``None``."""


class ParsedFunctionToolCall(ChatCompletionMessageFunctionToolCall):
    """A function tool call whose ``function`` carries ``parsed_arguments``."""

    function: ParsedFunction
    """The function the model called, with its parsed arguments."""


ParsedToolCallUnion = Annotated[
    (
        Annotated[ParsedFunctionToolCall, pydantic.Tag("function")] |
        Annotated[ChatCompletionMessageCustomToolCall, pydantic.Tag("custom")] |
        Annotated[ChatCompletionMessageUnknownToolCall, pydantic.Tag("unknown-tool")]
    ),
    _tagged(frozenset({"function", "custom"}), "unknown-tool", infer=("function", "custom")),
]
"""A tool call of a parsed message: function (with ``parsed_arguments``), custom or unknown."""


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ContentT]):
    """A message with its content parsed into the requested pydantic model."""

    parsed: ContentT | None = None
    """The content as the ``response_format`` model; ``None`` when the model refused
    (see ``refusal``) or answered with tool calls only."""
    tool_calls: list[ParsedToolCallUnion] | None = None  # type: ignore[assignment]
    """Tool calls; function calls carry ``function.parsed_arguments``."""


class ParsedChoice(Choice, Generic[ContentT]):
    """A choice whose message is parsed."""

    message: ParsedChatCompletionMessage[ContentT]
    """The generated message, with ``parsed``."""


class ParsedChatCompletion(ChatCompletion, Generic[ContentT]):
    """A chat completion whose choices' messages carry ``parsed`` (``chat.completions.parse``)."""

    choices: list[ParsedChoice[ContentT]]  # type: ignore[assignment]
    """The completion choices, parsed."""
