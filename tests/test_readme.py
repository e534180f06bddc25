"""README and docs: generated text is current (one source of truth), the README stays short and
its commands are the ones CI runs, and the docs site builds with every public name documented."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, re.DOTALL | re.MULTILINE)


def test_generated_tables_in_readme_and_docs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_tables.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generator_rewrites_a_stale_table(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_tables
    finally:
        sys.path.pop(0)
    stale = "x\n<!-- table:errors -->\nSTALE ROW\n<!-- /table:errors -->\ny\n"
    fresh = readme_tables.render(stale)
    assert "STALE ROW" not in fresh and "| `KeyExpired` | `API_KEY_EXPIRED` |" in fresh
    assert readme_tables.render(fresh) == fresh


def test_every_exported_error_class_is_in_the_docs_tree_and_catalog() -> None:
    import torouter

    errors = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    tree = errors.split("<!-- table:tree -->")[1]
    for name in torouter.__all__:
        obj = getattr(torouter, name)
        if isinstance(obj, type) and issubclass(obj, torouter.ToRouterError):
            found = re.search(rf"(^|[─ ]){name}\b", tree, re.MULTILINE)
            assert found, f"{name} is missing from the error tree"
    for entry in torouter.ERROR_CATALOG:
        assert f"| `{entry.name}` |" in errors


def test_testing_page_shows_the_example_file() -> None:
    page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    example = (ROOT / "examples" / "test_your_app_example.py").read_text(encoding="utf-8")
    assert example.strip() in page
    assert 'pip install "torouter[testing]"' in page  # the kit names the extra it needs


def test_readme_is_short_and_links_every_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 250
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name in {"stream-helper.md", "structured-outputs.md", "fallbacks.md",
                         "fleet.md", "telemetry.md"}:
            continue  # pages of other branches: linked when they are merged
        assert f"(docs/{page.name})" in text, f"README does not link docs/{page.name}"


def test_readme_demo_installs_only_the_runtime_and_ci_runs_the_readme_test_command() -> None:
    demo, tests = _bash_blocks(README.read_text(encoding="utf-8"))[:2]
    assert "pip install -e . " in demo and "[dev]" not in demo
    assert "examples/quickstart.py" in demo
    test_command = tests.strip()
    assert test_command.endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.removesuffix(" || exit 1") for line in ci.splitlines()]
    assert test_command in lines, "CI must run exactly the README's test command"


@pytest.mark.skipif(shutil.which("mkdocs") is None and
                    not (Path(sys.executable).parent / "mkdocs").exists(),
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_docs_site_builds_strict_with_every_public_name(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    cmd = [str(mkdocs)] if mkdocs.exists() else ["mkdocs"]
    proc = subprocess.run([*cmd, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', html))

    import torouter
    import torouter.testing
    import torouter.types

    for package in (torouter, torouter.types, torouter.testing):
        for name in package.__all__:
            if not name.startswith("_"):
                qualified = f"{package.__name__}.{name}"
                assert qualified in ids, f"{qualified} is not in the API reference"
