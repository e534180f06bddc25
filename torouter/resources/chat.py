"""``client.chat.completions``: the OpenAI-compatible Chat Completions endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import pydantic
from typing_extensions import Unpack

from .._errors import InvalidArgumentError
from .._parsing import _tool_models, parse_chat_completion, response_format_param
from .._response import RawResponse
from .._stream_helper import AsyncChatCompletionStreamManager, ChatCompletionStreamManager
from .._streaming import AsyncStream, Stream
from ..types.chat import ChatCompletion, ChatCompletionChunk
from ..types.chat_params import (
    COMPLETION_CREATE_PARAM_NAMES,
    CompletionCreateParams,
    CompletionParseParams,
)
from ..types.parsed import ParsedChatCompletion
from ._common import RequestOptions, build_spec

if TYPE_CHECKING:
    from .._base_client import RequestSpec
    from .._client import AsyncToRouter, ToRouter

__all__ = [
    "AsyncChat",
    "AsyncCompletions",
    "AsyncCompletionsWithRawResponse",
    "Chat",
    "ChatCreateArgs",
    "ChatParseArgs",
    "Completions",
    "CompletionsWithRawResponse",
]


class ChatCreateArgs(CompletionCreateParams, RequestOptions, total=False):
    """Keyword arguments of ``chat.completions.create``: the parameters and request options."""

    #: A stream keeps every chunk object (``stream.chunks``, ``err.chunks``); by default only
    #: the accumulated completion is kept, so memory follows the text, not the chunk count.
    keep_chunks: bool


class ChatParseArgs(CompletionParseParams, RequestOptions, total=False):
    """Keyword arguments of ``chat.completions.parse`` besides ``response_format``."""


ResponseFormatT = TypeVar("ResponseFormatT", bound=pydantic.BaseModel)

_REQUIRED = ("model", "messages")


def _parse_spec(params: Any, response_format: Any) -> tuple[RequestSpec[Any], Any]:
    """The request of ``parse`` (never a stream) and the tools to parse the answer with."""
    if "stream" in params:
        raise InvalidArgumentError(
            "parse() returns a whole completion; it takes no stream= argument"
        )
    params, tools = _structured(params, response_format, "parse()")
    return _spec(False, params, raw=False), tools


def _structured(params: Any, response_format: Any, what: str) -> tuple[dict[str, Any], Any]:
    """``params`` with ``response_format`` sent as a strict JSON Schema, and the tools."""
    params = dict(params)
    if params.get("tools") is not None:
        params["tools"] = list(params["tools"])  # read twice: sent, then used to parse
    if response_format is not None:
        if not (isinstance(response_format, type)
                and issubclass(response_format, pydantic.BaseModel)):
            raise InvalidArgumentError(
                f"{what} needs response_format=<a pydantic model class>; send a dict "
                "response_format with create()"
            )
        params["response_format"] = response_format_param(response_format)
    return params, params.get("tools")


def _stream_spec(params: Any, response_format: Any, client: ToRouter | AsyncToRouter
                 ) -> tuple[RequestSpec[Any], Callable[[ChatCompletion], Any] | None]:
    """The request of ``stream()`` and, for structured output, the step that parses the
    final completion (once the stream is complete: never partial JSON)."""
    if "stream" in params:
        raise InvalidArgumentError("stream() always streams: leave out stream=")
    if response_format is None or isinstance(response_format, Mapping):
        if response_format is not None:  # a plain response_format dict is sent as given
            params = {**params, "response_format": response_format}
        tools = params.get("tools")
        if tools is not None and not isinstance(tools, list):
            params = {**params, "tools": list(tools)}  # read twice: sent, then used to parse
        if not _tool_models(params.get("tools")):
            return _spec(True, params, raw=False), None
        model: Any = None
    else:
        params, _ = _structured(params, response_format, "stream()")
        model = response_format
    tools = params.get("tools")

    def finalize(completion: ChatCompletion) -> Any:
        return parse_chat_completion(completion, response_format=model, tools=tools,
                                     redact=(client.api_key.get_secret_value(),))

    return _spec(True, params, raw=False), finalize


def _spec(stream: bool, params: Any, raw: bool) -> RequestSpec[Any]:
    if not isinstance(stream, bool):
        raise InvalidArgumentError("stream must be True or False")
    keep_chunks = False
    if "keep_chunks" in params:
        params = dict(params)
        keep_chunks = params.pop("keep_chunks")
        if not isinstance(keep_chunks, bool):
            raise InvalidArgumentError("keep_chunks must be True or False")
        if keep_chunks and not stream:
            raise InvalidArgumentError("keep_chunks applies to streams (stream=True) only")
    messages = params.get("messages")
    if messages is not None and not isinstance(messages, list):
        if isinstance(messages, (str, bytes, dict)) or not isinstance(messages, Iterable):
            raise InvalidArgumentError("messages must be a list of message dicts")
        params = {**params, "messages": list(messages)}
    model = params.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidArgumentError("model must be a string such as 'gpt-5-mini'")
    spec = build_spec(
        "POST", "/chat/completions",
        ChatCompletionChunk if stream else ChatCompletion,
        params, allowed=COMPLETION_CREATE_PARAM_NAMES, required=_REQUIRED,
        stream=stream, raw=raw, body_extra={"stream": True} if stream else None,
    )
    spec.keep_chunks = keep_chunks
    return spec


class Completions:
    """``client.chat.completions`` (sync)."""

    def __init__(self, client: ToRouter) -> None:
        self._client = client

    @overload
    def create(self, *, stream: Literal[False] = False,
               **params: Unpack[ChatCreateArgs]) -> ChatCompletion: ...
    @overload
    def create(self, *, stream: Literal[True],
               **params: Unpack[ChatCreateArgs]) -> Stream[ChatCompletionChunk]: ...
    @overload
    def create(self, *, stream: bool, **params: Unpack[ChatCreateArgs]
               ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...
    def create(self, *, stream: bool = False,
               **params: Unpack[ChatCreateArgs]) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True`` iterate the returned ``Stream``.

        ``model`` and ``messages`` are required; the other OpenAI parameters are documented
        on :class:`torouter.types.CompletionCreateParams`.  ``extra_headers``, ``extra_body``
        and ``timeout`` apply to this call only.
        """
        result: Any = self._client._request(_spec(stream, params, raw=False))
        return result  # type: ignore[no-any-return]

    @overload
    def stream(self, *, response_format: type[ResponseFormatT], **params: Unpack[ChatParseArgs]
               ) -> ChatCompletionStreamManager[ParsedChatCompletion[ResponseFormatT]]: ...
    @overload
    def stream(self, **params: Unpack[ChatCreateArgs]
               ) -> ChatCompletionStreamManager[ChatCompletion]: ...
    def stream(self, *, response_format: Any = None,
               **params: Any) -> ChatCompletionStreamManager[Any]:
        """Stream a chat completion as typed events::

            with client.chat.completions.stream(model=..., messages=...) as stream:
                for event in stream:              # torouter.types.ContentDeltaEvent, ...
                    ...
                completion = stream.get_final_completion()

        The request is made when the ``with`` block starts, exactly as
        ``create(stream=True, **params)`` would make it (same arguments, retries before the
        first event, errors).  With ``response_format=MyModel`` the final completion is a
        ``ParsedChatCompletion[MyModel]``, parsed once the stream is complete (as ``parse()``
        does, with the same ``OutputError`` failures).  See ``docs/stream-helper.md``.
        """
        spec, finalize = _stream_spec(params, response_format, self._client)
        return ChatCompletionStreamManager(lambda: self._client._request(spec), finalize)

    @property
    def with_raw_response(self) -> CompletionsWithRawResponse:
        """The same method, returning a :class:`RawResponse` with headers and status."""
        return CompletionsWithRawResponse(self._client)

    @overload
    def parse(self, *, response_format: type[ResponseFormatT],
              **params: Unpack[ChatParseArgs]) -> ParsedChatCompletion[ResponseFormatT]: ...
    @overload
    def parse(self, **params: Unpack[ChatParseArgs]) -> ParsedChatCompletion[None]: ...
    def parse(self, *, response_format: type[ResponseFormatT] | None = None,
              **params: Unpack[ChatParseArgs]) -> ParsedChatCompletion[Any]:
        """Structured outputs: a completion whose ``choices[i].message.parsed`` is a
        ``response_format`` instance.

        Sends ``response_format`` as a strict JSON Schema; tools made with
        :func:`torouter.pydantic_function_tool` get ``function.parsed_arguments``.  A refusal
        leaves ``parsed`` ``None`` (see ``message.refusal``).  Raises an
        :class:`~torouter.OutputError` (``LengthFinishReasonError``,
        ``ContentFilterFinishReasonError``, ``OutputValidationError``) carrying the completion.
        """
        spec, tools = _parse_spec(params, response_format)
        # the completion is never bound to a local here (see parse_chat_completion)
        return parse_chat_completion(self._client._request(spec), response_format=response_format,
                                     tools=tools, redact=(self._client.api_key.get_secret_value(),))


