"""The ``torouter`` command line against a real local FakeGateway server (127.0.0.1).

One gateway server serves the whole module.  Every scenario uses its own key (expired, IP-blocked,
broke, rate-limited ...) or its own model (one whose only upstream channel is down, one whose
stream drops), so scenarios never disturb each other and can run concurrently:

* ``runs`` (module fixture): real ``python -m torouter.cli`` processes, started together — each
  command once and one failure per exit code 3..9, so exit statuses, stdout/stderr and
  ``--json`` are those a script sees;
* ``cli`` (fixture): ``main(argv)`` in-process with captured output, for the many variants
  (human and JSON for every family, every catalog row, every doctor outcome).

Every run, either way, asserts that its full API key appears in neither stdout nor stderr.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import torouter
from torouter import DEFAULT_RETRY_POLICY, ERROR_CATALOG
from torouter._errors import mask_key
from torouter.cli import DEFAULT_MODEL, main
from torouter.cli._output import cli_hint
from torouter.testing import FakeGateway, Outcome

PARALLEL = 8
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def _reply(messages: list[dict[str, Any]]) -> str:
    """The fake model: echo the last user message, prefixed by the system message if any."""
    system = [m["content"] for m in messages if m.get("role") == "system"]
    user = [m["content"] for m in messages if m.get("role") == "user"][-1]
    return f"[system: {system[0]}] {user}" if system else str(user)


# --------------------------------------------------------------------------- running the CLI


@dataclass
class Spec:
    argv: list[str]
    key: str | None = None
    base_url: str | None = None
    stdin: str = ""
    env: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # argv is a whole python command line, not torouter arguments


@dataclass
class Run:
    spec: Spec
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return (f"Run(argv={self.spec.argv}, code={self.code},\n--- stdout ---\n{self.out}"
                f"--- stderr ---\n{self.err})")


def _env(spec: Spec) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TOROUTER_", "SSL_CERT_")) and k.lower() not in _PROXY_VARS}
    env["PYTHONIOENCODING"] = "utf-8"
    if spec.key is not None:
        env["TOROUTER_API_KEY"] = spec.key
    if spec.base_url is not None:
        env["TOROUTER_BASE_URL"] = spec.base_url
    env.update(spec.env)
    return env


def _start(spec: Spec) -> tuple[subprocess.Popen[str], float]:
    argv = [sys.executable, *spec.argv] if spec.raw else [
        sys.executable, "-m", "torouter.cli", *spec.argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", env=_env(spec))
    return proc, time.perf_counter()


def _finish(proc: subprocess.Popen[str], started: float, spec: Spec) -> Run:
    out, err = proc.communicate(spec.stdin, timeout=60)
    run = Run(spec, proc.returncode, out, err, time.perf_counter() - started)
    for secret in {spec.key, *(a for a in spec.argv if a.startswith("sk-"))} - {None}:
        assert secret
        assert secret.strip() not in out + err, f"the API key leaked: {run!r}"
    return run


def run_all(specs: dict[str, Spec]) -> dict[str, Run]:
    """Run every spec, ``PARALLEL`` processes at a time."""
    results: dict[str, Run] = {}
    pending = list(specs.items())
    active: list[tuple[str, subprocess.Popen[str], float]] = []
    while pending or active:
        while pending and len(active) < PARALLEL:
            name, spec = pending.pop(0)
            active.append((name, *_start(spec)))
        name, proc, started = active.pop(0)
        results[name] = _finish(proc, started, specs[name])
    return results


def run_one(spec: Spec) -> Run:
    return _finish(*_start(spec), spec)


# --------------------------------------------------------------------------- the gateway


@dataclass
class Env:
    gw: FakeGateway
    base_url: str
    refused_url: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    gw = FakeGateway(seed=11, reply=_reply)
    regular = tuple(gw.catalog)
    for name in ("outage-model", "flaky-model", "drop-model"):
        gw.add_model(name, owned_by="test")
    # The default channel keeps the documented catalog; each special model has its own channel.
    gw.upstream.add_channel("default", models=regular)
    gw.upstream.add_channel("down", models=("outage-model",)).always(Outcome.plain(503))
    gw.upstream.add_channel("flaky", models=("flaky-model",)).script(Outcome.plain(500))
    gw.upstream.add_channel("dropper", models=("drop-model",)).always(Outcome.drop(after=3))

    gw.add_user("broke", balance_usd=0)
    gw.add_user("planuser")
    gw.exhaust_usage_window("planuser", "daily")
    keys = {
        "ok": gw.add_key(),
        "whitelist": gw.add_key(models="gpt-5,claude-opus-4-7"),
        "expired": gw.add_key(expires_at=datetime(2020, 1, 1)),
        "denied": gw.add_key(models="gpt-5"),
        "ipblocked": gw.add_key(ip_block="127.0.0.1/32"),
        "broke": gw.add_key(user="broke"),
        "quota": gw.add_key(quota_usd=0.001),
        "window": gw.add_key(user="planuser"),
        "rate": gw.add_key(windows=(1, 0, 0)),
        "noprefix": gw.add_key(key="tr-custom-0123456789abcdef"),
    }
    with gw.serve() as server:
        base_url = server.base_url
        # Spend the quota key's cap and the rate key's one request per window.
        for name in ("quota", "rate"):
            r = httpx.post(f"{base_url}/chat/completions",
                           headers={"Authorization": f"Bearer {keys[name]}"},
                           json={"model": "gpt-5-mini",
                                 "messages": [{"role": "user", "content": "spend"}]})
            assert r.status_code == 200, r.text
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            refused_url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
        yield Env(gw, base_url, refused_url, keys)


@dataclass
class TLSServer:
    base_url: str
    cert: Path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer | None]:
    """A TLS endpoint with a self-signed certificate for 127.0.0.1 (handshakes, then closes)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        yield None
        return
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tconn:
                    tconn.recv(1)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield TLSServer(f"https://127.0.0.1:{listener.getsockname()[1]}/v1", cert)
    stop.set()
    thread.join(2)
    listener.close()


