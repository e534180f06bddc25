"""Streaming with torouter: print tokens as they arrive, reasoning models, async, failures.

    python examples/streaming.py

Runs against the fake gateway of torouter.testing on 127.0.0.1 (no key, no network). For the
real gateway, build the client with ``torouter.ToRouter()`` (key from TOROUTER_API_KEY).
"""

from __future__ import annotations

import asyncio

import torouter
from torouter.testing import FakeGateway, Outcome
from torouter.types import ChatCompletionMessageParam

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write one sentence about rivers."},
]


def print_stream(client: torouter.ToRouter, model: str = "gpt-5-mini") -> None:
    """The basic loop: ``with`` closes the connection even if you stop early."""
    section = ""
    with client.chat.completions.create(model=model, messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            if not chunk.choices:  # e.g. the usage chunk of stream_options={"include_usage": True}
                continue
            delta = chunk.choices[0].delta
            for name, text in (("thinking", delta.reasoning_content), ("answer", delta.content)):
                if text:  # "-thinking" models stream their reasoning before the answer
                    if name != section:
                        print(f"{chr(10) if section else ''}[{name}] ", end="")
                        section = name
                    print(text, end="", flush=True)
    final = stream.get_final_completion()  # the chunks joined (chunk objects are not kept)
    print(f"\n(request_id={stream.request_id}, {len(final.choices[0].message.content or '')} "
          f"characters, finish_reason={final.choices[0].finish_reason})")


async def print_stream_async(client: torouter.AsyncToRouter) -> None:
    stream = await client.chat.completions.create(
        model="gpt-5-mini", messages=MESSAGES, stream=True
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices:
                print(chunk.choices[0].delta.content or "", end="", flush=True)
    print()


def main() -> None:
    gateway = FakeGateway(reply="Rivers carve valleys, carry silt and join the sea.")
    key = gateway.add_key()
    with gateway.serve() as server, \
            torouter.ToRouter(api_key=key, base_url=server.base_url) as client:
        print("== A stream, printed as it arrives ==")
        gateway.script(Outcome.ok(chunk_delay=0.03))
        print_stream(client)

        print("\n== A reasoning model (the -thinking suffix) ==")
        print_stream(client, model="claude-opus-4-7-thinking")

        print("\n== The same with AsyncToRouter ==")

        async def run_async() -> None:
            async with torouter.AsyncToRouter(api_key=key, base_url=server.base_url) as aclient:
                await print_stream_async(aclient)

        asyncio.run(run_async())

        print("\n== The connection drops mid-stream: StreamInterrupted keeps the partial answer ==")
        gateway.script(Outcome.drop(after=4))
        try:
            print_stream(client)
        except torouter.StreamInterrupted as err:
            print(f"\ncaught {type(err).__name__}: the partial answer is kept: {err.text!r}")
            print(f"hint: {err.hint}")

        print("\n== An error event mid-stream raises the same class as a plain request would ==")
        gateway.script(Outcome.stream_error(after=3))
        try:
            print_stream(client)
        except torouter.UpstreamUnavailable as err:
            print(f"\ncaught {type(err).__name__} (code={err.code}, request_id={err.request_id})")
            print("A stream is retried only before its first chunk reaches you, never after.")


if __name__ == "__main__":
    main()
