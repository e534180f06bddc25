"""Every example in README.md and docs/*.md runs, as shown (pages added later are covered too).

* The ``python`` code blocks of a page run in order, as one script (a later block may use what
  an earlier one built), against a fake gateway on a real 127.0.0.1 socket
  (``TOROUTER_API_KEY`` / ``TOROUTER_BASE_URL`` point at it), one fresh interpreter per page under
  ``python -X dev -W error::ResourceWarning``: a page that leaves a client open fails.
* Every ``console`` block is a terminal session.  When it starts with
  ``$ python -m torouter.testing FLAGS`` that server really starts with those flags; each later
  ``$ command`` runs in bash (``torouter`` is the CLI of this checkout) and its stdout and stderr
  must match the lines shown, up to what changes from run to run (ports, request ids, timings,
  retry sleeps, column padding).  A line ``...`` stands for any number of lines.  A command whose
  block shows no ``echo "exit $?"`` must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(path: Path, lang: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced block in ``lang``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(2))
            for m in _FENCE.finditer(text) if m.group(1) == lang]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TOROUTER_") and k.lower() not in
           {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


# --------------------------------------------------------------------------- python snippets

_RUNNER = textwrap.dedent("""
    import gc, json, sys
    namespace = {"__name__": "__main__"}
    for label, code in json.load(sys.stdin):
        exec(compile(code, label, "exec"), namespace)
        print(f"--- ok {label}", flush=True)
    namespace.clear()
    gc.collect()  # an unclosed client's socket warns now, while this page is being checked
