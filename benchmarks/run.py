#!/usr/bin/env python3
"""What does torouter cost over raw httpx?  Side by side, on this machine, in one run.

    python benchmarks/run.py              # ~2.5 minutes; prints the ratio table
    python benchmarks/run.py --scenarios stream,error --rounds 5   # a subset, more rounds
    python benchmarks/run.py --quick      # ~30 s smoke run
    python benchmarks/run.py --markdown --json out.json

It starts its own loopback server (``benchmarks/_server.py``, a subprocess), then measures the
client process's CPU (``time.process_time``: the server's CPU is not counted) for raw httpx,
torouter and, when installed, openai:

  sync      sequential non-streaming chat completions on one client, CPU per request
  async     requests at concurrency 50 on one async client, CPU per request
  stream    sync streams of many chunks, CPU per chunk
  ttfc      short sync streams: wall time from ``create()`` to the first chunk, and the TCP
            connections the server accepted per 100 streams (a stream that is not read to its
            end cannot go back to the pool)
  error     401 answers raised and caught (``max_retries=0``), CPU per error
  import    ``import X`` in fresh interpreters (median), the RSS right after it, and the time
            to import and build a first client (torouter imports most of itself lazily, on
            first use, so that row shows where the rest of its import cost went)
  retained  bytes still allocated (tracemalloc) at the end of one 10,000-chunk stream whose
            chunks the caller dropped, the stream object still alive, per chunk (once)

Round two (on request: ``--scenarios fanout,fanout10k,coldstart``; ``--round-two`` adds them to
the default scenarios):

  fanout    1000 calls started at once (``asyncio.gather``) on one default async client, after
            one warm-up call: wall time, CPU and peak RSS growth of the gather, each variant in a
            fresh process per round; ratios against raw httpx on httpx-aiohttp
  fanout10k the same with 10,000 calls (memory and time per call, against the 1000 run: linear?)
  coldstart a fresh interpreter imports the client, builds it and completes one chat call:
            wall time (from before the import to the answer's text) and CPU, ``--cold-runs``
            processes per variant and round, interleaved; ``httpx+pydantic`` (raw httpx whose
            answer one small pydantic model validates) shows the floor of any pydantic SDK

The work is cut into blocks that the clients take in turns (A1 B1 A2 B2 ...), and every ratio
is the median of the ratios between neighbouring blocks, so that a slow patch of a shared machine
hits all clients alike.  Trust the ratios, not the absolute microseconds.

With ``httpx-aiohttp`` installed, the async scenarios also run raw httpx on that transport
(``httpx+aiohttp``): torouter's default async transport is aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _variants import COLD, Variant, load

HERE = Path(__file__).resolve().parent
BASELINE = "httpx"

#: metric -> (label, target ratio or None, how the target reads)
TARGETS: dict[str, tuple[str, float | None, str]] = {
    "sync": ("sync request, CPU", 1.10, "<= 1.10x"),
    "async": ("async request at c=50, CPU", 0.50, "<= 0.50x"),
    "stream": ("stream, CPU per chunk", 1.20, "<= 1.20x"),
    "ttfc": ("stream, time to first chunk (wall)", 1.10, "<= 1.10x"),
    "error": ("handled 401 error (max_retries=0), CPU", 1.20, "<= 1.20x"),
    "import": ("`import` time", 1.5, "<= 1.5x"),
    "first_client": ("`import` + first client built, wall", None, "(no target)"),
}


# --------------------------------------------------------------------------------- server


class Server:
    """The loopback server subprocess, and a kept-alive connection to read its counters."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_server.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise SystemExit(f"the benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.root = f"http://127.0.0.1:{self.port}"
        self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def base(self, prefix: str = "") -> str:
        return f"{self.root}{prefix}/v1"

    def stats(self) -> dict[str, Any]:
        self._conn.request("GET", "/__stats")
        stats: dict[str, Any] = json.loads(self._conn.getresponse().read())
        return stats

    def stop(self) -> None:
        self._conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------------- measuring


