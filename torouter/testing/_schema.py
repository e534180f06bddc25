"""A small valid instance of a JSON Schema: what the fake gateway answers to structured outputs.

Covers what structured-output schemas use (``$ref``/``$defs``, ``anyOf``/``oneOf``/``allOf``,
``enum``/``const``, objects, arrays with ``minItems``, strings with ``minLength``/``maxLength``
and common ``format``\\ s, bounded numbers).  Not a general JSON Schema generator: ``pattern``
and ``not`` are ignored.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["minimal_instance", "structured_reply"]

_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "duration": "P1D",
}


def minimal_instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value valid against ``schema`` (``root`` holds the ``$defs`` its ``$ref``\\ s name)."""
    root = schema if root is None else root
    if depth > 32 or not isinstance(schema, dict):  # a recursive schema: stop somewhere valid
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return minimal_instance({**target, **rest}, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            branches = schema[key]
            real = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            return minimal_instance((real or branches)[0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            if isinstance(part, dict) and "$ref" in part:
                part = _deref(part, root)
            for k, v in part.items():
                if k == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **v}
                elif k == "required":
                    merged["required"] = [*merged.get("required", []), *v]
                else:
                    merged.setdefault(k, v)
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: minimal_instance(props.get(name, {}), root, depth + 1)
            for name in schema.get("required", [])
        }
    if kind == "array":
        # one item (more if minItems says so): as small as valid, but not empty-looking
        count = max(int(schema.get("minItems", 0)), min(1, int(schema.get("maxItems", 1))))
        return [minimal_instance(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind == "string":
        text = _FORMATS.get(schema.get("format", ""), "example")
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        return text[: int(high)] if high is not None else text
    if kind in ("integer", "number"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    return None


def _deref(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    target: Any = root
    for part in schema["$ref"].lstrip("#/").split("/"):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    return target if isinstance(target, dict) else {}


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    """0, moved into ``[minimum, maximum]`` and past exclusive bounds."""
    value: float = 0
    step = 1 if integer else 0.5
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + step
    if "maximum" in schema and value > schema["maximum"]:
        value = schema["maximum"]
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = schema["exclusiveMaximum"] - step
    if integer:
        return math.ceil(value)
    return float(value)


def structured_reply(
    body: dict[str, Any], text: str, call_id: str
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The content and tool calls the fake gateway answers ``body`` with.

    * function ``tools`` (and ``tool_choice`` not ``"none"``, and the last message not a tool
      result): one call of the named tool (or the first), arguments valid for its parameters;
    * ``response_format`` ``json_schema``: a minimal instance of the schema, as JSON text;
      ``json_object``: ``{"reply": text}``; otherwise ``text``.
    """
    messages = body.get("messages") or []
    last_role = messages[-1].get("role") if messages and isinstance(messages[-1], dict) else None
    tools = [
        t["function"] for t in body.get("tools") or ()
        if isinstance(t, dict) and t.get("type") == "function"
        and isinstance(t.get("function"), dict) and isinstance(t["function"].get("name"), str)
    ]
    choice = body.get("tool_choice")
    if tools and choice != "none" and last_role != "tool":
        tool = tools[0]
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            named = choice["function"].get("name")
            tool = next((t for t in tools if t["name"] == named), tool)
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        arguments = json.dumps(minimal_instance(params), separators=(",", ":"))
        call = {"id": call_id, "type": "function",
                "function": {"name": tool["name"], "arguments": arguments}}
        return None, [call]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(minimal_instance(schema or {"type": "object"})), None
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return json.dumps({"reply": text}), None
    return text, None
