"""Tests of ``torouter.types``: realistic payloads, drift against OpenAI's spec, leniency.

The spec is a trimmed copy kept in ``tests/data/openai-openapi`` (see SOURCE there), so these
tests need nothing outside the repository.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typing_extensions import get_type_hints  # strips Required[] on Python 3.10 too

import torouter.types as T
from torouter.types import chat_params as P

SPEC_PATH = Path(__file__).parent / "data" / "openai-openapi" / "openapi-subset.json"
SCHEMAS: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["components"]["schemas"]


# --------------------------------------------------------------------------- spec helpers


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref``s, merge ``allOf``, pick the object branch of ``anyOf``/``oneOf`` + null."""
    while "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = resolve(part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged
    for key in ("anyOf", "oneOf"):
        if key in schema:
            objects = [resolve(s) for s in schema[key] if resolve(s).get("type") != "null"]
            if len(objects) == 1:
                return objects[0]
    return schema


def spec_at(name: str, *path: str) -> dict[str, Any]:
    """The schema at ``path`` below component ``name``; ``"[]"`` steps into array items."""
    schema = resolve(SCHEMAS[name])
    for step in path:
        schema = resolve(schema["items"] if step == "[]" else schema["properties"][step])
    return schema


def props(schema: dict[str, Any]) -> set[str]:
    return set(schema.get("properties", {}))


def required(schema: dict[str, Any]) -> set[str]:
    return set(schema.get("required", []))


def missing_required(payload: Any, schema: dict[str, Any], where: str = "$") -> Iterator[str]:
    """Paths of spec-required properties absent from ``payload`` (recursive)."""
    schema = resolve(schema)
    if isinstance(payload, dict):
        for name in required(schema) - set(payload):
            yield f"{where}.{name}"
        for name, value in payload.items():
            if name in schema.get("properties", {}):
                yield from missing_required(value, schema["properties"][name], f"{where}.{name}")
    elif isinstance(payload, list) and "items" in schema:
        for i, item in enumerate(payload):
            yield from missing_required(item, schema["items"], f"{where}[{i}]")


def roundtrip(model: type[T.BaseModel], raw: bytes) -> Any:
    """Validate ``raw``, check nothing was lost or invented, and return the object."""
    obj = model.model_validate_json(raw)
    assert json.loads(obj.model_dump_json(exclude_unset=True)) == json.loads(raw)
    again = model.model_validate_json(obj.model_dump_json())
    assert again == obj
    assert again.model_dump() == obj.model_dump()
    return obj


# --------------------------------------------------------------------------- example payloads

OPENAI_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I assist you today?",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": {
                    "content": [
                        {
                            "token": "Hello",
                            "logprob": -0.31725305,
                            "bytes": [72, 101, 108, 108, 111],
                            "top_logprobs": [
                                {"token": "Hello", "logprob": -0.31725305, "bytes": [72, 101]},
                                {"token": "Hi", "logprob": -1.3190403, "bytes": None},
                            ],
                        }
                    ],
                    "refusal": None,
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_b376dfbbd5",
    }
).encode()

# What the gateway relays from an Anthropic upstream: no object/created/system_fingerprint,
# Anthropic-native finish reason and usage extras, a provider field, reasoning text.
ANTHROPIC_RELAYED = json.dumps(
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "model": "anthropic/claude-sonnet-4",
        "provider": "anthropic",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Paris.",
                    "reasoning_content": "The user asks for the capital of France.",
                    "thinking_signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk",
                },
                "finish_reason": "end_turn",
                "native_finish_reason": "end_turn",
            }
        ],
        "usage": {
            "prompt_tokens": 21,
            "completion_tokens": 45,
            "total_tokens": 66,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 12,
            "prompt_tokens_details": {"cached_tokens": 12, "cache_write_tokens": 0},
        },
    }
).encode()

TOOL_CALL_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1699896916,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "call_abc123",
                            "type": "function",
                            "function": {
                                "name": "get_current_weather",
                                "arguments": '{\n"location": "Boston, MA"\n}',
                            },
                        },
                        {
                            "id": "call_def456",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": '{"tz": "EST"}'},
                        },
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99},
    }
).encode()

USAGE_ONLY_CHUNK = json.dumps(
    {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21},
    }
).encode()

REASONING_CHUNK = json.dumps(
    {
        "id": "gen-1741569952-abc",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "deepseek/deepseek-r1",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": None, "reasoning_content": "Let me"},
                "finish_reason": None,
                "logprobs": None,
            }
        ],
    }
).encode()

