"""The fake gateway honours ``response_format`` and ``tools``, and counts embeddings inputs as
OpenAI does (a token array is ONE input)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from torouter.testing import FakeGateway, Outcome

from .conftest import ClientFactory, chat_body

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
     "required": ["name", "age"], "additionalProperties": False},
    {"type": "object", "required": ["when", "mail", "n", "x", "flag", "tags", "kind", "maybe"],
     "additionalProperties": False, "properties": {
         "when": {"type": "string", "format": "date-time"},
         "mail": {"type": "string", "format": "email"},
         "n": {"type": "integer", "minimum": 3, "maximum": 9},
         "x": {"type": "number", "exclusiveMinimum": 0.5},
         "flag": {"type": "boolean"},
         "tags": {"type": "array", "items": {"type": "string", "minLength": 12}, "minItems": 2},
         "kind": {"enum": ["b", "c"]},
         "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 3}]}}},
    {"$defs": {"Item": {"type": "object", "properties": {"id": {"const": 5}},
                        "required": ["id"], "additionalProperties": False}},
     "type": "object", "properties": {"items": {"type": "array", "minItems": 1,
                                                "items": {"$ref": "#/$defs/Item"}},
                                      "first": {"allOf": [{"$ref": "#/$defs/Item"}]}},
     "required": ["items", "first"], "additionalProperties": False},
]


def _format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema,
                                                   "strict": True}}


@pytest.mark.parametrize("schema", SCHEMAS, ids=["simple", "formats-bounds", "refs"])
def test_json_schema_answers_validate(
    gw: FakeGateway, key: str, connect: ClientFactory, schema: dict[str, Any]
) -> None:
    r = connect(gw, key).post("/chat/completions",
                              json=chat_body(response_format=_format(schema)))
    assert r.status_code == 200
    content = r.json()["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), schema, format_checker=jsonschema.FormatChecker())


def test_json_object_answer_is_an_object(gw: FakeGateway, key: str,
                                         connect: ClientFactory) -> None:
    r = connect(gw, key).post("/chat/completions",
                              json=chat_body(response_format={"type": "json_object"}))
    assert isinstance(json.loads(r.json()["choices"][0]["message"]["content"]), dict)


def test_scripted_text_wins(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.script(Outcome.ok("not json"))
    r = connect(gw, key).post("/chat/completions",
                              json=chat_body(response_format=_format(SCHEMAS[0])))
    assert r.json()["choices"][0]["message"]["content"] == "not json"


def _tools() -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": name, "parameters": schema}}
            for name, schema in (("first", SCHEMAS[0]), ("second", SCHEMAS[1]))]


def test_tools_get_valid_tool_calls(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    client = connect(gw, key)
    r = client.post("/chat/completions", json=chat_body(tools=_tools()))
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "first"
    jsonschema.validate(json.loads(call["function"]["arguments"]), SCHEMAS[0])

    named = {"type": "function", "function": {"name": "second"}}
    r = client.post("/chat/completions", json=chat_body(tools=_tools(), tool_choice=named))
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "second"
    jsonschema.validate(json.loads(call["function"]["arguments"]), SCHEMAS[1])

    # tool_choice "none", or a conversation that ends with the tool's result: a text answer
    for body in (chat_body(tools=_tools(), tool_choice="none"),
                 {"model": "gpt-5", "tools": _tools(), "messages": [
                     {"role": "user", "content": "hi"},
                     {"role": "assistant", "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": call["id"], "content": "42"}]}):
        message = client.post("/chat/completions", json=body).json()["choices"][0]["message"]
        assert message["content"] and "tool_calls" not in message


def test_streamed_tool_calls(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    r = connect(gw, key).post("/chat/completions", json=chat_body(tools=_tools(), stream=True))
    chunks = [json.loads(line[6:]) for line in r.text.splitlines()
              if line.startswith("data: {")]
    deltas = [c["choices"][0] for c in chunks if c["choices"]]
    calls = [d["delta"]["tool_calls"][0] for d in deltas if d["delta"].get("tool_calls")]
    assert len(calls) == 1 and calls[0]["index"] == 0
    jsonschema.validate(json.loads(calls[0]["function"]["arguments"]), SCHEMAS[0])
    assert deltas[-1]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("inp", "count"),
    [("one text", 1), (["a", "b"], 2), ([1, 2, 3], 1), ([[1, 2], [3]], 2), ([7], 1)],
)
def test_embeddings_one_vector_per_input(
    gw: FakeGateway, key: str, connect: ClientFactory, inp: Any, count: int
) -> None:
    r = connect(gw, key).post("/embeddings", json={"model": "text-embedding-3-small",
                                                   "input": inp})
    data = r.json()["data"]
    assert [d["index"] for d in data] == list(range(count))
