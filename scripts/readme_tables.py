"""Regenerate the generated parts of README.md and docs/*.md from the SDK's own tables.

    python scripts/readme_tables.py          # rewrite the files in place
    python scripts/readme_tables.py --check  # exit 1 if any file is out of date

Each generated part sits between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` in any of
those files (so a new docs page can show a table by adding the two markers):

* ``errors``  -- the error catalog, from ``torouter.ERROR_CATALOG`` (the rows ``torouter explain``
  shows);
* ``tree``    -- the exception tree, from the public classes themselves (a new class appears here
  once ``torouter.__all__`` exports it);
* ``retries`` -- the retry table, from ``torouter.DEFAULT_RETRY_POLICY`` through the same
  ``retry_summary`` that ``torouter explain`` prints;
* ``fake-gateway-help`` -- ``python -m torouter.testing --help``;
* ``testing-example``   -- ``examples/test_your_app_example.py``.

One source of truth: this script is the only place these texts are written.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(ROOT))

import torouter  # noqa: E402
from torouter._retry import retry_summary  # noqa: E402


def error_table() -> str:
    rows = [
        "| class | gateway codes | statuses | retried by default? | what to do |",
        "|---|---|---|---|---|",
    ]
    for entry in torouter.ERROR_CATALOG:
        codes = ", ".join(f"`{c}`" for c in entry.codes) or "—"
        statuses = ", ".join(str(s) for s in entry.statuses) or "—"
        retried = "yes" if entry.retried else "no"
        if entry.retried and issubclass(entry.cls, torouter.StreamInterrupted):
            retried = "only before the first event"
        hint = (entry.hint or "—").replace("|", "\\|")
        rows.append(f"| `{entry.name}` | {codes} | {statuses} | {retried} | {hint} |")
    return "\n".join(rows)


def retry_table() -> str:
    policy = torouter.DEFAULT_RETRY_POLICY
    rows = [
        "| class | retried? | max retries | backoff (initial → max, ×multiplier, jitter) |",  # noqa: RUF001
        "|---|---|---|---|",
    ]
    for entry in torouter.ERROR_CATALOG:
        rule = policy.rule_for(entry.cls)
        if rule.retry:
            summary = retry_summary(entry.cls, policy)
            backoff = summary.split("backoff ", 1)[1].split(", only before", 1)[0]
            when = "yes"
            if issubclass(entry.cls, torouter.StreamInterrupted):
                when = "before the first event only"
            rows.append(f"| `{entry.name}` | {when} | {rule.max_retries} | {backoff} |")
        else:
            rows.append(f"| `{entry.name}` | no | — | — |")
    return "\n".join(rows)


def _error_classes() -> list[type[torouter.ToRouterError]]:
    found = [getattr(torouter, n) for n in torouter.__all__]
    return [c for c in found if isinstance(c, type) and issubclass(c, torouter.ToRouterError)]


def tree() -> str:
    """The exception tree of every public error class, with one line of meaning each."""
    classes = _error_classes()
    meaning = {e.cls: e.meaning for e in torouter.ERROR_CATALOG}

    def about(cls: type) -> str:
        if cls in meaning:
            return meaning[cls]
        first = (cls.__doc__ or "").strip().splitlines()[0].rstrip(".") if cls.__doc__ else ""
        return first[:1].lower() + first[1:]

    def children(cls: type) -> list[type]:
        # A class hangs under its first public base (StreamIdleTimeout under StreamInterrupted).
        return [c for c in classes
                if next((b for b in c.__mro__[1:] if b in classes), None) is cls]

    lines = ["```text"]

    def walk(cls: type, prefix: str, last: bool, root: bool = False) -> None:
        label = cls.__name__
        if root:
            lines.append(f"{label:<42}{about(cls)}")
            inner = ""
        else:
            branch = "└── " if last else "├── "
            lines.append(f"{prefix + branch + label:<42}{about(cls)}")
            inner = prefix + ("    " if last else "│   ")
        kids = children(cls)
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1)

    walk(torouter.ToRouterError, "", True, root=True)
    lines.append("```")
    return "\n".join(line.rstrip() for line in lines)


def fake_gateway_help() -> str:
    """The flags of ``python -m torouter.testing`` with their help text, by group (a table, not
    ``--help`` output, whose layout changes between Python versions)."""
    import argparse

    from torouter.testing.__main__ import build_parser

    rows = ["| flag | what it does |", "|---|---|"]
    for group in build_parser()._action_groups:
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            flag = ", ".join(action.option_strings)
            if action.nargs != 0:
                flag += " " + (action.metavar or action.dest.upper())
            text = (action.help or "").replace("|", "\\|")
            rows.append(f"| `{flag}` | {text} |")
    return "\n".join(rows)


def testing_example() -> str:
    text = (ROOT / "examples" / "test_your_app_example.py").read_text(encoding="utf-8")
    return "```python\n" + text.rstrip() + "\n```"


TABLES: dict[str, Callable[[], str]] = {
    "errors": error_table,
    "retries": retry_table,
    "tree": tree,
    "fake-gateway-help": fake_gateway_help,
    "testing-example": testing_example,
}


def files() -> list[Path]:
    """Every file that may hold generated parts: README.md and the docs pages."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def render(text: str) -> str:
    cache: dict[str, str] = {}
    for name, build in TABLES.items():
        if f"<!-- table:{name} -->" not in text:
            continue
        pattern = re.compile(rf"(<!-- table:{name} -->)(.*?)(<!-- /table:{name} -->)", re.DOTALL)
        if name not in cache:
            cache[name] = build()
        body = cache[name]
        text = pattern.sub(lambda m, b=body: f"{m.group(1)}\n{b}\n{m.group(3)}", text)  # type: ignore[misc]
    return text


def main() -> int:
    stale = []
    for path in files():
        current = path.read_text(encoding="utf-8")
        fresh = render(current)
        if fresh != current:
            stale.append(path)
            if "--check" not in sys.argv:
                path.write_text(fresh, encoding="utf-8")
    if "--check" in sys.argv and stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"generated text is out of date in {names}: run python scripts/readme_tables.py")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