TOOL_CALL_CHUNKS = [
    json.dumps(c).encode()
    for c in [
        {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ],
        },
        {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
                    "finish_reason": None,
                }
            ],
        },
        {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]},
                    "finish_reason": None,
                }
            ],
        },
        {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
        },
    ]
]

MODEL_LIST = json.dumps(
    {
        "object": "list",
        "data": [
            {"id": "openai/gpt-4o", "object": "model", "created": 1686935002, "owned_by": "openai"},
            {
                "id": "anthropic/claude-sonnet-4",
                "object": "model",
                "owned_by": "anthropic",
                "context_length": 200000,
            },
            {"id": "google/gemini-2.5-pro"},
        ],
    }
).encode()

EMBEDDINGS = json.dumps(
    {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "embedding": [0.0023064255, -0.009327292, 0.015797347],
                "index": 0,
            },
            {"object": "embedding", "embedding": [0.5, -1, 2], "index": 1},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
).encode()


# --------------------------------------------------------------------------- (1) payloads


@pytest.mark.parametrize(
    ("model", "raw", "schema"),
    [
        (T.ChatCompletion, OPENAI_COMPLETION, "CreateChatCompletionResponse"),
        (T.ChatCompletion, TOOL_CALL_COMPLETION, "CreateChatCompletionResponse"),
        (T.ChatCompletionChunk, USAGE_ONLY_CHUNK, "CreateChatCompletionStreamResponse"),
        (T.ChatCompletionChunk, REASONING_CHUNK, "CreateChatCompletionStreamResponse"),
        (T.ChatCompletionChunk, TOOL_CALL_CHUNKS[0], "CreateChatCompletionStreamResponse"),
        (T.CreateEmbeddingResponse, EMBEDDINGS, "CreateEmbeddingResponse"),
    ],
)
def test_openai_shaped_examples_are_spec_complete(
    model: type[T.BaseModel], raw: bytes, schema: str
) -> None:
    """Guard the examples themselves: the OpenAI-shaped ones carry every spec-required field
    (so the leniency tests start from genuinely spec-shaped data), and they validate."""
    assert list(missing_required(json.loads(raw), SCHEMAS[schema])) == []
    model.model_validate_json(raw)


def test_openai_completion() -> None:
    c = roundtrip(T.ChatCompletion, OPENAI_COMPLETION)
    assert isinstance(c, T.ChatCompletion)
    assert c.id == "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert c.object == "chat.completion"
    assert c.created == 1741569952
    (choice,) = c.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello! How can I assist you today?"
    assert choice.message.annotations == []
    assert choice.logprobs is not None and choice.logprobs.content is not None
    first = choice.logprobs.content[0]
    assert first.bytes == list(b"Hello")
    assert [t.token for t in first.top_logprobs] == ["Hello", "Hi"]
    assert first.top_logprobs[1].bytes is None
    assert c.usage is not None
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (19, 10, 29)
    assert c.usage.prompt_tokens_details == T.PromptTokensDetails(cached_tokens=0, audio_tokens=0)
    assert c.usage.completion_tokens_details is not None
    assert c.usage.completion_tokens_details.reasoning_tokens == 0
    assert c.model_extra == {}
    assert c.request_id is None and c.retries_taken == 0


def test_anthropic_relayed_completion_keeps_extras() -> None:
    c = roundtrip(T.ChatCompletion, ANTHROPIC_RELAYED)
    assert c.object is None and c.created is None and c.system_fingerprint is None
    assert c.model == "anthropic/claude-sonnet-4"
    assert c.model_extra == {"provider": "anthropic"}
    assert c.provider == "anthropic"  # extras are attributes too
    choice = c.choices[0]
    assert choice.finish_reason == "end_turn"  # not an OpenAI value, still accepted
    assert choice.model_extra == {"native_finish_reason": "end_turn"}
    assert choice.message.reasoning_content == "The user asks for the capital of France."
    assert choice.message.model_extra is not None
    assert choice.message.model_extra["thinking_signature"].startswith("EqQB")
    assert choice.logprobs is None
    assert c.usage is not None and c.usage.model_extra == {
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 12,
    }
    assert c.usage.prompt_tokens_details is not None
    assert c.usage.prompt_tokens_details.cache_write_tokens == 0
    # to_dict drops the Nones the models filled in but keeps every extra
    d = c.to_dict()
    assert "object" not in d and d["provider"] == "anthropic"
    assert d["choices"][0]["native_finish_reason"] == "end_turn"


