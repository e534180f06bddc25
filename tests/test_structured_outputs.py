"""Structured outputs: ``chat.completions.parse``, ``pydantic_function_tool`` and the
``OutputError`` branch, against the fake gateway (which honours ``response_format``/``tools``)."""

from __future__ import annotations

import json
import pickle
import traceback
from typing import Any, Literal

import httpx
import jsonschema
import pydantic
import pytest

import torouter
from torouter._parsing import parse_chat_completion, to_strict_json_schema
from torouter.testing import FakeGateway, Outcome
from torouter.testing._schema import minimal_instance
from torouter.types import ChatCompletion, ParsedChatCompletion

MODEL = "gpt-5-mini"
MESSAGES: list[Any] = [{"role": "user", "content": "Solve 8x + 7 = -23"}]


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class MathAnswer(pydantic.BaseModel):
    """A worked answer."""

    steps: list[Step]
    final_answer: str
    confidence: float | None = None
    unit: Literal["none", "m", "s"] = "none"
    tags: list[str] = pydantic.Field(default_factory=list)
    best_step: Step | None = pydantic.Field(None, description="the key step")


class GetWeather(pydantic.BaseModel):
    """Get the weather of a city."""

    city: str
    days: int = pydantic.Field(1, ge=1, le=7)


# --------------------------------------------------------------------------- strict schema


def _objects(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found += _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _objects(value)
    return found


def _keys(schema: Any) -> set[str]:
    """Every JSON Schema keyword used (property names excluded)."""
    keys: set[str] = set()
    if isinstance(schema, dict):
        for key, value in schema.items():
            keys.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    keys |= _keys(sub)
            else:
                keys |= _keys(value)
    elif isinstance(schema, list):
        for value in schema:
            keys |= _keys(value)
    return keys


def test_strict_schema_is_strict_mode_compatible() -> None:
    schema = to_strict_json_schema(MathAnswer)
    objects = _objects(schema)
    assert len(objects) == 2  # MathAnswer and Step (in $defs)
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert "Step" in schema["$defs"]
    assert schema["properties"]["steps"]["items"] == {"$ref": "#/$defs/Step"}
    assert "default" not in _keys(schema)
    # optional (None default) fields are nullable; the $ref with a description is inlined
    assert {"type": "null"} in schema["properties"]["confidence"]["anyOf"]
    best = schema["properties"]["best_step"]
    assert {"type": "null"} in best["anyOf"] and best["description"] == "the key step"
    # whatever satisfies the strict schema is a valid MathAnswer
    instance = minimal_instance(schema)
    jsonschema.validate(instance, schema)
    MathAnswer.model_validate(instance)


def test_strict_schema_refuses_a_non_model() -> None:
    with pytest.raises(torouter.InvalidArgumentError, match="pydantic model class"):
        to_strict_json_schema(dict)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parse()


def test_parse_returns_the_model(torouter_client: torouter.ToRouter,
                                 torouter_gateway: FakeGateway) -> None:
    completion = torouter_client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=MathAnswer
    )
    assert isinstance(completion, ParsedChatCompletion)
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, MathAnswer)
    assert parsed.final_answer == json.loads(completion.choices[0].message.content or "")[
        "final_answer"]
    assert completion.request_id is not None and completion.request_id.startswith("req_")
    sent = torouter_gateway.requests[-1].body
    assert sent is not None
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "MathAnswer", "schema": to_strict_json_schema(MathAnswer),
                        "strict": True},
    }
    assert "stream" not in sent


@pytest.mark.anyio
async def test_parse_async(torouter_async_client: torouter.AsyncToRouter) -> None:
    completion = await torouter_async_client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=GetWeather
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, GetWeather) and 1 <= parsed.days <= 7


def test_pydantic_function_tool(torouter_client: torouter.ToRouter,
                                torouter_gateway: FakeGateway) -> None:
    tool = torouter.pydantic_function_tool(GetWeather)
    assert tool["function"]["name"] == "GetWeather"
    assert tool["function"].get("strict") is True
    assert tool["function"].get("description") == "Get the weather of a city."
    plain = {"type": "function", "function": {
        "name": "get_time", "strict": True,
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                       "required": ["tz"], "additionalProperties": False}}}
    completion = torouter_client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, tools=[tool],
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None and completion.choices[0].finish_reason == "tool_calls"
    call = calls[0]
    assert isinstance(call, torouter.types.ParsedFunctionToolCall)
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert completion.choices[0].message.parsed is None
    sent = torouter_gateway.requests[-1].body
    assert sent is not None and sent["tools"][0]["function"]["parameters"] == (
        to_strict_json_schema(GetWeather))
    # another strict function tool: arguments as a dict; tool_choice names it
    completion = torouter_client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, tools=iter([tool, plain]),
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None and isinstance(calls[0], torouter.types.ParsedFunctionToolCall)
    assert calls[0].function.parsed_arguments == {"tz": "example"}


