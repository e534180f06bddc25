"""The sdist holds what its own tests and docs need, and says what it is (issue 15).

``.ci/sdist-check`` (run by ``.ci/run``) goes further: it unpacks the sdist, installs it in a fresh
venv and runs this whole suite from there.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None,
    reason="needs build and hatchling (the dev extra)",
)


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> tarfile.TarFile:
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not a source tree")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                    "--outdir", str(out), str(ROOT)], check=True, capture_output=True,
                   timeout=300)
    (archive,) = out.glob("torouter-*.tar.gz")
    return tarfile.open(archive)


def _names(sdist: tarfile.TarFile) -> set[str]:
    return {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}


def test_sdist_holds_what_its_tests_and_docs_read(sdist: tarfile.TarFile) -> None:
    names = _names(sdist)
    needed = {"scripts/readme_tables.py", "RELIABILITY.md", "mkdocs.yml", "docs/index.md",
              "docs/api.md", "README.md", "CHANGELOG.md", "ARCHITECTURE.md", "LICENSE",
              ".ci/run", ".ci/sdist-check", "examples/quickstart.py", "tests/conftest.py",
              "tests/data/openai-openapi/openapi-subset.json", "torouter/py.typed"}
    assert needed <= names, needed - names
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in names
    for example in (ROOT / "examples").glob("*.py"):
        assert f"examples/{example.name}" in names


def test_sdist_metadata_has_urls_classifiers_and_extras(sdist: tarfile.TarFile) -> None:
    member = next(m for m in sdist.getmembers() if m.name.endswith("/PKG-INFO"))
    handle = sdist.extractfile(member)
    assert handle is not None
    meta = Parser().parsestr(handle.read().decode())
    urls = meta.get_all("Project-URL") or []
    assert any(u.startswith("Homepage, https://") for u in urls)
    assert any(u.startswith("Documentation, https://") for u in urls)
    classifiers = meta.get_all("Classifier") or []
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    extras = set(meta.get_all("Provides-Extra") or [])
    assert {"testing", "docs", "dev"} <= extras
    testing = {r.split(">")[0].split(";")[0].strip() for r in meta.get_all("Requires-Dist") or []
               if "extra == 'testing'" in r}
    assert testing == {"pytest", "respx", "anyio"}
