"""Response payloads: chat completions, SSE chunks, embeddings, model lists (api doc §1.7, §1.8).

Response schemas are not documented by ToRouter (§11 gaps); these follow the OpenAI shapes the
gateway is compatible with.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DONE",
    "chat_chunks",
    "chat_completion",
    "count_tokens",
    "embedding_response",
    "split_text",
    "sse",
]

DONE = b"data: [DONE]\n\n"
_WORDS = re.compile(r"\S+\s*|\s+")


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def sse(obj: object) -> bytes:
    """One SSE event: ``data: <json>`` and a blank line."""
    return b"data: " + _dumps(obj) + b"\n\n"


def count_tokens(text: str) -> int:
    """Deterministic stand-in for a tokenizer: whitespace-separated words."""
    return len(text.split())


def split_text(text: str, pieces: int | None) -> list[str]:
    """Split into stream pieces: one per word (``None``) or ``pieces`` near-equal parts."""
    if not text:
        return []
    if pieces is None:
        return _WORDS.findall(text)
    n = max(1, min(pieces, len(text)))
    size = math.ceil(len(text) / n)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(prompt: int, completion: int, reasoning: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion + reasoning,
        "total_tokens": prompt + completion + reasoning,
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def chat_completion(
    cid: str,
    created: int,
    model: str,
    content: str,
    reasoning: str | None,
    prompt_tokens: int,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
) -> bytes:
    """A non-streaming ``chat.completion`` object (a tool-call answer when ``tool_calls``)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    if tool_calls:
        message["content"] = None
        message["tool_calls"] = tool_calls
        finish = "tool_calls"
        content = " ".join(c["function"]["arguments"] for c in tool_calls)
    if reasoning:
        message["reasoning_content"] = reasoning
    return _dumps(
        {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _usage(prompt_tokens, count_tokens(content), count_tokens(reasoning or "")),
        }
    )


def chat_chunks(
    cid: str,
    created: int,
    model: str,
    content: str,
    reasoning: str | None,
    prompt_tokens: int,
    *,
    pieces: int | None,
    include_usage: bool,
    tool_calls: list[dict[str, Any]] | None = None,
) -> list[bytes]:
    """Every SSE event of a chat stream, ``data: [DONE]`` included (§1.8).

    Role chunk, then ``delta.reasoning_content`` pieces (``-thinking`` models), then
    ``delta.content`` pieces, then an empty delta with ``finish_reason: "stop"``, then (with
    ``stream_options.include_usage``) a usage chunk with ``choices: []``, then ``[DONE]``.
    """
    base: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }
    extra: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse(
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        )

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"reasoning_content": p}) for p in split_text(reasoning or "", pieces)]
    if tool_calls:  # each call whole in one delta, then finish_reason "tool_calls"
        events += [
            chunk({"tool_calls": [{"index": i, **call}]}) for i, call in enumerate(tool_calls)
        ]
        content = " ".join(c["function"]["arguments"] for c in tool_calls)
        events.append(chunk({}, "tool_calls"))
    else:
        events += [chunk({"content": p}) for p in split_text(content, pieces)]
        events.append(chunk({}, "stop"))
    if include_usage:
        usage = _usage(prompt_tokens, count_tokens(content), count_tokens(reasoning or ""))
        events.append(sse({**base, "choices": [], "usage": usage}))
    events.append(DONE)
    return events


def _vector(seed: int, model: str, text: str, dims: int) -> list[float]:
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(f"{seed}|{model}|{counter}|{text}".encode()).digest()
        counter += 1
    ints = struct.unpack(f"<{dims}I", raw[: dims * 4])
    vec = [i / 2**31 - 1.0 for i in ints]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [round(v / norm, 6) for v in vec]


def embedding_response(
    seed: int, model: str, inputs: Sequence[str], dims: int, encoding_format: str
) -> bytes:
    """An OpenAI embeddings list with deterministic unit vectors (same text → same vector)."""
    data: list[dict[str, Any]] = []
    for i, text in enumerate(inputs):
        vec = _vector(seed, model, text, dims)
        emb: list[float] | str = vec
        if encoding_format == "base64":
            emb = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(max(1, count_tokens(t)) for t in inputs)
    return _dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )
