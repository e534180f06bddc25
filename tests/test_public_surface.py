"""The public surface, as a user meets it.

* every public module and every name in each ``__all__`` resolves in a fresh interpreter,
  however it is reached (``torouter.types`` after ``import torouter`` used to recurse);
* request bodies are JSON: ``NaN``/``inf`` raise ``InvalidArgumentError`` before sending;
* ``with_options`` rejects a misspelt option with "did you mean" and knows every constructor
  setting; every error's ``hint`` is a ``str``.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import torouter
from torouter._base_client import BaseClient, ClientOptions
from torouter.testing import FakeGateway

ROOT = Path(__file__).resolve().parent.parent


def run_fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # watchdog only
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    "code",
    [
        "import torouter; print(torouter.types.ChatCompletion.__name__)",
        "from torouter import types; print(types.ChatCompletion.__name__)",
        "import torouter.types; print(torouter.types.ChatCompletion.__name__)",
        "import torouter; print(torouter.testing.FakeGateway.__name__)",
        "from torouter import testing; print(testing.FakeGateway.__name__)",
        "import torouter; print(torouter.resources.Completions.__name__)",
        "from torouter import types, ToRouter; print(types.ParsedChatCompletion.__name__)",
        "from torouter import *; print(types.ChatCompletion.__name__, ToRouter.__name__)",
    ],
)
def test_reached_any_way_in_a_fresh_interpreter(code: str) -> None:
    assert run_fresh(code).strip()


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    out = run_fresh("""
        import importlib, pkgutil, torouter
        modules = ["torouter"] + [
            m.name for m in pkgutil.walk_packages(torouter.__path__, "torouter.")
            if not any(part.startswith("_") for part in m.name.split("."))
        ]
        names = 0
        for name in modules:
            module = importlib.import_module(name)
            exported = getattr(module, "__all__", None)
            assert exported is not None or name.startswith("torouter.cli."), name
            for attr in exported or ():
                assert getattr(module, attr) is not None or attr.isupper(), (name, attr)
                names += 1
            assert len(set(exported or ())) == len(exported or ()), name
        print(len(modules), names)
    """)
    modules, names = map(int, out.split())
    assert modules >= 10 and names > 150


def test_lazy_names_are_listed() -> None:
    assert {"types", "pydantic_function_tool", "OutputError", "ClientOptions"} <= set(
        torouter.__all__)
    assert "testing" in dir(torouter) or hasattr(torouter, "testing")


# --------------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_refused_before_sending(
    torouter_client: torouter.ToRouter, torouter_gateway: FakeGateway, value: float
) -> None:
    with pytest.raises(torouter.InvalidArgumentError, match="JSON"):
        torouter_client.chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}], temperature=value)
    with pytest.raises(torouter.InvalidArgumentError, match="JSON"):
        torouter_client.chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}],
            extra_body={"deep": {"list": [1.0, value]}})
    with pytest.raises(torouter.InvalidArgumentError):
        torouter_client.embeddings.create(model="text-embedding-3-small", input="x",
                                          extra_body={"weird": b"bytes"})
    assert torouter_gateway.requests == []


# --------------------------------------------------------------------------- options, hints


def test_with_options_did_you_mean(torouter_client: torouter.ToRouter) -> None:
    with pytest.raises(torouter.InvalidArgumentError, match="did you mean 'max_retries'"):
        torouter_client.with_options(max_retrys=3)  # type: ignore[call-arg]
    with pytest.raises(torouter.InvalidArgumentError, match="http_client"):
        torouter_client.with_options(http_client=None)  # type: ignore[call-arg]
    assert torouter_client.with_options(max_retries=5).max_retries == 5


def test_client_options_cover_the_constructor() -> None:
    params = set(inspect.signature(BaseClient.__init__).parameters) - {"self", "http_client"}
    assert set(ClientOptions.__annotations__) == params


def test_every_error_has_a_str_hint() -> None:
    classes = {entry.cls for entry in torouter.ERROR_CATALOG} | {
        torouter.ToRouterError, torouter.OutputError, torouter.APIStatusError,
        torouter.StreamDecodeError}
    for cls in classes:
        err = cls("x")
        assert isinstance(err.hint, str) and err.hint, cls
        assert "Hint: " in str(err)
