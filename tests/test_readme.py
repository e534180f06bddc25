"""The README's generated tables match the SDK's own tables (one source of truth)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tables_are_generated_from_the_catalog() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_exported_error_class_is_in_the_readme_table() -> None:
    import torouter

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in torouter.__all__:
        obj = getattr(torouter, name)
        if isinstance(obj, type) and issubclass(obj, torouter.ToRouterError):
            if obj in (torouter.ToRouterError, torouter.APIStatusError,
                       torouter.InvalidArgumentError, torouter.StreamDecodeError):
                continue
            assert f"`{name}`" in readme, f"{name} is missing from the README error table"


def test_readme_testing_example_is_the_example_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / "examples" / "test_your_app_example.py").read_text(encoding="utf-8")
    assert example.strip() in readme, "README's Testing section drifted from the example file"