def _scenarios(e: Env) -> dict[str, Spec]:
    """What runs as a real process: each command once, and each failure family (--json)."""
    k, url = e.keys, e.base_url
    s: dict[str, Spec] = {
        "ping": Spec(["ping"], k["ok"], url),
        "models_json": Spec(["models", "--json"], k["whitelist"], url),
        "chat_stream": Spec(["chat", "Hello streaming world"], k["ok"], url),
        "explain_code": Spec(["explain", "API_KEY_EXPIRED"]),
        "doctor_ok": Spec(["doctor"], k["ok"], url),
        "doctor_expired_json": Spec(["doctor", "--json"], k["expired"], url),
        "doctor_refused": Spec(["doctor"], k["ok"], e.refused_url),
        "import_cheap": Spec(["-c", "import sys, torouter.cli; print(sorted(m for m in "
                                    "sys.modules if m.startswith('torouter.cli')))"], raw=True),
    }
    families = _family_specs(e)
    for name in SUBPROCESS_FAMILIES:
        spec = families[name]
        s[name + "_json"] = Spec([*spec.argv, "--json"], spec.key, spec.base_url)
    return s


def _family_specs(e: Env) -> dict[str, Spec]:
    """One scenario per failure family (ping, or the command where the family shows)."""
    k, url = e.keys, e.base_url
    return {
        "fam_expired": Spec(["ping"], k["expired"], url),
        "fam_nokey": Spec(["ping"], None, url),
        "fam_invalid": Spec(["ping"], "sk-not-a-real-key-0000000000", url),
        "fam_denied": Spec(["ping"], k["denied"], url),
        "fam_ipblocked": Spec(["models"], k["ipblocked"], url),
        "fam_balance": Spec(["ping"], k["broke"], url),
        "fam_quota": Spec(["chat", "--no-stream", "hi"], k["quota"], url),
        "fam_window": Spec(["chat", "hi"], k["window"], url),
        "fam_rate": Spec(["ping", "--max-retries", "0"], k["rate"], url),
        "fam_outage": Spec(["ping", "--max-retries", "0", "--model", "outage-model"],
                           k["ok"], url),
        "fam_refused": Spec(["ping", "--max-retries", "0"], k["ok"], e.refused_url),
        "fam_unknown_model": Spec(["chat", "--model", "no-such-model", "hi"], k["ok"], url),
    }


