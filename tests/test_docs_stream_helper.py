"""docs/stream-helper.md: its Python blocks run, in order, as one script (against the fake
gateway on 127.0.0.1), so the page cannot drift from the SDK."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "stream-helper.md"


def test_every_code_block_of_the_stream_helper_page_runs(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 8
    namespace: dict[str, object] = {"__name__": "docs_stream_helper"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"{PAGE.name}#block{number}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "Rivers carve valleys, carry silt and join the sea. stop" in out
    assert "50 characters" in out
    assert "kept: Rivers" in out and "not whole: Rivers" in out


def test_the_page_links_only_to_pages_that_exist() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        assert not target.startswith("http"), target
        assert (PAGE.parent / target).exists(), target