def test_tool_call_completion() -> None:
    c = roundtrip(T.ChatCompletion, TOOL_CALL_COMPLETION)
    msg = c.choices[0].message
    assert c.choices[0].finish_reason == "tool_calls"
    assert msg.content is None
    assert msg.tool_calls is not None
    assert [t.id for t in msg.tool_calls] == ["call_abc123", "call_def456"]
    assert all(isinstance(t, T.ChatCompletionMessageToolCall) for t in msg.tool_calls)
    assert msg.tool_calls[0].type == "function"
    assert msg.tool_calls[0].function.name == "get_current_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"location": "Boston, MA"}
    assert json.loads(msg.tool_calls[1].function.arguments) == {"tz": "EST"}


def test_usage_only_final_chunk() -> None:
    chunk = roundtrip(T.ChatCompletionChunk, USAGE_ONLY_CHUNK)
    assert chunk.choices == []
    assert chunk.usage == T.CompletionUsage(prompt_tokens=9, completion_tokens=12, total_tokens=21)


def test_reasoning_chunk() -> None:
    chunk = roundtrip(T.ChatCompletionChunk, REASONING_CHUNK)
    (choice,) = chunk.choices
    assert isinstance(choice, T.ChunkChoice)
    assert choice.delta.reasoning_content == "Let me"
    assert choice.delta.content is None
    assert choice.delta.role == "assistant"
    assert choice.finish_reason is None
    assert chunk.usage is None


def test_streamed_tool_call_fragments_accumulate() -> None:
    chunks = [roundtrip(T.ChatCompletionChunk, raw) for raw in TOOL_CALL_CHUNKS]
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for frag in choice.delta.tool_calls or []:
                call = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += frag.id or ""
                if frag.function is not None:
                    call["name"] += frag.function.name or ""
                    call["arguments"] += frag.function.arguments or ""
    assert finish == "tool_calls"
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    assert chunks[-1].choices[0].delta == T.ChoiceDelta()


def test_lenient_upstream_shapes() -> None:
    """Gemini-style relays: omitted index/delta/role, arguments sent as an object."""
    c = T.ChatCompletion.model_validate_json(
        b'{"id": "x", "choices": [{"message": {"content": "hi", "tool_calls": [{"id": "c1",'
        b' "function": {"name": "f", "arguments": {"a": [1, "\xc3\xa9"]}}}]}}]}'
    )
    choice = c.choices[0]
    assert choice.index == 0 and choice.finish_reason is None
    assert choice.message.role == "assistant"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.arguments == '{"a":[1,"\u00e9"]}'
    assert json.loads(call.function.arguments) == {"a": [1, "\u00e9"]}

    chunk = T.ChatCompletionChunk.model_validate_json(
        b'{"id": "x", "choices": [{"finish_reason": "STOP"}, {"index": 1, "delta":'
        b' {"tool_calls": [{"function": {"arguments": {"q": 1}}}]}}]}'
    )
    assert chunk.choices[0].delta == T.ChoiceDelta()
    assert chunk.choices[0].finish_reason == "STOP"
    frag = chunk.choices[1].delta.tool_calls
    assert frag is not None and frag[0].index == 0
    assert frag[0].function is not None and frag[0].function.arguments == '{"q":1}'

    bare = T.Function.model_validate_json(b'{"name": "f"}')
    assert bare.arguments == ""  # missing, not invented
    assert T.Function.model_validate_json(b'{"name": "f", "arguments": null}').arguments == ""

    u = T.CompletionUsage.model_validate_json(b'{"input_tokens": 3}')
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (0, 0, 0)
    assert u.model_extra == {"input_tokens": 3}


@pytest.mark.parametrize(
    ("model", "raw"),
    [
        (T.ChatCompletion, b'{"choices": []}'),
        (T.ChatCompletion, b'{"id": "x"}'),
        (T.ChatCompletion, b'{"id": "x", "choices": [{"index": 0}]}'),  # no message
        (T.ChatCompletion, b'{"id": "x", "choices": [], "usage": {"prompt_tokens": "many"}}'),
        (T.ChatCompletion, b'{"id": 5, "choices": []}'),
        (T.ChatCompletionChunk, b'{"id": "x"}'),
        (T.ChatCompletionChunk, b'{"choices": []}'),
        (T.ChatCompletionChunk, b'{"id": "x", "choices": [{"delta": {"content": 1}}]}'),
        (T.ModelList, b'{"object": "list"}'),
        (T.ModelList, b'{"data": [{"object": "model"}]}'),  # a model without id
        (T.CreateEmbeddingResponse, b'{"data": [{"index": 0}]}'),  # no vector
        (T.Function, b'{"arguments": "{}"}'),  # no name
    ],
)
def test_really_required_fields_are_enforced(model: type[T.BaseModel], raw: bytes) -> None:
    with pytest.raises(pydantic.ValidationError):
        model.model_validate_json(raw)


