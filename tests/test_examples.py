"""Every file in examples/ runs as a user would run it: no key, no network, exit code 0, and
under ``python -X dev -W error::ResourceWarning``: an example that leaves a client or a socket
open fails.

The examples start at once, in parallel (each is a fresh Python process), and each test then
checks the lines a reader of that example relies on. The quickstart is the README's first
command: without a key it must run the fake gateway on a real socket and show each failure with
its typed exception; with a key it must talk to the gateway it was given and, if that fails,
say so and exit non-zero — never fall back to the fake gateway silently.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SECRET = "sk-test-secret-key-0123456789abcdef"
SCRIPTS = ["quickstart.py", "streaming.py", "handling_errors.py", "configuring_retries.py",
           "structured_outputs.py", "stream_helper.py", "fleet.py", "telemetry.py"]
DEV = ["-X", "dev", "-W", "error::ResourceWarning"]  # unclosed clients and sockets fail


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _refused_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TOROUTER_API_KEY", "TOROUTER_BASE_URL")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Run]]:
    jobs: dict[str, tuple[list[str], dict[str, str]]] = {
        name: ([sys.executable, *DEV, str(EXAMPLES / name)], _env()) for name in SCRIPTS
    }
    jobs["pytest"] = (
        [sys.executable, *DEV, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLES / "test_your_app_example.py")],
        _env(),
    )
    jobs["real"] = (
        [sys.executable, *DEV, str(EXAMPLES / "quickstart.py")],
        _env(TOROUTER_API_KEY=SECRET,
             TOROUTER_BASE_URL=f"http://127.0.0.1:{_refused_port()}/v1"),
    )
    jobs["demo-on-the-fake-gateway-cli"] = (  # the README's demo pointed at a local fake gateway
        [sys.executable, *DEV, "-c", _DEMO_ON_A_LOCAL_GATEWAY],
        _env(),
    )
    started = time.monotonic()
    procs = {
        name: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        for name, (cmd, env) in jobs.items()
    }
    results: dict[str, Run] = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=120)
            results[name] = Run(proc.returncode, out, err, time.monotonic() - started)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    yield results


_DEMO_ON_A_LOCAL_GATEWAY = """
import os, runpy, sys
from torouter.testing import FakeGateway
gateway = FakeGateway(reply="Bonjour")
os.environ["TOROUTER_API_KEY"] = gateway.add_key()
with gateway.serve() as server:
    os.environ["TOROUTER_BASE_URL"] = server.base_url
    sys.argv = ["quickstart.py"]
    try:
        runpy.run_path("examples/quickstart.py", run_name="__main__")
    except SystemExit as exit:
        print(f"exit {exit.code}")