def _completion(message: dict[str, Any], finish_reason: str = "stop") -> bytes:
    return json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", **message},
                     "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }).encode()


def test_refusal_gives_no_parsed(torouter_client: torouter.ToRouter,
                                 torouter_gateway: FakeGateway) -> None:
    torouter_gateway.script(Outcome.raw(200, _completion(
        {"content": None, "refusal": "I can't help with that."})))
    completion = torouter_client.chat.completions.parse(
        model=MODEL, messages=MESSAGES, response_format=MathAnswer)
    message = completion.choices[0].message
    assert message.refusal == "I can't help with that." and message.parsed is None


@pytest.mark.parametrize(
    ("finish_reason", "error"),
    [("length", torouter.LengthFinishReasonError),
     ("content_filter", torouter.ContentFilterFinishReasonError)],
)
def test_finish_reason_errors_keep_the_completion(
    torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway,
    finish_reason: str, error: type[torouter.OutputError],
) -> None:
    torouter_gateway.script(Outcome.raw(200, _completion(
        {"content": '{"steps": [{"explanation": "x'}, finish_reason)))
    with pytest.raises(error) as caught:
        torouter_client.chat.completions.parse(
            model=MODEL, messages=MESSAGES, response_format=MathAnswer)
    err = caught.value
    assert isinstance(err, torouter.OutputError)
    assert isinstance(err.completion, ChatCompletion)
    assert err.completion.choices[0].message.content == '{"steps": [{"explanation": "x'
    assert err.usage is not None and err.usage.total_tokens == 12
    assert err.request_id is not None
    assert not err.retryable
    assert len(torouter_gateway.requests) == 1  # not retried


def test_invalid_output_is_a_typed_error_without_the_key(
    torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway, torouter_key: str
) -> None:
    text = f'{{"final_answer": 3, "echo": "{torouter_key}"}}'
    torouter_gateway.script(Outcome.ok(text))
    with pytest.raises(torouter.OutputValidationError) as caught:
        torouter_client.chat.completions.parse(
            model=MODEL, messages=MESSAGES, response_format=MathAnswer)
    err = caught.value
    assert isinstance(err.__cause__, pydantic.ValidationError)
    assert err.usage is not None and err.completion is not None
    assert err.raw.startswith('{"final_answer": 3, "echo": "sk-')
    assert not err.retryable and len(torouter_gateway.requests) == 1
    assert err.__traceback__ is not None
    sdk_frames = err.__traceback__.tb_next  # skip this test's frame: it holds the key itself
    rendered = "".join(traceback.TracebackException(
        type(err), err, sdk_frames, capture_locals=True).format())
    assert "self = <" in rendered and "parse" in rendered  # SDK locals really were rendered
    for text_form in (str(err), repr(err), err.raw, str(err.__cause__), rendered,
                      err.completion.model_dump_json(), pickle.dumps(err).decode("latin-1")):
        assert torouter_key not in text_form
    assert "MathAnswer" in str(err) and err.hint