def test_model_list_is_a_sequence_of_models() -> None:
    models = roundtrip(T.ModelList, MODEL_LIST)
    assert isinstance(models, T.ModelList)
    assert len(models) == 3
    assert [m.id for m in models] == models.ids()
    assert models.ids() == ["openai/gpt-4o", "anthropic/claude-sonnet-4", "google/gemini-2.5-pro"]
    assert all(isinstance(m, T.Model) for m in models)
    assert models[0].owned_by == "openai" and models[0].created == 1686935002
    assert models[-1].id == "google/gemini-2.5-pro" and models[-1].owned_by is None
    assert [m.id for m in models[1:]] == models.ids()[1:]
    assert models[1].model_extra == {"context_length": 200000}
    assert "openai/gpt-4o" in models and "nope" not in models
    assert models[2] in models and T.Model(id="other") not in models
    with pytest.raises(IndexError):
        models[3]
    # pydantic machinery still works despite the __iter__ override
    assert models.model_dump()["data"][2] == {
        "id": "google/gemini-2.5-pro",
        "object": None,
        "created": None,
        "owned_by": None,
        "shutdown_date": None,
    }
    assert models.model_copy(deep=True) == models
    assert "ModelList(" in repr(models)
    empty = T.ModelList(data=[])
    assert len(empty) == 0 and list(empty) == [] and not empty


def test_embeddings_float_and_base64() -> None:
    resp = roundtrip(T.CreateEmbeddingResponse, EMBEDDINGS)
    assert resp.model == "text-embedding-3-small"
    assert resp.usage == T.EmbeddingUsage(prompt_tokens=8, total_tokens=8)
    assert [e.index for e in resp.data] == [0, 1]
    assert resp.data[0].as_floats() == [0.0023064255, -0.009327292, 0.015797347]
    assert resp.data[1].embedding == [0.5, -1.0, 2.0]

    vector = [0.5, -1.25, 3.0, 1e-3]
    encoded = base64.b64encode(struct.pack("<4f", *vector)).decode()
    b64 = T.CreateEmbeddingResponse.model_validate_json(
        json.dumps({"data": [{"embedding": encoded, "index": 0}], "model": "m"}).encode()
    )
    emb = b64.data[0]
    assert emb.embedding == encoded  # kept as the string it was
    assert emb.as_floats() == pytest.approx(vector, rel=1e-6)
    assert b64.object is None and b64.usage is None


# --------------------------------------------------------------------------- (2) spec drift

