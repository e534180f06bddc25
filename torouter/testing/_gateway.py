"""The core of :class:`FakeGateway`: routing, key checks, billing, upstream outcomes.

Transport-independent: :meth:`FakeGateway.handle` turns a :class:`GatewayRequest` into a
:class:`Reply`; the httpx transports (``_transport.py``) and the socket server (``_server.py``) only
do I/O (sleeping, writing events, dropping connections). Section numbers refer to the ToRouter API
notes (§3 errors, §4 bodies, §5 429s, §6 failover, §7 key limits, §11 contradictions).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from . import _sse_writer as w
from ._clock import Clock
from ._errors import RATE_LIMIT, Dialect, ErrorShape, error_body, status_for
from ._keys import Account, KeyRing, KeyState, Rejection, mask_key, model_allowed, seeded_hex
from ._schema import structured_reply
from ._upstream import Outcome, Upstream, fails_over
from ._wire import (
    CatalogModel,
    GatewayRequest,
    ModelKind,
    Reply,
    RequestRecord,
    default_catalog,
)

if TYPE_CHECKING:
    import httpx

    from ._server import GatewayServer

__all__ = ["CatalogModel", "FakeGateway", "GatewayRequest", "Reply", "RequestRecord"]

ReplyFn = Callable[[list[dict[str, Any]]], str]


class _Stop(Exception):
    """Short-circuits request handling with an error reply."""

    def __init__(self, reply: Reply, code: str | None, outcome: str) -> None:
        super().__init__(code)
        self.reply = reply
        self.code = code
        self.outcome = outcome


@dataclass
class _Ctx:
    method: str
    path: str
    client_ip: str
    key: str | None = None
    model: str | None = None
    stream: bool = False
    channel: str | None = None
    attempts: list[str] = field(default_factory=list)
    cost: float = 0.0
    body: object = None


_ROUTES = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/embeddings"): "embeddings",
    ("GET", "/v1/models"): "models",
}


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(str(p.get("text", "")) for p in parts)
    return ""


_MALFORMED = object()
_SECRET_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")


def _masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out = dict(headers)
    for name in _SECRET_HEADERS:
        if name in out:
            scheme, _, token = out[name].rpartition(" ")
            out[name] = f"{scheme} {mask_key(token)}".strip()
    return out


def _fmt_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


class FakeGateway(KeyRing):
    """In-process emulator of the documented ToRouter gateway (OpenAI surface).

    Emulates: ``POST /v1/chat/completions`` (JSON and SSE), ``POST /v1/embeddings``,
    ``GET /v1/models`` (also under ``/api/v1``); every per-key limit of §7; the error taxonomy of
    §3 in both contradicting dialects (§11) and three body shapes (§4); scriptable upstream
    failures and failover (§6). Deterministic given ``seed`` and ``clock``; thread-safe.

    Reach it through :meth:`transport` / :meth:`async_transport` (httpx) or :meth:`serve` (a real
    HTTP/1.1 server on 127.0.0.1).

    Args:
        dialect: ``"reference"`` (error-codes pages) or ``"limits"`` (key-limit pages): which
            statuses/codes to use where the docs disagree (§11 items 1-5).
        error_shape: ``"openai"``, ``"anthropic"`` or ``"gemini"`` error bodies (§4). The anthropic
            shape also accepts ``x-api-key``, the gemini one ``x-goog-api-key``.
        clock: callable returning epoch seconds (e.g. :class:`FakeClock`); default ``time.time``.
        seed: seeds keys, request ids, completion ids, embedding vectors, channel picks.
        client_ip: the client address the transports report (the socket server uses the peer).
        trust_forwarded_for: take the client address from ``X-Forwarded-For`` (off by default).
        retry_after: if set, ``Retry-After`` seconds on every 429 and 503 the gateway produces.
        reply: the assistant text: ``None`` echoes the last user message; a string; or a callable
            receiving the request's ``messages``.
        stream_chunks: split streamed text per word (``None``) or into this many pieces.
        default_balance_usd: starting balance of auto-created users.
        embedding_dimensions: vector length when the request has no ``dimensions``.
        ip_rate_limit: ``(requests, seconds)`` sliding per-client-IP limit → code-less 429 (§5).
        catalog: models served; default: the ids named in the docs (§1.6).
    """

    def __init__(
        self,
        *,
        dialect: Dialect = "reference",
        error_shape: ErrorShape = "openai",
        clock: Clock | None = None,
        seed: int = 0,
        client_ip: str = "127.0.0.1",
        trust_forwarded_for: bool = False,
        retry_after: float | None = None,
        reply: str | ReplyFn | None = None,
        stream_chunks: int | None = None,
        default_balance_usd: float = 100.0,
        embedding_dimensions: int = 8,
        ip_rate_limit: tuple[int, float] | None = None,
        catalog: Iterable[CatalogModel] | None = None,
    ) -> None:
        if dialect not in ("reference", "limits"):
            raise ValueError(f"unknown dialect {dialect!r}")
        if error_shape not in ("openai", "anthropic", "gemini"):
            raise ValueError(f"unknown error_shape {error_shape!r}")
        self._lock = threading.RLock()
        super().__init__(
            clock=clock or time.time,
            seed=seed,
            default_balance_usd=default_balance_usd,
            lock=self._lock,
        )
        self.dialect: Dialect = dialect
        self.error_shape: ErrorShape = error_shape
        self.client_ip = client_ip
        self.trust_forwarded_for = trust_forwarded_for
        self.retry_after = retry_after
        self.reply: str | ReplyFn | None = reply
        self.reasoning_text = "Let me think about this step by step."
        self.stream_chunks = stream_chunks
        self.embedding_dimensions = embedding_dimensions
        self.ip_rate_limit = ip_rate_limit
        self.catalog: dict[str, CatalogModel] = (
            default_catalog() if catalog is None else {m.id: m for m in catalog}
        )
        self.upstream = Upstream(self._lock, seed)
        self._requests: list[RequestRecord] = []
        #: Called with each :class:`RequestRecord` as it is logged (``python -m torouter.testing``
        #: prints :meth:`RequestRecord.log_line` to stderr with it).
        self.on_request: Callable[[RequestRecord], None] | None = None
        self._ip_hits: dict[str, deque[float]] = {}
        self._n_requests = 0

    def add_model(
        self,
        model_id: str,
        *,
        owned_by: str = "torouter",
        kind: ModelKind = "chat",
        price_usd: float = 0.001,
    ) -> CatalogModel:
        """Add (or replace) a catalog entry and return it."""
        with self._lock:
            m = CatalogModel(model_id, owned_by, kind, price_usd, int(self.clock()))
            self.catalog[model_id] = m
            return m

    # ------------------------------------------------------------------ scripting, log
    def script(
        self, *outcomes: Outcome, times: int = 1, path: str | None = None,
        model: str | None = None,
    ) -> None:
        """Queue client-visible outcomes for the next requests (see :meth:`Upstream.script`)."""
        self.upstream.script(*outcomes, times=times, path=path, model=model)

    def fail_next(
        self,
        code: str | int = "upstream_unavailable",
        *,
        times: int = 1,
        status: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Force an error on the next ``times`` upstream-bound requests.

        ``code`` is a documented code (status from the dialect unless ``status`` is given),
        ``"rate limit exceeded"`` for the code-less 429, or an int for a code-less (plain) status.
        """
        if isinstance(code, int):
            outcome = Outcome.plain(code, message=message, retry_after=retry_after)
        else:
            outcome = Outcome.error(code, status=status, message=message, retry_after=retry_after)
        self.upstream.script(outcome, times=times, path=path)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first (keys masked)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._lock:
            self._requests.clear()

    # ------------------------------------------------------------------ front ends
    def transport(self, *, client_ip: str | None = None) -> httpx.BaseTransport:
        """An ``httpx.BaseTransport`` serving this gateway in-process (see ``_transport``)."""
        from ._transport import GatewayTransport

        return GatewayTransport(self, client_ip=client_ip)

    def async_transport(self, *, client_ip: str | None = None) -> httpx.AsyncBaseTransport:
        """An ``httpx.AsyncBaseTransport`` serving this gateway in-process."""
        from ._transport import AsyncGatewayTransport

        return AsyncGatewayTransport(self, client_ip=client_ip)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> GatewayServer:
        """Start a threaded HTTP/1.1 server; use it as a context manager or call ``close()``."""
        from ._server import GatewayServer

        return GatewayServer(self, host, port)

    def __repr__(self) -> str:
        with self._lock:
            keys = ", ".join(ks.masked for ks in self._keys.values())
            return (
                f"FakeGateway(dialect={self.dialect!r}, error_shape={self.error_shape!r}, "
                f"keys=[{keys}], requests={len(self._requests)})"
            )

    # ------------------------------------------------------------------ core
    def handle(self, request: GatewayRequest) -> Reply:
        """Handle one request (front ends call this; tests normally go through httpx)."""
        with self._lock:
            self._n_requests += 1
            n = self._n_requests
            rid = "req_" + self._hex("req", n, 24)
            path = urlsplit(request.target).path or "/"
            ctx = _Ctx(request.method.upper(), path, self._client_ip(request))
            try:
                ctx.body = json.loads(request.body) if request.body else None
            except (ValueError, UnicodeDecodeError):
                ctx.body = _MALFORMED
            code: str | None = None
            try:
                try:
                    reply, outcome = self._dispatch(request, ctx, n)
                except _Stop:
                    raise
                except Exception as exc:  # e.g. a user reply callable failed: a 500 (§3)
                    self._stop(None, 500, message=f"internal error: {exc!r}", outcome="internal")
            except _Stop as stop:
                reply, code, outcome = stop.reply, stop.code, stop.outcome
            reply.headers.append(("x-request-id", rid))
            self._requests.append(
                RequestRecord(
                    method=ctx.method,
                    path=path,
                    key=mask_key(ctx.key),
                    status=reply.status,
                    request_id=rid,
                    model=ctx.model,
                    stream=ctx.stream,
                    client_ip=ctx.client_ip,
                    code=code,
                    outcome=outcome,
                    channel=ctx.channel,
                    attempts=tuple(ctx.attempts),
                    cost_usd=ctx.cost,
                    time=self.clock(),
                    headers=_masked_headers(request.headers),
                    body=ctx.body if isinstance(ctx.body, dict) else None,
                )
            )
            if self.on_request is not None:
                self.on_request(self._requests[-1])
            return reply

    def _dispatch(self, req: GatewayRequest, ctx: _Ctx, n: int) -> tuple[Reply, str]:
        now = self.clock()
        query = parse_qs(urlsplit(req.target).query)
        if "key" in query or "api_key" in query:  # §3 [p1] (contradicts §11 item 8)
            self._stop("api_key_in_query_deprecated")
        self._check_ip_rate(ctx.client_ip, now)
        norm = ctx.path.rstrip("/")
        if norm.startswith("/api/v1/"):
            norm = norm[4:]
        route = _ROUTES.get((ctx.method, norm))
        if route is None:
            msg = f"unknown path {ctx.method} {ctx.path}"
            self._stop(None, 404, message=msg, outcome="not_found")
        ks, acct = self._authenticate(req, ctx, now)
        upstream_bound = route != "models"
        if route == "models":
            forced = self.upstream.take(norm, False)
            if forced is not None:
                return self._apply(forced, ctx, lambda o: self._models_reply(ks), delay=0.0)
            return self._models_reply(ks), "ok"

        body = self._parse_body(ctx.body)
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            self._stop("invalid_request_error", message="'model' is required and must be a string")
        ctx.model = model
        ctx.stream = route == "chat" and body.get("stream") is True
        entry = self._resolve_model(model)
        if entry is None:  # §3: model not in the group's catalog → 404 (code undocumented)
            self._stop(
                None,
                404,
                message=f"model {model!r} not found in your group's catalog",
                outcome="model_not_found",
            )
        want: ModelKind = "chat" if route == "chat" else "embedding"
        if entry.kind != want:
            self._stop(
                "invalid_request_error",
                message=f"model {model!r} does not support {norm.rsplit('/', 1)[-1]}",
            )
        if route == "chat":
            self._validate_chat(body)
        else:
            self._validate_embeddings(body)
        if not model_allowed(model, ks.models):  # §7 [p30], §11 item 5
            msg = f"model {model!r} is not in this API key's model whitelist"
            if self.dialect == "reference":
                self._stop("ACCESS_DENIED", message=msg)
            self._stop("model_not_allowed", message=msg)
        refused = self.check_limits(ks, acct, now)
        if refused is not None:
            self._stop(refused.code, message=refused.message)

        def success(o: Outcome) -> Reply:
            return self._success(route, body, model, entry, ks, acct, ctx, o, n)

        forced = self.upstream.take(norm, upstream_bound, (model, entry.id))
        if forced is not None:
            return self._apply(forced, ctx, success, delay=0.0)
        return self._failover(entry.id, ctx, success)  # channels serve the base id (§1.6)

    # ------------------------------------------------------------------ checks
    def _authenticate(self, req: GatewayRequest, ctx: _Ctx, now: float) -> tuple[KeyState, Account]:
        ctx.key = self._extract_key(req.headers)
        got = self.check_access(ctx.key, ctx.client_ip, now)
        if isinstance(got, Rejection):
            self._stop(got.code, message=got.message)
        return got

    def _check_ip_rate(self, ip: str, now: float) -> None:
        if self.ip_rate_limit is None:
            return
        limit, seconds = self.ip_rate_limit
        hits = self._ip_hits.setdefault(ip, deque())
        while hits and hits[0] <= now - seconds:
            hits.popleft()
        if len(hits) >= limit:
            self._stop(RATE_LIMIT)
        hits.append(now)

    def _extract_key(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        alt = {"anthropic": "x-api-key", "gemini": "x-goog-api-key"}.get(self.error_shape)
        if alt and headers.get(alt, "").strip():
            return headers[alt].strip()
        return None

    def _parse_body(self, body: object) -> dict[str, Any]:
        if body is _MALFORMED or body is None:
            self._stop("invalid_request_error", message="malformed JSON body")
        if not isinstance(body, dict):
            self._stop("invalid_request_error", message="request body must be a JSON object")
        return body

    def _validate_chat(self, body: dict[str, Any]) -> None:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            self._stop("invalid_request_error", message="'messages' must be a list of objects")

    def _validate_embeddings(self, body: dict[str, Any]) -> None:
        inp = body.get("input")
        if not (isinstance(inp, str) or (isinstance(inp, list) and inp)):
            msg = "'input' must be a string or a non-empty list"
            self._stop("invalid_request_error", message=msg)

    def _resolve_model(self, model: str) -> CatalogModel | None:
        entry = self.catalog.get(model)
        if entry is None and model.endswith("-thinking"):  # §1.6: suffix switches on reasoning
            base = self.catalog.get(model[: -len("-thinking")])
            if base is not None and base.kind == "chat":
                return base
        return entry

    # ------------------------------------------------------------------ outcomes
    def _failover(
        self, model: str, ctx: _Ctx, success: Callable[[Outcome], Reply]
    ) -> tuple[Reply, str]:
        """Try the channels in order (§6): fail over on 401/402/403/429/5xx/timeouts/network
        errors; relay anything else; all failed → 502 ``upstream_unavailable`` (504 if all timed
        out); no eligible channel → 503 ``upstream_unavailable``."""
        cands = self.upstream.candidates(model)
        if not cands:
            self._stop("upstream_unavailable", 503, outcome="no_channel")
        delay = 0.0
        timeouts = 0
        for ch in cands:
            self.upstream.mark_used(ch)
            o = ch.next_outcome()
            ctx.attempts.append(ch.name)
            delay += o.latency
            if fails_over(o, self._status_of(o)):
                timeouts += o.kind == "timeout"
                continue
            ctx.channel = ch.name
            return self._apply(o, ctx, success, delay=delay - o.latency)
        if timeouts == len(cands):
            self._stop(None, 504, delay=delay, outcome="timeout")
        self._stop("upstream_unavailable", 502, delay=delay, outcome="failover_exhausted")

    def _status_of(self, o: Outcome) -> int:
        if o.kind == "error" and not o.status:
            return status_for(o.code or "", self.dialect)
        return o.status

    def _apply(
        self, o: Outcome, ctx: _Ctx, success: Callable[[Outcome], Reply], *, delay: float
    ) -> tuple[Reply, str]:
        """Turn a (gateway-level or relayed channel) outcome into the client's reply."""
        delay += o.latency
        if o.kind == "error":
            self._stop(
                o.code,
                self._status_of(o),
                message=o.message,
                retry_after=o.retry_after,
                delay=delay,
                outcome="scripted",
            )
        if o.kind == "plain":
            self._stop(
                None,
                o.status,
                message=o.message,
                retry_after=o.retry_after,
                delay=delay,
                outcome="scripted",
            )
        if o.kind == "timeout":
            self._stop(None, 504, delay=delay, outcome="timeout")
        if o.kind == "disconnect" or (o.kind == "drop" and not ctx.stream):
            raise _Stop(Reply(0, delay=delay, disconnect=True), None, "disconnect")
        if o.kind == "content_policy":  # relayed provider error, never failed over [p4]
            self._stop(
                "invalid_request_error",
                400,
                message=o.message,
                delay=delay,
                extra={"code": "content_policy_violation"},
                outcome="content_policy",
            )
        if o.kind == "raw":
            typed = any(name.lower() == "content-type" for name, _ in o.headers)
            headers = [*([] if typed else [("content-type", "application/json")]), *o.headers]
            return Reply(o.status, headers, o.body or b"", delay=delay), "scripted"
        if o.kind == "stream_error" and not ctx.stream:
            self._stop("upstream_unavailable", 502, delay=delay, outcome="failover_exhausted")
        reply = success(o)
        reply.delay = delay
        reply.chunk_delay = o.chunk_delay
        return reply, "ok" if o.kind == "ok" else o.kind

    def _success(
        self,
        route: str,
        body: dict[str, Any],
        model: str,
        entry: CatalogModel,
        ks: KeyState,
        acct: Account,
        ctx: _Ctx,
        o: Outcome,
        n: int,
    ) -> Reply:
        # Billing (§7): only requests that reach a successful upstream answer are charged.
        ctx.cost = entry.price_usd
        self.charge(ks, acct, entry.price_usd)
        if route == "embeddings":
            inp = body["input"]
            # A string, a list of strings, ONE token array ([1, 2, 3] is one input, as in
            # OpenAI's API), or a list of token arrays: one vector per input.
            if isinstance(inp, str) or all(
                isinstance(x, int) and not isinstance(x, bool) for x in inp
            ):
                inp = [inp]
            texts = [x if isinstance(x, str) else json.dumps(x) for x in inp]
            dims = body.get("dimensions")
            dims = dims if isinstance(dims, int) and 0 < dims <= 4096 else self.embedding_dimensions
            fmt = "base64" if body.get("encoding_format") == "base64" else "float"
            data = w.embedding_response(self.seed, model, texts, dims, fmt)
            return Reply(200, [("content-type", "application/json")], data)
        messages: list[dict[str, Any]] = body["messages"]
        tool_calls: list[dict[str, Any]] | None = None
        if o.text is not None:  # a scripted answer is sent as it is
            text: str = o.text
        else:  # honour response_format and tools (see _schema.structured_reply)
            content, tool_calls = structured_reply(
                body, self._reply_text(messages), "call_" + self._hex("call", n, 24))
            text = content or ""
        reasoning = self.reasoning_text if model.endswith("-thinking") else None
        prompt_tokens = sum(w.count_tokens(_text_of(m.get("content"))) for m in messages)
        cid = "chatcmpl-" + self._hex("cmpl", n, 24)
        created = int(self.clock())
        if not ctx.stream:
            data = w.chat_completion(cid, created, model, text, reasoning, prompt_tokens,
                                     tool_calls=tool_calls)
            return Reply(200, [("content-type", "application/json")], data)
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        events = w.chat_chunks(
            cid,
            created,
            model,
            text,
            reasoning,
            prompt_tokens,
            pieces=self.stream_chunks,
            include_usage=include_usage,
            tool_calls=tool_calls,
        )
        reply = Reply(
            200,
            [("content-type", "text/event-stream"), ("cache-control", "no-cache")],
            events=events,
        )
        if o.kind in ("drop", "stream_error"):
            del events[min(o.after, len(events) - 1) :]
            if o.kind == "drop":
                reply.drop = True
            else:
                events.append(w.sse({"error": {"type": o.code, "message": o.message}}))
        return reply

    def _reply_text(self, messages: list[dict[str, Any]]) -> str:
        if callable(self.reply):
            return self.reply(messages)
        if isinstance(self.reply, str):
            return self.reply
        for m in reversed(messages):
            if m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""

    def _models_reply(self, ks: KeyState) -> Reply:
        # Filtering by the key's whitelist is inferred (§11 gaps: not stated by the docs).
        data = [
            {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
            for m in self.catalog.values()
            if model_allowed(m.id, ks.models)
        ]
        body = json.dumps({"object": "list", "data": data}).encode()
        return Reply(200, [("content-type", "application/json")], body)

    # ------------------------------------------------------------------ helpers
    def _stop(
        self,
        code: str | None,
        status: int | None = None,
        *,
        message: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        extra: dict[str, object] | None = None,
        outcome: str = "rejected",
    ) -> NoReturn:
        """Answer with an error: ``Retry-After`` if given explicitly, else the gateway's default
        on 429/503 only."""
        st = status or status_for(code or "", self.dialect)
        headers = [("content-type", "application/json")]
        if retry_after is None and st in (429, 503):
            retry_after = self.retry_after
        if retry_after is not None:
            headers.append(("retry-after", _fmt_seconds(retry_after)))
        body = error_body(code, st, message, self.error_shape, extra=extra)
        raise _Stop(Reply(st, headers, body, delay=delay), code, outcome)

    def _client_ip(self, req: GatewayRequest) -> str:
        if self.trust_forwarded_for:
            xff = req.headers.get("x-forwarded-for", "")
            first = xff.split(",")[0].strip()
            if first:
                return first
        return req.peer_ip or self.client_ip

    def _hex(self, kind: str, n: int, length: int) -> str:
        return seeded_hex(self.seed, kind, n, length)


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