def test_invalid_tool_arguments(torouter_client: torouter.ToRouter,
                                torouter_gateway: FakeGateway) -> None:
    torouter_gateway.script(Outcome.raw(200, _completion({"content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "GetWeather", "arguments": '{"city": "Oslo", "days": 99}'}}]},
        "tool_calls")))
    with pytest.raises(torouter.OutputValidationError, match="GetWeather"):
        torouter_client.chat.completions.parse(
            model=MODEL, messages=MESSAGES, tools=[torouter.pydantic_function_tool(GetWeather)])


def test_parse_argument_errors(torouter_client: torouter.ToRouter) -> None:
    with pytest.raises(torouter.InvalidArgumentError, match="pydantic model class"):
        torouter_client.chat.completions.parse(
            model=MODEL, messages=MESSAGES,
            response_format={"type": "json_object"},  # type: ignore[arg-type]
        )
    with pytest.raises(torouter.InvalidArgumentError, match="stream"):
        torouter_client.chat.completions.parse(
            model=MODEL, messages=MESSAGES, response_format=MathAnswer,
            stream=True,  # type: ignore[call-arg]
        )


def test_parse_chat_completion_is_usable_on_its_own() -> None:
    """The function the stream helper calls on its accumulated completion."""
    done = ChatCompletion.model_validate_json(_completion(
        {"content": '{"city": "Oslo", "days": 2}'}))
    parsed = parse_chat_completion(done, response_format=GetWeather)
    assert parsed.choices[0].message.parsed == GetWeather(city="Oslo", days=2)
    assert json.loads(parsed.model_dump_json(exclude={"choices": {0: {"message": {"parsed"}}}})
                      ) == json.loads(done.model_dump_json())
    no_format = parse_chat_completion(done)
    assert no_format.choices[0].message.parsed is None


def test_output_errors_in_the_taxonomy_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    from torouter.cli import main

    catalogued = {entry.cls for entry in torouter.ERROR_CATALOG}
    policy = torouter.DEFAULT_RETRY_POLICY
    for cls in (torouter.LengthFinishReasonError, torouter.ContentFilterFinishReasonError,
                torouter.OutputValidationError):
        assert issubclass(cls, torouter.OutputError) and cls in catalogued
        assert cls.default_hint != torouter.OutputError.default_hint
        assert not policy.rule_for(cls).retry
        assert cls.__name__ in (torouter._errors.__doc__ or "")
        assert main(["explain", cls.__name__]) == 0
        assert cls.__name__ in capsys.readouterr().out


def test_raw_http_client_unaffected(torouter_gateway: FakeGateway, torouter_key: str) -> None:
    """response_format sent by create() as a dict is honoured by the fake gateway too."""
    with httpx.Client(transport=torouter_gateway.transport()) as http:
        client = torouter.ToRouter(api_key=torouter_key, base_url="http://gw.test/v1",
                                   http_client=http)
        reply = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, response_format={"type": "json_object"})
        assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_docs_page_code_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Every python block of docs/structured-outputs.md runs, in order, as written."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "structured-outputs.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    import sys
    import types

    module = types.ModuleType("docs_structured_outputs")  # pydantic resolves names through it
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    try:
        for block in blocks:
            exec(compile(block, str(page), "exec"), namespace)
    finally:
        del sys.modules[module.__name__]
    out = capsys.readouterr().out
    assert "example 1" in out  # the parsed model's final_answer and its one step
    assert "GetWeather example" in out
    assert '{"steps": "none"}' in out and "validation error" in out
    namespace["client"].close()


def test_other_tool_calls_pass_through_parse() -> None:
    """Custom, unknown and unrelated function calls are kept as they came, never an error."""
    done = ChatCompletion.model_validate_json(_completion({"content": None, "tool_calls": [
        {"id": "a", "type": "custom", "custom": {"name": "sql", "input": "SELECT 1"}},
        {"id": "b", "type": "web_search_call", "query": "oslo"},
        {"id": "c", "type": "function", "function": {"name": "other", "arguments": "not json"}},
        {"id": "d", "type": "function", "function": {"name": "GetWeather",
                                                     "arguments": '{"city": "Oslo", "days": 3}'}},
    ]}, "tool_calls"))
    parsed = parse_chat_completion(done, tools=[torouter.pydantic_function_tool(GetWeather)])
    calls = parsed.choices[0].message.tool_calls
    assert calls is not None
    custom, unknown, other, weather = calls
    assert isinstance(custom, torouter.types.ChatCompletionMessageCustomToolCall)
    assert isinstance(unknown, torouter.types.ChatCompletionMessageUnknownToolCall)
    assert unknown.type == "web_search_call" and unknown.model_extra == {"query": "oslo"}
    assert isinstance(other, torouter.types.ParsedFunctionToolCall)
    assert other.function.parsed_arguments is None
    assert isinstance(weather, torouter.types.ParsedFunctionToolCall)
    assert weather.function.parsed_arguments == GetWeather(city="Oslo", days=3)


def test_parse_chat_completion_on_the_stream_helpers_final_completion(
    torouter_client: torouter.ToRouter,
) -> None:
    """The seam for ``stream(response_format=Model)``: the helper's final completion (streamed
    by the fake gateway as schema-valid JSON / tool calls) parses like a plain response."""
    from torouter._parsing import response_format_param

    with torouter_client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, response_format=response_format_param(MathAnswer)
    ) as stream:
        for _ in stream:
            pass
        done = stream.get_final_completion()
    assert isinstance(parse_chat_completion(done, response_format=MathAnswer)
                      .choices[0].message.parsed, MathAnswer)
    tool = torouter.pydantic_function_tool(GetWeather)
    with torouter_client.chat.completions.stream(model=MODEL, messages=MESSAGES,
                                                 tools=[tool]) as stream:
        done = stream.get_final_completion()
    calls = parse_chat_completion(done, tools=[tool]).choices[0].message.tool_calls
    assert calls is not None and isinstance(calls[0], torouter.types.ParsedFunctionToolCall)
    assert isinstance(calls[0].function.parsed_arguments, GetWeather)


# ------------------------------------------------------------- the stream helper, parsed