# (our model, where its schema is in the spec, spec properties we deliberately do not model:
#  they still arrive and are kept as extras)
RESPONSE_MODELS: list[tuple[type[T.BaseModel], tuple[str, ...], set[str]]] = [
    (T.ChatCompletion, ("CreateChatCompletionResponse",), set()),
    (T.Choice, ("CreateChatCompletionResponse", "choices", "[]"), set()),
    (T.ChoiceLogprobs, ("CreateChatCompletionResponse", "choices", "[]", "logprobs"), set()),
    (T.ChatCompletionMessage, ("ChatCompletionResponseMessage",), set()),
    (T.ChatCompletionMessageFunctionToolCall, ("ChatCompletionMessageToolCall",), set()),
    (T.Function, ("ChatCompletionMessageToolCall", "function"), set()),
    (T.ChatCompletionMessageCustomToolCall, ("ChatCompletionMessageCustomToolCall",), set()),
    (T.Custom, ("ChatCompletionMessageCustomToolCall", "custom"), set()),
    (T.AnnotationURLCitation, ("ChatCompletionResponseMessage", "annotations", "[]"), set()),
    (
        T.URLCitation,
        ("ChatCompletionResponseMessage", "annotations", "[]", "url_citation"),
        set(),
    ),
    (T.ChatCompletionAudio, ("ChatCompletionResponseMessage", "audio"), set()),
    (T.FunctionCall, ("ChatCompletionResponseMessage", "function_call"), set()),
    (T.ChatCompletionModeration, ("ChatCompletionModeration",), set()),
    (T.ModerationResults, ("ChatCompletionModerationResults",), set()),
    (T.ModerationError, ("ChatCompletionModerationError",), set()),
    (T.ModerationResultBody, ("ModerationResultBody",), set()),
    (T.CompletionUsage, ("CompletionUsage",), set()),
    (T.CompletionTokensDetails, ("CompletionUsage", "completion_tokens_details"), set()),
    (T.PromptTokensDetails, ("CompletionUsage", "prompt_tokens_details"), set()),
    (T.ChatCompletionTokenLogprob, ("ChatCompletionTokenLogprob",), set()),
    (T.TopLogprob, ("ChatCompletionTokenLogprob", "top_logprobs", "[]"), set()),
    (T.ChatCompletionChunk, ("CreateChatCompletionStreamResponse",), set()),
    (T.ChunkChoice, ("CreateChatCompletionStreamResponse", "choices", "[]"), set()),
    (T.ChoiceDelta, ("ChatCompletionStreamResponseDelta",), set()),
    (T.ChoiceDeltaFunctionCall, ("ChatCompletionStreamResponseDelta", "function_call"), set()),
    (T.ChoiceDeltaToolCall, ("ChatCompletionMessageToolCallChunk",), set()),
    (
        T.ChoiceDeltaToolCallFunction,
        ("ChatCompletionMessageToolCallChunk", "function"),
        set(),
    ),
    (T.Model, ("Model",), set()),
    (T.ModelList, ("ListModelsResponse",), set()),
    (T.Embedding, ("Embedding",), set()),
    (T.CreateEmbeddingResponse, ("CreateEmbeddingResponse",), set()),
    (T.EmbeddingUsage, ("CreateEmbeddingResponse", "usage"), set()),
]

# Fields we add on top of the OpenAI shape (streamed/returned by the gateway).
GATEWAY_RESPONSE_FIELDS: dict[type[T.BaseModel], set[str]] = {
    T.ChatCompletionMessage: {"reasoning_content"},
    T.ChoiceDelta: {"reasoning_content"},
}


@pytest.mark.parametrize(
    ("model", "path", "unmodelled"),
    RESPONSE_MODELS,
    ids=[m.__name__ for m, _, _ in RESPONSE_MODELS],
)
def test_response_model_matches_spec(
    model: type[T.BaseModel], path: tuple[str, ...], unmodelled: set[str]
) -> None:
    schema = spec_at(*path)
    fields = set(model.model_fields)
    assert required(schema) <= fields, f"spec-required fields missing from {model.__name__}"
    assert not (unmodelled & required(schema)), "a required field cannot be left unmodelled"
    assert props(schema) - fields == unmodelled, "spec has properties we neither model nor list"
    assert fields - props(schema) == GATEWAY_RESPONSE_FIELDS.get(model, set()), (
        "field not in the spec and not documented as a gateway addition"
    )


# The fallback members of the unions: no spec schema, they hold what a newer spec adds.
UNKNOWN_VARIANTS = {
    T.ChatCompletionMessageUnknownToolCall,
    T.UnknownAnnotation,
    T.UnknownModeration,
}


def test_every_public_response_model_is_checked_against_the_spec() -> None:
    public = {
        obj
        for name in T.__all__
        if isinstance(obj := getattr(T, name), type)
        and issubclass(obj, T.BaseModel)
        and obj is not T.BaseModel
        and not name.startswith("Parsed")  # structured outputs: ChatCompletion plus `parsed`
    }
    assert public == {m for m, _, _ in RESPONSE_MODELS} | UNKNOWN_VARIANTS


# Spec request properties we deliberately leave out of CompletionCreateParams.
UNTYPED_REQUEST_PARAMS = {
    "stream",  # its own argument of the resource method
    "functions",  # deprecated, superseded by tools
    "function_call",  # deprecated, superseded by tool_choice
    "moderation",  # OpenAI-only moderation hook
    "prompt_cache_options",  # OpenAI-only
    "prompt_cache_retention",  # deprecated
}
# Keys we add beyond the spec: none so far (gateway-specific knobs go through extra_body).
GATEWAY_REQUEST_PARAMS: set[str] = set()