"""


def ok(run: Run) -> str:
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "ResourceWarning" not in run.stderr, run.stderr[-3000:]
    return run.stdout


def test_quickstart_runs_the_fake_gateway_and_shows_each_failure(runs: dict[str, Run]) -> None:
    out = ok(runs["quickstart.py"])
    first = out.splitlines()[0]
    assert "No TOROUTER_API_KEY" in first and "FAKE" in first
    assert "real socket at http://127.0.0.1:" in first
    assert "assistant: Bonjour" in out  # the chat and the stream
    assert "[stream done, request_id=req_" in out  # (through the stream helper)
    assert "finish_reason=stop]" in out
    for cls, code in [("KeyExpired", "403, API_KEY_EXPIRED"),
                      ("QuotaExhausted", "429, API_KEY_QUOTA_EXHAUSTED"),
                      ("AccessDenied", "403, ACCESS_DENIED"),
                      ("UpstreamUnavailable", "502, upstream_unavailable")]:
        assert f"caught torouter.{cls}\n  str(err): {cls} ({code}):" in out, cls
    assert out.count("  hint:     ") == 4
    # The rate limit: the retry is shown happening, and the call then succeeds.
    assert "attempt 1 failed with RateLimited (429); retrying in 0.20s" in out
    assert "succeeded after the retry: retries_taken=1" in out
    assert "gave up after 3 attempts" in out
    assert "sk-fake-" not in out + runs["quickstart.py"].stderr  # no key is ever printed


def test_quickstart_with_a_key_uses_that_gateway_and_never_falls_back(
    runs: dict[str, Run]
) -> None:
    run = runs["real"]
    assert run.returncode != 0
    first = run.stdout.splitlines()[0]
    # A local TOROUTER_BASE_URL is not "the REAL gateway"; the key is masked as the SDK does.
    assert "using the gateway at http://127.0.0.1:" in first and "REAL" not in first
    assert "not the real ToRouter one" in first
    assert "caught torouter.APIConnectionError" in run.stdout
    assert "not falling back to the fake gateway" in run.stdout
    assert "FAKE" not in run.stdout and "Bonjour" not in run.stdout
    assert SECRET not in run.stdout + run.stderr
    assert "sk-…cdef" in first and "sk-...cdef" not in first
    assert "ResourceWarning" not in run.stderr


def test_quickstart_with_a_key_and_a_local_gateway_says_which_and_runs(
    runs: dict[str, Run]
) -> None:
    out = ok(runs["demo-on-the-fake-gateway-cli"])
    first = out.splitlines()[0]
    assert "REAL" not in first and "using the gateway at http://127.0.0.1:" in first
    assert "the failure demos need the built-in fake gateway" in out
    assert "assistant: Bonjour" in out and "exit 0" in out


def test_quickstart_says_real_only_for_the_real_gateway() -> None:
    import runpy

    demo = runpy.run_path(str(EXAMPLES / "quickstart.py"))
    assert demo["masked"]("sk-fake-9e9c553580bd99b3256835518b0550c6") == "sk-…50c6"
    assert demo["masked"]("sk-short") == "sk-…"


def test_streaming_example(runs: dict[str, Run]) -> None:
    out = ok(runs["streaming.py"])
    assert "[answer] Rivers carve valleys, carry silt and join the sea." in out
    assert "[thinking] Let me think" in out
    assert "caught StreamInterrupted: the partial answer is kept: 'Rivers carve valleys, '" in out
    assert "caught UpstreamUnavailable (code=upstream_unavailable" in out


def test_stream_helper_example(runs: dict[str, Run]) -> None:
    out = ok(runs["stream_helper.py"])
    assert "[thinking] Let me think" in out
    assert "[answer] Rivers carve valleys, carry silt and join the sea." in out
    assert "[content.done: 50 characters]" in out
    assert "final: 'Rivers carve valleys, carry silt and join the sea.' (finish_reason=stop" in out
    assert "[stopped by the caller]" in out
    assert "get_final_completion(): StreamInterrupted: the answer is not whole" in out
    assert out.rstrip().endswith("[50 characters]")


def test_handling_errors_example(runs: dict[str, Run]) -> None:
    out = ok(runs["handling_errors.py"])
    assert "expired key    -> ALERT the key is dead (KeyExpired, status 403)" in out
    assert "expired key    -> ALERT the key is dead (KeyExpired, status 401)" in out
    assert out.count("spent quota    -> ALERT billing (QuotaExhausted") == 2
    assert "model blocked  -> blocked by a key rule (model_not_allowed" in out
    assert "rate limited   -> busy, try later (retry_after=None, attempts=3)" in out
    assert out.count("outage         -> provider down after 3 attempts") == 2
    assert "err.code         = 'API_KEY_EXPIRED'" in out


def test_configuring_retries_example(runs: dict[str, Run]) -> None:
    out = ok(runs["configuring_retries.py"])
    assert "UpstreamUnavailable  retry=True  max_retries=5" in out
    assert "RateLimited          retry=False" in out
    assert "ok after retries_taken=4" in out
    assert "raised at once: attempts=1, why: not retried by policy" in out
    assert "within the 0.3 s deadline" in out
    assert "call 2: attempts=1 (retry budget empty)" in out


def test_fleet_example(runs: dict[str, Run]) -> None:
    import re

    out = ok(runs["fleet.py"])
    if "the coordinator will fail open" in out:  # no redis-server here: the processes work alone
        assert "20 calls: KeyExpired\n" in out
        return
    assert "this process: RateLimited (no retries allowed; the fleet pauses for 2 s)" in out
    assert out.count(": ok after ") == 4, out  # the others waited out the pause, then succeeded
    seen = re.search(r"the gateway saw (\d+) requests with the expired key for 20 calls", out)
    fleet = re.search(r"(\d+) calls: KeyExpired \(from the fleet, nothing sent\)", out)
    assert seen is not None and fleet is not None, out
    # About one request per process (those in flight when the first was recorded); a process
    # whose Redis call stalled past its 50 ms timeout on this loaded machine sends on its own.
    assert 1 <= int(seen.group(1)) <= 10 and int(fleet.group(1)) == 20 - int(seen.group(1)), out


def test_the_pytest_example_passes_with_the_plugin_loaded_from_its_entry_point(
    runs: dict[str, Run]
) -> None:
    out = ok(runs["pytest"])
    assert "8 passed" in out




def test_every_example_ran_under_dev_mode_without_resource_warnings(
    runs: dict[str, Run]
) -> None:
    for name, run in runs.items():
        assert "ResourceWarning" not in run.stderr, (name, run.stderr[-3000:])


def test_structured_outputs_example(runs: dict[str, Run]) -> None:
    out = ok(runs["structured_outputs.py"])
    assert "FAKE ToRouter gateway" in out.splitlines()[0]
    assert "parsed: MathReasoning with 1 step(s)" in out
    assert "the model calls GetWeather(city='example'" in out
    assert "caught torouter.OutputValidationError: the content of choice 0 is not a valid " \
           "MathReasoning (2 validation errors" in out
    assert "err.__cause__: pydantic ValidationError with 2 errors" in out
    assert "retried?       False" in out
    assert "caught torouter.LengthFinishReasonError" in out
    assert "the partial answer is kept: '{\"steps\": [{\"explanation\": \"Subtract 7'" in out


def test_structured_outputs_example_with_a_key() -> None:
    """With TOROUTER_API_KEY set it uses the gateway it is given (here: a fake one, served)."""
    from torouter.testing import FakeGateway

    gateway = FakeGateway()
    with gateway.serve() as server:
        done = subprocess.run(
            [sys.executable, *DEV, str(EXAMPLES / "structured_outputs.py")], cwd=ROOT,
            env=_env(TOROUTER_API_KEY=gateway.add_key(), TOROUTER_BASE_URL=server.base_url),
            capture_output=True, text=True, timeout=120,  # watchdog only
        )
    out = ok(Run(done.returncode, done.stdout, done.stderr, 0.0))
    assert f"the gateway at {server.base_url} (from TOROUTER_BASE_URL" in out
    assert "REAL" not in out
    assert "parsed: MathReasoning" in out and "the model calls GetWeather" in out
    assert "OutputValidationError" not in out  # the failure demos need the fake gateway
    assert len(gateway.requests) == 2


def test_telemetry_example_prints_the_call_and_attempt_spans_and_the_metrics(
    runs: dict[str, Run]
) -> None:
    out = ok(runs["telemetry.py"])
    assert out.count("\n'chat gpt-5-mini' ") == 3 and out.count("\n    'POST' ") == 6
    assert "http.response.status_code=503" in out and "error.type='UpstreamUnavailable'" in out
    assert "http.request.resend_count=1" in out
    assert "torouter.retries_taken=1" in out
    assert "event torouter.retry.backoff" in out
    assert "torouter.stream.outcome='completed'" in out
    assert "'chat gpt-5' " in out and "error.type='AccessDenied'" in out
    assert "'embeddings text-embedding-3-small'" in out
    assert "gen_ai.client.operation.duration (s)" in out
    assert "gen_ai.token.type=output: count=3 sum=9" in out
    assert "gen_ai.client.operation.time_to_first_chunk (s)" in out
    assert "sk-fake-" not in out  # no key in any span


def test_every_example_is_covered() -> None:
    present = {p.name for p in EXAMPLES.glob("*.py")}
    assert present == {*SCRIPTS, "test_your_app_example.py"}


_WITHOUT_DEV_TOOLS = """
import runpy, sys

class NoDevTools:  # what `pip install -e .` does not bring
    blocked = {"pytest", "respx", "hypothesis", "openai", "mypy", "ruff", "httpx_aiohttp",
               "mkdocs", "_pytest"}

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ImportError(f"{name} is a dev tool: the demo must not need it")
        return None

sys.meta_path.insert(0, NoDevTools())
sys.argv = ["quickstart.py"]
runpy.run_path("examples/quickstart.py", run_name="__main__")
"""


def test_the_demo_needs_only_the_runtime_package() -> None:
    # The README's first command installs `pip install -e .` (httpx, pydantic, tenacity) only.
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_DEV_TOOLS], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "dev tool" not in proc.stderr and "assistant: Bonjour" in proc.stdout
