"""``torouter explain CODE_OR_STATUS``: what an error means, offline.

Everything comes from the SDK's own tables: ``ERROR_CATALOG`` / ``lookup`` (meaning, codes,
statuses, hint, doc link) and ``DEFAULT_RETRY_POLICY`` (retried or not).  There is no second table.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._errors import (
    ERROR_CATALOG,
    APIStatusError,
    CatalogEntry,
    InternalServerError,
    ToRouterError,
    lookup,
)
from .._retry import DEFAULT_RETRY_POLICY, retry_summary
from ._output import Exit, Output, cli_hint, family_of

__all__ = ["all_entries", "entry_info", "explain", "run"]


def all_entries() -> list[CatalogEntry]:
    """``ERROR_CATALOG`` plus a row for every other public error class (``ToRouterError``,
    ``APIStatusError``, ``InvalidArgumentError`` ...), whose meaning is its docstring's first
    line: ``explain`` knows every class the SDK can raise."""
    import torouter

    entries = list(ERROR_CATALOG)
    known = {e.cls for e in entries}
    for name in torouter.__all__:
        obj = getattr(torouter, name)
        if isinstance(obj, type) and issubclass(obj, ToRouterError) and obj not in known:
            doc = (obj.__doc__ or name).strip().splitlines()[0].rstrip(".")
            entries.append(CatalogEntry(obj, (), (), doc))
            known.add(obj)
    return entries


def _entry_for(cls: type[ToRouterError]) -> CatalogEntry | None:
    return next((e for e in all_entries() if e.cls is cls), None)


def _lineage(cls: type[ToRouterError]) -> list[str]:
    return [k.__name__ for k in cls.__mro__[1:]
            if issubclass(k, ToRouterError) and k.__module__ == cls.__module__]


def _retry_text(cls: type[ToRouterError]) -> str:
    """The docs' retry table and this line both come from :func:`torouter._retry.retry_summary`."""
    text = retry_summary(cls, DEFAULT_RETRY_POLICY)
    if text == "no":
        return "no: the default retry policy raises it at once (retrying will not help)"
    return f"{text}; Retry-After honoured up to {DEFAULT_RETRY_POLICY.max_retry_after:g} s"


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
        "retried": entry.retried,
        "retried_text": _retry_text(entry.cls),
        "retry": {
            "max_retries": rule.max_retries if rule.retry else 0,
            "backoff_initial": rule.backoff.initial,
            "backoff_max": rule.backoff.maximum,
            "jitter": rule.backoff.jitter,
        },
        "hint": entry.hint,
        "cli_hint": cli_hint(entry.cls),
        "doc_url": entry.doc_url,
        "exit_code": int(code),
        "family": family,
    }


def explain(query: str) -> tuple[CatalogEntry | None, list[CatalogEntry]]:
    """The entry for ``query`` and, for an HTTP status, the other classes seen with it.

    ``query`` is a type code, a class name (any public error class) or an HTTP status 400-599;
    a status no row lists falls to its family (``418`` -> ``APIStatusError``, any other 4xx;
    ``599`` -> ``InternalServerError``, any other 5xx).
    """
    q = query.strip()
    if not q:
        return None, []
    if q.isdigit():
        status = int(q)
        if not 400 <= status <= 599:
            return None, []
        entry = lookup(status)
        others = [e for e in ERROR_CATALOG if status in e.statuses and e is not entry]
        if entry is None and others:
            entry, others = others[0], others[1:]
        if entry is None:
            entry = _entry_for(InternalServerError if status >= 500 else APIStatusError)
        return entry, others
    by_name = {e.name.lower(): e for e in all_entries()}
    return by_name.get(q.lower()) or lookup(q), []


def _arrives_as(entry: CatalogEntry) -> str:
    matches = []
    if entry.codes:
        matches.append("type code " + ", ".join(entry.codes))
    if entry.statuses:
        matches.append("HTTP " + ", ".join(str(s) for s in entry.statuses))
    if entry.cls is APIStatusError:
        matches.append("any other 4xx the SDK has no class for")
    elif entry.cls is InternalServerError:
        matches.append("any other 5xx")
    elif not matches:
        if issubclass(entry.cls, APIStatusError):
            matches.append("HTTP status of its subclasses")
        elif entry.cls is ToRouterError:
            return "the base of every error the SDK raises (catch it to catch them all)"
        else:
            return "raised by the SDK (no HTTP response)"
    return "; ".join(matches)


def _print_entry(out: Output, entry: CatalogEntry) -> None:
    code, label, _ = family_of(entry.cls)
    out.line(f"{entry.name}: {entry.meaning}")
    rows: list[tuple[str, ...]] = [
        ("  SDK class:", f"torouter.{entry.name}"
         + (f" ({' > '.join(_lineage(entry.cls))})" if _lineage(entry.cls) else "")),
    ]
    rows.append(("  arrives as:", _arrives_as(entry)))
    rows.append(("  retried:", _retry_text(entry.cls)))
    rows.append(("  what to do:", cli_hint(entry.cls) or "-"))
    rows.append(("  docs:", entry.doc_url or "-"))
    if entry.cls is ToRouterError:
        rows.append(("  exit code:", "that of the subclass (torouter --help lists them)"))
    else:
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
            out.note("Also accepted: an HTTP error status (400-599) or an SDK class name "
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
