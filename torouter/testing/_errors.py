"""Error codes, their HTTP statuses per dialect, and the three body shapes (api doc §3, §4, §11)."""

from __future__ import annotations

import json
from typing import Literal

__all__ = [
    "RATE_LIMIT",
    "Dialect",
    "ErrorShape",
    "default_message",
    "error_body",
    "status_for",
]

Dialect = Literal["reference", "limits"]
"""Which documentation pages win where they contradict (§11 items 1-5).

``"reference"``: the error-codes/errors pages (p1, p2). ``"limits"``: the key-limit pages
(p9, p16, p30; p5 for the balance status).
"""

ErrorShape = Literal["openai", "anthropic", "gemini"]
"""Which protocol surface's error body to emit (§4)."""

RATE_LIMIT = "rate limit exceeded"
"""Pseudo-code for the code-less 429 whose body is ``{"error": "rate limit exceeded"}`` (§5)."""

# Status of each documented code; a tuple is (reference, limits) where the docs disagree.
_STATUS: dict[str, int | tuple[int, int]] = {
    "API_KEY_REQUIRED": 401,
    "INVALID_API_KEY": 401,
    "API_KEY_DISABLED": 401,
    "API_KEY_EXPIRED": (403, 401),  # §11.1
    "API_KEY_QUOTA_EXHAUSTED": (429, 402),  # §11.2
    "USER_NOT_FOUND": 401,
    "USER_INACTIVE": 401,
    "ACCESS_DENIED": (403, 401),  # §11.4 (in "limits" only the IP case produces it)
    "model_not_allowed": 403,  # §11.5
    "SUBSCRIPTION_NOT_FOUND": 403,
    "SUBSCRIPTION_INVALID": 403,
    "INSUFFICIENT_BALANCE": (403, 402),  # §11.3
    "USAGE_LIMIT_EXCEEDED": 429,
    RATE_LIMIT: 429,
    "api_key_in_query_deprecated": 400,
    "invalid_request_error": 400,
    "upstream_unavailable": 502,  # "usually 502 or 503" (§6, §11.12)
}

_MESSAGES: dict[str, str] = {
    "API_KEY_REQUIRED": "API key is required: send it as 'Authorization: Bearer <key>'",
    "INVALID_API_KEY": "invalid API key",
    "API_KEY_DISABLED": "API key is disabled",
    "API_KEY_EXPIRED": "API key has expired",
    "API_KEY_QUOTA_EXHAUSTED": "API key quota exhausted",
    "USER_NOT_FOUND": "user not found",
    "USER_INACTIVE": "user is inactive",
    "ACCESS_DENIED": "access denied",
    "model_not_allowed": "model not allowed for this API key",
    "SUBSCRIPTION_NOT_FOUND": "an active subscription is required",
    "SUBSCRIPTION_INVALID": "subscription is not active",
    "INSUFFICIENT_BALANCE": "insufficient balance",
    "USAGE_LIMIT_EXCEEDED": "usage limit exceeded for the current window",
    RATE_LIMIT: RATE_LIMIT,
    "api_key_in_query_deprecated": "API keys in the query string are deprecated; use a header",
    "invalid_request_error": "invalid request",
    "upstream_unavailable": "Service temporarily unavailable",
}

_PLAIN_MESSAGES: dict[int, str] = {
    400: "bad request",
    404: "not found",
    500: "internal server error",
    502: "bad gateway: all upstream candidates failed",
    503: "service unavailable: no eligible channel",
    504: "gateway timeout: upstream timed out",
}

# Gemini puts a google.rpc status name in error.status; used for code-less (plain) errors.
_GRPC_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_for(code: str, dialect: Dialect) -> int:
    """HTTP status of a documented ``code`` in ``dialect``; 400 for unknown codes."""
    st = _STATUS.get(code, 400)
    if isinstance(st, tuple):
        return st[0] if dialect == "reference" else st[1]
    return st


def default_message(code: str | None, status: int) -> str:
    """A human message for ``code`` (or for a code-less error of ``status``)."""
    if code is not None and code in _MESSAGES:
        return _MESSAGES[code]
    if code is None:
        return _PLAIN_MESSAGES.get(status, f"HTTP {status}")
    return code


def error_body(
    code: str | None,
    status: int,
    message: str | None,
    shape: ErrorShape,
    *,
    extra: dict[str, object] | None = None,
) -> bytes:
    """Serialise an error.

    * ``code == RATE_LIMIT`` → ``{"error": "rate limit exceeded"}`` on every surface (§4, §5).
    * openai: ``{"error": {"type": CODE, "message": ...}}``; anthropic:
      ``{"type": "error", "error": {"type": CODE, "message": ...}}``; gemini:
      ``{"error": {"code": STATUS, "message": ..., "status": CODE}}``.
    * ``code is None`` (a "plain" error whose code the docs leave out, §3): the ``type`` member is
      omitted (openai/anthropic), and gemini's ``status`` is the google.rpc name of the status.
    * ``extra`` members are merged into the inner error object (e.g. a relayed provider ``code``).
    """
    msg = message if message is not None else default_message(code, status)
    if code == RATE_LIMIT:
        return json.dumps({"error": msg}).encode()
    inner: dict[str, object]
    if shape == "gemini":
        grpc = code or _GRPC_STATUS.get(status, "UNKNOWN")
        inner = {"code": status, "message": msg, "status": grpc}
    else:
        inner = {"type": code, "message": msg} if code is not None else {"message": msg}
    if extra:
        inner.update(extra)
    if shape == "anthropic":
        return json.dumps({"type": "error", "error": inner}).encode()
    return json.dumps({"error": inner}).encode()


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
