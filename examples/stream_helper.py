"""The stream helper: typed events, the text as it arrives, the final completion, a stop button.

    python examples/stream_helper.py

Runs against the fake gateway of torouter.testing on 127.0.0.1 (no key, no network). For the
real gateway, build the client with ``torouter.ToRouter()`` (key from TOROUTER_API_KEY).
See docs/stream-helper.md.
"""

from __future__ import annotations

import asyncio
import threading

import torouter
from torouter.testing import FakeGateway, Outcome
from torouter.types import (
    ChatCompletionMessageParam,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
)

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write one sentence about rivers."},
]


def events(client: torouter.ToRouter) -> None:
    """Match on the typed events; the final completion comes from the same stream."""
    with client.chat.completions.stream(model="claude-opus-4-7-thinking",
                                        messages=MESSAGES) as stream:
        section = ""
        for event in stream:
            match event:
                case ReasoningDeltaEvent(delta=delta) | ContentDeltaEvent(delta=delta):
                    name = "thinking" if event.type == "reasoning.delta" else "answer"
                    if name != section:  # reasoning models think before they answer
                        print(f"{chr(10) if section else ''}[{name}] ", end="")
                        section = name
                    print(delta, end="", flush=True)
                case ContentDoneEvent(content=content):
                    print(f"\n[content.done: {len(content)} characters]")
        final = stream.get_final_completion()
    print(f"final: {final.choices[0].message.content!r} "
          f"(finish_reason={final.choices[0].finish_reason}, request_id={final.request_id})")


def stop_button(client: torouter.ToRouter) -> None:
    """Another thread stops the stream: the reading loop just ends, the connection closes."""
    with client.chat.completions.stream(model="gpt-5-mini", messages=MESSAGES) as stream:
        threading.Timer(0.1, stream.close).start()  # a GUI's "stop" button
        for text in stream.text_stream:
            print(text, end="", flush=True)
        print("\n[stopped by the caller]")
        partial = stream.current_completion_snapshot.choices[0].message.content
        print(f"kept so far: {partial!r}")
        try:
            stream.get_final_completion()
        except torouter.StreamInterrupted as err:
            print(f"get_final_completion(): {type(err).__name__}: the answer is not whole")


async def async_text(client: torouter.AsyncToRouter) -> None:
    async with client.chat.completions.stream(model="gpt-5-mini", messages=MESSAGES) as stream:
        async for text in stream.text_stream:
            print(text, end="", flush=True)
        final = await stream.get_final_completion()
    print(f"\n[{len(final.choices[0].message.content or '')} characters]")


def main() -> None:
    gateway = FakeGateway(reply="Rivers carve valleys, carry silt and join the sea.")
    key = gateway.add_key()
    with gateway.serve() as server, \
            torouter.ToRouter(api_key=key, base_url=server.base_url) as client:
        print("== Typed events (a reasoning model) ==")
        events(client)

        print("\n== Stopped from another thread ==")
        gateway.script(Outcome.ok(chunk_delay=0.05))
        stop_button(client)

        print("\n== The async helper ==")

        async def run_async() -> None:
            async with torouter.AsyncToRouter(api_key=key, base_url=server.base_url) as aclient:
                await async_text(aclient)

        asyncio.run(run_async())


if __name__ == "__main__":
    main()
