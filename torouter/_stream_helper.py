"""The stream helper: ``client.chat.completions.stream(...)``, typed events over one stream.

It wraps the very ``Stream`` / ``AsyncStream`` that ``create(stream=True)`` returns (same
request path, retries before the first event, errors, ``StreamInterrupted``); what it adds is
written once, I/O-free, in :class:`_EventDeriver` (chunk -> events, from the stream's own
accumulated snapshot) and :class:`_HelperBase` (the final completion).  The sync and async
helpers only differ in how they iterate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from ._accumulate import ChoiceAccumulator, CompletionAccumulator
from ._streaming import AsyncStream, Stream
from .types.chat import ChatCompletion, ChatCompletionChunk
from .types.stream_events import (
    ChatCompletionStreamEvent,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ToolCallArgumentsDeltaEvent,
    ToolCallArgumentsDoneEvent,
)

#: What ``get_final_completion()`` returns: a ``ChatCompletion``, or with
#: ``stream(response_format=MyModel)`` a ``ParsedChatCompletion[MyModel]``.
CompletionT = TypeVar("CompletionT", bound=ChatCompletion)

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncChatCompletionStreamManager",
    "ChatCompletionStream",
    "ChatCompletionStreamManager",
]


class _EventDeriver:
    """Chunk -> typed events, reading the snapshot the stream already keeps (after the stream
    has folded the chunk in, so every ``snapshot`` includes it)."""

    __slots__ = ("_acc", "_done", "_snapshot")

    def __init__(self, acc: CompletionAccumulator, snapshot: Callable[[], ChatCompletion]):
        self._acc = acc
        self._snapshot = snapshot
        self._done: set[int] = set()  # choices whose "done" events were given

    def events(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent]:
        out: list[ChatCompletionStreamEvent] = [ChunkEvent(chunk=chunk, snapshot=self._snapshot())]
        choices = self._acc.choices
        for c in chunk.choices:
            i = c.index
            choice = choices[i]
            d = c.delta
            if d.content:
                out.append(ContentDeltaEvent(d.content, choice.content or "", i))
            if d.reasoning_content:
                out.append(ReasoningDeltaEvent(d.reasoning_content, choice.reasoning_content or "",
                                               i))
            if d.refusal:
                out.append(RefusalDeltaEvent(d.refusal, choice.refusal or "", i))
            for frag in d.tool_calls or ():
                arguments = frag.function.arguments if frag.function is not None else None
                if arguments:
                    call = choice.tool_calls[frag.index]
                    out.append(ToolCallArgumentsDeltaEvent(frag.index, call.name, arguments,
                                                           call.arguments, i))
            if c.finish_reason is not None and i not in self._done:
                self._done_events(choice, out)
        return out

    def _done_events(self, choice: ChoiceAccumulator,
                     out: list[ChatCompletionStreamEvent]) -> None:
        # Tool calls are done only when their choice is: fragments of several calls may
        # interleave, so "the next call started" does not prove the previous one complete.
        self._done.add(choice.index)
        for index, call in sorted(choice.tool_calls.items()):
            out.append(ToolCallArgumentsDoneEvent(index, call.name, call.arguments,
                                                  choice.index))
        if choice.content is not None:
            out.append(ContentDoneEvent(choice.content, choice.index))
        if choice.refusal is not None:
            out.append(RefusalDoneEvent(choice.refusal, choice.index))

    def finish(self) -> list[ChatCompletionStreamEvent]:
        """The stream completed: "done" events of choices that never sent a finish reason
        (a stream ended by ``[DONE]`` alone)."""
        out: list[ChatCompletionStreamEvent] = []
        for index, choice in sorted(self._acc.choices.items()):
            if index not in self._done:
                self._done_events(choice, out)
        return out


class _HelperBase(Generic[CompletionT]):
    __slots__ = ("_derive", "_final", "_stream")

    _stream: Stream[ChatCompletionChunk] | AsyncStream[ChatCompletionChunk]

    def __init__(self, stream: Stream[ChatCompletionChunk] | AsyncStream[ChatCompletionChunk],
                 finalize: Callable[[ChatCompletion], CompletionT] | None = None):
        self._stream = stream
        state = stream._state
        self._derive = _EventDeriver(state.acc, state.snapshot)
        self._final = finalize

    @property
    def stream(self) -> Stream[ChatCompletionChunk] | AsyncStream[ChatCompletionChunk]:
        """The underlying chunk stream (the one ``create(stream=True)`` returns)."""
        return self._stream

    @property
    def request_id(self) -> str | None:
        return self._stream.request_id

    @property
    def response(self) -> Any:
        return self._stream.response

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion received so far."""
        return self._stream.current_completion_snapshot

    def _finalize(self, completion: ChatCompletion) -> CompletionT:
        """The one step every final completion goes through, once the stream is complete.

        With ``response_format=MyModel`` (or tools from ``pydantic_function_tool``) this parses
        it (``_parsing.parse_chat_completion``: the same judge as ``parse()``); the completion
        is whole here, as ``get_final_completion`` raised otherwise.
        """
        if self._final is None:
            return completion  # type: ignore[return-value]  # CompletionT is ChatCompletion
        return self._final(completion)

    def _completed(self) -> bool:
        state = self._stream._state
        return state.done and state.error is None


