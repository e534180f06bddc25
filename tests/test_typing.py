"""No ``Any`` reaches a user's type checker: ``mypy --strict`` and pyright (strict) over a
user-style file (``tests/typing/user_code.py``) report zero errors, and every ``reveal_type`` of
the main results is a precise type; a misspelt ``with_options`` keyword is an error in both.

Both checkers run at once, in subprocesses (about 20 s for a cold check; mypy reuses the
checkout's ``.mypy_cache``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USER_CODE = ROOT / "tests" / "typing" / "user_code.py"
MISSPELT = ROOT / "tests" / "typing" / "misspelt.py"
BIN = Path(sys.executable).parent
REVEALS = USER_CODE.read_text(encoding="utf-8").count("reveal_type(")


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("typing")
    env = {**os.environ, "MYPYPATH": str(ROOT), "PYTHONPATH": str(ROOT)}
    procs: dict[str, subprocess.Popen[str]] = {}
    procs["mypy"] = subprocess.Popen(
        # the checkout's own (git-ignored) mypy cache: a warm run takes seconds, not ~20 s
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(ROOT / ".mypy_cache"),
         "--python-version", "3.10", "--no-error-summary", str(USER_CODE), str(MISSPELT)],
        cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    pyright = shutil.which("pyright", path=str(BIN)) or shutil.which("pyright")
    if pyright is not None:
        config = tmp / "pyrightconfig.json"
        config.write_text(json.dumps({
            "extraPaths": [str(ROOT)], "typeCheckingMode": "strict", "pythonVersion": "3.10",
            "venvPath": str(Path(sys.prefix).parent), "venv": Path(sys.prefix).name,
        }))
        procs["pyright"] = subprocess.Popen(
            [pyright, "-p", str(config), str(USER_CODE), str(MISSPELT)],
            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    # generous watchdog against a hung checker only, not a speed requirement
    return {name: proc.communicate(timeout=900)[0] for name, proc in procs.items()}


def _lines(output: str, path: Path) -> list[str]:
    return [line for line in output.splitlines() if path.name in line]


def test_mypy_strict_user_code(checked: dict[str, str]) -> None:
    lines = _lines(checked["mypy"], USER_CODE)
    errors = [line for line in lines if ": error:" in line]
    assert errors == []
    reveals = [line for line in lines if "Revealed type is" in line]
    assert len(reveals) == REVEALS
    assert not [line for line in reveals if re.search(r"\bAny\b", line)]
    assert any("ParsedChatCompletion[user_code.Answer]" in line for line in reveals)
    assert any('"user_code.Answer | None"' in line for line in reveals)
    assert any("RawResponse[torouter.types.chat.ChatCompletion]" in line for line in reveals)


def test_mypy_rejects_a_misspelt_option(checked: dict[str, str]) -> None:
    (error,) = [line for line in _lines(checked["mypy"], MISSPELT) if ": error:" in line]
    assert "max_retrys" in error and 'did you mean "max_retries"' in error


def test_pyright_strict_user_code(checked: dict[str, str]) -> None:
    if "pyright" not in checked:
        pytest.skip("pyright is not installed (pip install -e '.[dev]')")
    lines = _lines(checked["pyright"], USER_CODE)
    assert [line for line in lines if " - error" in line or " - warning" in line] == []
    reveals = [line for line in lines if "information: Type of" in line]
    assert len(reveals) == REVEALS
    assert not [line for line in reveals if re.search(r"\b(Any|Unknown)\b", line)]
    misspelt = [line for line in _lines(checked["pyright"], MISSPELT) if " - error" in line]
    assert any('No parameter named "max_retrys"' in line for line in misspelt)
