"""``torouter ping``: the one-request smoke test (``GET /models``, then one minimal chat)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .._errors import ToRouterError
from ._config import Settings
from ._output import Exit, Output

__all__ = ["PING_PROMPT", "run"]

#: What the minimal chat sends (no token cap: some models reject ``max_tokens``).
PING_PROMPT = "ping"


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run(args: argparse.Namespace, out: Output) -> int:
    settings = Settings.from_args(args, out)
    model: str = args.model
    out.context["model"] = model
    doc: dict[str, Any] = {"ok": True, "command": "ping", **out.context}
    with settings.client() as client:
        step = "GET /models"
        try:
            start = time.perf_counter()
            models = client.models.list()
            doc["models"] = {
                "count": len(models),
                "contains_model": model in models,
                "latency_ms": round((time.perf_counter() - start) * 1000, 1),
                "request_id": models.request_id,
                "retries_taken": models.retries_taken,
            }
            step = "POST /chat/completions"
            start = time.perf_counter()
            reply = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": PING_PROMPT}]
            )
            latency = (time.perf_counter() - start) * 1000
        except ToRouterError as err:
            if not out.json_mode:
                out.note(f"torouter ping: {step} failed")
            return int(out.report_error(err, command="ping", extra={
                "failed_step": step, "models": doc.get("models"), "retried": settings.retried,
            }))
    content = reply.choices[0].message.content if reply.choices else None
    usage = reply.usage
    doc["chat"] = {
        "model": reply.model or model,
        "latency_ms": round(latency, 1),
        "request_id": reply.request_id,
        "retries_taken": reply.retries_taken,
        "reply": content,
        "finish_reason": reply.choices[0].finish_reason if reply.choices else None,
        "usage": usage.to_dict() if usage is not None else None,
    }
    doc["retried"] = settings.retried
    if out.json_mode:
        out.emit(doc)
        return int(Exit.OK)
    m, c = doc["models"], doc["chat"]
    listed = "" if m["contains_model"] else f" ({model} is not in the list)"
    retries = "" if not c["retries_taken"] else f", after {c['retries_taken']} retries"
    out.line(f"ok: {settings.base_url} accepted key {settings.masked_key}")
    rows: list[tuple[str, ...]] = [
        ("  GET /models", f"{m['count']} models{listed}",
         f"{m['latency_ms']:.0f} ms", f"request_id {m['request_id']}"),
        ("  POST /chat/completions", f"{c['model']} answered{retries}",
         f"{c['latency_ms']:.0f} ms", f"request_id {c['request_id']}"),
    ]
    out.table(rows)
    out.line(f"  reply: {_short(content or '')!r}"
             + (f" ({usage.prompt_tokens}+{usage.completion_tokens} tokens)" if usage else ""))
    return int(Exit.OK)
