"""Every response and chunk OpenAI's spec allows parses, and every field of it is typed.

* a property test draws instances of ``CreateChatCompletionResponse`` and
  ``CreateChatCompletionStreamResponse`` from the spec copy in ``tests/data/openai-openapi``
  (hypothesis-jsonschema) and parses each one, as the client does (``model_validate_json``);
* a fully populated sample (every property, every union member) is walked path by path: each
  object must be a model whose declared field holds the value, never an extra or a dict;
* members of a union this SDK does not know (a future tool call, annotation or moderation
  ``type``) parse into the ``Unknown...`` variant with all their fields and their ``type``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import utils as _cu
from hypothesis_jsonschema import _from_schema, from_schema

import torouter.types as T

SPEC_PATH = Path(__file__).parent / "data" / "openai-openapi" / "openapi-subset.json"
SCHEMAS: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]["schemas"]


# hypothesis-jsonschema 0.23 calls ``many(...).more()``, which newer hypothesis releases replaced
# by iteration (``for _ in many(...)``).  This adapter gives it the old method on top of the new
# protocol; it is applied only when the installed hypothesis lacks ``more``.
if not hasattr(_cu.many, "more"):  # pragma: no branch - depends on the installed hypothesis

    class _Many:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._many = _cu.many(*args, **kwargs)
            self._many.__enter__()
            self._iter = iter(self._many)

        def more(self) -> bool:
            try:
                next(self._iter)
            except StopIteration:
                self._many.__exit__(None)
                return False
            return True

        def reject(self, why: str | None = None) -> None:
            self._many.reject(why)

    class _Utils:
        many = _Many

        def __getattr__(self, name: str) -> Any:
            return getattr(_cu, name)

    _from_schema.cu = _Utils()  # type: ignore[attr-defined]


def _openapi_to_jsonschema(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """Inline ``$ref``s and turn OpenAPI 3.0's ``nullable: true`` into ``anyOf [.., null]``."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v, seen) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        assert name not in seen, f"recursive schema {name}"
        return _openapi_to_jsonschema(SCHEMAS[name], (*seen, name))
    out = {
        k: _openapi_to_jsonschema(v, seen)
        for k, v in node.items()
        if k not in ("discriminator", "deprecated", "nullable")
    }
    if out.get("format") == "unixtime":  # an OpenAI-specific format: an integer
        del out["format"]
    # Small collections (a subset of what the spec allows): nested arrays of logprobs and maps
    # of moderation scores otherwise make each example slow to draw, not more telling.
    if out.get("type") == "array":
        out.setdefault("maxItems", 2)
    if out.get("type") == "object" and "additionalProperties" in out:
        out.setdefault("maxProperties", 2)
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


RESPONSE_SCHEMA = _openapi_to_jsonschema(SCHEMAS["CreateChatCompletionResponse"])
CHUNK_SCHEMA = _openapi_to_jsonschema(SCHEMAS["CreateChatCompletionStreamResponse"])

# hypothesis-jsonschema re-canonicalises sub-schemas on every draw: up to ~1 s per example on a
# shared 2-core machine.  These counts keep the file to ~15 s; the walk below covers every
# property and union member deterministically.  More: pytest --hypothesis-profile=... or edit.
_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck))


@settings(_SETTINGS, max_examples=12)
@given(payload=from_schema(RESPONSE_SCHEMA))
def test_every_spec_response_parses(payload: dict[str, Any]) -> None:
    raw = json.dumps(payload).encode()
    completion = T.ChatCompletion.model_validate_json(raw)
    assert completion.id == payload["id"]
    assert len(completion.choices) == len(payload["choices"])
    for choice, sent in zip(completion.choices, payload["choices"], strict=True):
        assert choice.finish_reason == sent["finish_reason"]
        for call, call_sent in zip(choice.message.tool_calls or [], sent["message"].get(
                "tool_calls") or [], strict=True):
            assert call.type == call_sent["type"]
    # nothing the server sent is lost
    assert json.loads(completion.model_dump_json(exclude_unset=True)) == payload


@settings(_SETTINGS, max_examples=15)
@given(payload=from_schema(CHUNK_SCHEMA))
def test_every_spec_chunk_parses(payload: dict[str, Any]) -> None:
    raw = json.dumps(payload).encode()
    chunk = T.ChatCompletionChunk.model_validate_json(raw)
    assert chunk.id == payload["id"]
    assert len(chunk.choices) == len(payload["choices"])
    assert json.loads(chunk.model_dump_json(exclude_unset=True)) == payload


