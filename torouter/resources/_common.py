"""What every endpoint shares: request options, argument checks, building a RequestSpec."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import httpx
import pydantic
from typing_extensions import TypedDict

from .._base_client import RequestSpec, check_headers, dumps, to_timeout
from .._errors import InvalidArgumentError

__all__ = ["RequestOptions", "build_spec"]

M = TypeVar("M", bound=pydantic.BaseModel)

_OPTION_NAMES = frozenset({"extra_headers", "extra_body", "timeout"})


class RequestOptions(TypedDict, total=False):
    """Per-call options accepted by every endpoint method."""

    #: Headers added to (or overriding) the client's for this call.
    extra_headers: Mapping[str, str]
    #: Fields merged into the JSON body: parameters newer than this SDK.
    extra_body: Mapping[str, object]
    #: This call's per-attempt timeout (seconds or ``httpx.Timeout``).
    timeout: float | httpx.Timeout


def build_spec(
    method: str,
    path: str,
    cast_to: type[M],
    params: Mapping[str, Any],
    *,
    allowed: frozenset[str],
    required: Iterable[str],
    stream: bool = False,
    raw: bool = False,
    body_extra: Mapping[str, Any] | None = None,
) -> RequestSpec[M]:
    """Check the keyword arguments of an endpoint call and describe the request.

    Misspelt or missing arguments raise :class:`InvalidArgumentError` before anything is sent.
    """
    body: dict[str, Any] = {}
    extra_headers = extra_body = timeout = None
    for name, value in params.items():
        if name in allowed:
            if value is not None:
                body[name] = value
        elif name in _OPTION_NAMES:
            if name == "extra_headers":
                extra_headers = value
            elif name == "extra_body":
                extra_body = value
            else:
                timeout = value
        else:
            close = difflib.get_close_matches(name, sorted(allowed | _OPTION_NAMES), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise InvalidArgumentError(
                f"unexpected argument {name!r} for {path}; {guess}"
                "(send fields newer than this SDK with extra_body={...})",
                hint="Check the spelling against the method's parameters; send fields newer "
                     "than this SDK with extra_body={...}.",
            )
    for name in required:
        if body.get(name) in (None, "", [], ()):
            raise InvalidArgumentError(f"{path} needs the argument {name!r}")
    if body_extra:
        body.update(body_extra)
    if extra_body is not None:
        if not isinstance(extra_body, Mapping):
            raise InvalidArgumentError("extra_body must be a mapping")
        body.update(extra_body)
    if extra_headers is not None:
        if not isinstance(extra_headers, Mapping):
            raise InvalidArgumentError("extra_headers must be a mapping of str to str")
        check_headers(extra_headers, "extra_headers")
    return RequestSpec(
        method=method,
        path=path,
        cast_to=cast_to,
        body=dumps(body) if method != "GET" else None,
        stream=stream,
        raw=raw,
        headers=extra_headers,
        timeout=None if timeout is None else to_timeout(timeout),
        params=body,
    )