def test_completion_create_params_match_spec() -> None:
    schema = spec_at("CreateChatCompletionRequest")
    ours = completion_param_keys()
    assert required(schema) == {"model", "messages"}
    assert required(schema) <= P.CompletionCreateParams.__required_keys__
    assert P.CompletionCreateParams.__required_keys__ == {"model", "messages"}
    assert ours - props(schema) == GATEWAY_REQUEST_PARAMS
    assert props(schema) - ours == UNTYPED_REQUEST_PARAMS
    assert "stream" not in ours
    assert ours.isdisjoint({"extra_headers", "extra_body", "extra_query", "timeout"})


def completion_param_keys() -> set[str]:
    td = P.CompletionCreateParams
    return set(td.__required_keys__ | td.__optional_keys__)


def test_embedding_create_params_match_spec() -> None:
    schema = spec_at("CreateEmbeddingRequest")
    td = P.EmbeddingCreateParams
    assert set(td.__required_keys__) == required(schema) == {"model", "input"}
    assert set(td.__required_keys__ | td.__optional_keys__) == props(schema)
    assert set(get_args(td.__annotations__["encoding_format"])) == set(
        schema["properties"]["encoding_format"]["enum"]
    )


def test_param_name_sets() -> None:
    assert isinstance(T.COMPLETION_CREATE_PARAM_NAMES, frozenset)
    assert isinstance(T.EMBEDDING_CREATE_PARAM_NAMES, frozenset)
    assert completion_param_keys() == T.COMPLETION_CREATE_PARAM_NAMES
    assert {"model", "messages", "temperature", "tools", "reasoning_effort"} <= (
        T.COMPLETION_CREATE_PARAM_NAMES
    )
    assert "stream" not in T.COMPLETION_CREATE_PARAM_NAMES
    assert "temprature" not in T.COMPLETION_CREATE_PARAM_NAMES
    expected = {"input", "model", "dimensions", "encoding_format", "user"}
    assert expected == T.EMBEDDING_CREATE_PARAM_NAMES


# (our TypedDict, where it is in the spec, spec properties we deliberately do not type)
PARAM_TYPEDDICTS: list[tuple[Any, tuple[str, ...], set[str]]] = [
    (P.ChatCompletionSystemMessageParam, ("ChatCompletionRequestSystemMessage",), set()),
    (P.ChatCompletionDeveloperMessageParam, ("ChatCompletionRequestDeveloperMessage",), set()),
    (P.ChatCompletionUserMessageParam, ("ChatCompletionRequestUserMessage",), set()),
    (
        P.ChatCompletionAssistantMessageParam,
        ("ChatCompletionRequestAssistantMessage",),
        {"audio", "function_call"},
    ),
    (P.ChatCompletionToolMessageParam, ("ChatCompletionRequestToolMessage",), set()),
    (
        P.ChatCompletionContentPartTextParam,
        ("ChatCompletionRequestMessageContentPartText",),
        {"prompt_cache_breakpoint"},
    ),
    (
        P.ChatCompletionContentPartImageParam,
        ("ChatCompletionRequestMessageContentPartImage",),
        {"prompt_cache_breakpoint"},
    ),
    (P.ImageURLParam, ("ChatCompletionRequestMessageContentPartImage", "image_url"), set()),
    (
        P.ChatCompletionContentPartInputAudioParam,
        ("ChatCompletionRequestMessageContentPartAudio",),
        {"prompt_cache_breakpoint"},
    ),
    (P.InputAudioParam, ("ChatCompletionRequestMessageContentPartAudio", "input_audio"), set()),
    (
        P.ChatCompletionContentPartFileParam,
        ("ChatCompletionRequestMessageContentPartFile",),
        {"prompt_cache_breakpoint"},
    ),
    (P.FileContentParam, ("ChatCompletionRequestMessageContentPartFile", "file"), set()),
    (
        P.ChatCompletionContentPartRefusalParam,
        ("ChatCompletionRequestMessageContentPartRefusal",),
        set(),
    ),
    (P.ChatCompletionMessageToolCallParam, ("ChatCompletionMessageToolCall",), set()),
    (P.FunctionCallParam, ("ChatCompletionMessageToolCall", "function"), set()),
    (P.ChatCompletionToolParam, ("ChatCompletionTool",), set()),
    (P.FunctionDefinition, ("FunctionObject",), set()),
    (P.ChatCompletionNamedToolChoiceParam, ("ChatCompletionNamedToolChoice",), set()),
    (
        P.ChatCompletionNamedToolChoiceFunctionParam,
        ("ChatCompletionNamedToolChoice", "function"),
        set(),
    ),
    (P.ChatCompletionAllowedToolChoiceParam, ("ChatCompletionAllowedToolsChoice",), set()),
    (P.ChatCompletionAllowedToolsParam, ("ChatCompletionAllowedTools",), set()),
    (P.ResponseFormatText, ("ResponseFormatText",), set()),
    (P.ResponseFormatJSONObject, ("ResponseFormatJsonObject",), set()),
    (P.ResponseFormatJSONSchema, ("ResponseFormatJsonSchema",), set()),
    (P.JSONSchema, ("ResponseFormatJsonSchema", "json_schema"), set()),
    (P.ChatCompletionStreamOptionsParam, ("ChatCompletionStreamOptions",), set()),
    (P.ChatCompletionAudioParam, ("CreateChatCompletionRequest", "audio"), set()),
    (P.ChatCompletionPredictionContentParam, ("PredictionContent",), set()),
    (P.WebSearchOptionsParam, ("CreateChatCompletionRequest", "web_search_options"), set()),
    (
        P.WebSearchUserLocationParam,
        ("CreateChatCompletionRequest", "web_search_options", "user_location"),
        set(),
    ),
    (P.WebSearchLocationParam, ("WebSearchLocation",), set()),
]


