"""``torouter explain CODE_OR_STATUS``: what an error means, offline.

Everything comes from the SDK's own tables: ``ERROR_CATALOG`` / ``lookup`` (meaning, codes,
statuses, hint, doc link) and ``DEFAULT_RETRY_POLICY`` (retried or not).  There is no second table.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._errors import ERROR_CATALOG, CatalogEntry, ToRouterError, lookup
from .._retry import DEFAULT_RETRY_POLICY
from ._output import Exit, Output, family_of

__all__ = ["entry_info", "explain", "run"]


def _lineage(cls: type[ToRouterError]) -> list[str]:
    return [k.__name__ for k in cls.__mro__[1:]
            if issubclass(k, ToRouterError) and k.__module__ == cls.__module__]


def _retry_text(cls: type[ToRouterError]) -> str:
    rule = DEFAULT_RETRY_POLICY.rule_for(cls)
    if not rule.retry:
        return "no: the default retry policy raises it at once (retrying will not help)"
    b = rule.backoff
    jitter = " with full jitter" if b.jitter else ""
    plural = "retry" if rule.max_retries == 1 else "retries"
    return (f"yes: up to {rule.max_retries} {plural}, backoff {b.initial:g}s x{b.multiplier:g} "
            f"up to {b.maximum:g}s{jitter}; Retry-After honoured up to "
            f"{DEFAULT_RETRY_POLICY.max_retry_after:g}s")


def entry_info(entry: CatalogEntry) -> dict[str, Any]:
    """One catalog row as JSON-ready data, with its retry rule and CLI exit code."""
    rule = DEFAULT_RETRY_POLICY.rule_for(entry.cls)
    code, _, family = family_of(entry.cls)
    return {
        "class": entry.name,
        "sdk_class": f"torouter.{entry.name}",
        "parents": _lineage(entry.cls),
        "meaning": entry.meaning,
        "codes": list(entry.codes),
        "statuses": list(entry.statuses),
        "falls_back": DEFAULT_RETRY_POLICY.rule_for(entry.cls).fallback,
        "retried": entry.retried,
        "retry": {
            "max_retries": rule.max_retries if rule.retry else 0,
            "backoff_initial": rule.backoff.initial,
            "backoff_max": rule.backoff.maximum,
            "jitter": rule.backoff.jitter,
        },
        "hint": entry.hint,
        "doc_url": entry.doc_url,
        "exit_code": int(code),
        "family": family,
    }


def explain(query: str) -> tuple[CatalogEntry | None, list[CatalogEntry]]:
    """The entry for ``query`` and, for an HTTP status, the other classes seen with it."""
    q = query.strip()
    entry = lookup(q) if q else None
    others: list[CatalogEntry] = []
    if q.isdigit():
        status = int(q)
        others = [e for e in ERROR_CATALOG if status in e.statuses and e is not entry]
        if entry is None and others:
            entry, others = others[0], others[1:]
    return entry, others


def _print_entry(out: Output, entry: CatalogEntry) -> None:
    code, label, _ = family_of(entry.cls)
    out.line(f"{entry.name}: {entry.meaning}")
    rows: list[tuple[str, ...]] = [
        ("  SDK class:", f"torouter.{entry.name} ({' > '.join(_lineage(entry.cls))})"),
    ]
    matches = []
    if entry.codes:
        matches.append("type code " + ", ".join(entry.codes))
    if entry.statuses:
        matches.append("HTTP " + ", ".join(str(s) for s in entry.statuses))
    rows.append(("  arrives as:", "; ".join(matches) or "raised by the SDK (no HTTP response)"))
    rows.append(("  retried:", _retry_text(entry.cls)))
    rows.append(("  falls back:", _fallback_text(entry.cls)))
    rows.append(("  what to do:", entry.hint or "-"))
    rows.append(("  docs:", entry.doc_url or "-"))
    rows.append(("  exit code:", f"{int(code)} ({label})"))
    out.table(rows)


def run(args: argparse.Namespace, out: Output) -> int:
    query: str = args.query
    entry, others = explain(query)
    if entry is None:
        known = sorted({c for e in ERROR_CATALOG for c in e.codes})
        message = (f"unknown error code, HTTP status or class: {query!r}. Known type codes: "
                   + ", ".join(known))
        if out.json_mode:
            out.emit({"ok": False, "command": "explain", "query": query,
                      "error": {"class": "UsageError", "message": message},
                      "exit_code": int(Exit.USAGE)})
        else:
            out.note(f"torouter explain: {message}")
            out.note("Also accepted: an HTTP status (401, 429, 502 ...) or an SDK class name "
                     "(KeyExpired, RateLimited ...).")
        return int(Exit.USAGE)
    if out.json_mode:
        out.emit({"ok": True, "command": "explain", "query": query, "match": entry_info(entry),
                  "same_status": [entry_info(e) for e in others]})
        return int(Exit.OK)
    _print_entry(out, entry)
    if others:
        out.line("")
        status = int(query.strip())
        out.line(f"Other errors that arrive with HTTP {status} (the body's type code decides):")
        out.table(
            ("  " + e.name, ", ".join(e.codes) or "(no code)", e.meaning,
             "retried" if e.retried else "not retried")
            for e in others
        )
    return int(Exit.OK)


def _fallback_text(cls: type[ToRouterError]) -> str:
    """Whether the default policy moves a call to its next fallback model (docs/fallbacks.md)."""
    rule = DEFAULT_RETRY_POLICY.rule_for(cls)
    if not rule.fallback:
        return "no: another model would fail the same way"
    when = "after its retries, " if rule.retry else ""
    return f"yes: {when}to the call's next fallback model (fallback_models=, fallbacks=)"