class CompletionsWithRawResponse:
    def __init__(self, client: ToRouter) -> None:
        self._client = client

    @overload
    def create(self, *, stream: Literal[False] = False,
               **params: Unpack[ChatCreateArgs]) -> RawResponse[ChatCompletion]: ...
    @overload
    def create(self, *, stream: Literal[True],
               **params: Unpack[ChatCreateArgs]) -> RawResponse[Stream[ChatCompletionChunk]]: ...
    @overload
    def create(self, *, stream: bool, **params: Unpack[ChatCreateArgs]
               ) -> RawResponse[ChatCompletion] | RawResponse[Stream[ChatCompletionChunk]]: ...
    def create(self, *, stream: bool = False, **params: Unpack[ChatCreateArgs]
               ) -> RawResponse[ChatCompletion] | RawResponse[Stream[ChatCompletionChunk]]:
        """Like ``create``; ``.parse()`` gives the ChatCompletion (or the Stream)."""
        result: Any = self._client._request(_spec(stream, params, raw=True))
        return result  # type: ignore[no-any-return]


class AsyncCompletions:
    """``client.chat.completions`` (async)."""

    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    @overload
    async def create(self, *, stream: Literal[False] = False,
                     **params: Unpack[ChatCreateArgs]) -> ChatCompletion: ...
    @overload
    async def create(self, *, stream: Literal[True],
                     **params: Unpack[ChatCreateArgs]) -> AsyncStream[ChatCompletionChunk]: ...
    @overload
    async def create(self, *, stream: bool, **params: Unpack[ChatCreateArgs]
                     ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...
    async def create(self, *, stream: bool = False, **params: Unpack[ChatCreateArgs]
                     ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True`` ``async for`` the ``AsyncStream``."""
        result: Any = await self._client._request(_spec(stream, params, raw=False))
        return result  # type: ignore[no-any-return]

    @overload
    def stream(self, *, response_format: type[ResponseFormatT], **params: Unpack[ChatParseArgs]
               ) -> AsyncChatCompletionStreamManager[ParsedChatCompletion[ResponseFormatT]]: ...
    @overload
    def stream(self, **params: Unpack[ChatCreateArgs]
               ) -> AsyncChatCompletionStreamManager[ChatCompletion]: ...
    def stream(self, *, response_format: Any = None,
               **params: Any) -> AsyncChatCompletionStreamManager[Any]:
        """Stream a chat completion as typed events: ``async with ....stream(...) as s:``
        (the same as the sync ``stream``, ``response_format`` included; the request is made
        when the block starts)."""
        spec, finalize = _stream_spec(params, response_format, self._client)
        return AsyncChatCompletionStreamManager(lambda: self._client._request(spec), finalize)

    @property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        return AsyncCompletionsWithRawResponse(self._client)

    @overload
    async def parse(self, *, response_format: type[ResponseFormatT],
                    **params: Unpack[ChatParseArgs]) -> ParsedChatCompletion[ResponseFormatT]: ...
    @overload
    async def parse(self, **params: Unpack[ChatParseArgs]) -> ParsedChatCompletion[None]: ...
    async def parse(self, *, response_format: type[ResponseFormatT] | None = None,
                    **params: Unpack[ChatParseArgs]) -> ParsedChatCompletion[Any]:
        """Structured outputs (see the sync ``parse``)."""
        spec, tools = _parse_spec(params, response_format)
        return parse_chat_completion(await self._client._request(spec),
                                     response_format=response_format, tools=tools,
                                     redact=(self._client.api_key.get_secret_value(),))


class AsyncCompletionsWithRawResponse:
    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    @overload
    def create(self, *, stream: Literal[False] = False,
               **params: Unpack[ChatCreateArgs]) -> Awaitable[RawResponse[ChatCompletion]]: ...
    @overload
    def create(self, *, stream: Literal[True], **params: Unpack[ChatCreateArgs]
               ) -> Awaitable[RawResponse[AsyncStream[ChatCompletionChunk]]]: ...
    @overload
    def create(self, *, stream: bool, **params: Unpack[ChatCreateArgs]
               ) -> Awaitable[RawResponse[ChatCompletion]
                              | RawResponse[AsyncStream[ChatCompletionChunk]]]: ...
    def create(self, *, stream: bool = False, **params: Unpack[ChatCreateArgs]
               ) -> Awaitable[RawResponse[ChatCompletion]
                              | RawResponse[AsyncStream[ChatCompletionChunk]]]:
        """Like ``create``; ``.parse()`` gives the ChatCompletion (or the AsyncStream)."""
        result: Any = self._client._request(_spec(stream, params, raw=True))
        return result  # type: ignore[no-any-return]


class Chat:
    """``client.chat``."""

    def __init__(self, client: ToRouter) -> None:
        self.completions = Completions(client)


class AsyncChat:
    """``client.chat`` (async)."""

    def __init__(self, client: AsyncToRouter) -> None:
        self.completions = AsyncCompletions(client)
