"""``torouter chat "prompt"``: send one prompt (argument or stdin) and stream the answer."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from .._errors import StreamInterrupted, ToRouterError
from ._config import Settings
from ._output import Exit, Output

if TYPE_CHECKING:
    from ..types.chat_params import ChatCompletionMessageParam

__all__ = ["read_prompt", "run"]


def read_prompt(arg: str | None) -> str | None:
    """The prompt: the argument, or stdin for ``None`` / ``"-"`` (``None`` if stdin is a TTY)."""
    if arg is not None and arg != "-":
        return arg
    if sys.stdin is None or sys.stdin.isatty():
        return None
    return sys.stdin.read()


def _usage(out: Output, message: str) -> int:
    if out.json_mode:
        out.emit({"ok": False, "command": "chat",
                  "error": {"class": "UsageError", "message": message},
                  "exit_code": int(Exit.USAGE)})
    else:
        out.note(f"torouter chat: error: {message}")
    return int(Exit.USAGE)


def run(args: argparse.Namespace, out: Output) -> int:
    prompt = read_prompt(args.prompt)
    if prompt is None:
        return _usage(out, 'no prompt: pass it as an argument (torouter chat "Hi") or on stdin')
    if not prompt.strip():
        return _usage(out, "the prompt is empty")
    settings = Settings.from_args(args, out)
    model: str = args.model
    out.context["model"] = model
    messages: list[ChatCompletionMessageParam] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    with settings.client(quick=False) as client:
        if args.stream:
            return _stream(client, model, messages, settings, out)
        start = time.perf_counter()
        reply = client.chat.completions.create(model=model, messages=messages)
        latency = (time.perf_counter() - start) * 1000
    choice = reply.choices[0] if reply.choices else None
    message = choice.message if choice else None
    content = (message.content if message else None) or ""
    doc = {
        "ok": True, "command": "chat", "stream": False, "model": reply.model or model,
        "content": content,
        "reasoning": message.reasoning_content if message else None,
        "refusal": message.refusal if message else None,
        "finish_reason": choice.finish_reason if choice else None,
        "request_id": reply.request_id, "retries_taken": reply.retries_taken,
        "latency_ms": round(latency, 1),
        "usage": reply.usage.to_dict() if reply.usage else None,
    }
    return _finish(out, doc)


def _stream(client: Any, model: str, messages: list[ChatCompletionMessageParam],
            settings: Settings, out: Output) -> int:
    parts: list[str] = []
    reasoning: list[str] = []
    refusal: list[str] = []
    finish: str | None = None
    usage: Any = None
    first_ms: float | None = None
    start = time.perf_counter()
    stream = client.chat.completions.create(model=model, messages=messages, stream=True)
    reply_model: str | None = None
    try:
        with stream:
            for chunk in stream:
                reply_model = reply_model or chunk.model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    delta = choice.delta
                    if delta.content:
                        if first_ms is None:
                            first_ms = (time.perf_counter() - start) * 1000
                        parts.append(delta.content)
                        if not out.json_mode:
                            out.write(delta.content)
                    if delta.reasoning_content:
                        reasoning.append(delta.reasoning_content)
                    if delta.refusal:
                        refusal.append(delta.refusal)
                    finish = choice.finish_reason or finish
    except ToRouterError as err:
        text = "".join(parts)
        if not out.json_mode and text and not text.endswith("\n"):
            out.write("\n")
        if not out.json_mode and isinstance(err, StreamInterrupted):
            out.note(f"torouter chat: the stream broke after {len(text)} characters "
                     "(printed above); resend the prompt for a complete answer")
        return int(out.report_error(err, command="chat", extra={
            "stream": True, "partial": text, "request_id": stream.request_id,
        }))
    doc = {
        "ok": True, "command": "chat", "stream": True, "model": reply_model or model,
        "content": "".join(parts),
        "reasoning": "".join(reasoning) or None,
        "refusal": "".join(refusal) or None,
        "finish_reason": finish,
        "request_id": stream.request_id, "retries_taken": stream.retries_taken,
        "latency_ms": round((time.perf_counter() - start) * 1000, 1),
        "first_token_ms": None if first_ms is None else round(first_ms, 1),
        "usage": usage.to_dict() if usage is not None else None,
    }
    return _finish(out, doc, streamed=True)


def _finish(out: Output, doc: dict[str, Any], *, streamed: bool = False) -> int:
    if out.json_mode:
        out.emit(doc)
        return int(Exit.OK)
    content: str = doc["content"]
    if not streamed:
        out.write(content)
    if content and not content.endswith("\n"):
        out.write("\n")
    if doc["refusal"]:
        out.note(f"torouter chat: the model refused: {doc['refusal']}")
    if doc["finish_reason"] not in (None, "stop"):
        out.note(f"torouter chat: the answer ended with finish_reason={doc['finish_reason']}"
                 + (" (cut at the token limit)" if doc["finish_reason"] == "length" else ""))
    return int(Exit.OK)
