"""``client.chat.completions``: the OpenAI-compatible Chat Completions endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import Unpack

from .._errors import InvalidArgumentError
from .._response import RawResponse
from .._streaming import AsyncStream, Stream
from ..types.chat import ChatCompletion, ChatCompletionChunk
from ..types.chat_params import COMPLETION_CREATE_PARAM_NAMES, CompletionCreateParams
from ._common import FallbackOptions, RequestOptions, build_spec

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


class ChatCreateArgs(CompletionCreateParams, RequestOptions, FallbackOptions, total=False):
    """Keyword arguments of ``chat.completions.create``: the parameters and request options."""


_REQUIRED = ("model", "messages")


def _spec(stream: bool, params: Any, raw: bool) -> RequestSpec[Any]:
    if not isinstance(stream, bool):
        raise InvalidArgumentError("stream must be True or False")
    messages = params.get("messages")
    if messages is not None and not isinstance(messages, list):
        if isinstance(messages, (str, bytes, dict)) or not isinstance(messages, Iterable):
            raise InvalidArgumentError("messages must be a list of message dicts")
        params = {**params, "messages": list(messages)}
    model = params.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidArgumentError("model must be a string such as 'gpt-5-mini'")
    return build_spec(
        "POST", "/chat/completions",
        ChatCompletionChunk if stream else ChatCompletion,
        params, allowed=COMPLETION_CREATE_PARAM_NAMES, required=_REQUIRED,
        stream=stream, raw=raw, body_extra={"stream": True} if stream else None,
    )


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
        and ``timeout`` apply to this call only; ``fallback_models=[...]`` are tried in order
        when ``model`` fails with a model-level failure (a stream: before its first chunk).
        """
        result: Any = self._client._request(_spec(stream, params, raw=False))
        return result  # type: ignore[no-any-return]

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