# --------------------------------------------------------------------------- fully populated


def full_instance(schema: dict[str, Any]) -> Any:
    """An instance with every property present; an array of a union holds one item per member."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [s for s in schema[key] if s.get("type") != "null"]
            return full_instance(branches[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        out = {name: full_instance(sub) for name, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if not schema.get("properties") and isinstance(extra, dict):
            out["some_key"] = full_instance(extra)
        return out
    if kind == "array":
        items = schema["items"]
        members = items.get("oneOf") or items.get("anyOf")
        if members:
            return [full_instance(m) for m in members if m.get("type") != "null"]
        return [full_instance(items)]
    if kind == "string":
        return "https://example.com/x" if schema.get("format") == "uri" else "text"
    if kind == "integer":
        return 7
    if kind == "number":
        return -0.25
    if kind == "boolean":
        return True
    raise AssertionError(f"unhandled schema {schema}")


def pick(schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """The branch of a union schema that ``value`` was drawn from (by JSON kind and ``type``)."""
    branches = schema.get("anyOf") or schema.get("oneOf")
    if not branches:
        return schema
    for branch in branches:
        kind = branch.get("type")
        if kind == "null" or (kind == "array") != isinstance(value, list):
            continue
        tag = branch.get("properties", {}).get("type", {}).get("enum")
        if isinstance(value, dict) and tag and value.get("type") not in tag:
            continue
        return branch
    raise AssertionError(f"no branch of {schema} matches {value!r}")


def walk(obj: Any, value: Any, schema: dict[str, Any], path: str) -> int:
    """Check that ``value`` (JSON) is reachable in ``obj`` through typed attributes."""
    schema = pick(schema, value)
    if isinstance(value, dict) and schema.get("properties"):
        assert isinstance(obj, pydantic.BaseModel), f"{path} is a {type(obj).__name__}"
        assert not obj.model_extra, f"{path}: untyped fields {sorted(obj.model_extra or {})}"
        count = 0
        for name, sub in value.items():
            assert name in type(obj).model_fields, f"{path}.{name} is not a typed field"
            count += 1 + walk(getattr(obj, name), sub, schema["properties"][name],
                              f"{path}.{name}")
        return count
    if isinstance(value, dict):  # a map (``additionalProperties``): a typed dict
        assert isinstance(obj, dict), path
        extra = schema.get("additionalProperties", {})
        return sum(walk(obj[k], v, extra, f"{path}[{k!r}]") for k, v in value.items())
    if isinstance(value, list):
        assert isinstance(obj, list) and len(obj) == len(value), path
        items = schema.get("items", {})
        pairs = enumerate(zip(obj, value, strict=True))
        return sum(walk(o, v, items, f"{path}[{i}]") for i, (o, v) in pairs)
    assert obj == value, path
    return 0


@pytest.mark.parametrize(
    ("model", "schema"),
    [(T.ChatCompletion, RESPONSE_SCHEMA), (T.ChatCompletionChunk, CHUNK_SCHEMA)],
    ids=["response", "chunk"],
)
def test_every_property_path_is_a_typed_attribute(
    model: type[T.BaseModel], schema: dict[str, Any]
) -> None:
    sample = full_instance(schema)
    obj = model.model_validate_json(json.dumps(sample))
    assert walk(obj, sample, schema, "$") > 30


def test_leaves_are_attributes() -> None:
    sample = full_instance(RESPONSE_SCHEMA)
    c = T.ChatCompletion.model_validate_json(json.dumps(sample))
    message = c.choices[0].message
    assert message.annotations is not None
    citation = message.annotations[0]
    assert isinstance(citation, T.AnnotationURLCitation)
    assert citation.url_citation.url == "https://example.com/x"
    assert message.audio is not None and message.audio.transcript == "text"
    assert message.tool_calls is not None
    function_call, custom_call = message.tool_calls
    assert isinstance(function_call, T.ChatCompletionMessageFunctionToolCall)
    assert function_call.function.arguments == "text"
    assert isinstance(custom_call, T.ChatCompletionMessageCustomToolCall)
    assert custom_call.custom.input == "text"
    assert c.usage is not None and c.usage.prompt_tokens_details is not None
    assert c.usage.prompt_tokens_details.cached_tokens == 7
    assert c.usage.completion_tokens_details is not None
    assert c.usage.completion_tokens_details.reasoning_tokens == 7
    logprobs = c.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert logprobs.content[0].top_logprobs[0].bytes == [7]
    assert c.moderation is not None and isinstance(c.moderation.input, T.ModerationResults)
    assert c.moderation.input.results[0].category_scores == {"some_key": -0.25}


# --------------------------------------------------------------------------- unknown members

CUSTOM_TOOL_CALL = {  # issue 11: this valid GPT-5 answer used to raise
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-5",
    "choices": [{
        "index": 0,
        "finish_reason": "tool_calls",
        "logprobs": None,
        "message": {
            "role": "assistant", "content": None, "refusal": None,
            "tool_calls": [{"id": "call_1", "type": "custom",
                            "custom": {"name": "run_sql", "input": "SELECT 1"}}],
        },
    }],
}


def test_custom_tool_call_parses() -> None:
    c = T.ChatCompletion.model_validate_json(json.dumps(CUSTOM_TOOL_CALL))
    calls = c.choices[0].message.tool_calls
    assert calls is not None
    (call,) = calls
    assert isinstance(call, T.ChatCompletionMessageCustomToolCall)
    assert (call.type, call.custom.name, call.custom.input) == ("custom", "run_sql", "SELECT 1")


KNOWN_TYPES = {"function", "custom", "url_citation", "moderation_results", "error"}


@given(
    kind=st.text(min_size=1).filter(lambda t: t not in KNOWN_TYPES),
    fields=st.dictionaries(
        st.sampled_from(["input", "file", "x", "payload"]),
        st.integers() | st.text(),
        max_size=3,
    ),
)
@settings(deadline=None, max_examples=60)
def test_unknown_union_members_keep_their_fields(kind: str, fields: dict[str, Any]) -> None:
    payload = json.loads(json.dumps(CUSTOM_TOOL_CALL))
    message = payload["choices"][0]["message"]
    message["tool_calls"].append({"id": "call_2", "type": kind, **fields})
    message["annotations"] = [{"type": kind, **fields}]
    payload["moderation"] = {"input": {"type": kind, **fields}, "output": {
        "type": "error", "code": "c", "message": "m"}}
    c = T.ChatCompletion.model_validate_json(json.dumps(payload))
    msg = c.choices[0].message
    assert msg.tool_calls is not None and msg.annotations is not None
    unknown_call = msg.tool_calls[1]
    assert isinstance(unknown_call, T.ChatCompletionMessageUnknownToolCall)
    assert (unknown_call.id, unknown_call.type) == ("call_2", kind)
    assert unknown_call.model_extra == fields
    annotation = msg.annotations[0]
    assert isinstance(annotation, T.UnknownAnnotation)
    assert (annotation.type, annotation.model_extra) == (kind, fields)
    assert c.moderation is not None
    assert isinstance(c.moderation.input, T.UnknownModeration)
    assert c.moderation.input.type == kind
    assert isinstance(c.moderation.output, T.ModerationError)
    # and it goes back out unchanged
    assert json.loads(c.model_dump_json(exclude_unset=True)) == payload


def test_function_tool_call_without_type_is_still_a_function_call() -> None:
    payload = json.loads(json.dumps(CUSTOM_TOOL_CALL))
    payload["choices"][0]["message"]["tool_calls"] = [
        {"id": "c", "function": {"name": "f", "arguments": "{}"}}
    ]
    c = T.ChatCompletion.model_validate_json(json.dumps(payload))
    calls = c.choices[0].message.tool_calls
    assert calls is not None and isinstance(calls[0], T.ChatCompletionMessageFunctionToolCall)
    assert calls[0].type == "function"


def test_known_type_with_broken_body_is_still_an_error() -> None:
    """Forward compatibility is for new types: a malformed known one is not hidden."""
    payload = json.loads(json.dumps(CUSTOM_TOOL_CALL))
    payload["choices"][0]["message"]["tool_calls"] = [{"id": "c", "type": "custom"}]
    with pytest.raises(pydantic.ValidationError):
        T.ChatCompletion.model_validate_json(json.dumps(payload))