@pytest.mark.parametrize(
    ("td", "path", "untyped"), PARAM_TYPEDDICTS, ids=[t.__name__ for t, _, _ in PARAM_TYPEDDICTS]
)
def test_param_typeddict_matches_spec(td: Any, path: tuple[str, ...], untyped: set[str]) -> None:
    schema = spec_at(*path)
    keys = set(td.__required_keys__ | td.__optional_keys__)
    assert set(td.__required_keys__) == required(schema)
    assert keys == props(schema) - untyped
    assert not (untyped & required(schema))


def literal_of(td: Any, key: str) -> Any:
    """The single value of the ``Literal`` annotation of ``key`` (through ``Required[...]``)."""
    hint = get_type_hints(td)[key]
    (value,) = get_args(hint)
    return value


def test_message_union_covers_every_spec_role() -> None:
    roles = {literal_of(m, "role") for m in get_args(P.ChatCompletionMessageParam)}
    spec_roles = {
        resolve(s)["properties"]["role"]["enum"][0]
        for s in SCHEMAS["ChatCompletionRequestMessage"]["oneOf"]
    }
    assert roles == spec_roles - {"function"}  # the deprecated function role is not typed


def test_user_content_parts_cover_the_spec() -> None:
    ours = {literal_of(p, "type") for p in get_args(P.ChatCompletionContentPartParam)}
    spec = {
        resolve(s)["properties"]["type"]["enum"][0]
        for s in SCHEMAS["ChatCompletionRequestUserMessageContentPart"]["oneOf"]
    }
    assert ours == spec == {"text", "image_url", "input_audio", "file"}


# --------------------------------------------------------------------------- package surface


def test_public_names_resolve_and_models_build() -> None:
    assert len(T.__all__) == len(set(T.__all__))
    for name in T.__all__:
        obj = getattr(T, name)
        if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel):
            assert issubclass(obj, T.BaseModel), name
            # defer_build hides broken annotations until first use: force the build here
            assert obj.model_rebuild(force=True) is not False, name
            assert obj.model_json_schema()["type"] == "object"
            assert obj.__doc__, f"{name} needs a docstring"
            assert obj.model_config.get("extra") == "allow"


# --------------------------------------------------------------------------- (3) properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def extras_for(model: type[T.BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Extra keys that are not fields of ``model``, with arbitrary JSON values."""
    return st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in model.model_fields),
        json_values,
        max_size=5,
    )


@settings(deadline=None, max_examples=40)
@given(
    top=extras_for(T.ChatCompletion),
    choice=extras_for(T.Choice),
    message=extras_for(T.ChatCompletionMessage),
    call=extras_for(T.ChatCompletionMessageToolCall),
    usage=extras_for(T.CompletionUsage),
)
def test_extras_anywhere_are_kept(
    top: dict[str, Any],
    choice: dict[str, Any],
    message: dict[str, Any],
    call: dict[str, Any],
    usage: dict[str, Any],
) -> None:
    payload = json.loads(TOOL_CALL_COMPLETION)
    payload.update(top)
    payload["choices"][0].update(choice)
    payload["choices"][0]["message"].update(message)
    payload["choices"][0]["message"]["tool_calls"][0].update(call)
    payload["usage"].update(usage)

    c = roundtrip(T.ChatCompletion, json.dumps(payload).encode())
    assert c.model_extra == top
    assert c.choices[0].model_extra == choice
    assert c.choices[0].message.model_extra == message
    assert c.choices[0].message.tool_calls is not None
    assert c.choices[0].message.tool_calls[0].model_extra == call
    assert c.usage is not None and c.usage.model_extra == usage
    # the modelled fields are untouched by the extras
    assert c.id == "chatcmpl-abc123" and c.choices[0].finish_reason == "tool_calls"
    assert c.usage.total_tokens == 99


