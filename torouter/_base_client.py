"""The core shared by ``ToRouter`` and ``AsyncToRouter``: configuration, request building,
response and error parsing.  Everything here is I/O-free; the two clients in ``_client.py`` only
send requests and read bodies, in their own sync or async way.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx
import pydantic
from pydantic import SecretStr
from typing_extensions import Self, TypedDict, Unpack

from ._breaker import CircuitBreaker
from ._budget import RetryBudget
from ._errors import (
    APIConnectionError,
    ApiKeyRequired,
    APIResponseValidationError,
    APITimeoutError,
    InvalidArgumentError,
    ToRouterError,
    make_status_error,
    mask_key,
    parse_error_body,
    parse_retry_after,
)
from ._redact import remember_secret
from ._response import RawResponse
from ._retry import DEFAULT_RETRY_POLICY, RetryPolicy
from ._retrying import CallRetryState, OnRetry
from ._seam import Layer, Seam, build_seam
from ._streaming import _scrub, _snippet, _StreamState, cut_socket, transport_detail
from ._transport import default_http_client
from ._version import __version__
from .types._base import set_response_info

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider  # the otel extra: torouter[otel]
    from opentelemetry.trace import TracerProvider

    from ._coordinator import RedisCoordinator, _FleetLayer

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_STREAM_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "BaseClient",
    "CallContext",
    "ClientOptions",
    "RequestSpec",
]

log = logging.getLogger("torouter")

DEFAULT_BASE_URL = "https://portal.torouter.ai/v1"
#: Per attempt: 600 s to read (long generations), 5 s to connect.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
#: Total seconds for a call across all its attempts and sleeps.
DEFAULT_DEADLINE = 900.0
#: Longest silence allowed between two events of a stream.
DEFAULT_STREAM_IDLE_TIMEOUT = 120.0
_BASE_URL_HINT = f"Use the gateway's http(s) URL, e.g. {DEFAULT_BASE_URL} (/api/v1 works too)."
DEFAULT_MAX_RETRIES = DEFAULT_RETRY_POLICY.max_retries  # the policy holds the real default
#: Largest 2xx body read into memory; a larger one is an APIResponseValidationError (the size
#: of a maximal embeddings batch in JSON floats fits).  Counted after gzip decoding.
MAX_BODY_BYTES = 128 << 20
#: Largest error body read; the rest is dropped (the error message is one short line anyway).
MAX_ERROR_BODY_BYTES = 1 << 20
#: Up to 1000 requests in flight; at most 20 idle connections kept (httpx's own default).  More
#: idle connections cost CPU on every request: httpcore 1.0's pool scans its connections (and
#: counts the idle ones for each idle one) whenever a request starts or ends, which at
#: concurrency 50 made a keep-alive cap of 100 cost ~1.5x the CPU per request of a cap of 20.
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=20)

M = TypeVar("M", bound=pydantic.BaseModel)
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)


@dataclass(slots=True)
class CallContext:
    """What a stream or an error needs to know about the response it came from."""

    request_id: str | None
    status_code: int | None
    retries_taken: int
    response: httpx.Response | None
    redact: tuple[str, ...] = field(repr=False)  # the key: never in a repr
    served_model: str | None = None  # the model the successful attempt asked for


_OPERATIONS = {"/chat/completions": "chat", "/embeddings": "embeddings", "/models": "models"}


@dataclass(slots=True)
class RequestSpec(Generic[M]):
    """One API call, as the resources describe it.

    ``params`` is the JSON body before encoding (what the seam's layers read, and what a
    fallback re-encodes with another model); ``body`` is its encoding.  ``fallback_models`` is
    the call's own fallback chain (``None``: the client's ``fallbacks`` for the model).
    """

    method: str
    path: str
    cast_to: type[M]
    body: bytes | None = None
    stream: bool = False
    raw: bool = False
    headers: Mapping[str, str] | None = None
    timeout: httpx.Timeout | None = None
    params: Mapping[str, Any] | None = None
    keep_chunks: bool = False  # a stream keeps every chunk object (``stream.chunks``)
    fallback_models: tuple[str, ...] | None = None

    @property
    def operation(self) -> str:
        """``chat``, ``embeddings`` or ``models`` (the GenAI operation name)."""
        return _OPERATIONS.get(self.path, self.path.strip("/"))

    @property
    def model(self) -> str | None:
        """The model this request asks for, if the endpoint takes one."""
        model = None if self.params is None else self.params.get("model")
        return model if isinstance(model, str) else None

    def with_model(self, model: str) -> RequestSpec[M]:
        """The same request for another model (the body re-encoded)."""
        params = {**(self.params or {}), "model": model}
        return replace(self, body=dumps(params), params=params)


class ClientOptions(TypedDict, total=False):
    """What :meth:`ToRouter.with_options` can change: the constructor's keywords except
    ``http_client`` (a copy shares the connection pool).  A misspelt key is a type error in
    mypy / pyright and an :class:`InvalidArgumentError` ("did you mean ...") at run time."""

    api_key: str | SecretStr | None
    base_url: str | httpx.URL | None
    timeout: float | httpx.Timeout | None
    max_retries: int | None
    default_headers: Mapping[str, str] | None
    retry_policy: RetryPolicy | None
    deadline: float | None
    retry_budget: RetryBudget | bool | None
    on_retry: OnRetry | None
    stream_idle_timeout: float | None
    fallbacks: Mapping[str, Sequence[str]] | None
    circuit_breaker: CircuitBreaker | bool | None
    coordinator: RedisCoordinator | None
    telemetry: bool | None
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    capture_content: bool | None
    propagate_context: bool


_OPTION_KEYS = frozenset(ClientOptions.__annotations__)


def _json_default(value: object) -> object:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(body: Mapping[str, object]) -> bytes:
    """Serialise a request body; a value JSON cannot hold is an InvalidArgumentError.

    ``allow_nan=False``: ``NaN`` and the infinities are not JSON (the gateway could not parse
    the body), so ``temperature=float("nan")`` fails here, before anything is sent.
    """
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"the request body cannot be sent as JSON: {exc}") from None


def to_timeout(value: float | httpx.Timeout | None, name: str = "timeout") -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if value is None:
        return httpx.Timeout(None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return httpx.Timeout(float(value), connect=min(float(value), 5.0))
    raise InvalidArgumentError(
        f"{name} must be a positive number or an httpx.Timeout, not {value!r}"
    )


def _positive_or_none(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidArgumentError(f"{name} must be a positive number of seconds or None")
    return float(value)


class BaseClient(Generic[HttpT]):
    """Configuration and I/O-free request logic shared by the sync and async clients.

    The constructor's arguments are documented on :class:`torouter.ToRouter`.
    """

    _http_class: ClassVar[type[httpx.Client] | type[httpx.AsyncClient]]
    _default_sleep: Callable[[float], Any]
    _http: HttpT

    _api_key: SecretStr
    _base_url: httpx.URL
    _base: str
    _timeout: httpx.Timeout
    _deadline: float | None
    _stream_idle_timeout: float | None
    _max_retries: int
    _policy: RetryPolicy
    _budget: RetryBudget | None
    _on_retry: OnRetry | None
    _default_headers: dict[str, str]
    _headers: httpx.Headers
    _owns_http: bool
    _closing: bool  # close() was called (calls woken by it fail as "client closed")
    _loop_ref: weakref.ref[Any] | None  # async: the event loop the pool's connections are on
    _trace: Callable[[str, Mapping[str, Any]], None] | None
    _clock: Callable[[], float]
    # Set when torouter built the httpx client itself, so that its defaults are known: requests
    # are then built directly (see ``_build``) from these, made once per client.
    _wire_headers: httpx.Headers | None
    _urls: dict[str, httpx.URL]
    _seam: Seam | None
    _fallbacks: Mapping[str, tuple[str, ...]]
    _breaker: CircuitBreaker | None
    _coordinator: RedisCoordinator | None
    _telemetry_options: tuple[bool | None, Any, Any, bool | None, bool]

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: HttpT | None = None,
        retry_policy: RetryPolicy | None = None,
        deadline: float | None = DEFAULT_DEADLINE,
        retry_budget: RetryBudget | bool | None = True,
        on_retry: OnRetry | None = None,
        stream_idle_timeout: float | None = DEFAULT_STREAM_IDLE_TIMEOUT,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        circuit_breaker: CircuitBreaker | bool | None = True,
        coordinator: RedisCoordinator | None = None,
        telemetry: bool | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | None = None,
        propagate_context: bool = True,
    ) -> None:
        """The arguments are documented on :class:`torouter.ToRouter`, and:

        Args:
            fallbacks: ``{model: [fallback models, in order]}`` for every call to ``model``
                whose failure falls back (``RetryRule.fallback``); a call's own
                ``fallback_models=`` wins.  See ``docs/fallbacks.md``.
            circuit_breaker: a :class:`CircuitBreaker` shared by every thread, task and
                ``with_options`` copy; ``True`` (default) for a fresh one with the default
                thresholds, ``None``/``False`` for none.
        """
        api_key = _secret(api_key)  # from here on no frame holds the key as plain text
        if http_client is not None and not isinstance(http_client, self._http_class):
            raise InvalidArgumentError(
                f"http_client must be an httpx.{self._http_class.__name__} for "
                f"{type(self).__name__}"
            )
        self._configure(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
            default_headers=default_headers, retry_policy=retry_policy, deadline=deadline,
            retry_budget=retry_budget, on_retry=on_retry, stream_idle_timeout=stream_idle_timeout,
            fallbacks=fallbacks, circuit_breaker=circuit_breaker, coordinator=coordinator,
            telemetry=telemetry, tracer_provider=tracer_provider, meter_provider=meter_provider,
            capture_content=capture_content, propagate_context=propagate_context,
        )
        self._owns_http = http_client is None
        if http_client is None:
            http_client = default_http_client(self._http_class, self._timeout, DEFAULT_LIMITS)
        assert http_client is not None
        self._http = http_client
        self._sleep = type(self)._default_sleep
        self._closing = False
        self._loop_ref = None
        self._prepare_wire()
        self._init_resources()

    def _prepare_wire(self, own_client: bool | None = None) -> None:
        """What ``_build`` reuses for every request: URLs, and the merged headers when known.

        ``own_client``: whether ``self._http`` is an httpx client torouter built (default: the
        one this client owns), whose defaults therefore cannot change behind our back.
        """
        self._urls = {}
        self._wire_headers = None
        self._trace = None
        if self._owns_http and isinstance(self._http, httpx.Client):
            # Sockets this client opened (httpcore's ``trace`` request extension reports each
            # new connection), so that ``close()`` can wake calls blocked on them in other
            # threads: closing a socket does not wake a thread blocked reading it; a shutdown
            # does.  (An event loop needs none of this: closing wakes its readers.)
            self._live: weakref.WeakSet[Any] = weakref.WeakSet()
            self._live_lock = threading.Lock()
            self._trace = self._trace_connections
        if self._owns_http if own_client is None else own_client:
            # httpx's build_request merges the client's headers under the request's: do it once.
            merged = httpx.Headers(self._http.headers)
            merged.update(self._headers)
            self._wire_headers = merged

    def _trace_connections(self, event: str, info: Mapping[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            if stream is not None:
                with self._live_lock:
                    self._live.add(stream)

    def _cut_live_connections(self) -> None:
        """Shut down every socket this (sync) client opened: calls blocked on one, in any
        thread, fail at once (see ``_transport_error``: the client was closed)."""
        if self._trace is None:
            return
        with self._live_lock:
            streams = list(self._live)
        for stream in streams:
            try:
                sock = stream.get_extra_info("socket")
            except Exception:  # pragma: no cover
                continue
            cut_socket(sock)

    def _loop_ended(self) -> bool:
        """Whether the event loop the async pool was last used on has ended."""
        ref = self._loop_ref
        if ref is None:
            return False
        loop = ref()
        return loop is None or bool(loop.is_closed())

    def _rebind_loop(self, loop: Any, call: CallRetryState) -> None:
        """An async call runs on ``loop``: decide what to do with connections made on another.

        Connections belong to the event loop they were opened on.  When that loop has ended
        (a second ``asyncio.run()``), a client that owns its pool starts a fresh pool (the old
        connections are dead anyway); a pool passed in as ``http_client`` (or shared by
        ``with_options``) is not ours to replace, so the call fails with an error that says so.
        """
        ref = self._loop_ref
        if ref is None:
            self._loop_ref = weakref.ref(loop)
            return
        previous = ref()
        if previous is loop:
            return
        if previous is not None and not previous.is_closed():
            return  # another loop still running (another thread): nothing to drop
        if not self._owns_http:
            call.expire("the event loop of the connection pool has ended")
            raise call.failed(ToRouterError(
                "this AsyncToRouter's connection pool belongs to an event loop that has ended "
                "(a new asyncio.run()?), and it uses an http_client it does not own (or was made "
                "by with_options()), so it cannot replace it",
                hint="Create the AsyncToRouter (and its httpx.AsyncClient) inside the event loop "
                     "that uses it, e.g. once per asyncio.run().",
            ))
        log.debug("event loop changed: dropping the connections of the ended loop")
        self._http = default_http_client(self._http_class, self._timeout, DEFAULT_LIMITS)
        self._prepare_wire()
        self._loop_ref = weakref.ref(loop)

    def _init_resources(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def with_options(self, **overrides: Unpack[ClientOptions]) -> Self:
        """A copy with some settings changed, sharing this client's connection pool and budget.

        Accepts the constructor's keywords except ``http_client`` (see :class:`ClientOptions`).
        """
        clone: Self = self._derive(overrides)
        return clone

    def _configure(
        self,
        *,
        api_key: str | SecretStr | None,
        base_url: str | httpx.URL | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int | None,
        default_headers: Mapping[str, str] | None,
        retry_policy: RetryPolicy | None,
        deadline: float | None,
        retry_budget: RetryBudget | bool | None,
        on_retry: OnRetry | None,
        stream_idle_timeout: float | None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        circuit_breaker: CircuitBreaker | bool | None = True,
        coordinator: RedisCoordinator | None = None,
        telemetry: bool | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        capture_content: bool | None = None,
        propagate_context: bool = True,
    ) -> None:
        # The key is only ever held as a SecretStr in these frames (tracebacks with locals
        # show SecretStr('**********')), and it is checked last.
        api_key = _secret(api_key)
        url = base_url if base_url is not None else os.environ.get("TOROUTER_BASE_URL")
        try:
            parsed = httpx.URL(str(url or DEFAULT_BASE_URL))
        except (httpx.InvalidURL, TypeError) as exc:
            raise InvalidArgumentError(f"base_url is not a valid URL: {exc}",
                                       hint=_BASE_URL_HINT) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidArgumentError(
                f"base_url must be an http(s) URL with a host, not {str(url)[:100]!r}",
                hint=_BASE_URL_HINT,
            )
        if parsed.query or parsed.fragment:
            raise InvalidArgumentError(
                "base_url must not carry a query or fragment (a key never goes in the URL)"
            )
        self._base_url = parsed
        self._base = str(parsed).rstrip("/")
        self._timeout = to_timeout(timeout)
        self._deadline = _positive_or_none(deadline, "deadline")
        self._stream_idle_timeout = _positive_or_none(stream_idle_timeout, "stream_idle_timeout")
        policy = DEFAULT_RETRY_POLICY if retry_policy is None else retry_policy
        if not isinstance(policy, RetryPolicy):
            raise InvalidArgumentError("retry_policy must be a torouter.RetryPolicy")
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
                raise InvalidArgumentError("max_retries must be an int >= 0 (0 disables retries)")
            policy = (policy.disabled() if max_retries == 0
                      else policy.replace(max_retries=max_retries))
        self._policy = policy
        self._max_retries = policy.max_retries
        if retry_budget is True:
            retry_budget = RetryBudget()
        elif retry_budget is False:
            retry_budget = None
        if retry_budget is not None and not isinstance(retry_budget, RetryBudget):
            raise InvalidArgumentError("retry_budget must be a torouter.RetryBudget, True or None")
        self._budget = retry_budget
        if on_retry is not None and not callable(on_retry):
            raise InvalidArgumentError("on_retry must be callable(error, attempt)")
        self._on_retry = on_retry
        self._fallbacks = _check_fallbacks(fallbacks)
        if circuit_breaker is True:
            circuit_breaker = CircuitBreaker()
        elif circuit_breaker is False:
            circuit_breaker = None
        if circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
            raise InvalidArgumentError(
                "circuit_breaker must be a torouter.CircuitBreaker, True (default) or None")
        self._breaker = circuit_breaker
        if coordinator is not None:
            from ._coordinator import RedisCoordinator

            if not isinstance(coordinator, RedisCoordinator):
                raise InvalidArgumentError("coordinator must be a torouter.RedisCoordinator")
        self._coordinator = coordinator
        headers = dict(default_headers or {})
        check_headers(headers, "default_headers")
        self._default_headers = headers
        self._clock = time.monotonic

        secret = api_key if api_key is not None else _secret(os.environ.get("TOROUTER_API_KEY"))
        if secret is None or not secret.get_secret_value().strip():
            if api_key is not None:  # an explicit api_key= wins: the environment was not read
                raise ApiKeyRequired("api_key= is empty (TOROUTER_API_KEY is not read when "
                                     "api_key= is given)", status_code=None)
            raise ApiKeyRequired("no API key: api_key= not given and TOROUTER_API_KEY is unset "
                                 "or empty", status_code=None)
        secret = SecretStr(secret.get_secret_value().strip())
        if not _KEY_CHARS.fullmatch(secret.get_secret_value()):
            raise InvalidArgumentError(
                "the API key contains whitespace, control or non-ASCII characters (a stray "
                "newline from a key file?); it was not sent",
                hint="Set TOROUTER_API_KEY / api_key= to the key alone, as shown at creation.",
            )
        self._api_key = secret
        remember_secret(secret.get_secret_value())
        self._headers = _build_headers(self._api_key, headers)
        self._telemetry_options = _telemetry_options(
            telemetry, tracer_provider, meter_provider, capture_content, propagate_context)
        self._seam = build_seam(self._layers())

    def _layers(self) -> tuple[Layer | None, ...]:
        """The seam's layers for this client, in order (``_seam``): telemetry (outermost, spans
        the whole call), fleet coordination (may wait or refuse first), circuit breaker."""
        return (self._telemetry_layer(), *self._coordinated(self._breaker))

    def _coordinated(self, breaker: Any) -> tuple[Layer | None, Layer | None]:
        """The fleet layer and the breaker layer, in this order (the breaker last).

        Without a coordinator: ``(None, breaker)``.  With one that shares breakers, the fleet
        layer decides ``breaker``'s state fleet-wide in its own Redis round trip, so the local
        breaker layer is left out: ``(fleet, None)``.
        """
        fleet = self._fleet_layer(breaker)
        if fleet is not None and fleet.breaker is not None:
            return fleet, None
        return fleet, breaker

    def _fleet_layer(self, breaker: Any = None) -> _FleetLayer | None:
        """The coordinator bound to this client's key (``None`` without a coordinator)."""
        if self._coordinator is None:
            return None
        return self._coordinator._bind(self._api_key, self._base, breaker)

    def _telemetry_layer(self) -> Layer | None:
        """OpenTelemetry spans and metrics (``_telemetry``), or ``None``: switched off, or the
        ``opentelemetry`` package is not installed (then nothing of it is imported)."""
        telemetry, *rest = self._telemetry_options
        if telemetry is False:
            return None
        from ._telemetry import telemetry_layer

        return telemetry_layer(self._base_url, telemetry is True, *rest)

    # -- public, shared ---------------------------------------------------------------------

    @property
    def base_url(self) -> httpx.URL:
        """The gateway base URL requests go to, e.g. ``https://portal.torouter.ai/v1``."""
        return self._base_url

    @property
    def api_key(self) -> SecretStr:
        """The key, as a ``SecretStr`` (``.get_secret_value()`` reveals it)."""
        return self._api_key

    @property
    def max_retries(self) -> int:
        return self._max_retries

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._policy

    @property
    def retry_budget(self) -> RetryBudget | None:
        return self._budget

    @property
    def timeout(self) -> httpx.Timeout:
        return self._timeout

    @property
    def fallbacks(self) -> Mapping[str, tuple[str, ...]]:
        """The client's fallback chains: model -> the models tried next, in order."""
        return self._fallbacks

    @property
    def circuit_breaker(self) -> CircuitBreaker | None:
        """The per-model circuit breaker shared by this client and its copies (or ``None``)."""
        return self._breaker

    @property
    def deadline(self) -> float | None:
        return self._deadline

    def __repr__(self) -> str:
        # Safe on a half-built client too: tracebacks rendered with locals repr every ``self``.
        secret = getattr(self, "_api_key", None)
        key = mask_key(secret.get_secret_value()) if secret is not None else None
        return f"<{type(self).__name__} base_url={getattr(self, '_base', None)!r} api_key={key!r}>"

    def _settings(self) -> dict[str, Any]:
        return {
            "api_key": self._api_key,
            "base_url": self._base_url,
            "timeout": self._timeout,
            "max_retries": None,
            "default_headers": self._default_headers,
            "retry_policy": self._policy,
            "deadline": self._deadline,
            "retry_budget": self._budget,
            "on_retry": self._on_retry,
            "stream_idle_timeout": self._stream_idle_timeout,
            "fallbacks": self._fallbacks,
            "circuit_breaker": self._breaker,
            "coordinator": self._coordinator,
            **dict(zip(_TELEMETRY_OPTIONS, self._telemetry_options, strict=True)),
        }

    def _derive(self, overrides: Mapping[str, Any]) -> Any:
        """A copy with ``overrides`` applied that shares the connection pool and budget."""
        unknown = sorted(set(overrides) - _OPTION_KEYS - {"http_client"})
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(_OPTION_KEYS), n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidArgumentError(
                f"with_options() got unknown options: {unknown}{guess} "
                f"(it accepts: {', '.join(sorted(_OPTION_KEYS))})",
                hint="Use one of the options listed in the message (with_options() takes the "
                     "client's own arguments).",
            )
        if "http_client" in overrides:
            raise InvalidArgumentError("with_options() shares the pool; http_client cannot change")
        settings = {**self._settings(), **overrides}
        clone = object.__new__(type(self))
        clone._configure(**settings)
        clone._clock = self._clock
        clone._share_transport(self)
        return clone

    def _share_transport(self, other: Any) -> None:
        self._http = other._http
        self._owns_http = False
        self._sleep = other._sleep
        self._closing = False
        self._loop_ref = other._loop_ref
        self._prepare_wire(own_client=other._wire_headers is not None)
        self._trace = other._trace  # connections it opens are the owner's to wake on close
        self._init_resources()

    # -- per call ---------------------------------------------------------------------------

    def _new_call(self, spec: RequestSpec[Any]) -> CallRetryState:
        chain = spec.fallback_models
        if chain is None:
            model = spec.model
            chain = self._fallbacks.get(model, ()) if model is not None else ()
        call = CallRetryState(
            policy=self._policy,
            budget=self._budget,
            clock=self._clock,
            deadline=self._deadline,
            on_retry=self._on_retry,
            label=f"{spec.method} {spec.path}",
            spec=spec,
            seam=self._seam,
            fallbacks=chain,
        )
        if self._seam is not None:
            self._seam.start(call)
        return call

    def _attempt_timeout(self, spec: RequestSpec[Any], call: CallRetryState) -> httpx.Timeout:
        timeout = spec.timeout or self._timeout
        if spec.stream and self._stream_idle_timeout is not None:
            read = timeout.read
            if read is None or read > self._stream_idle_timeout:
                timeout = httpx.Timeout(connect=timeout.connect, read=self._stream_idle_timeout,
                                        write=timeout.write, pool=timeout.pool)
        return call.begin(timeout)

    def _request_headers(self, spec: RequestSpec[Any]) -> httpx.Headers:
        if not spec.headers:
            return self._headers
        headers = self._headers.copy()
        headers.update(spec.headers)
        return headers

    def _transport_error(self, exc: Exception, call: CallRetryState) -> ToRouterError:
        """A transport failure (no usable response) as a typed, recorded error."""
        _scrub(exc)
        detail = transport_detail(exc, (self._api_key.get_secret_value(),))
        err: ToRouterError
        closed = self._closing or self._http.is_closed
        if closed and not isinstance(exc, RuntimeError):
            # close() woke this call (it was in flight): typed, and not retried
            err = APIConnectionError(f"the client was closed while the request was in flight "
                                     f"({detail})")
            call.expire("the client was closed")
        elif isinstance(exc, httpx.TimeoutException):
            err = APITimeoutError(f"request timed out ({detail})")
        elif isinstance(exc, RuntimeError) and closed:  # httpx: "Cannot send a request, as
            err = ToRouterError(                         # the client has been closed": not
                f"the HTTP client is closed ({detail})",  # retried
                hint="Keep the client open while you use it, or create a new one.",
            )
        elif isinstance(exc, RuntimeError) and "loop" in str(exc).lower():
            err = ToRouterError(
                f"the connection belongs to an event loop that is closed or is not the "
                f"running one ({detail})",
                hint="Use an AsyncToRouter inside the event loop it was first used in, or "
                     "create one per asyncio.run().",
            )
        elif isinstance(exc, RuntimeError):
            err = APIConnectionError(f"connection failed ({detail})")
        elif isinstance(exc, httpx.LocalProtocolError):  # our request was illegal: not retried
            err = InvalidArgumentError(f"the request could not be sent ({detail})")
        else:
            err = APIConnectionError(f"connection failed ({detail})")
        return call.failed(err)

    def _status_error(self, response: httpx.Response, call: CallRetryState) -> ToRouterError:
        """A non-2xx response (body already read) as a typed, recorded error."""
        headers = response.headers
        err = make_status_error(
            status=response.status_code,
            parsed=parse_error_body(response.content, headers.get("content-type", "")),
            request_id=headers.get("x-request-id"),
            response=response,
            retry_after=parse_retry_after(headers),
            redact=(self._api_key.get_secret_value(),),
        )
        if 300 <= response.status_code < 400 and "location" in headers:
            err.message = f"unexpected redirect to {headers['location']} (not followed)"
        elif response.status_code == 404 and not self._base_url.path.rstrip("/").endswith("/v1"):
            err._hint = (f"The base URL {self._base} does not end in /v1: the API lives under "
                         f".../v1 (e.g. {DEFAULT_BASE_URL}).")
        return call.failed(err)

    def _build(self, http: httpx.Client | httpx.AsyncClient, spec: RequestSpec[Any],
               call: CallRetryState) -> httpx.Request:
        """The httpx request for the next attempt (its timeout shrunk to the deadline)."""
        timeout = self._attempt_timeout(spec, call)
        try:
            wire = self._wire_headers
            if wire is not None and not http.cookies:
                # torouter's own client: what build_request would do, without re-parsing the
                # URL and re-merging the headers on every call (~50 us of a ~600 us request).
                url = self._urls.get(spec.path)
                if url is None:
                    url = self._urls[spec.path] = httpx.URL(self._base + spec.path)
                if spec.headers or call.extra_headers:
                    wire = wire.copy()
                    wire.update(spec.headers or {})
                    wire.update(call.extra_headers)
                extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
                if self._trace is not None:
                    extensions["trace"] = self._trace
                return httpx.Request(spec.method, url, content=spec.body, headers=wire,
                                     extensions=extensions)
            headers = self._request_headers(spec)
            if call.extra_headers:
                headers = headers.copy()
                headers.update(call.extra_headers)
            return http.build_request(spec.method, self._base + spec.path, content=spec.body,
                                      headers=headers, timeout=timeout,
                                      extensions=None if self._trace is None
                                      else {"trace": self._trace})
        except (httpx.HTTPError, UnicodeError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"cannot build the request: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _needs_body(response: httpx.Response, spec: RequestSpec[Any]) -> bool:
        """Whether the body must be read now (not a stream; an error; JSON instead of SSE)."""
        return not spec.stream or (
            not response.is_success or "json" in response.headers.get("content-type", "")
        )

    def _body_limit(self, response: httpx.Response, call: CallRetryState) -> int:
        """Bytes of the body to read; a 2xx declaring more than MAX_BODY_BYTES fails unread."""
        if not response.is_success:
            return MAX_ERROR_BODY_BYTES
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise self._too_large(response, call)
        return MAX_BODY_BYTES

    def _body_progress(self, response: httpx.Response, size: int, limit: int,
                       call: CallRetryState) -> bool:
        """After each piece of a body: False to stop reading (the cap is passed).

        A body trickling in never trips the read timeout, so the call's deadline is checked here.
        """
        if call.deadline_at is not None and self._clock() > call.deadline_at:
            raise call.failed(APITimeoutError(
                f"the deadline of {call.deadline_at - call.start:g}s ran out while reading the "
                f"{response.status_code} response body"
            ))
        if size > limit and response.is_success:
            raise self._too_large(response, call)
        return size <= limit

    @staticmethod
    def _keep_body(response: httpx.Response, parts: list[bytes], limit: int) -> None:
        """Store the body read (an error body cut at ``limit``) as ``response.content``."""
        body = b"".join(parts)
        response._content = body[:limit] if len(body) > limit else body

    def _too_large(self, response: httpx.Response, call: CallRetryState) -> ToRouterError:
        return call.failed(APIResponseValidationError(
            f"the {response.status_code} response body is larger than "
            f"{MAX_BODY_BYTES >> 20} MiB (MAX_BODY_BYTES); it was not read",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
            response=response,
        ))

    def _finish(self, response: httpx.Response, spec: RequestSpec[M],
                call: CallRetryState) -> Any:
        """Headers (and any body needed) are in: raise the typed error or return the result.

        For a stream the result is ``None``: the caller builds the stream and prefetches it.
        """
        if not response.is_success:
            raise self._status_error(response, call)
        call.response = response
        if spec.stream:
            if "json" in response.headers.get("content-type", ""):
                self._reject_json_stream(response, call)
            return None
        retries = len(call.attempts)
        if spec.raw:
            result: Any = RawResponse(response, spec.cast_to, retries,
                                      partial(_parse_model, served_model=spec.model),
                                      served_model=spec.model)
        else:
            try:
                result = _parse_model(response, spec.cast_to, retries, spec.model)
            except ToRouterError as err:
                raise call.failed(err) from None
        call.succeeded()
        return result

    def _stream_parts(self, response: httpx.Response, spec: RequestSpec[M],
                      call: CallRetryState) -> tuple[_StreamState[M], CallContext]:
        ctx = CallContext(
            request_id=response.headers.get("x-request-id"),
            status_code=response.status_code,
            retries_taken=len(call.attempts),
            response=response,
            redact=(self._api_key.get_secret_value(),),
            served_model=spec.model,
        )
        deadline_at = call.deadline_at
        if deadline_at is not None:
            # The body's reads start now: httpcore takes their timeout from the request once,
            # here, so shrink it to what is left of the deadline (headers may have taken most).
            timeouts = response.request.extensions.get("timeout")
            if isinstance(timeouts, dict):
                left = max(deadline_at - self._clock(), 0.001)
                read = timeouts.get("read")
                timeouts["read"] = left if read is None else min(read, left)
        state = _StreamState(spec.cast_to, ctx, self._stream_idle_timeout, self._clock,
                             deadline_at=deadline_at, keep_chunks=spec.keep_chunks)
        return state, ctx

    @staticmethod
    def _stream_result(stream: Any, spec: RequestSpec[Any], call: CallRetryState) -> Any:
        """The first event arrived: the call succeeded."""
        retries = call.succeeded()
        if spec.raw:
            return RawResponse(stream.response, stream, retries, _identity,
                               served_model=spec.model)
        return stream

    def _reject_json_stream(self, response: httpx.Response, call: CallRetryState) -> None:
        parsed = parse_error_body(response.content, "application/json")
        if isinstance(parsed.body, dict) and "error" in parsed.body:
            raise self._status_error(response, call)
        raise call.failed(APIResponseValidationError(
            "expected a text/event-stream answer to a stream request, got JSON",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
            response=response,
        ))


_TELEMETRY_OPTIONS = ("telemetry", "tracer_provider", "meter_provider", "capture_content",
                      "propagate_context")


def _telemetry_options(telemetry: object, tracer_provider: object, meter_provider: object,
                       capture_content: object, propagate_context: object
                       ) -> tuple[bool | None, Any, Any, bool | None, bool]:
    """The telemetry arguments, checked (the providers are checked by ``_telemetry``)."""
    for name, value in (("telemetry", telemetry), ("capture_content", capture_content)):
        if value is not None and not isinstance(value, bool):
            raise InvalidArgumentError(f"{name} must be True, False or None (the default)")
    if not isinstance(propagate_context, bool):
        raise InvalidArgumentError("propagate_context must be True or False")
    return (telemetry, tracer_provider, meter_provider,  # type: ignore[return-value]
            capture_content, propagate_context)


def _identity(response: httpx.Response, target: Any, retries: int) -> Any:
    return target


_KEY_CHARS = re.compile(r"[\x21-\x7e]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def check_headers(headers: Mapping[str, object], what: str) -> None:
    """Headers must be str -> str, with token names and values free of CR/LF/controls."""
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidArgumentError(f"{what} must map str to str")
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidArgumentError(f"{what}: {name!r} is not a valid header name")
        if _BAD_VALUE.search(value):
            raise InvalidArgumentError(f"{what}[{name!r}] contains a line break or control byte")
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidArgumentError(f"{what}[{name!r}] must be latin-1 text") from None


def _check_fallbacks(value: object) -> Mapping[str, tuple[str, ...]]:
    """The client's ``fallbacks`` as ``{model: (fallback, ...)}`` (read-only)."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            'fallbacks must map a model to its fallback models, e.g. '
            '{"gpt-5": ["claude-opus-4-7"]}')
    chains: dict[str, tuple[str, ...]] = {}
    for model, chain in value.items():
        if not isinstance(model, str) or not model:
            raise InvalidArgumentError(f"fallbacks: {model!r} is not a model name")
        chains[model] = check_models(chain, f"fallbacks[{model!r}]")
    return MappingProxyType(chains)


def check_models(value: object, what: str) -> tuple[str, ...]:
    """A list of fallback model names, checked: a sequence of non-empty strings."""
    if isinstance(value, (str, bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"{what} must be a list of model names, e.g. ['claude-opus-4-7'], not {value!r}")
    models = tuple(value)
    for model in models:
        if not isinstance(model, str) or not model.strip():
            raise InvalidArgumentError(f"{what}: {model!r} is not a model name")
    return models


def _secret(value: object) -> SecretStr | None:
    """The key as a SecretStr (``None`` stays ``None``); a non-string is an argument error."""
    if value is None or isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    raise InvalidArgumentError(f"api_key must be a str or SecretStr, not {type(value).__name__}")


def _parse_model(response: httpx.Response, cast_to: type[M], retries: int,
                 served_model: str | None = None) -> M:
    try:
        obj = cast_to.model_validate_json(response.content)
    except pydantic.ValidationError as exc:
        text = _snippet(response.content, _sent_key(response), 200)
        raise APIResponseValidationError(
            f"the {response.status_code} response is not a valid {cast_to.__name__} "
            f"({exc.error_count()} errors; body starts {text})",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
            response=response,
        ) from None
    set_response_info(obj, {"_request_id": response.headers.get("x-request-id"),
                            "_retries_taken": retries, "_served_model": served_model})
    return obj


def _sent_key(response: httpx.Response) -> tuple[str, ...]:
    """The key the request carried, to mask should the server echo it in a body we quote."""
    try:
        return (response.request.headers.get("authorization", "").partition(" ")[2],)
    except RuntimeError:  # a response built by hand, without a request
        return ()


def _build_headers(key: SecretStr, extra: Mapping[str, str]) -> httpx.Headers:
    headers = httpx.Headers(
        {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"torouter-python/{__version__}",
        }
    )
    headers.update(extra)
    headers["Authorization"] = "Bearer " + key.get_secret_value()
    return headers


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
