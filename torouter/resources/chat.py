"""``client.chat.completions``: the OpenAI-compatible Chat Completions endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import Unpack

from .._errors import InvalidArgumentError
from .._response import RawResponse
from .._stream_helper import AsyncChatCompletionStreamManager, ChatCompletionStreamManager
from .._streaming import AsyncStream, Stream
from ..types.chat import ChatCompletion, ChatCompletionChunk
from ..types.chat_params import COMPLETION_CREATE_PARAM_NAMES, CompletionCreateParams
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
    "Completions",
    "CompletionsWithRawResponse",
]


class ChatCreateArgs(CompletionCreateParams, RequestOptions, total=False):
    """Keyword arguments of ``chat.completions.create``: the parameters and request options."""

    #: A stream keeps every chunk object (``stream.chunks``, ``err.chunks``); by default only
    #: the accumulated completion is kept, so memory follows the text, not the chunk count.
    keep_chunks: bool


_REQUIRED = ("model", "messages")


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


def _stream_spec(params: Any) -> RequestSpec[Any]:
    if "stream" in params:
        raise InvalidArgumentError("stream() always streams: leave out stream=")
    return _spec(True, params, raw=False)


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

    def stream(self, **params: Unpack[ChatCreateArgs]) -> ChatCompletionStreamManager:
        """Stream a chat completion as typed events::

            with client.chat.completions.stream(model=..., messages=...) as stream:
                for event in stream:              # torouter.types.ContentDeltaEvent, ...
                    ...
                completion = stream.get_final_completion()

        The request is made when the ``with`` block starts, exactly as
        ``create(stream=True, **params)`` would make it (same arguments, retries before the
        first event, errors).  See ``docs/stream-helper.md``.
        """
        spec = _stream_spec(params)
        return ChatCompletionStreamManager(lambda: self._client._request(spec))

    @property
    def with_raw_response(self) -> CompletionsWithRawResponse:
        """The same method, returning a :class:`RawResponse` with headers and status."""
        return CompletionsWithRawResponse(self._client)


class CompletionsWithRawResponse:
    def __init__(self, client: ToRouter) -> None:
        self._client = client

    def create(self, *, stream: bool = False, **params: Unpack[ChatCreateArgs]) -> RawResponse[Any]:
        """Like ``create``; ``.parse()`` gives the ChatCompletion (or the Stream)."""
        result: RawResponse[Any] = self._client._request(_spec(stream, params, raw=True))
        return result


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

    def stream(self, **params: Unpack[ChatCreateArgs]) -> AsyncChatCompletionStreamManager:
        """Stream a chat completion as typed events: ``async with ....stream(...) as s:``
        (the same as the sync ``stream``; the request is made when the block starts)."""
        spec = _stream_spec(params)
        return AsyncChatCompletionStreamManager(lambda: self._client._request(spec))

    @property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        return AsyncCompletionsWithRawResponse(self._client)


class AsyncCompletionsWithRawResponse:
    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    def create(self, *, stream: bool = False,
               **params: Unpack[ChatCreateArgs]) -> Awaitable[RawResponse[Any]]:
        """Like ``create``; ``.parse()`` gives the ChatCompletion (or the AsyncStream)."""
        result: Awaitable[RawResponse[Any]] = self._client._request(_spec(stream, params, raw=True))
        return result


class Chat:
    """``client.chat``."""

    def __init__(self, client: ToRouter) -> None:
        self.completions = Completions(client)


class AsyncChat:
    """``client.chat`` (async)."""

    def __init__(self, client: AsyncToRouter) -> None:
        self.completions = AsyncCompletions(client)
