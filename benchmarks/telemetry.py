#!/usr/bin/env python3
"""What does OpenTelemetry cost a torouter call?  Telemetry off, on with no SDK, on with an SDK.

    python benchmarks/telemetry.py            # ~1.5 minutes; prints the table
    python benchmarks/telemetry.py --quick    # ~30 s smoke run
    python benchmarks/telemetry.py --markdown

Needs ``opentelemetry-sdk`` (the dev extra).  The same loopback server and block-interleaved
measurement as ``run.py`` (client CPU per request, per chunk or per handled 401; ratios as
medians of neighbouring blocks), for:

  inproc          (first) sync requests answered by an in-process httpx transport: no socket,
                  so the difference between the variants is torouter's own CPU, with far less
                  noise than over loopback on a shared machine (raw httpx is not run here)

  httpx           raw httpx, the baseline of run.py's targets
  off             torouter, ``telemetry=False`` (no seam at all)
  no-op           torouter with telemetry on (the default) and no SDK configured: the API's
                  no-op providers, what a program gets by just having ``opentelemetry-api``
  sdk             torouter with an SDK ``TracerProvider`` (SimpleSpanProcessor into an
                  InMemorySpanExporter, cleared between blocks) and ``MeterProvider``
                  (InMemoryMetricReader): every span and metric point is really built
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _variants import SDK, RawHttpx, Variant
from run import (
    Results,
    Server,
    _blocks,
    _fmt,
    _ratio_text,
    _table,
    bench_async,
    bench_stream,
    bench_sync,
)


class Torouter(SDK):
    """torouter built with extra client options (the telemetry ones)."""

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, "torouter", "ToRouter", "AsyncToRouter")
        self.options = options

    def sync_client(self, base: str) -> Any:
        client = self.sync_cls(api_key="sk-bench-" + "0" * 28, base_url=base, max_retries=0,
                               **self.options)
        client.create = client.chat.completions.create
        return client

    def async_client(self, base: str) -> Any:
        client = self.async_cls(api_key="sk-bench-" + "0" * 28, base_url=base, max_retries=0,
                                **self.options)
        client.create = client.chat.completions.create
        client.owned_http = None
        return client


def variants() -> tuple[list[Variant], Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return [
        RawHttpx(),
        Torouter("off", telemetry=False),
        Torouter("no-op"),
        Torouter("sdk", tracer_provider=tracer_provider, meter_provider=meter_provider),
    ], exporter


METRICS = {"sync": "sync request, CPU µs", "async": "async request at c=50, CPU µs",
           "stream": "stream, CPU µs per chunk",
           "error": "handled 401 (max_retries=0), CPU µs",
           "inproc": "sync request, in-process transport (no socket), CPU µs"}


def bench_inproc(chosen: list[Variant], res: Results, n: int, blocks: int) -> None:
    """Sync requests answered by an in-process httpx transport: no socket, no server, so the
    difference between the variants is the SDK's own CPU (what telemetry adds) with far less
    noise than over loopback."""
    import json

    import httpx
    from _variants import MESSAGES, MODEL

    body = json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello there."}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23},
    }).encode()
    headers = {"content-type": "application/json", "x-request-id": "req-1"}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers=headers)

    clients = {}
    for v in chosen:
        if not isinstance(v, Torouter):
            continue
        http = httpx.Client(transport=httpx.MockTransport(answer))
        client = v.sync_cls(api_key="sk-bench-" + "0" * 28, base_url="http://127.0.0.1:9/v1",
                            max_retries=0, http_client=http, **v.options)
        clients[v.name] = client.chat.completions.create
    for create in clients.values():
        for _ in range(50):
            create(model=MODEL, messages=MESSAGES)
    for i, size in enumerate(_blocks(n, blocks)):
        names = list(clients)
        for name in names[i % len(names):] + names[:i % len(names)]:
            create = clients[name]
            gc.collect()
            c0 = time.process_time()
            for _ in range(size):
                create(model=MODEL, messages=MESSAGES)
            res.add(name, "inproc", (time.process_time() - c0) / size * 1e6)


def report(res: Results, names: list[str], markdown: bool) -> str:
    header = ["metric", *names, "no-op / off", "sdk / off", "no-op / httpx", "sdk / httpx"]
    rows = []
    for metric, label in METRICS.items():
        if not res.values.get("off", {}).get(metric):
            continue
        rows.append([label, *(_fmt(res.median(n, metric)) for n in names),  # '-': not run
                     _ratio_text(res.ratio("no-op", metric, "off")),
                     _ratio_text(res.ratio("sdk", metric, "off")),
                     *(["-", "-"] if metric == "inproc" else [
                         _ratio_text(res.ratio("no-op", metric)),
                         _ratio_text(res.ratio("sdk", metric))])])
    return _table(header, rows, markdown)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="inproc,sync,async,stream,error")
    ap.add_argument("--errors", type=int, default=400)
    ap.add_argument("--inproc-requests", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1200)
    ap.add_argument("--async-requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=2000)
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.requests, args.async_requests = 1, 400, 800
        args.streams, args.chunks, args.blocks = 2, 1000, 4
        args.inproc_requests, args.errors = 2000, 200

    chosen, exporter = variants()
    names = [v.name for v in chosen]
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')} | {platform.system()} "
          f"{platform.machine()}, {os.cpu_count()} CPUs | python {platform.python_version()} | "
          f"torouter telemetry: off / no-op provider / SDK in memory", flush=True)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    server = Server()
    res = Results()
    try:
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            if "inproc" in scenarios:
                bench_inproc(chosen, res, args.inproc_requests, args.blocks * 2)
                exporter.clear()
            if "sync" in scenarios:
                bench_sync(chosen, server, res, args.requests, args.blocks)
                exporter.clear()
            if "async" in scenarios:
                bench_async(chosen, server, res, args.async_requests, args.concurrency,
                            args.blocks)
                exporter.clear()
            if "error" in scenarios:
                bench_sync(chosen, server, res, args.errors, args.blocks, metric="error",
                           prefix="/status/401")
                exporter.clear()
            if "stream" in scenarios:
                bench_stream(chosen, server, res, args.streams, args.chunks)
                exporter.clear()
    finally:
        server.stop()
    print()
    print(report(res, names, args.markdown))


if __name__ == "__main__":
    main()
