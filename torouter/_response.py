"""Raw responses: ``client.<resource>.with_raw_response.<method>(...)`` returns these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

__all__ = ["RawResponse"]

T = TypeVar("T")


class RawResponse(Generic[T]):
    """The HTTP response of a successful call, with the typed body one ``parse()`` away.

    ``headers``, ``status_code``, ``request_id`` (``x-request-id``), ``retries_taken`` and
    ``http_response`` (the ``httpx.Response``) are available without parsing the body.
    """

    __slots__ = ("_parsed", "_parser", "_target", "http_response", "retries_taken")

    def __init__(
        self,
        response: httpx.Response,
        target: Any,
        retries_taken: int,
        parser: Callable[[httpx.Response, Any, int], T],
    ) -> None:
        self.http_response = response
        self.retries_taken = retries_taken
        self._target = target
        self._parser = parser
        self._parsed: Any = _NOT_PARSED

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def request_id(self) -> str | None:
        rid: str | None = self.http_response.headers.get("x-request-id")
        return rid

    def parse(self) -> T:
        """The typed body (parsed once, then cached)."""
        if self._parsed is _NOT_PARSED:
            self._parsed = self._parser(self.http_response, self._target, self.retries_taken)
        parsed: T = self._parsed
        return parsed

    def __reduce__(self) -> Any:
        raise TypeError(
            "a RawResponse holds the live HTTP exchange (its request carries the key): "
            "pickle raw.parse() instead"
        )

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] request_id={self.request_id!r}>"


_NOT_PARSED: Any = object()


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
