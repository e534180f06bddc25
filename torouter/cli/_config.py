"""Settings shared by the commands: key, base URL, timeout, retries, and the client."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._output import Output

if TYPE_CHECKING:
    from .._client import ToRouter
    from .._errors import ToRouterError
    from .._retrying import Attempt

__all__ = ["QUICK_TIMEOUT", "Settings"]
#: Seconds per attempt for ``ping``, ``models`` and ``doctor`` when ``--timeout`` is not given
#: (``chat`` keeps the SDK's default: 600 s to read, 5 s to connect).
QUICK_TIMEOUT = 30.0


@dataclass
class Settings:
    """What the global flags and the environment say."""

    api_key: str | None
    api_key_source: str | None
    base_url: str
    base_url_source: str
    timeout: float | None
    max_retries: int | None
    out: Output
    retried: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace, out: Output) -> Settings:
        from .._base_client import DEFAULT_BASE_URL

        key: str | None = getattr(args, "api_key", None)
        key_source: str | None = "--api-key" if key is not None else None
        if key is None:
            key = os.environ.get("TOROUTER_API_KEY")
            key_source = "TOROUTER_API_KEY" if key is not None else None
        out.add_secret(key)
        url: str | None = getattr(args, "base_url", None)
        url_source = "--base-url"
        if url is None:
            url = os.environ.get("TOROUTER_BASE_URL") or None
            url_source = "TOROUTER_BASE_URL"
        if url is None:
            url, url_source = DEFAULT_BASE_URL, "default"
        from .._errors import mask_key

        out.context.update(base_url=url, api_key=None if key is None else mask_key(key.strip()))
        return cls(
            api_key=key,
            api_key_source=key_source,
            base_url=url,
            base_url_source=url_source,
            timeout=getattr(args, "timeout", None),
            max_retries=getattr(args, "max_retries", None),
            out=out,
        )

    @property
    def masked_key(self) -> str | None:
        from .._errors import mask_key

        return None if self.api_key is None else mask_key(self.api_key.strip())

    def client(self, *, quick: bool = True) -> ToRouter:
        """A client for these settings (raises ApiKeyRequired / InvalidArgumentError)."""
        from .._client import ToRouter
        from .._errors import ApiKeyRequired

        if self.api_key is None or not self.api_key.strip():
            raise ApiKeyRequired(
                "no API key: pass --api-key or set TOROUTER_API_KEY", status_code=None
            )
        timeout: Any
        if self.timeout is not None:
            timeout = self.timeout
        elif quick:
            timeout = QUICK_TIMEOUT
        else:
            from .._base_client import DEFAULT_TIMEOUT

            timeout = DEFAULT_TIMEOUT
        return ToRouter(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=self.max_retries,
            on_retry=self._on_retry,
        )

    def _on_retry(self, err: ToRouterError, attempt: Attempt) -> None:
        self.retried.append({
            "attempt": attempt.number,
            "class": type(err).__name__,
            "status_code": err.status_code,
            "request_id": err.request_id,
            "sleep": None if attempt.sleep is None else round(attempt.sleep, 3),
        })
        if not self.out.json_mode:
            wait = "" if attempt.sleep is None else f"; retrying in {attempt.sleep:.2f}s"
            status = "" if err.status_code is None else f" ({err.status_code})"
            self.out.note(f"  attempt {attempt.number} failed: {type(err).__name__}{status}{wait}")
