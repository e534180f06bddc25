"""Output shared by every command: exit codes, error reports, JSON, and key redaction."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TextIO

from .._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamInterrupted,
    ToRouterError,
    mask_key,
)

__all__ = ["Exit", "Output", "cli_hint", "error_info", "exit_code_for", "family_of"]

#: SDK hints speak Python (``api_key=``, ``client.models.list()``); on the command line the same
#: advice names the flag or the command.  Applied in order to every hint the CLI prints.
_CLI_WORDING: tuple[tuple[str, str], ...] = (
    ("Pass api_key=... or set", "Pass --api-key or set"),
    ("TOROUTER_API_KEY / api_key=", "TOROUTER_API_KEY / --api-key"),
    ("(TOROUTER_API_KEY or api_key=)", "(--api-key or TOROUTER_API_KEY)"),
    ("client.models.list()", "`torouter models`"),
    ("Raise timeout= or deadline=", "Raise --timeout"),
    ("raise stream_idle_timeout= or resend", "resend"),
    ("The partial output is in err.chunks; resend", "The partial answer was printed; resend"),
    ("The partial output is in err.partial / err.text; resend",
     "The partial answer was printed; resend"),
    ("; see err.retry_after", " (the gateway's Retry-After is shown below, if it sent one)"),
    ("Use the gateway's http(s) URL", "Set --base-url or TOROUTER_BASE_URL to the gateway's URL"),
    ("Fix the argument named in the message", "Fix the setting named in the message"),
    ("api_key=", "--api-key"),
    ("base_url", "--base-url"),
)
#: Families where walking the whole checklist finds the cause fastest.
_DOCTOR_FAMILIES = (AuthenticationError, PermissionDeniedError, APIConnectionError)


def cli_hint(err: ToRouterError | type[ToRouterError], hint: str | None = None, *,
             suggest_doctor: bool = True) -> str | None:
    """``hint`` (default: the error's own) in command-line wording: flags, ``torouter models``,
    ``torouter doctor`` instead of Python arguments and methods."""
    cls = err if isinstance(err, type) else type(err)
    if hint is None:
        hint = err.default_hint if isinstance(err, type) else err.hint
    if not hint:
        return hint
    for python, cli in _CLI_WORDING:
        hint = hint.replace(python, cli)
    if (suggest_doctor and issubclass(cls, _DOCTOR_FAMILIES) and "torouter doctor" not in hint
            and not issubclass(cls, StreamInterrupted)):
        hint += " `torouter doctor` checks the key and the connection step by step."
    return hint



class Exit(IntEnum):
    """The process exit codes of ``torouter`` (see the package docstring)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    AUTH = 3
    PERMISSION = 4
    BILLING = 5
    RATE_LIMIT = 6
    SERVER = 7
    CONNECTION = 8
    REQUEST = 9
    INTERRUPTED = 130


#: Failure families in the order they are tested (the first match wins).  Billing comes before
#: rate limiting because a spent quota (429) is a billing condition, not a rate limit.
_FAMILIES: tuple[tuple[type[ToRouterError], Exit, str], ...] = (
    (BillingError, Exit.BILLING, "billing: quota, balance or plan"),
    (AuthenticationError, Exit.AUTH, "authentication: no, invalid or expired key"),
    (PermissionDeniedError, Exit.PERMISSION, "permission: the key's IP or model rules"),
    (RateLimitError, Exit.RATE_LIMIT, "rate limited"),
    (InternalServerError, Exit.SERVER, "gateway or upstream failure"),
    (APIResponseValidationError, Exit.SERVER, "gateway or upstream failure"),
    (NotFoundError, Exit.REQUEST, "request rejected: not found"),
    (BadRequestError, Exit.REQUEST, "request rejected: bad request"),
    (APIStatusError, Exit.REQUEST, "request rejected"),
    (APIConnectionError, Exit.CONNECTION, "connection or timeout"),
    (InvalidArgumentError, Exit.USAGE, "usage or configuration"),
)


def family_of(cls: type[BaseException]) -> tuple[Exit, str, str]:
    """``(exit code, family label, family class name)`` for an error class."""
    for base, code, label in _FAMILIES:
        if issubclass(cls, base):
            return code, label, base.__name__
    return Exit.UNEXPECTED, "unexpected error", cls.__name__


def exit_code_for(err: BaseException) -> Exit:
    """The exit code for an error raised by a command."""
    return family_of(type(err))[0]


def error_info(err: ToRouterError) -> dict[str, Any]:
    """Everything a script needs about a typed error, as JSON-ready data."""
    code, _, family = family_of(type(err))
    return {
        "class": type(err).__name__,
        "family": family,
        "exit_code": int(code),
        "status_code": err.status_code,
        "code": err.code,
        "message": err.message,
        "request_id": err.request_id,
        "retryable": err.retryable,
        "retries_taken": err.retries_taken,
        "retry_after": err.retry_after,
        "hint": cli_hint(err),
        "doc_url": err.doc_url,
    }


def describe(err: ToRouterError) -> str:
    """``Class (status, code): message [request_id=...]``, without the hint."""
    head = type(err).__name__
    detail = [str(err.status_code)] if err.status_code is not None else []
    if err.code:
        detail.append(err.code)
    if detail:
        head += " (" + ", ".join(detail) + ")"
    text = f"{head}: {err.message}"
    if err.request_id:
        text += f" [request_id={err.request_id}]"
    return text


@dataclass
class Output:
    """Where a command writes. Every string passes through :meth:`redact` first.

    With ``json_mode`` a command builds one document and hands it to :meth:`emit`; human text
    goes to stdout (results) and stderr (errors and progress).
    """

    json_mode: bool = False
    secrets: list[str] = field(default_factory=list)
    #: Merged into every JSON error document (base URL, masked key, model ...).
    context: dict[str, Any] = field(default_factory=dict)
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def add_secret(self, secret: str | None) -> None:
        if secret and secret.strip():
            self.secrets.append(secret)
            if secret.strip() != secret:
                self.secrets.append(secret.strip())

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, mask_key(secret.strip()))
        return text

    def write(self, text: str) -> None:
        """Write to stdout as is (streamed answers); flushed at once."""
        self.out.write(self.redact(text))
        self.out.flush()

    def line(self, text: str = "") -> None:
        self.write(text + "\n")

    def note(self, text: str) -> None:
        """A line on stderr."""
        self.err.write(self.redact(text) + "\n")
        self.err.flush()

    def emit(self, doc: dict[str, Any]) -> None:
        """The command's one JSON document, on stdout."""
        self.line(json.dumps(doc, indent=2, ensure_ascii=False, default=str))

    def table(self, rows: Iterable[tuple[str, ...]], *, err: bool = False) -> None:
        rows = list(rows)
        if not rows:
            return
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)] + [row[-1]]
            text = "  ".join(cells).rstrip()
            self.note(text) if err else self.line(text)

    def report_error(self, err: ToRouterError, *, command: str,
                     extra: dict[str, Any] | None = None) -> Exit:
        """Report a failed command: JSON document or stderr lines. Returns the exit code."""
        code = exit_code_for(err)
        if self.json_mode:
            doc: dict[str, Any] = {"ok": False, "command": command}
            doc.update(self.context)
            doc.update(extra or {})
            doc["error"] = error_info(err)
            doc["exit_code"] = int(code)
            self.emit(doc)
            return code
        _, label, _ = family_of(type(err))
        self.note(f"torouter {command}: error: {describe(err)}")
        rows: list[tuple[str, ...]] = []
        hint = cli_hint(err)
        if hint:
            rows.append(("  what to do:", hint))
        if err.doc_url:
            rows.append(("  docs:", err.doc_url))
        if err.retryable:
            retried = f"yes by default; {err.retries_taken} retries taken"
        else:
            retried = "no (retrying will not help until the cause is fixed)"
        rows.append(("  retried:", retried))
        if err.retry_after is not None:
            rows.append(("  retry after:", f"{err.retry_after:g}s"))
        rows.append(("  exit code:", f"{int(code)} ({label})"))
        self.table(rows, err=True)
        return code