@settings(deadline=None, max_examples=100)
@given(top=extras_for(T.ChatCompletionChunk), delta=extras_for(T.ChoiceDelta))
def test_chunk_extras_are_kept(top: dict[str, Any], delta: dict[str, Any]) -> None:
    payload = json.loads(REASONING_CHUNK)
    payload.update(top)
    payload["choices"][0]["delta"].update(delta)
    chunk = roundtrip(T.ChatCompletionChunk, json.dumps(payload).encode())
    assert chunk.model_extra == top
    assert chunk.choices[0].delta.model_extra == delta
    assert chunk.choices[0].delta.reasoning_content == "Let me"


@settings(deadline=None, max_examples=100)
@given(finish_reason=st.text(), role=st.text(), delta_role=st.text(), chunk_finish=st.text())
def test_unknown_enum_strings_validate(
    finish_reason: str, role: str, delta_role: str, chunk_finish: str
) -> None:
    payload = json.loads(OPENAI_COMPLETION)
    payload["choices"][0]["finish_reason"] = finish_reason
    payload["choices"][0]["message"]["role"] = role
    c = roundtrip(T.ChatCompletion, json.dumps(payload).encode())
    assert c.choices[0].finish_reason == finish_reason
    assert c.choices[0].message.role == role

    payload = json.loads(REASONING_CHUNK)
    payload["choices"][0]["delta"]["role"] = delta_role
    payload["choices"][0]["finish_reason"] = chunk_finish
    chunk = roundtrip(T.ChatCompletionChunk, json.dumps(payload).encode())
    assert chunk.choices[0].delta.role == delta_role
    assert chunk.choices[0].finish_reason == chunk_finish


def _optional_paths(payload: Any, required_paths: set[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Every key path in ``payload`` except ``required_paths`` (list indices included)."""
    out: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            here = (*path, key)
            if isinstance(node, dict) and here not in required_paths:
                out.append(here)
            if isinstance(value, (dict, list)):
                walk(value, here)

    walk(payload, ())
    return out


# The only keys whose absence must fail validation (0 = first choice/tool call).
REQUIRED_COMPLETION_PATHS = {
    ("id",),
    ("choices",),
    ("choices", 0, "message"),
    ("choices", 0, "message", "tool_calls", 0, "id"),
    ("choices", 0, "message", "tool_calls", 0, "function"),
    ("choices", 0, "message", "tool_calls", 0, "function", "name"),
    ("choices", 0, "message", "tool_calls", 1, "id"),
    ("choices", 0, "message", "tool_calls", 1, "function"),
    ("choices", 0, "message", "tool_calls", 1, "function", "name"),
}


@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_dropping_optional_keys_still_validates(data: st.DataObject) -> None:
    """Any subset of the non-essential keys may be missing (the gateway omits freely)."""
    template = json.loads(TOOL_CALL_COMPLETION)
    paths = _optional_paths(template, REQUIRED_COMPLETION_PATHS)
    drop = data.draw(st.sets(st.sampled_from(paths)))
    payload = json.loads(TOOL_CALL_COMPLETION)
    for path in sorted(drop, key=len, reverse=True):
        node = payload
        try:
            for key in path[:-1]:
                node = node[key]
        except (KeyError, IndexError):
            continue  # an ancestor is already gone
        node.pop(path[-1], None)
    c = roundtrip(T.ChatCompletion, json.dumps(payload).encode())
    assert c.id == "chatcmpl-abc123"
    tool_calls = c.choices[0].message.tool_calls
    if ("choices", 0, "message", "tool_calls") not in drop:
        assert tool_calls is not None
        assert [t.function.name for t in tool_calls] == ["get_current_weather", "get_time"]


@pytest.mark.parametrize("path", sorted(REQUIRED_COMPLETION_PATHS, key=str))
def test_dropping_an_essential_key_fails(path: tuple[Any, ...]) -> None:
    payload = json.loads(TOOL_CALL_COMPLETION)
    node = payload
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(pydantic.ValidationError):
        T.ChatCompletion.model_validate_json(json.dumps(payload).encode())
