"""Regenerate the generated tables in README.md from the SDK's own tables.

    python scripts/readme_tables.py          # rewrite README.md in place
    python scripts/readme_tables.py --check  # exit 1 if README.md is out of date

The error table comes from ``torouter.ERROR_CATALOG`` (the same rows ``torouter explain`` shows)
and the retry table from ``torouter.DEFAULT_RETRY_POLICY``: one source of truth.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import torouter

README = Path(__file__).resolve().parent.parent / "README.md"


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
        rows.append(f"| `{entry.name}` | {codes} | {statuses} | {retried} | {entry.hint} |")
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
            b = rule.backoff
            backoff = f"{b.initial:g} s → {b.maximum:g} s, ×{b.multiplier:g}, " + (  # noqa: RUF001
                "full jitter" if b.jitter else "no jitter"
            )
            when = "yes"
            if issubclass(entry.cls, torouter.StreamInterrupted):
                when = "before the first event only"
            rows.append(f"| `{entry.name}` | {when} | {rule.max_retries} | {backoff} |")
        else:
            rows.append(f"| `{entry.name}` | no | — | — |")
    return "\n".join(rows)


TABLES = {"errors": error_table, "retries": retry_table}


def render(text: str) -> str:
    for name, build in TABLES.items():
        pattern = re.compile(rf"(<!-- table:{name} -->)(.*?)(<!-- /table:{name} -->)", re.DOTALL)
        text = pattern.sub(
            lambda m, b=build: f"{m.group(1)}\n{b()}\n{m.group(3)}", text  # type: ignore[misc]
        )
    return text


def main() -> int:
    current = README.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md tables are out of date: run python scripts/readme_tables.py")
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