class ChatCompletionStream(_HelperBase[CompletionT]):
    """Typed events of a sync chat completion stream (from ``chat.completions.stream``)."""

    __slots__ = ()

    _stream: Stream[ChatCompletionChunk]

    def __iter__(self) -> Iterator[ChatCompletionStreamEvent]:
        derive = self._derive
        for chunk in self._stream:
            yield from derive.events(chunk)
        if self._completed():
            yield from derive.finish()

    @property
    def text_stream(self) -> Iterator[str]:
        """Just the text deltas of the (first) choice, as they arrive."""
        for event in self:
            if type(event) is ContentDeltaEvent and event.choice_index == 0:
                yield event.delta

    def until_done(self) -> ChatCompletionStream[CompletionT]:
        """Read the stream to its end."""
        for _ in self:
            pass
        return self

    def get_final_completion(self) -> CompletionT:
        """The whole completion (reading the rest of the stream first).  Raises the stream's
        error, or ``StreamInterrupted`` if it was closed before it ended; with
        ``response_format`` a ``ParsedChatCompletion`` (or an ``OutputError``)."""
        self.until_done()
        return self._finalize(self._stream.get_final_completion())

    def close(self) -> None:
        """Stop the stream and close its connection; safe from any thread."""
        self._stream.close()

    def __enter__(self) -> ChatCompletionStream[CompletionT]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncChatCompletionStream(_HelperBase[CompletionT]):
    """Typed events of an async chat completion stream."""

    __slots__ = ()

    _stream: AsyncStream[ChatCompletionChunk]

    async def __aiter__(self) -> AsyncIterator[ChatCompletionStreamEvent]:
        derive = self._derive
        async for chunk in self._stream:
            for event in derive.events(chunk):
                yield event
        if self._completed():
            for event in derive.finish():
                yield event

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Just the text deltas of the (first) choice, as they arrive."""
        return self._text()

    async def _text(self) -> AsyncIterator[str]:
        async for event in self:
            if type(event) is ContentDeltaEvent and event.choice_index == 0:
                yield event.delta

    async def until_done(self) -> AsyncChatCompletionStream[CompletionT]:
        async for _ in self:
            pass
        return self

    async def get_final_completion(self) -> CompletionT:
        await self.until_done()
        return self._finalize(await self._stream.get_final_completion())

    async def close(self) -> None:
        """Stop the stream and close its connection; safe from any task."""
        await self._stream.close()

    async def __aenter__(self) -> AsyncChatCompletionStream[CompletionT]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class ChatCompletionStreamManager(Generic[CompletionT]):
    """``with client.chat.completions.stream(...) as stream:`` (the request starts at ``with``)."""

    __slots__ = ("_finalize", "_open", "_stream")

    def __init__(self, open_stream: Callable[[], Stream[ChatCompletionChunk]],
                 finalize: Callable[[ChatCompletion], CompletionT] | None = None) -> None:
        self._open = open_stream
        self._finalize = finalize
        self._stream: ChatCompletionStream[CompletionT] | None = None

    def __enter__(self) -> ChatCompletionStream[CompletionT]:
        self._stream = ChatCompletionStream(self._open(), self._finalize)
        return self._stream

    def __exit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            self._stream.close()


class AsyncChatCompletionStreamManager(Generic[CompletionT]):
    """``async with client.chat.completions.stream(...) as stream:``."""

    __slots__ = ("_finalize", "_open", "_stream")

    def __init__(self, open_stream: Callable[[], Awaitable[AsyncStream[ChatCompletionChunk]]],
                 finalize: Callable[[ChatCompletion], CompletionT] | None = None) -> None:
        self._open = open_stream
        self._finalize = finalize
        self._stream: AsyncChatCompletionStream[CompletionT] | None = None

    async def __aenter__(self) -> AsyncChatCompletionStream[CompletionT]:
        self._stream = AsyncChatCompletionStream(await self._open(), self._finalize)
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.close()


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
