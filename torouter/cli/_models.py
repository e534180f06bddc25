"""``torouter models``: the models this key may call (``GET /models``)."""

from __future__ import annotations

import argparse
import time

from ._config import Settings
from ._output import Exit, Output

__all__ = ["run"]


def run(args: argparse.Namespace, out: Output) -> int:
    settings = Settings.from_args(args, out)
    start = time.perf_counter()
    with settings.client() as client:
        models = client.models.list()
    elapsed_ms = (time.perf_counter() - start) * 1000
    if out.json_mode:
        out.emit({
            "ok": True,
            "command": "models",
            "base_url": settings.base_url,
            "api_key": settings.masked_key,
            "count": len(models),
            "request_id": models.request_id,
            "latency_ms": round(elapsed_ms, 1),
            "models": [m.to_dict() for m in models],
        })
        return int(Exit.OK)
    out.table([("ID", "OWNED BY")] + [(m.id, m.owned_by or "-") for m in models])
    out.note(f"{len(models)} models for key {settings.masked_key} at {settings.base_url} "
             f"({elapsed_ms:.0f} ms, request_id {models.request_id})")
    return int(Exit.OK)