@pytest.fixture(scope="module")
def runs(env: Env) -> dict[str, Run]:
    return run_all(_scenarios(env))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``cli(*argv, key=, base_url=, stdin=, env=)``: ``main()`` in-process (for the many
    variants the subprocess batch does not need to repeat); the same leak check applies."""

    def call(*argv: str, key: str | None = None, base_url: str | None = None, stdin: str = "",
             env: dict[str, str] | None = None) -> Run:
        for var in list(os.environ):
            if var.startswith(("TOROUTER_", "SSL_CERT_")) or var.lower() in _PROXY_VARS:
                monkeypatch.delenv(var)
        for name, value in {"TOROUTER_API_KEY": key, "TOROUTER_BASE_URL": base_url,
                            **(env or {})}.items():
            if value is not None:
                monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        spec = Spec(list(argv), key, base_url, stdin)
        started = time.perf_counter()
        code = main(list(argv))
        out, err = capsys.readouterr()
        run = Run(spec, code, out, err, time.perf_counter() - started)
        for secret in {key, *(a for a in argv if a.startswith("sk-"))} - {None}:
            assert secret and secret.strip() not in out + err, f"the API key leaked: {run!r}"
        return run

    return call


def _ids_of(env: Env, key: str) -> set[str]:
    masked = mask_key(key)
    return {r.request_id for r in env.gw.requests if r.key == masked}


# --------------------------------------------------------------------------- ping


def test_ping_prints_latency_model_and_the_gateways_request_ids(runs: dict[str, Run],
                                                                 env: Env) -> None:
    r = runs["ping"]
    assert r.code == 0, r
    assert f"accepted key {mask_key(env.keys['ok'])}" in r.out
    assert f"{DEFAULT_MODEL} answered" in r.out
    assert " ms " in r.out
    printed = {w for w in r.out.split() if w.startswith("req_")}
    assert len(printed) == 2 and printed <= _ids_of(env, env.keys["ok"])
    assert "reply: 'ping'" in r.out
    assert r.err == ""


def test_ping_json_is_one_document_with_both_requests(env: Env, cli: Any) -> None:
    # Global flags before or after the command; the key from --api-key or the environment.
    first = cli("--json", "--api-key", env.keys["ok"], "--base-url", env.base_url, "ping")
    after = cli("ping", "--json", key=env.keys["ok"], base_url=env.base_url)
    for r in (first, after):
        assert r.code == 0, r
        doc = r.json()
        assert doc["ok"] is True and doc["command"] == "ping"
        assert doc["api_key"] == mask_key(env.keys["ok"])
        assert doc["base_url"] == env.base_url
        assert doc["models"]["count"] == len(env.gw.catalog)
        assert doc["models"]["contains_model"] is True
        assert doc["chat"]["model"] == DEFAULT_MODEL
        assert doc["chat"]["reply"] == "ping"
        assert doc["chat"]["latency_ms"] > 0
        ids = {doc["models"]["request_id"], doc["chat"]["request_id"]}
        assert ids <= _ids_of(env, env.keys["ok"])


def test_ping_reports_the_retry_that_rescued_it(cli: Any, env: Env) -> None:
    r = cli("ping", "--model", "flaky-model", key=env.keys["ok"], base_url=env.base_url)
    assert r.code == 0, r
    assert "flaky-model answered, after 1 retries" in r.out
    assert "attempt 1 failed: UpstreamUnavailable (502)" in r.err


# --------------------------------------------------------------------------- failure families

FAMILIES = [
    # scenario, exit code, error class, failed step (ping) or None
    ("fam_expired", 3, "KeyExpired", "GET /models"),
    ("fam_nokey", 3, "ApiKeyRequired", None),
    ("fam_invalid", 3, "InvalidApiKey", "GET /models"),
    ("fam_denied", 4, "AccessDenied", "POST /chat/completions"),
    ("fam_ipblocked", 4, "AccessDenied", None),
    ("fam_balance", 5, "InsufficientBalance", "POST /chat/completions"),
    ("fam_quota", 5, "QuotaExhausted", None),
    ("fam_window", 5, "UsageLimitExceeded", None),
    ("fam_rate", 6, "RateLimited", "POST /chat/completions"),
    ("fam_outage", 7, "UpstreamUnavailable", "POST /chat/completions"),
    ("fam_refused", 8, "APIConnectionError", "GET /models"),
    ("fam_unknown_model", 9, "NotFoundError", None),
]


#: One process per exit code 3..9 (the other scenarios run in-process).
SUBPROCESS_FAMILIES = ("fam_expired", "fam_denied", "fam_quota", "fam_rate", "fam_outage",
                       "fam_refused", "fam_unknown_model")


@pytest.mark.parametrize("name", SUBPROCESS_FAMILIES)
def test_failure_family_subprocess_exit_code_and_json(runs: dict[str, Run], name: str) -> None:
    code, cls = next((c, k) for n, c, k, _ in FAMILIES if n == name)
    r = runs[name + "_json"]
    assert r.code == code, r
    doc = r.json()
    assert doc["exit_code"] == code and doc["error"]["class"] == cls
    assert doc["error"]["hint"] == cli_hint(getattr(torouter, cls))
    assert "Traceback" not in r.err


@pytest.mark.parametrize(("name", "code", "cls", "step"), FAMILIES)
def test_failure_family_json(cli: Any, env: Env, name: str, code: int, cls: str,
                             step: str | None) -> None:
    spec = _family_specs(env)[name]
    r = cli(*spec.argv, "--json", key=spec.key, base_url=spec.base_url)
    assert r.code == code, r
    doc = r.json()
    assert doc["ok"] is False and doc["exit_code"] == code
    err = doc["error"]
    klass = getattr(torouter, cls)
    assert err["class"] == cls and err["exit_code"] == code
    assert err["hint"] == cli_hint(klass) and err["doc_url"] == klass.default_doc_url
    assert err["retryable"] == DEFAULT_RETRY_POLICY.rule_for(klass).retry
    if step is not None:
        assert doc["failed_step"] == step
    if name not in ("fam_nokey", "fam_refused"):  # these never reached the gateway
        assert err["request_id"] in {q.request_id for q in env.gw.requests}
        assert err["status_code"] >= 400
    assert "Traceback" not in r.err


@pytest.mark.parametrize(("name", "code", "cls", "step"), FAMILIES)
def test_failure_family_human(cli: Any, env: Env, name: str, code: int, cls: str,
                              step: str | None) -> None:
    spec = _family_specs(env)[name]
    r = cli(*spec.argv, key=spec.key, base_url=spec.base_url)
    assert r.code == code, r
    assert r.out == ""
    klass = getattr(torouter, cls)
    assert f"error: {cls}" in r.err
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
             for line in r.err.splitlines() if line.startswith("  ")}
    assert lines["what to do"] == cli_hint(klass)
    assert lines["docs"] == klass.default_doc_url
    assert lines["exit code"].startswith(f"{code} (")
    if step is not None:
        assert f"{step} failed" in r.err


def test_invalid_base_url_is_a_usage_error(cli: Any, env: Env) -> None:
    r = cli("ping", key=env.keys["ok"], base_url="ftp://example.com/v1")
    assert r.code == 2, r
    assert "InvalidArgumentError" in r.err and "base_url" in r.err
    r = cli("ping", "--json", key=env.keys["ok"], base_url="ftp://example.com/v1")
    assert r.json()["error"]["class"] == "InvalidArgumentError"


def test_every_error_family_has_its_own_exit_code() -> None:
    from torouter.cli._output import exit_code_for

    codes = [int(exit_code_for(cls("x"))) for cls in (
        torouter.ToRouterError, torouter.InvalidArgumentError, torouter.KeyExpired,
        torouter.AccessDenied, torouter.QuotaExhausted, torouter.RateLimited,
        torouter.UpstreamUnavailable, torouter.APITimeoutError, torouter.NotFoundError)]
    assert codes == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    # A spent quota arrives as a 429 but is billing, not rate limiting.
    assert exit_code_for(torouter.UsageLimitExceeded("x", status_code=429)) == 5
    assert exit_code_for(torouter.StreamInterrupted("x")) == 8
    assert exit_code_for(torouter.BadRequestError("x", status_code=400)) == 9


# --------------------------------------------------------------------------- models, chat


def test_models_lists_only_what_the_key_may_call(runs: dict[str, Run], cli: Any,
                                                  env: Env) -> None:
    doc = runs["models_json"].json()
    assert doc["count"] == 2
    assert [m["id"] for m in doc["models"]] == ["gpt-5", "claude-opus-4-7"]
    assert doc["request_id"] in _ids_of(env, env.keys["whitelist"])
    r = cli("models", key=env.keys["whitelist"], base_url=env.base_url)
    assert r.code == 0, r
    rows = [line.split() for line in r.out.splitlines()]
    assert rows == [["ID", "OWNED", "BY"], ["gpt-5", "openai"], ["claude-opus-4-7", "anthropic"]]
    assert "2 models for key sk-…" in r.err


def test_chat_streams_the_answer_to_stdout(runs: dict[str, Run], env: Env, cli: Any) -> None:
    r = runs["chat_stream"]
    assert r.code == 0, r
    assert r.out == "Hello streaming world\n"
    assert r.err == ""
    streamed = [q for q in env.gw.requests if q.model == DEFAULT_MODEL and q.stream]
    assert streamed, "chat must send stream=true by default"
    doc = cli("chat", "--json", "one two three", key=env.keys["ok"], base_url=env.base_url).json()
    assert doc["stream"] is True and doc["content"] == "one two three"
    assert doc["finish_reason"] == "stop" and doc["request_id"].startswith("req_")


def test_chat_reads_stdin_and_no_stream_waits_for_the_whole_answer(env: Env, cli: Any) -> None:
    r = cli("chat", "--no-stream", key=env.keys["ok"], base_url=env.base_url,
            stdin="from stdin\n")
    assert r.code == 0, r
    assert r.out == "from stdin\n"
    env.gw.clear_requests()
    r = cli("chat", "--json", "--no-stream", "--system", "be brief", "Hi",
            key=env.keys["ok"], base_url=env.base_url)
    doc = r.json()
    assert doc["stream"] is False
    assert doc["content"] == "[system: be brief] Hi"
    assert doc["usage"]["total_tokens"] > 0
    assert [q.stream for q in env.gw.requests] == [False]


def test_chat_without_a_prompt_is_a_usage_error(cli: Any, env: Env) -> None:
    r = cli("chat", key=env.keys["ok"], base_url=env.base_url, stdin="  \n")
    assert r.code == 2, r
    assert "prompt is empty" in r.err


def test_a_broken_stream_keeps_the_partial_answer_and_exits_8(cli: Any, env: Env) -> None:
    text = "one two three four five six"
    r = cli("chat", "-m", "drop-model", text, key=env.keys["ok"], base_url=env.base_url)
    assert r.code == 8, r
    partial = r.out.rstrip("\n")
    assert partial and text.startswith(partial) and partial != text
    assert "error: StreamInterrupted" in r.err and "resend the prompt" in r.err
    r = cli("chat", "--json", "-m", "drop-model", text, key=env.keys["ok"],
            base_url=env.base_url)
    doc = r.json()
    assert doc["error"]["class"] == "StreamInterrupted" and doc["exit_code"] == 8 == r.code
    assert doc["partial"] and text.startswith(doc["partial"])


# --------------------------------------------------------------------------- explain


def test_explain_a_code_offline(runs: dict[str, Run]) -> None:
    r = runs["explain_code"]
    assert r.code == 0, r
    assert r.out.startswith("KeyExpired: key's expiry date has passed")
    assert "torouter.KeyExpired (AuthenticationError > APIStatusError > ToRouterError)" in r.out
    assert "type code API_KEY_EXPIRED; HTTP 403, 401" in r.out
    assert "retried:     no" in r.out
    assert cli_hint(torouter.KeyExpired, suggest_doctor=False) in r.out
    assert str(torouter.KeyExpired.default_doc_url) in r.out
    assert "exit code:   3" in r.out


def test_explain_a_status_lists_every_meaning_it_can_have(cli: Any) -> None:
    doc = cli("explain", "--json", "429").json()
    assert doc["match"]["class"] == "RateLimitError"
    also = {e["class"]: e for e in doc["same_status"]}
    assert set(also) == {"QuotaExhausted", "UsageLimitExceeded", "RateLimited"}
    assert also["QuotaExhausted"]["retried"] is False and also["QuotaExhausted"]["exit_code"] == 5
    assert also["RateLimited"]["retried"] is True and also["RateLimited"]["exit_code"] == 6
    r = cli("explain", "429")
    assert r.code == 0 and r.out.startswith("RateLimitError:"), r
    for cls in ("QuotaExhausted", "UsageLimitExceeded", "RateLimited"):
        assert cls in r.out
    doc = cli("explain", "upstreamunavailable", "--json").json()
    assert doc["match"]["class"] == "UpstreamUnavailable" and doc["match"]["retried"] is True
    assert doc["match"]["retry"]["max_retries"] == 2
    assert cli("explain", "502", "--json").json()["match"]["class"] == "UpstreamUnavailable"


def test_explain_unknown_is_a_usage_error(cli: Any) -> None:
    r = cli("explain", "NOPE")
    assert r.code == 2, r
    assert "unknown error code" in r.err and "API_KEY_EXPIRED" in r.err
    r = cli("explain", "NOPE", "--json")
    assert r.code == 2 and r.json()["exit_code"] == 2


@pytest.mark.parametrize("entry", ERROR_CATALOG, ids=lambda e: e.name)
def test_explain_reads_the_sdk_catalog_and_retry_policy(entry: torouter.CatalogEntry,
                                                        cli: Any) -> None:
    """For every row: explain by class name and by each code says what the SDK does."""
    for query in (entry.name, *entry.codes):
        r = cli("explain", query, "--json")
        assert r.code == 0, r
        match = r.json()["match"]
        if query != entry.name and match["class"] != entry.name:
            continue  # a code shared with a more specific class (e.g. invalid_request_error)
        assert match["class"] == entry.name
        assert match["meaning"] == entry.meaning
        assert match["hint"] == entry.hint and match["doc_url"] == entry.doc_url
        assert match["retried"] == DEFAULT_RETRY_POLICY.rule_for(entry.cls).retry
        assert match["statuses"] == list(entry.statuses)


# --------------------------------------------------------------------------- usage


def test_usage_errors_exit_2(cli: Any) -> None:
    r = cli("--json", "pong")
    assert r.code == 2, r
    assert r.json()["error"]["class"] == "UsageError"
    r = cli()
    assert r.code == 2 and "a command is required" in r.err, r
    r = cli("ping", "--timeout", "-1")
    assert r.code == 2 and "--timeout" in r.err, r


def test_help_lists_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "doctor" in out and "Exit codes" in out


def test_importing_the_cli_loads_no_command(runs: dict[str, Run]) -> None:
    r = runs["import_cheap"]
    assert r.code == 0, r
    assert r.out.strip() == "['torouter.cli']"


# --------------------------------------------------------------------------- doctor


def _checks(run: Run) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in run.json()["checks"]}


def _statuses(run: Run) -> dict[str, str]:
    return {name: c["status"] for name, c in _checks(run).items()}


def test_doctor_passes_on_a_healthy_key(runs: dict[str, Run], env: Env, cli: Any) -> None:
    r = runs["doctor_ok"]
    assert r.code == 0, r
    assert "All checks passed (1 skipped)." in r.out
    assert "SKIP  TLS handshake and certificate    plain http, no TLS" in r.out
    assert "FAIL" not in r.out
    r = cli("doctor", "--json", key=env.keys["ok"], base_url=env.base_url)
    doc = r.json()
    assert doc["ok"] is True and doc["exit_code"] == 0 == r.code and doc["failed"] == []
    assert doc["api_key"] == mask_key(env.keys["ok"])
    assert doc["api_key_source"] == "TOROUTER_API_KEY"
    assert _statuses(r) == {
        "key": "pass", "base_url": "pass", "dns": "pass", "tcp": "pass", "tls": "skip",
        "key_accepted": "pass", "model": "pass", "billing": "pass", "rate_limit": "pass",
        "answer": "pass",
    }


def test_doctor_on_an_expired_key_names_the_check_and_the_next_step(
    runs: dict[str, Run], env: Env, cli: Any
) -> None:
    checks = _checks(runs["doctor_expired_json"])
    assert runs["doctor_expired_json"].code == 3
    assert checks["key_accepted"]["status"] == "fail"
    assert checks["key_accepted"]["error"]["class"] == "KeyExpired"
    assert checks["key_accepted"]["exit_code"] == 3
    for name in ("model", "billing", "rate_limit", "answer"):
        assert checks[name]["status"] == "skip"
        assert checks[name]["detail"] == "the key was not accepted"
    r = cli("doctor", key=env.keys["expired"], base_url=env.base_url)
    assert r.code == 3, r
    assert "FAIL  key accepted (GET /models)" in r.out
    assert f"next step: {cli_hint(torouter.KeyExpired, suggest_doctor=False)}" in r.out
    assert f"docs: {torouter.KeyExpired.default_doc_url}" in r.out
    assert "1 check failed: key accepted (GET /models)" in r.out


def test_doctor_on_a_refused_port_fails_the_tcp_check(runs: dict[str, Run], env: Env,
                                                       cli: Any) -> None:
    r = runs["doctor_refused"]
    assert r.code == 8, r
    port = env.refused_url.split(":")[2].split("/")[0]
    assert ("FAIL  TCP connection to the host       connection refused: nothing listens on "
            f"127.0.0.1:{port}") in r.out
    assert "next step: Check the port in the base URL" in r.out
    r = cli("doctor", "--json", key=env.keys["ok"], base_url=env.refused_url)
    checks = _checks(r)
    assert checks["dns"]["status"] == "pass"
    assert checks["tcp"]["status"] == "fail" and checks["tcp"]["exit_code"] == 8 == r.code
    assert checks["key_accepted"]["status"] == "skip"
    assert "not reachable" in checks["key_accepted"]["detail"]


def test_doctor_checks_the_key_format_locally(cli: Any, env: Env) -> None:
    r = cli("doctor", "--json", base_url=env.base_url)
    assert r.code == 3, r
    checks = _checks(r)
    assert checks["key"]["status"] == "fail"
    assert checks["key"]["next_step"] == cli_hint(torouter.ApiKeyRequired, suggest_doctor=False)
    assert checks["key_accepted"]["status"] == "skip"

    r = cli("doctor", "--json", key="sk-abc def0123456789", base_url=env.base_url)
    assert r.code == 3, r
    checks = _checks(r)
    assert "contains whitespace at character 7" in checks["key"]["detail"]
    assert checks["key_accepted"]["detail"] == "no usable API key (see the first check)"

    # A key without the sk- prefix is flagged, but the gateway still gets to decide.
    r = cli("doctor", "--json", key=env.keys["noprefix"], base_url=env.base_url)
    assert r.code == 3, r
    checks = _checks(r)
    assert "does not start with 'sk-'" in checks["key"]["detail"]
    assert checks["key_accepted"]["status"] == "pass"
    assert r.json()["failed"] == ["key"]


@pytest.mark.parametrize(("key", "argv", "code", "failed", "cls"), [
    ("denied", [], 4, "model", "AccessDenied"),
    ("ok", ["-m", "no-such-model"], 9, "model", "NotFoundError"),
    ("quota", [], 5, "billing", "QuotaExhausted"),
    ("broke", [], 5, "billing", "InsufficientBalance"),
    ("window", [], 5, "billing", "UsageLimitExceeded"),
    ("rate", ["--max-retries", "0"], 6, "rate_limit", "RateLimited"),
    ("ok", ["--max-retries", "0", "-m", "outage-model"], 7, "answer", "UpstreamUnavailable"),
])
def test_doctor_reads_the_typed_error_of_its_chat(cli: Any, env: Env, key: str,
                                                   argv: list[str], code: int, failed: str,
                                                   cls: str) -> None:
    r = cli("doctor", "--json", *argv, key=env.keys[key], base_url=env.base_url)
    assert r.code == code, r
    doc = r.json()
    assert doc["failed"] == [failed]
    check = _checks(r)[failed]
    assert check["error"]["class"] == cls
    assert check["doc_url"] == getattr(torouter, cls).default_doc_url
    assert check["next_step"]
    assert _checks(r)["key_accepted"]["status"] == "pass"


def test_doctor_next_step_for_an_unknown_model_lists_real_models(cli: Any, env: Env) -> None:
    r = cli("doctor", "--json", "-m", "no-such-model", key=env.keys["ok"], base_url=env.base_url)
    step = _checks(r)["model"]["next_step"]
    assert "Use a model this key may call (torouter models): gpt-5, gpt-5-mini" in step


def test_doctor_outage_means_the_gateway_admitted_the_request(cli: Any, env: Env) -> None:
    r = cli("doctor", "--json", "--max-retries", "0", "-m", "outage-model",
            key=env.keys["ok"], base_url=env.base_url)
    s = _statuses(r)
    assert (s["model"], s["billing"], s["rate_limit"], s["answer"]) == (
        "pass", "pass", "pass", "fail")


def test_doctor_rejects_a_base_url_that_is_not_http(cli: Any, env: Env) -> None:
    r = cli("doctor", "--json", key=env.keys["ok"], base_url="ftp://example.com/v1")
    assert r.code == 2, r
    s = _statuses(r)
    assert s["base_url"] == "fail" and s["dns"] == "skip" and s["key_accepted"] == "skip"


def test_doctor_checks_tls_with_the_sdks_trust_store(cli: Any, env: Env,
                                                      tls_server: TLSServer | None) -> None:
    if tls_server is None:
        pytest.skip("openssl is needed to make a test certificate")
    r = cli("doctor", "--json", key=env.keys["ok"], base_url=tls_server.base_url)
    assert r.code == 8, r
    tls = _checks(r)["tls"]
    assert tls["status"] == "fail" and "certificate rejected" in tls["detail"]
    assert "SSL_CERT_FILE" in tls["next_step"]
    assert _checks(r)["key_accepted"]["status"] == "skip"
    # Trusted through SSL_CERT_FILE (as httpx does): TLS passes, the endpoint is not a gateway.
    r = cli("doctor", "--json", "--max-retries", "0", key=env.keys["ok"],
            base_url=tls_server.base_url, env={"SSL_CERT_FILE": str(tls_server.cert)})
    checks = _checks(r)
    assert checks["tls"]["status"] == "pass", r
    assert "certificate verified for 127.0.0.1" in checks["tls"]["detail"]
    assert checks["key_accepted"]["status"] == "fail" and r.code == 8


def test_doctor_reports_a_dns_failure(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    key = "sk-dns-test-0123456789abcdef"
    r = cli("doctor", "--json", "--api-key", key, "--base-url", "https://gw.invalid/v1")
    assert r.code == 8, r
    checks = _checks(r)
    assert checks["dns"]["status"] == "fail"
    assert "cannot resolve 'gw.invalid'" in checks["dns"]["detail"]
    assert checks["tcp"]["detail"] == "the host did not resolve"
    assert checks["key_accepted"]["status"] == "skip"


def test_a_proxy_skips_the_socket_checks(cli: Any, env: Env) -> None:
    r = cli("doctor", "--json", "--max-retries", "0", key=env.keys["ok"],
            base_url="https://gw.example/v1",
            env={"HTTPS_PROXY": "http://user:secret@127.0.0.1:1"})
    checks = _checks(r)
    assert [checks[n]["status"] for n in ("dns", "tcp", "tls")] == ["skip"] * 3
    assert "proxy http://127.0.0.1:1" in checks["dns"]["detail"]
    assert "secret" not in r.out


def test_a_key_echoed_by_the_server_is_printed_masked(cli: Any, env: Env) -> None:
    key = env.keys["ok"]
    body = json.dumps({"error": {"type": "invalid_request_error",
                                 "message": f"bad header Authorization: Bearer {key}"}})
    env.gw.add_model("echo-key-model")
    env.gw.upstream.add_channel("echo", models=("echo-key-model",)).always(
        Outcome.raw(400, body))
    for argv in (["chat", "-m", "echo-key-model", "hi"],
                 ["--json", "ping", "-m", "echo-key-model"]):
        r = cli(*argv, key=key, base_url=env.base_url)  # the fixture asserts the key is absent
        assert r.code == 9, r
        assert f"Bearer {mask_key(key)}" in r.out + r.err


def test_output_redacts_every_configured_secret() -> None:
    from torouter.cli._output import Output

    out, err = io.StringIO(), io.StringIO()
    o = Output(out=out, err=err)
    o.add_secret(" sk-secret-0123456789abcd\n")
    o.line("a sk-secret-0123456789abcd b")
    o.note("sk-secret-0123456789abcd")
    assert out.getvalue() == "a sk-…abcd b\n" and err.getvalue() == "sk-…abcd\n"
