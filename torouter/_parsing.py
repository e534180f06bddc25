"""Structured outputs: pydantic model -> strict JSON Schema, and a completion -> parsed result.

Three public entry points (re-exported elsewhere):

* :func:`to_strict_json_schema` / :func:`response_format_param`: the ``response_format`` sent for
  a pydantic model (OpenAI strict mode: ``additionalProperties: false``, every property required,
  ``$ref``/``$defs`` kept resolvable, optional fields stay nullable);
* :func:`pydantic_function_tool` (``torouter.pydantic_function_tool``): a strict function tool;
* :func:`parse_chat_completion`: THE one place that turns a finished ``ChatCompletion`` into a
  ``ParsedChatCompletion`` or raises an :class:`~torouter.OutputError`.  ``chat.completions.parse``
  calls it on the response; a stream helper calls it once on the accumulated completion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import pydantic

from ._errors import (
    ContentFilterFinishReasonError,
    InvalidArgumentError,
    LengthFinishReasonError,
    OutputError,
    OutputValidationError,
    mask_key,
)
from .types._base import set_response_info
from .types.chat import ChatCompletion, ChatCompletionMessageFunctionToolCall
from .types.chat_params import ChatCompletionToolParam, ResponseFormatJSONSchema
from .types.parsed import ParsedChatCompletion

__all__ = [
    "parse_chat_completion",
    "pydantic_function_tool",
    "response_format_param",
    "to_strict_json_schema",
]

M = TypeVar("M", bound=pydantic.BaseModel)

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


# --------------------------------------------------------------------------- request side


def to_strict_json_schema(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` in the form OpenAI's strict mode accepts.

    Every object gets ``additionalProperties: false`` (unless it is a map with a value schema)
    and lists all its properties as ``required``; a field with a ``None`` default is already
    ``anyOf [..., null]`` in pydantic's schema, so "optional" means "nullable"; a field with
    another default becomes required (the model must send it), never nullable, so the answer
    still validates.  ``$defs`` stay and are made strict too; a ``$ref`` with sibling keys is
    inlined (strict mode forbids siblings, and a ``default`` next to a ``$ref`` is one); a
    single-entry ``allOf`` is flattened; ``default`` is dropped ("'default' is not permitted").
    """
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        raise InvalidArgumentError(
            f"expected a pydantic model class, got {model!r} (e.g. class Answer(BaseModel): ...)"
        )
    schema = model.model_json_schema()
    return cast(dict[str, Any], _strict(schema, schema))


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _strict(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(v, root) for v in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node and len(node) > 1:  # strict mode: no keywords next to a $ref
        target = _resolve(node.pop("$ref"), root)
        node = {**target, **node}
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        node.pop("allOf")
        node = {**all_of[0], **node}
        if "$ref" in node and len(node) > 1:
            return _strict(node, root)
    node.pop("default", None)  # every property is required; strict mode rejects 'default'
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$defs", "definitions", "properties") and isinstance(value, dict):
            out[key] = {name: _strict(sub, root) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "additionalProperties"):
            out[key] = _strict(value, root)
        else:
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        out.setdefault("additionalProperties", False)
        out["required"] = list(out.get("properties", {}))
    return out


def _schema_name(model: type[pydantic.BaseModel]) -> str:
    return _NAME_CHARS.sub("_", model.__name__)[:64] or "output"


def response_format_param(model: type[pydantic.BaseModel]) -> ResponseFormatJSONSchema:
    """``response_format`` for ``model``: ``{"type": "json_schema", "json_schema": {...}}``."""
    json_schema: dict[str, Any] = {
        "name": _schema_name(model),
        "schema": to_strict_json_schema(model),
        "strict": True,
    }
    return cast(ResponseFormatJSONSchema, {"type": "json_schema", "json_schema": json_schema})


class _PydanticTool(dict):  # type: ignore[type-arg]
    """A function tool dict that remembers the pydantic model of its arguments."""

    model: type[pydantic.BaseModel]


def pydantic_function_tool(
    model: type[pydantic.BaseModel], *, name: str | None = None, description: str | None = None
) -> ChatCompletionToolParam:
    """A strict function tool whose parameters are the JSON Schema of ``model``.

    Pass it in ``tools=[...]``; in the result of ``chat.completions.parse`` each call of this
    tool has ``function.parsed_arguments``, an instance of ``model``.  ``name`` defaults to the
    class name, ``description`` to the class docstring.
    """
    parameters = to_strict_json_schema(model)
    function: dict[str, Any] = {
        "name": name or _schema_name(model),
        "parameters": parameters,
        "strict": True,
    }
    doc = description if description is not None else (model.__doc__ or "").strip()
    if doc:
        function["description"] = doc
    tool = _PydanticTool(type="function", function=function)
    tool.model = model
    return cast(ChatCompletionToolParam, tool)


# --------------------------------------------------------------------------- response side


def parse_chat_completion(
    completion: ChatCompletion,
    *,
    response_format: type[M] | None = None,
    tools: Iterable[Mapping[str, Any]] | None = None,
    redact: Sequence[str] = (),
) -> ParsedChatCompletion[M]:
    """Turn a FINISHED completion into a :class:`ParsedChatCompletion`, or raise.

    The single place where structured output is judged.  Callers: ``chat.completions.parse``
    (on the response body) and the stream helper (call it ONCE, on the completion accumulated
    after the stream ended cleanly — never on partial content: incomplete JSON would fail).

    Args:
        completion: the whole completion.
        response_format: the pydantic model the content must be (``None``: ``parsed`` stays
            ``None``; tools are still parsed).
        tools: the ``tools`` sent; calls of a :func:`pydantic_function_tool` get their model in
            ``function.parsed_arguments``, calls of another ``strict`` function tool a ``dict``.
        redact: secrets (the API key) masked in every error's text, should a model echo them.

    Raises, in this order for each choice (all are :class:`OutputError` with ``.completion``
    and ``.usage``):
        LengthFinishReasonError: ``finish_reason == "length"``.
        ContentFilterFinishReasonError: ``finish_reason == "content_filter"``.
        OutputValidationError: content or tool arguments invalid for their model (the
            pydantic ``ValidationError`` is the ``__cause__``; ``.raw`` the text, masked).

    A refusal (``message.refusal`` set) is not an error: ``parsed`` is ``None``.
    """
    outcome = _judge(completion, response_format, tools, redact)
    if isinstance(outcome, OutputError):
        # Raised here, with the completion and the secrets dropped from this frame: a traceback
        # rendered with its locals (``capture_locals``, Sentry) then shows neither the key nor
        # an unmasked text that echoes it.
        del completion, redact
        raise outcome
    return outcome


def _judge(
    completion: ChatCompletion,
    response_format: type[M] | None,
    tools: Iterable[Mapping[str, Any]] | None,
    redact: Sequence[str],
) -> ParsedChatCompletion[M] | OutputError:
    """``parse_chat_completion``'s work; an :class:`OutputError` is returned, not raised."""
    try:
        return _parse(completion, response_format, tools, redact)
    except OutputError as err:
        err.__traceback__ = None
        return err


def _parse(
    completion: ChatCompletion,
    response_format: type[M] | None,
    tools: Iterable[Mapping[str, Any]] | None,
    redact: Sequence[str],
) -> ParsedChatCompletion[M]:
    by_tool = _tool_models(tools)
    parsed_choices: list[dict[str, Any]] = []
    for choice in completion.choices:
        where = f"choice {choice.index}"
        if choice.finish_reason == "length":
            raise LengthFinishReasonError(
                f"{where} stopped at the token limit (finish_reason 'length') before the "
                f"structured output was complete{_usage_note(completion)}",
                completion=_masked(completion, redact),
            )
        if choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError(
                f"{where} was stopped by the content filter (finish_reason 'content_filter')",
                completion=_masked(completion, redact),
            )
        message = choice.message
        data = choice.model_dump(exclude_unset=True)
        parsed: Any = None
        if response_format is not None and message.content is not None and not message.refusal:
            parsed = _validate(response_format, message.content, completion, redact,
                               f"the content of {where}")
        data["message"]["parsed"] = parsed
        for i, call in enumerate(message.tool_calls or ()):
            if not isinstance(call, ChatCompletionMessageFunctionToolCall):
                continue  # custom and unknown tool calls carry no JSON arguments
            spec = by_tool.get(call.function.name)
            if spec is None:
                continue
            arguments = call.function.arguments
            what = f"the arguments of tool call {call.function.name!r} in {where}"
            value: Any
            if isinstance(spec, type) and issubclass(spec, pydantic.BaseModel):
                value = _validate(spec, arguments, completion, redact, what)
            else:
                value = _validate_dict(arguments, completion, redact, what)
            data["message"]["tool_calls"][i]["function"]["parsed_arguments"] = value
        parsed_choices.append(data)
    body = completion.model_dump(exclude_unset=True)
    body["choices"] = parsed_choices
    cls: type[ParsedChatCompletion[Any]] = (
        ParsedChatCompletion[response_format]  # type: ignore[valid-type]
        if response_format is not None
        else ParsedChatCompletion[None]
    )
    result = cls.model_validate(body)
    set_response_info(result, dict(completion.__pydantic_private__ or {}))
    return cast(ParsedChatCompletion[M], result)


def _tool_models(
    tools: Iterable[Mapping[str, Any]] | None,
) -> dict[str, type[pydantic.BaseModel] | type[dict[str, Any]]]:
    """Function name -> its pydantic model (pydantic_function_tool) or ``dict`` (strict)."""
    out: dict[str, type[pydantic.BaseModel] | type[dict[str, Any]]] = {}
    for tool in tools or ():
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            continue
        function = tool.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        if isinstance(tool, _PydanticTool):
            out[function["name"]] = tool.model
        elif function.get("strict") is True:
            out[function["name"]] = dict
    return out


def _mask(text: str, redact: Sequence[str]) -> str:
    for secret in redact:
        if secret and secret in text:
            text = text.replace(secret, mask_key(secret))
    return text


def _masked(completion: ChatCompletion, redact: Sequence[str]) -> ChatCompletion:
    """``completion`` itself, or (should a model have echoed the key) a copy with it masked."""
    text = completion.model_dump_json(exclude_unset=True)
    masked = _mask(text, redact)
    if masked == text:
        return completion
    copy = type(completion).model_validate_json(masked)
    set_response_info(copy, dict(completion.__pydantic_private__ or {}))
    return copy


def _usage_note(completion: ChatCompletion) -> str:
    usage = completion.usage
    if usage is None:
        return ""
    return f" ({usage.completion_tokens} completion tokens used)"


def _validate(model: type[M], text: str, completion: ChatCompletion, redact: Sequence[str],
              what: str) -> M:
    try:
        return model.model_validate_json(text)
    except pydantic.ValidationError as exc:
        failure = exc
    masked = _mask(text, redact)
    if masked != text:  # the pydantic error quotes the input: make one from the masked text
        try:
            model.model_validate_json(masked)
        except pydantic.ValidationError as exc:
            failure = exc
    failure.__traceback__ = None
    raise _output_invalid(what, model.__name__, failure.error_count(), masked, completion,
                          redact) from failure


def _validate_dict(text: str, completion: ChatCompletion, redact: Sequence[str],
                   what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    masked = _mask(text, redact)
    try:
        pydantic.TypeAdapter(dict[str, Any]).validate_json(masked)
        raise AssertionError("unreachable")  # pragma: no cover
    except pydantic.ValidationError as exc:
        exc.__traceback__ = None
        raise _output_invalid(what, "JSON object", exc.error_count(), masked, completion,
                              redact) from exc


def _output_invalid(what: str, target: str, errors: int, masked: str, completion: ChatCompletion,
                    redact: Sequence[str]) -> OutputError:
    start = masked[:80] + ("…" if len(masked) > 80 else "")
    return OutputValidationError(
        f"{what} is not a valid {target} ({errors} validation error"
        f"{'s' if errors != 1 else ''}; text starts {start!r})",
        raw=masked,
        completion=_masked(completion, redact),
    )


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