class Results:
    """Per variant and metric: measured values per block (paired by block index)."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = {}
        self.extra: dict[str, dict[str, float]] = {}

    def add(self, variant: str, metric: str, value: float) -> None:
        self.values.setdefault(variant, {}).setdefault(metric, []).append(value)

    def median(self, variant: str, metric: str) -> float | None:
        vals = self.values.get(variant, {}).get(metric)
        return statistics.median(vals) if vals else None

    def ratio(self, variant: str, metric: str, base: str = BASELINE
              ) -> tuple[float, float, float] | None:
        """Median and quartiles of the block-by-block ratios ``variant / base``."""
        a = self.values.get(variant, {}).get(metric)
        b = self.values.get(base, {}).get(metric)
        if not a or not b:
            return None
        ratios = sorted(x / y for x, y in zip(a, b, strict=False) if y)
        if len(ratios) < 4:
            return statistics.median(ratios), ratios[0], ratios[-1]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        return q2, q1, q3


def _blocks(total: int, count: int) -> list[int]:
    count = max(1, min(count, total))
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def _turns(variants: list[Variant], shift: int) -> list[Variant]:
    shift %= len(variants)
    return variants[shift:] + variants[:shift]


def bench_sync(variants: list[Variant], server: Server, res: Results, n: int, blocks: int,
               metric: str = "sync", prefix: str = "") -> None:
    clients = {v.name: v.sync_client(server.base(prefix)) for v in variants}
    try:
        for v in variants:  # warm up: connection open, lazy imports and schemas built
            for _ in range(30):
                _call(v.create, clients[v.name], metric == "error")
        for i, size in enumerate(_blocks(n, blocks)):
            for v in _turns(variants, i):
                client = clients[v.name]
                create = v.create if metric != "error" else lambda c, f=v.create: _call(f, c, True)
                gc.collect()
                c0 = time.process_time()
                for _ in range(size):
                    create(client)
                res.add(v.name, metric, (time.process_time() - c0) / size * 1e6)
    finally:
        for v in variants:
            v.close(clients[v.name])


def _call(fn: Callable[[Any], object], client: Any, error: bool) -> None:
    if not error:
        fn(client)
        return
    try:
        fn(client)
    except Exception:  # any SDK's own error class
        return
    raise SystemExit("a 401 answer did not raise")


def bench_async(variants: list[Variant], server: Server, res: Results, n: int, conc: int,
                blocks: int) -> None:
    blocks = max(1, min(blocks, n // (conc * 8)))  # each worker makes >= 8 calls per block

    async def main() -> None:
        clients = {v.name: v.async_client(server.base()) for v in variants}
        try:
            for v in variants:  # open `conc` pooled connections
                for _ in range(2):
                    await asyncio.gather(*(v.acreate(clients[v.name]) for _ in range(conc)))
            for i, size in enumerate(_blocks(n, blocks)):
                for v in _turns(variants, i):
                    client, acreate, left = clients[v.name], v.acreate, size

                    async def worker() -> None:
                        nonlocal left
                        while left > 0:
                            left -= 1
                            await acreate(client)  # noqa: B023 - used before the loop moves on

                    gc.collect()
                    c0 = time.process_time()
                    await asyncio.gather(*(worker() for _ in range(conc)))
                    res.add(v.name, "async", (time.process_time() - c0) / size * 1e6)
        finally:
            for v in variants:
                await v.aclose(clients[v.name])

    asyncio.run(main())


def bench_stream(variants: list[Variant], server: Server, res: Results, streams: int,
                 chunks: int) -> None:
    clients = {v.name: v.sync_client(server.base(f"/chunks/{chunks}")) for v in variants}
    try:
        for v in variants:
            got = v.stream(clients[v.name], lambda: None)
            if got != chunks:
                raise SystemExit(f"{v.name}: {got} chunks for {chunks}")
        for i in range(streams):
            for v in _turns(variants, i):
                gc.collect()
                c0 = time.process_time()
                v.stream(clients[v.name], lambda: None)
                res.add(v.name, "stream", (time.process_time() - c0) / chunks * 1e6)
    finally:
        for v in variants:
            v.close(clients[v.name])


def bench_retained(variants: list[Variant], server: Server, res: Results, chunks: int) -> None:
    """Bytes still allocated (tracemalloc) at the end of a stream of ``chunks`` chunks, each
    dropped by the caller, while the stream object itself is alive -- per chunk."""
    clients = {v.name: v.sync_client(server.base(f"/chunks/{chunks}")) for v in variants}
    try:
        for v in variants:
            v.stream(clients[v.name], lambda: None)  # warm up: connection, lazy imports
            hold: list[Any] = []
            gc.collect()
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                v.stream(clients[v.name], lambda: None, hold)
                gc.collect()
                held = tracemalloc.get_traced_memory()[0] - base
            finally:
                tracemalloc.stop()
            res.extra.setdefault(v.name, {})["retained_per_chunk"] = max(held, 0) / chunks
            del hold
    finally:
        for v in variants:
            v.close(clients[v.name])


def bench_ttfc(variants: list[Variant], server: Server, res: Results, streams: int) -> None:
    """Short streams: wall time to the first chunk, and new TCP connections per 100 streams."""
    clients = {v.name: v.sync_client(server.base("/chunks/20")) for v in variants}
    accepts = dict.fromkeys(clients, 0)
    try:
        for v in variants:
            for _ in range(3):  # warm up (the first stream opens the connection)
                v.stream(clients[v.name], lambda: None)
        for i in range(streams):
            for v in _turns(variants, i):
                first: list[float] = []

                def on_first(first: list[float] = first) -> None:
                    first.append(time.perf_counter())

                gc.collect()
                before = server.stats()["accepts"]
                w0 = time.perf_counter()
                v.stream(clients[v.name], on_first)
                res.add(v.name, "ttfc", (first[0] - w0) * 1e3)
                accepts[v.name] += server.stats()["accepts"] - before
    finally:
        for v in variants:
            v.close(clients[v.name])
    for name, count in accepts.items():
        res.extra.setdefault(name, {})["conns_per_100_streams"] = count / streams * 100


CHILD = """
import sys, time
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
with open("/proc/self/status") as f:
    rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
{client}
t2 = time.perf_counter()
print((t1 - t0) * 1e3, rss / 1024, (t2 - t0) * 1e3)
"""
#: What the first use costs on top of the import: building a client (an SDK imports the rest of
#: itself lazily, so this is where its remaining import cost shows).
FIRST_CLIENT = {
    "httpx": "httpx.Client().close()",
    "torouter": "torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1').close()",
    "openai": "openai.OpenAI(api_key='sk-x', base_url='http://127.0.0.1:9/v1').close()",
}


def bench_import(variants: list[Variant], res: Results, runs: int) -> None:
    """``import X`` in fresh interpreters, the modules interleaved run by run."""
    modules = {v.name: v.name for v in variants if v.sync}  # the distribution is the module
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for module in modules.values():  # write bytecode caches first, as an install does
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
    for i in range(runs):
        for name in _turns(list(modules), i):
            code = CHILD.format(module=modules[name], client=FIRST_CLIENT.get(name, "pass"))
            out = subprocess.run([sys.executable, "-c", code],
                                 env=env, check=True, capture_output=True, text=True).stdout
            ms, rss, first = map(float, out.split())
            res.add(name, "import", ms)
            res.add(name, "rss", rss)
            res.add(name, "first_client", first)


# ----------------------------------------------------------------------- round two: fan-out


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


async def _fanout_child(variant: Variant, base: str, n: int, cap: float) -> dict[str, float]:
    """In a fresh process: one warm-up call, then ``n`` calls gathered at once."""
    client = variant.async_client(base)
    try:
        await variant.acreate(client)
        gc.collect()
        rss0 = peak = _rss_kb()
        done = False

        async def sample() -> None:  # peak RSS while the calls are in flight
            nonlocal peak
            while not done:
                peak = max(peak, _rss_kb())
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        c0, w0 = time.process_time(), time.perf_counter()
        async def all_calls() -> list[Any]:
            return await asyncio.gather(*(variant.acreate(client) for _ in range(n)),
                                        return_exceptions=True)

        gather = asyncio.create_task(all_calls())
        finished, _ = await asyncio.wait({gather}, timeout=cap)
        if not finished:  # cancelling thousands of calls can take longer than the calls did
            print(json.dumps({"over_cap": 1.0}), flush=True)
            os._exit(0)
        results, over = gather.result(), 0.0
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        done = True
        await sampler
        peak = max(peak, _rss_kb())
    finally:
        with contextlib.suppress(Exception):  # a pool left in a bad state by a cancelled gather
            await asyncio.wait_for(variant.aclose(client), 30)
    failed = sum(isinstance(r, BaseException) for r in results)
    return {"wall": wall, "cpu": cpu, "rss_mb": (peak - rss0) / 1024, "failed": failed,
            "over_cap": over}


def bench_fanout(variants: list[Variant], server: Server, res: Results, n: int, cap: float,
                 metric: str) -> None:
    """Each variant's gather of ``n`` calls in its own fresh process (memory is then its own)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for v in variants:
        if res.extra.get(v.name, {}).get(f"{metric}_over_cap"):
            continue  # did not finish within the cap in an earlier round: not run again
        before = server.stats()["accepts"]
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child-fanout", v.name, server.base(), str(n),
                 str(cap)], env=env, capture_output=True, text=True, timeout=cap + 120)
        except subprocess.TimeoutExpired:  # stuck even after the cap: counted as over it
            r = {"over_cap": 1.0}
        else:
            if out.returncode != 0:
                raise SystemExit(f"fanout {v.name}: {out.stderr.strip().splitlines()[-1:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
        extra = res.extra.setdefault(v.name, {})
        if r["over_cap"]:
            extra[f"{metric}_over_cap"] = cap
            print(f"{metric}: {v.name} did not finish {n} calls within {cap:g} s", flush=True)
            continue
        res.add(v.name, f"{metric}_wall", r["wall"])
        res.add(v.name, f"{metric}_cpu", r["cpu"])
        res.add(v.name, f"{metric}_rss", r["rss_mb"])
        extra[f"{metric}_failed"] = extra.get(f"{metric}_failed", 0) + r["failed"]
        extra[f"{metric}_conns"] = server.stats()["accepts"] - before
        if r["failed"]:
            print(f"{metric}: {v.name}: {r['failed']} of {n} calls failed", flush=True)


def child_fanout(name: str, base: str, n: int, cap: float) -> None:
    variants, _ = load([name] if "httpx" not in name else [], aiohttp=name == "httpx+aiohttp")
    variant = next(v for v in variants if v.name == name)
    print(json.dumps(asyncio.run(_fanout_child(variant, base, n, cap))))


# --------------------------------------------------------------------- round two: cold start

COLD_CHILD = """\
import time
w0 = time.perf_counter(); c0 = time.process_time()
{imports}
w1 = time.perf_counter()
{client}
w2 = time.perf_counter()
{call}
w3 = time.perf_counter(); c3 = time.process_time()
assert text
print((w3 - w0) * 1e3, (c3 - c0) * 1e3, (w1 - w0) * 1e3, (w2 - w1) * 1e3, (w3 - w2) * 1e3)
"""


def bench_coldstart(names: list[str], server: Server, res: Results, runs: int,
                    warm: bool) -> None:
    """``runs`` fresh interpreters per variant, interleaved (A1 B1 A2 B2 ...)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    codes = {}
    for name in names:
        imports, client, call = (part.replace("{base}", server.base()) for part in COLD[name])
        codes[name] = COLD_CHILD.format(imports=imports, client=client, call=call)
    for i in range(runs + (1 if warm else 0)):
        for name in _turns(list(codes), i):
            out = subprocess.run([sys.executable, "-c", codes[name]], env=env,
                                 capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise SystemExit(f"coldstart {name}: {out.stderr.strip().splitlines()[-1:]}")
            if warm and i == 0:
                continue  # the first process writes bytecode caches: not counted
            wall, cpu, imp, cli, call = map(float, out.stdout.split())
            for metric, value in (("cold", wall), ("cold_cpu", cpu), ("cold_import", imp),
                                  ("cold_client", cli), ("cold_call", call)):
                res.add(name, metric, value)


# --------------------------------------------------------------------------------- report


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


UNITS = {"sync": "µs", "async": "µs", "stream": "µs", "ttfc": "ms", "error": "µs",
         "import": "ms", "first_client": "ms"}


def report(res: Results, names: list[str], markdown: bool) -> str:
    sdks = [n for n in names if n != BASELINE and "+" not in n]
    header = ["metric", *(f"{n}" for n in names if "+" not in n),
              *(f"{n} / httpx" for n in sdks), "target", "torouter meets it"]
    rows: list[list[str]] = []
    for metric, (label, target, target_text) in TARGETS.items():
        row = [f"{label}, {UNITS[metric]}"]
        row += [_fmt(res.median(n, metric)) for n in names if "+" not in n]
        met = "-"
        for n in sdks:
            r = res.ratio(n, metric)
            row.append("-" if r is None else f"{r[0]:.2f}x ({r[1]:.2f}-{r[2]:.2f})")
            if n == "torouter" and r is not None and target is not None:
                met = "yes" if r[0] <= target else "NO"
        rows.append([*row, target_text, met])
    # RSS: an absolute budget over httpx.
    base_rss = res.median(BASELINE, "rss")
    row = ["RSS after import, MB"] + [_fmt(res.median(n, "rss")) for n in names if "+" not in n]
    met = "-"
    for n in sdks:
        rss = res.median(n, "rss")
        if rss is None or base_rss is None:
            row.append("-")
            continue
        row.append(f"{rss - base_rss:+.1f} MB")
        if n == "torouter":
            met = "yes" if rss - base_rss <= 15 else "NO"
    rows.append([*row, "<= httpx + 15 MB", met])
    row = ["retained bytes per chunk (stream alive at its end)"]
    row += [_fmt(res.extra.get(n, {}).get("retained_per_chunk")) for n in names if "+" not in n]
    row += ["" for _ in sdks]
    kept = res.extra.get("torouter", {}).get("retained_per_chunk")
    rows.append([*row, "<= 168 (32 MiB / 200k)",
                 "-" if kept is None else ("yes" if kept <= 168 else "NO")])
    row = ["new TCP connections per 100 sync streams"]
    row += [_fmt(res.extra.get(n, {}).get("conns_per_100_streams")) for n in names if "+" not in n]
    row += ["" for _ in sdks]
    tr = res.extra.get("torouter", {}).get("conns_per_100_streams")
    rows.append([*row, "0", "-" if tr is None else ("yes" if tr == 0 else "NO")])
    out = [_table(header, rows, markdown)]

    transports = [n for n in names if "+" in n]
    if transports and res.values.get(BASELINE, {}).get("async") and \
            res.values.get("torouter", {}).get("async"):
        header = ["async request at c=50, CPU µs", "value",
                  "ratio to raw httpx (default transport)"]
        rows = [[n, _fmt(res.median(n, "async")),
                 "1.00x" if n == BASELINE else _ratio_text(res.ratio(n, "async"))]
                for n in [BASELINE, *(n for n in names if n == "torouter"), *transports]]
        out.append(_table(header, rows, markdown))
    return "\n\n".join(out)


#: Round two: metric -> (label, unit, ratio base, target ratio or None)
ROUND_TWO: dict[str, tuple[str, str, str, float | None]] = {
    "fanout_wall": ("1000 calls in flight, wall", "s", "httpx+aiohttp", 1.5),
    "fanout_cpu": ("1000 calls in flight, CPU", "s", "httpx+aiohttp", None),
    "fanout_rss": ("1000 calls in flight, peak RSS growth", "MB", "httpx+aiohttp", None),
    "fanout10k_wall": ("10,000 calls in flight, wall", "s", "httpx+aiohttp", None),
    "fanout10k_cpu": ("10,000 calls in flight, CPU", "s", "httpx+aiohttp", None),
    "fanout10k_rss": ("10,000 calls in flight, peak RSS growth", "MB", "httpx+aiohttp", None),
    "cold": ("cold start: import + client + first call, wall", "ms", "httpx", 1.4),
    "cold_cpu": ("cold start, CPU", "ms", "httpx", None),
    "cold_import": ("cold start: import, wall", "ms", "httpx", None),
    "cold_client": ("cold start: client, wall", "ms", "httpx", None),
    "cold_call": ("cold start: first call, wall", "ms", "httpx", None),
}
ROUND_TWO_COLUMNS = ["httpx", "httpx+aiohttp", "httpx+pydantic", "openai", "torouter"]


def report_round_two(res: Results, markdown: bool) -> str:
    cols = [c for c in ROUND_TWO_COLUMNS if c in res.values or c in res.extra]
    header = ["metric", *cols, "torouter ratio", "target", "torouter meets it"]
    rows: list[list[str]] = []
    for metric, (label, unit, base, target) in ROUND_TWO.items():
        if not any(res.values.get(c, {}).get(metric) for c in cols):
            continue
        cells = []
        for c in cols:
            cap = res.extra.get(c, {}).get(metric.rsplit("_", 1)[0] + "_over_cap")
            cells.append(f">{cap:g}" if cap and unit == "s" else _fmt(res.median(c, metric)))
        r = res.ratio("torouter", metric, base)
        ratio = "-" if r is None else f"{_ratio_text(r)} vs {base}"
        met = "-" if r is None or target is None else ("yes" if r[0] <= target else "NO")
        rows.append([f"{label}, {unit}", *cells, ratio,
                     "-" if target is None else f"<= {target:.2f}x", met])
    # Linear?  What one call costs at 10,000 in flight over what it costs at 1000.
    for kind, label in (("wall", "wall"), ("rss", "memory")):
        cells = []
        for c in cols:
            small, big = res.median(c, f"fanout_{kind}"), res.median(c, f"fanout10k_{kind}")
            cells.append("-" if not small or not big else f"{(big / 10) / small:.2f}x")
        if any(x != "-" for x in cells):
            rows.append([f"per call at 10,000 / per call at 1000, {label}", *cells, "", "",
                         "(1.00x = linear)"])
    if not rows:
        return ""
    return _table(header, rows, markdown)


def _ratio_text(r: tuple[float, float, float] | None) -> str:
    return "-" if r is None else f"{r[0]:.2f}x ({r[1]:.2f}-{r[2]:.2f})"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        for r in [header, *rows]
    )


# --------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="torouter,openai",
                    help="comma list of torouter, openai (raw httpx always runs: the baseline)")
    ap.add_argument("--scenarios", default="sync,async,stream,ttfc,error,import,retained")
    ap.add_argument("--retained-chunks", type=int, default=10000,
                    help="chunks of the stream measured for retained memory (tracemalloc)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1200, help="sync requests per round")
    ap.add_argument("--async-requests", type=int, default=2000, help="async requests per round")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--streams", type=int, default=3, help="long streams per round")
    ap.add_argument("--chunks", type=int, default=2000, help="chunks per long stream")
    ap.add_argument("--short-streams", type=int, default=60,
                    help="short (20-chunk) streams per round, for first-chunk time and reuse")
    ap.add_argument("--errors", type=int, default=400, help="401 errors per round")
    ap.add_argument("--blocks", type=int, default=10)
    ap.add_argument("--import-runs", type=int, default=9)
    ap.add_argument("--no-aiohttp", action="store_true",
                    help="skip the async runs on the httpx-aiohttp transport")
    ap.add_argument("--round-two", action="store_true",
                    help="add the fanout, fanout10k and coldstart scenarios")
    ap.add_argument("--fanout-n", type=int, default=1000)
    ap.add_argument("--fanout-cap", type=float, default=60.0,
                    help="seconds after which a gather is cancelled and shown as >cap")
    ap.add_argument("--cold-runs", type=int, default=7, help="cold-start processes per round")
    ap.add_argument("--child-fanout", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="a smoke run (~30 s)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", metavar="PATH", help="also write every measured value here")
    args = ap.parse_args()
    if args.child_fanout:
        name, base, n, cap = args.child_fanout
        child_fanout(name, base, int(n), float(cap))
        return
    if args.round_two:
        args.scenarios += ",fanout,fanout10k,coldstart"
    if args.quick:
        args.rounds, args.requests, args.async_requests = 1, 400, 800
        args.streams, args.chunks, args.short_streams = 2, 1000, 30
        args.errors, args.blocks, args.import_runs = 200, 4, 3
        args.fanout_n, args.cold_runs = 200, 3

    variants, skipped = load([n.strip() for n in args.variants.split(",") if n.strip()],
                             aiohttp=not args.no_aiohttp)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    names = [v.name for v in variants]
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "versions": {v.name: v.version for v in variants},
        "skipped": skipped,
    }
    print(f"{meta['date']} | {meta['machine']} | python {meta['python']} | "
          + " | ".join(f"{v.name} {v.version}" for v in variants if "+" not in v.name),
          flush=True)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}", flush=True)

    res = Results()
    sync_vs = [v for v in variants if v.sync]
    server = Server()
    t0 = time.perf_counter()
    try:
        for rnd in range(args.rounds):
            order = _turns(sync_vs, rnd)
            for scen in scenarios:
                if scen == "sync":
                    bench_sync(order, server, res, args.requests, args.blocks)
                elif scen == "async":
                    bench_async(_turns(variants, rnd), server, res, args.async_requests,
                                args.concurrency, args.blocks)
                elif scen == "stream":
                    bench_stream(order, server, res, args.streams, args.chunks)
                elif scen == "ttfc":
                    bench_ttfc(order, server, res, args.short_streams)
                elif scen == "error":
                    bench_sync(order, server, res, args.errors, args.blocks, metric="error",
                               prefix="/status/401")
                elif scen == "fanout":
                    bench_fanout(_turns(variants, rnd), server, res, args.fanout_n,
                                 args.fanout_cap, "fanout")
                elif scen == "fanout10k":
                    bench_fanout(_turns(variants, rnd), server, res, args.fanout_n * 10,
                                 args.fanout_cap, "fanout10k")
                elif scen == "coldstart":
                    bench_coldstart([n for n in COLD if n in names or n == "httpx+pydantic"],
                                    server, res, args.cold_runs, warm=rnd == 0)
                elif scen == "retained":
                    if rnd == 0:  # one measurement: memory is not noisy
                        bench_retained(order, server, res, args.retained_chunks)
                elif scen != "import":
                    raise SystemExit(f"unknown scenario {scen!r}")
            print(f"round {rnd + 1}/{args.rounds} done ({time.perf_counter() - t0:.0f}s)",
                  flush=True)
    finally:
        server.stop()
    if "import" in scenarios:
        bench_import(sync_vs, res, args.import_runs)
    print()
    if any(s in scenarios for s in ("sync", "async", "stream", "ttfc", "error", "import")):
        print(report(res, names, markdown=args.markdown))
    two = report_round_two(res, args.markdown)
    if two:
        print("\nRound two (fan-outs: each variant in a fresh process; ratios vs the base named)")
        print(two)
    print(f"\nratios: median of block-by-block ratios (inter-quartile range); "
          f"{args.rounds} rounds in {time.perf_counter() - t0:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"meta": meta, "values": res.values, "extra": res.extra}, indent=1))


if __name__ == "__main__":
    main()