async def _stream_final(client: Any, **params: Any) -> tuple[list[str], Any]:
    """``chat.completions.stream(**params)`` read to its end: the deltas, the final completion."""
    if isinstance(client, torouter.AsyncToRouter):
        async with client.chat.completions.stream(**params) as astream:
            deltas = [e.delta async for e in astream if e.type == "content.delta"]
            return deltas, await astream.get_final_completion()
    with client.chat.completions.stream(**params) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        return deltas, stream.get_final_completion()


@pytest.fixture(params=["sync", "async"])
def any_client(request: pytest.FixtureRequest, torouter_client: torouter.ToRouter,
               torouter_async_client: torouter.AsyncToRouter) -> Any:
    return torouter_client if request.param == "sync" else torouter_async_client


def _sse_client(kind: str, content: str, finish_reason: str) -> Any:
    """A client whose every stream answer is ``content`` in two chunks, then ``finish_reason``."""
    def chunk(delta: dict[str, Any], finish: str | None) -> str:
        return "data: " + json.dumps({
            "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"

    half = len(content) // 2
    body = (chunk({"role": "assistant", "content": content[:half]}, None)
            + chunk({"content": content[half:]}, None) + chunk({}, finish_reason)
            + "data: [DONE]\n\n").encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    transport = httpx.MockTransport(handler)
    if kind == "sync":
        return torouter.ToRouter(api_key="sk-stream-parse-0123456789",
                                 http_client=httpx.Client(transport=transport))
    return torouter.AsyncToRouter(api_key="sk-stream-parse-0123456789",
                                  http_client=httpx.AsyncClient(transport=transport))


@pytest.mark.anyio
async def test_the_stream_helper_parses_the_final_completion_into_the_model(
        any_client: Any, torouter_gateway: FakeGateway) -> None:
    deltas, final = await _stream_final(any_client, model=MODEL, messages=MESSAGES,
                                        response_format=MathAnswer)
    assert isinstance(final, ParsedChatCompletion)
    answer = final.choices[0].message.parsed
    assert isinstance(answer, MathAnswer)
    assert "".join(deltas) == final.choices[0].message.content  # streamed as text, parsed once
    sent = torouter_gateway.requests[-1].body
    assert sent is not None and sent["stream"] is True
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True


@pytest.mark.anyio
async def test_the_stream_helper_parses_pydantic_tool_arguments(any_client: Any) -> None:
    _, final = await _stream_final(any_client, model=MODEL, messages=MESSAGES,
                                   tools=[torouter.pydantic_function_tool(GetWeather)])
    (call,) = final.choices[0].message.tool_calls
    assert isinstance(call.function.parsed_arguments, GetWeather)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_plain_stream_helper_is_not_judged(kind: str) -> None:
    _, final = await _stream_final(_sse_client(kind, "cut sh", "length"),
                                   model=MODEL, messages=MESSAGES)
    assert type(final) is ChatCompletion  # no response_format: returned as it came
    assert final.choices[0].finish_reason == "length"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_streamed_structured_output_cut_by_length_is_a_typed_failure(kind: str) -> None:
    with pytest.raises(torouter.LengthFinishReasonError) as info:
        await _stream_final(_sse_client(kind, '{"steps": [', "length"),
                            model=MODEL, messages=MESSAGES, response_format=MathAnswer)
    assert info.value.completion is not None
    assert info.value.completion.choices[0].message.content == '{"steps": ['


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_streamed_structured_output_that_does_not_validate_is_typed(kind: str) -> None:
    with pytest.raises(torouter.OutputValidationError) as info:
        await _stream_final(_sse_client(kind, '{"steps": 3}', "stop"),
                            model=MODEL, messages=MESSAGES, response_format=MathAnswer)
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


@pytest.mark.anyio
async def test_a_stream_closed_early_is_never_parsed(any_client: Any) -> None:
    params: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "response_format": MathAnswer}
    if isinstance(any_client, torouter.AsyncToRouter):
        async with any_client.chat.completions.stream(**params) as astream:
            await astream.close()
            with pytest.raises(torouter.StreamInterrupted):
                await astream.get_final_completion()
    else:
        with any_client.chat.completions.stream(**params) as stream:
            stream.close()
            with pytest.raises(torouter.StreamInterrupted):
                stream.get_final_completion()


def test_stream_rejects_a_response_format_that_is_not_a_model(
        torouter_client: torouter.ToRouter) -> None:
    with pytest.raises(torouter.InvalidArgumentError, match=r"stream\(\) needs"):
        torouter_client.chat.completions.stream(model=MODEL, messages=MESSAGES,
                                                response_format=int)  # type: ignore[call-overload]
