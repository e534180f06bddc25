"""Structured outputs: get your pydantic model back, and a typed error when the model can't.

    python examples/structured_outputs.py

Without TOROUTER_API_KEY it runs against the fake ToRouter gateway (torouter.testing) on a real
127.0.0.1 socket: the fake answers ``response_format`` with JSON valid for the schema and
``tools`` with valid arguments, so every step runs offline.  With TOROUTER_API_KEY set it talks
to the real gateway (TOROUTER_BASE_URL if set, model TOROUTER_MODEL) and runs steps 1 and 2.
"""

from __future__ import annotations

import json
import os
import sys

import pydantic

import torouter

MODEL = os.environ.get("TOROUTER_MODEL", "gpt-5-mini")


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class MathReasoning(pydantic.BaseModel):
    """A worked solution."""

    steps: list[Step]
    final_answer: str


class GetWeather(pydantic.BaseModel):
    """Current weather of a city."""

    city: str
    unit: str | None = pydantic.Field(None, description="'C' or 'F'")


QUESTION: list[torouter.types.ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a maths tutor. Show your steps."},
    {"role": "user", "content": "Solve 8x + 7 = -23."},
]


def heading(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(3, 66 - len(title)))


def parse_into_a_model(client: torouter.ToRouter) -> None:
    heading("1. response_format=MathReasoning -> message.parsed")
    completion = client.chat.completions.parse(
        model=MODEL, messages=QUESTION, response_format=MathReasoning
    )
    message = completion.choices[0].message
    if message.parsed is None:  # the model refused: the reason is in message.refusal
        print(f"refused: {message.refusal}")
        return
    answer: MathReasoning = message.parsed  # typed: your editor knows .steps and .final_answer
    print(f"parsed: {type(answer).__name__} with {len(answer.steps)} step(s)")
    for step in answer.steps:
        print(f"  - {step.explanation} -> {step.output}")
    print(f"final_answer: {answer.final_answer!r}  (request_id={completion.request_id})")


def tool_arguments_as_a_model(client: torouter.ToRouter) -> None:
    heading("2. tools=[pydantic_function_tool(GetWeather)] -> parsed_arguments")
    completion = client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "What's the weather in Oslo?"}],
        tools=[torouter.pydantic_function_tool(GetWeather)],
    )
    for call in completion.choices[0].message.tool_calls or []:
        if isinstance(call, torouter.types.ParsedFunctionToolCall):
            args = call.function.parsed_arguments
            if isinstance(args, GetWeather):
                print(f"the model calls {call.function.name}(city={args.city!r}, "
                      f"unit={args.unit!r})")
    if not completion.choices[0].message.tool_calls:
        print(f"no tool call; answer: {completion.choices[0].message.content}")


def failures(client: torouter.ToRouter, gateway: object) -> None:
    from torouter.testing import FakeGateway, Outcome

    assert isinstance(gateway, FakeGateway)
    heading("3. The answer is not valid for the model")
    gateway.script(Outcome.ok('{"steps": "none", "final_answer": 42}'))
    try:
        client.chat.completions.parse(model=MODEL, messages=QUESTION,
                                      response_format=MathReasoning)
    except torouter.OutputValidationError as err:
        print(f"caught torouter.{type(err).__name__}: {err.message}")
        print(f"  err.raw:       {err.raw}")
        cause = err.__cause__
        count = cause.error_count() if isinstance(cause, pydantic.ValidationError) else 0
        print(f"  err.__cause__: pydantic {type(cause).__name__} with {count} errors")
        print(f"  err.usage:     {err.usage.total_tokens if err.usage else None} tokens billed")
        print(f"  retried?       {err.retryable}")

    heading("4. The answer hit the token limit")
    truncated = json.dumps({  # what a model cut off at max_completion_tokens sends
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "length", "message": {
            "role": "assistant", "content": '{"steps": [{"explanation": "Subtract 7'}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 16, "total_tokens": 46},
    })
    gateway.script(Outcome.raw(200, truncated))
    try:
        client.chat.completions.parse(model=MODEL, messages=QUESTION,
                                      response_format=MathReasoning, max_completion_tokens=16)
    except torouter.LengthFinishReasonError as err:
        print(f"caught torouter.{type(err).__name__}: {err.message}")
        content = err.completion.choices[0].message.content if err.completion else None
        print(f"  the partial answer is kept: {content!r}")
        print(f"  hint: {err.hint}")


def real_gateway() -> int:
    base_url = os.environ.get("TOROUTER_BASE_URL") or torouter.DEFAULT_BASE_URL
    if base_url.rstrip("/") in (torouter.DEFAULT_BASE_URL, "https://portal.torouter.ai/api/v1"):
        where = f"the REAL ToRouter gateway at {base_url}"
    else:  # a local or staging URL is not the real gateway: say which one it is
        where = f"the gateway at {base_url} (from TOROUTER_BASE_URL, not the real ToRouter one)"
    print(f"TOROUTER_API_KEY is set: using {where} (model {MODEL}).")
    try:
        with torouter.ToRouter() as client:
            parse_into_a_model(client)
            tool_arguments_as_a_model(client)
    except torouter.ToRouterError as err:
        print(f"\ncaught torouter.{type(err).__name__}: {err}")
        return 1
    return 0


def fake_gateway() -> int:
    from torouter.testing import FakeGateway

    gateway = FakeGateway()
    with gateway.serve() as server:
        print(f"No TOROUTER_API_KEY set: using the FAKE ToRouter gateway at {server.base_url} "
              "(answers are schema-valid placeholders).")
        with torouter.ToRouter(api_key=gateway.add_key(), base_url=server.base_url) as client:
            parse_into_a_model(client)
            tool_arguments_as_a_model(client)
            failures(client, gateway)
    return 0


def main() -> int:
    return real_gateway() if os.environ.get("TOROUTER_API_KEY", "").strip() else fake_gateway()


if __name__ == "__main__":
    sys.exit(main())