""")


@contextmanager
def fake_gateway() -> Iterator[tuple[str, str]]:
    from torouter.testing import FakeGateway

    gateway = FakeGateway()
    key = gateway.add_key()
    with gateway.serve() as server:
        yield server.base_url, key


PY_PAGES = [p for p in PAGES if blocks(p, "python")]


@pytest.mark.parametrize("page", PY_PAGES, ids=lambda p: p.name)
def test_every_python_block_runs_and_closes_its_clients(page: Path) -> None:
    snippets = [(f"{page.name}:{line}", code) for line, code in blocks(page, "python")]
    with fake_gateway() as (base_url, key):
        proc = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", _RUNNER],
            input=json.dumps(snippets), capture_output=True, text=True, cwd=ROOT, timeout=300,
            env=_env(TOROUTER_API_KEY=key, TOROUTER_BASE_URL=base_url),
        )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "ResourceWarning" not in proc.stderr, proc.stderr[-4000:]
    assert proc.stdout.count("--- ok ") == len(snippets)
    assert key not in proc.stdout + proc.stderr  # no snippet prints the key


def test_the_snippet_runner_catches_an_unclosed_client(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nimport torouter\nc = torouter.ToRouter()\n"
                    "c.models.list()\n```\n", encoding="utf-8")
    snippets = [(f"page.md:{line}", code) for line, code in blocks(page, "python")]
    with fake_gateway() as (base_url, key):
        proc = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", _RUNNER],
            input=json.dumps(snippets), capture_output=True, text=True, cwd=ROOT, timeout=120,
            env=_env(TOROUTER_API_KEY=key, TOROUTER_BASE_URL=base_url),
        )
    assert "ResourceWarning" in proc.stderr


# --------------------------------------------------------------------------- console sessions

_VARIABLE = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"^PORT \d+$"), "PORT N"),
    (re.compile(r"req_[0-9a-f]{24}"), "req_ID"),
    (re.compile(r"\b\d+(\.\d+)? ms\b"), "N ms"),
    (re.compile(r"\bin \d+\.\d+s\b"), "in Ns"),
    (re.compile(r" {2,}"), "  "),
]


def normalize(line: str) -> str:
    line = line.rstrip()
    for pattern, replacement in _VARIABLE:
        line = pattern.sub(replacement, line)
    return line


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` (normalized, ``...`` = any lines) against ``actual`` (normalized)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def steps(code: str) -> list[Step]:
    result: list[Step] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            result.append(Step(line[2:]))
        elif result:
            result[-1].expected.append(line)
    for step in result:
        while step.expected and not step.expected[-1].strip():
            step.expected.pop()
    return result


@dataclass
class Session:
    env: dict[str, str]
    shim: Path
    server: subprocess.Popen[str] | None = None
    printed: dict[str, str] = field(default_factory=dict)

    def start_server(self, command: str, log: Path) -> list[str]:
        args = shlex.split(command)[3:]  # after "python -m torouter.testing"
        n_keys = max(args.count("--key"), 1)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "torouter.testing", *args], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
        )
        assert self.server.stdout is not None
        lines = [self.server.stdout.readline().rstrip("\n") for _ in range(2 + n_keys)]
        for line in lines:
            name, _, value = line.partition(" ")
            self.printed.setdefault(name, value)
        return lines

    def run(self, command: str) -> tuple[int, list[str]]:
        if command.startswith("export "):
            # The session's own values (the doc shows those of the run it was copied from).
            self.env["TOROUTER_BASE_URL"] = self.printed["BASE_URL"]
            self.env["TOROUTER_API_KEY"] = self.printed["KEY"]
            return 0, []
        env = dict(self.env, PATH=f"{self.shim}{os.pathsep}{self.env.get('PATH', '')}")
        proc = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, timeout=120,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout.splitlines()

    def close(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(timeout=10)
        if self.server is not None and self.server.stdout is not None:
            self.server.stdout.close()


def make_shim(tmp: Path) -> Path:
    shim = tmp / "bin"
    shim.mkdir(exist_ok=True)
    script = shim / "torouter"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m torouter.cli "$@"\n')
    script.chmod(0o755)
    return shim


def run_session(code: str, tmp: Path) -> list[tuple[Step, int, list[str]]]:
    """Run a console block; returns each step with its exit status and output lines."""
    session = Session(_env(), make_shim(tmp))
    done: list[tuple[Step, int, list[str]]] = []
    try:
        for step in steps(code):
            if step.command.startswith("python -m torouter.testing"):
                done.append((step, 0, session.start_server(step.command, tmp / "access.log")))
            else:
                code_, lines = session.run(step.command)
                done.append((step, code_, lines))
    finally:
        session.close()
    return done


_CLI_COMMAND = re.compile(r"^(python -m torouter\.testing\b|export TOROUTER_|torouter\b|"
                          r"(TOROUTER_\w+=\S+ )+torouter\b)")


def is_cli_session(code: str) -> bool:
    """Only sessions of ``torouter`` commands are run (``pip install ...`` in a console block is
    shown, never executed); a block that mixes both is a mistake the test reports."""
    commands = [step.command for step in steps(code)]
    cli = [bool(_CLI_COMMAND.match(c)) for c in commands]
    assert all(cli) or not any(cli), f"console block mixes torouter and other commands: {commands}"
    return bool(commands) and all(cli)


CONSOLE = [(page, line, code) for page in PAGES for line, code in blocks(page, "console")]


@pytest.mark.parametrize(("page", "line", "code"), CONSOLE,
                         ids=[f"{p.name}:{n}" for p, n, _ in CONSOLE])
def test_every_cli_example_prints_what_the_docs_show(page: Path, line: int, code: str,
                                                     tmp_path: Path) -> None:
    if not is_cli_session(code):
        pytest.skip("not a torouter session")
    for step, status, lines in run_session(code, tmp_path):
        expected = [normalize(x) for x in step.expected]
        actual = [normalize(x) for x in lines]
        assert matches(expected, actual), (
            f"{page.name}:{line}: $ {step.command}\n--- shown:\n" + "\n".join(step.expected)
            + "\n--- printed:\n" + "\n".join(lines))
        if 'echo "exit $?"' not in step.command:
            assert status == 0, (step.command, lines)


def test_the_docs_show_a_cli_example_of_each_failure_family() -> None:
    shown = "\n".join(code for _, _, code in CONSOLE if is_cli_session(code))
    for code in range(2, 10):
        assert f"exit {code}" in shown, f"no example ends with exit code {code}"


def test_the_fake_gateway_logs_one_line_per_request(tmp_path: Path) -> None:
    code = ("$ python -m torouter.testing --port 0 --key-expired\n"
            "$ export TOROUTER_BASE_URL=x TOROUTER_API_KEY=y\n"
            "$ torouter models; echo \"exit $?\"\n")
    run_session(code, tmp_path)
    log = (tmp_path / "access.log").read_text().splitlines()
    assert len(log) == 1
    method, path, status, gateway_code, request_id, key = log[0].split()[:6]
    assert (method, path, status, gateway_code) == ("GET", "/v1/models", "403", "API_KEY_EXPIRED")
    assert request_id.startswith("req_") and key.startswith("key=sk-…")
    assert "sk-fake-" not in log[0]
