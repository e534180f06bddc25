"""A user's code, type-checked by tests/test_typing.py with mypy --strict and pyright (strict).

It must produce zero errors; each ``reveal_type`` must show no ``Any``.  Not run by pytest.
"""

from __future__ import annotations

import pydantic
from typing_extensions import reveal_type

import torouter
from torouter import types as t


class Answer(pydantic.BaseModel):
    city: str
    population: int | None = None


class Lookup(pydantic.BaseModel):
    query: str


def sync_user(client: torouter.ToRouter) -> str | None:
    messages: list[t.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    completion = client.chat.completions.create(model="gpt-5-mini", messages=messages)
    reveal_type(completion)
    for call in completion.choices[0].message.tool_calls or []:
        reveal_type(call)
        if isinstance(call, t.ChatCompletionMessageCustomToolCall):
            reveal_type(call.custom.input)
    for annotation in completion.choices[0].message.annotations or []:
        if isinstance(annotation, t.AnnotationURLCitation):
            reveal_type(annotation.url_citation.url)

    raw = client.chat.completions.with_raw_response.create(model="m", messages=messages)
    reveal_type(raw)
    reveal_type(raw.parse())
    raw_stream = client.chat.completions.with_raw_response.create(
        model="m", messages=messages, stream=True
    )
    reveal_type(raw_stream.parse())
    with client.chat.completions.create(model="m", messages=messages, stream=True) as stream:
        for chunk in stream:
            reveal_type(chunk)
    reveal_type(client.models.with_raw_response.list().parse())
    reveal_type(client.embeddings.with_raw_response.create(model="e", input="x").parse())

    parsed = client.chat.completions.parse(
        model="gpt-5-mini", messages=messages, response_format=Answer,
        tools=[torouter.pydantic_function_tool(Lookup)],
    )
    reveal_type(parsed)
    reveal_type(parsed.choices[0].message.parsed)
    tools_only = client.chat.completions.parse(model="m", messages=messages)
    reveal_type(tools_only.choices[0].message.parsed)

    with client.chat.completions.stream(model="m", messages=messages,
                                        response_format=Answer) as events:
        final = events.get_final_completion()
        reveal_type(final.choices[0].message.parsed)
    with client.chat.completions.stream(model="m", messages=messages) as plain:
        reveal_type(plain.get_final_completion())

    fast = client.with_options(max_retries=3, timeout=5.0)
    reveal_type(fast)
    try:
        fast.models.list()
    except torouter.OutputError as err:
        reveal_type(err.hint)
        reveal_type(err.completion)
        reveal_type(err.usage)
    except torouter.StreamInterrupted as err:
        reveal_type(err.chunks)
    answer = parsed.choices[0].message.parsed
    return answer.city if answer is not None else None


async def async_user(client: torouter.AsyncToRouter) -> int:
    messages: list[t.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=messages)
    reveal_type(raw.parse())
    raw_stream = await client.chat.completions.with_raw_response.create(
        model="m", messages=messages, stream=True
    )
    reveal_type(raw_stream.parse())
    models = await client.models.with_raw_response.list()
    reveal_type(models.parse())
    vectors = await client.embeddings.with_raw_response.create(model="e", input=[1, 2, 3])
    reveal_type(vectors.parse())
    parsed = await client.chat.completions.parse(
        model="m", messages=messages, response_format=Answer
    )
    reveal_type(parsed.choices[0].message.parsed)
    async with client.chat.completions.stream(model="m", messages=messages,
                                              response_format=Answer) as events:
        final = await events.get_final_completion()
        reveal_type(final.choices[0].message.parsed)
    return len(vectors.parse().data)
