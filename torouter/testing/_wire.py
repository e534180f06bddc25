"""Plain data passed between the gateway core and its front ends, plus the model catalog."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CatalogModel",
    "GatewayRequest",
    "ModelKind",
    "Reply",
    "RequestRecord",
    "default_catalog",
]

ModelKind = Literal["chat", "embedding"]

_EPOCH_2026 = 1_767_225_600


@dataclass
class CatalogModel:
    """One entry of the group's model catalog; ``price_usd`` is charged per successful request."""

    id: str
    owned_by: str = "torouter"
    kind: ModelKind = "chat"
    price_usd: float = 0.001
    created: int = _EPOCH_2026


def default_catalog() -> dict[str, CatalogModel]:
    """The ids named in the docs (§1.6), with made-up per-request prices."""
    rows: list[tuple[str, str, ModelKind, float]] = [
        # Bare ids and vendor/model ids named in the docs (§1.6).
        ("gpt-5", "openai", "chat", 0.01),
        ("gpt-5-mini", "openai", "chat", 0.002),
        ("o3", "openai", "chat", 0.02),
        ("gpt-5.3-codex", "openai", "chat", 0.01),
        ("claude-opus-4-7", "anthropic", "chat", 0.03),
        ("claude-sonnet-4-7", "anthropic", "chat", 0.015),
        ("gemini-3-flash-preview", "google", "chat", 0.001),
        ("gemini-2.5-pro", "google", "chat", 0.01),
        ("deepseek-v3", "deepseek", "chat", 0.001),
        ("openai/gpt-5", "openai", "chat", 0.01),
        ("anthropic/claude-opus-4-7", "anthropic", "chat", 0.03),
        ("google/gemini-2.5-pro", "google", "chat", 0.01),
        ("deepseek/deepseek-r1", "deepseek", "chat", 0.002),
        ("text-embedding-3-large", "openai", "embedding", 0.0001),
        ("text-embedding-3-small", "openai", "embedding", 0.00002),
        ("openai/text-embedding-3-small", "openai", "embedding", 0.00002),
    ]
    return {m: CatalogModel(m, owner, kind, price) for m, owner, kind, price in rows}


@dataclass(frozen=True)
class RequestRecord:
    """One handled request in :attr:`FakeGateway.requests`. ``key`` is masked (``sk-…abcd``).

    ``status`` is 0 when the connection was closed without a response; ``code`` is the error code
    sent (``None`` on success or for code-less errors); ``attempts`` lists the channels tried;
    ``headers`` are the request headers (lower-case, credentials masked) and ``body`` the parsed
    JSON request body (``None`` if absent or not a JSON object).
    """

    method: str
    path: str
    key: str | None
    status: int
    request_id: str
    model: str | None = None
    stream: bool = False
    client_ip: str = ""
    code: str | None = None
    outcome: str = "ok"
    channel: str | None = None
    attempts: tuple[str, ...] = ()
    cost_usd: float = 0.0
    time: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: dict[str, Any] | None = field(default=None, repr=False)

    def log_line(self) -> str:
        """One access-log line: method, path, status, gateway code, request id, masked key
        (and the model, and what the scripted upstream did when it was not a plain answer)."""
        status = str(self.status) if self.status else "---"
        parts = [self.method, self.path, status, self.code or "-", self.request_id,
                 f"key={self.key or '-'}"]
        if self.model:
            parts.append(f"model={self.model}")
        if self.outcome not in ("ok", "scripted", "not_found", "model_not_found"):
            parts.append(f"({self.outcome})")
        return " ".join(parts)


@dataclass
class GatewayRequest:
    """What a front end hands to :meth:`FakeGateway.handle` (header names lower-case)."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    peer_ip: str | None = None


@dataclass
class Reply:
    """What a front end must send: head, then ``body`` or the SSE ``events``.

    ``delay`` is slept before the head, ``chunk_delay`` between events; ``drop`` closes the
    connection after the events (no ``[DONE]``, no chunked terminator); ``disconnect`` closes it
    without any response.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    events: list[bytes] | None = None
    drop: bool = False
    delay: float = 0.0
    chunk_delay: float = 0.0
    disconnect: bool = False
