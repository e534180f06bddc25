"""OpenTelemetry for every call: a GenAI span around the call, a child span per HTTP attempt, and
the GenAI client metrics.  A seam layer (see ``_seam``), the outermost one.

Loaded only when a client is built with telemetry not switched off, and then it imports
``opentelemetry`` (the API; the SDK is the application's).  When that import fails the client
has no telemetry layer at all: nothing imported, nothing paid.

What is emitted (GenAI and stable HTTP semantic conventions):

* the **call span**, kind CLIENT, ``"{gen_ai.operation.name} {gen_ai.request.model}"``, from
  ``create()`` to the answer (for a stream: to the stream's end), with the request parameters,
  the response's id/model/finish reasons/usage and torouter's own ``torouter.*`` attributes; a
  failure sets status ERROR and ``error.type`` (the torouter class name) and records the
  exception once, here, with any API key masked;
* an **attempt span** per HTTP attempt (``POST``, ``http.request.method``,
  ``http.response.status_code``, ``http.request.resend_count``, ``error.type``), the call span's
  child, current while the request is sent (so that ``traceparent`` names it, and any generic
  httpx instrumentation is suppressed for it); retry backoffs, waits before an attempt and
  refused attempts are events on the call span;
* the metrics ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and, for
  streams, ``gen_ai.client.operation.time_to_first_chunk``.

When an outer GenAI span is already current (another instrumentation wraps the call), torouter
emits no call span and no GenAI metrics of its own, only its attempt spans under that span.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import _redact
from ._errors import InvalidArgumentError, StreamInterrupted, ToRouterError, mask_key
from ._response import RawResponse
from ._seam import Layer
from ._streaming import _StreamBase
from ._version import __version__

if TYPE_CHECKING:
    import httpx

    from ._retrying import CallRetryState

__all__ = ["CAPTURE_CONTENT_ENV", "Telemetry", "telemetry_layer"]

log = logging.getLogger("torouter")

#: The variable the GenAI instrumentations read: ``true`` records prompts and completions.
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
PROVIDER = "torouter"
GENAI_OPERATIONS = frozenset({"chat", "embeddings"})

# Bucket boundaries the GenAI metric conventions give.
_SECONDS_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)

# Request parameters -> attribute (numbers only: a wrong type is the gateway's to refuse).
_NUMERIC_PARAMS = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("top_k", "gen_ai.request.top_k"),
    ("seed", "gen_ai.request.seed"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("dimensions", "gen_ai.embeddings.dimension.count"),
)

_cache: dict[tuple[Any, ...], Telemetry] = {}


def capture_from_env() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in (
        "true", "1", "yes", "span_only", "span_and_event")


def telemetry_layer(base_url: httpx.URL, required: bool, tracer_provider: Any,
                    meter_provider: Any, capture_content: bool | None,
                    propagate_context: bool) -> Layer | None:
    """The client's telemetry layer, or ``None`` when ``opentelemetry`` cannot be imported
    (an error instead when telemetry was asked for explicitly).

    Layers are shared by the clients (and ``with_options`` copies) that configure the same
    thing, so that deriving a client costs no new instruments.
    """
    explicit = required or tracer_provider is not None or meter_provider is not None
    if not explicit and not _otel_loaded():
        # Installed but not loaded: the application has configured no provider (that needs
        # opentelemetry.trace or .metrics), so every span would be a no-op.  Wait for it.
        if importlib.util.find_spec("opentelemetry") is None:
            return None
        return _Dormant((base_url, required, tracer_provider, meter_provider, capture_content,
                         propagate_context))
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        if explicit:
            raise InvalidArgumentError(
                "telemetry needs the OpenTelemetry API: pip install 'torouter[otel]'"
            ) from None
        return None
    capture = capture_from_env() if capture_content is None else capture_content
    key = (str(base_url), tracer_provider, meter_provider, capture, propagate_context)
    try:
        layer = _cache.get(key)
    except TypeError:  # an unhashable provider: no sharing
        return Telemetry(base_url, tracer_provider, meter_provider, capture, propagate_context)
    if layer is None:
        layer = Telemetry(base_url, tracer_provider, meter_provider, capture, propagate_context)
        if len(_cache) >= 32:  # providers are few; a program making many keeps only the last
            _cache.clear()
        _cache[key] = layer
    return layer


_OTEL_MODULES = ("opentelemetry.trace", "opentelemetry.metrics")


def _otel_loaded() -> bool:
    """Whether the application has loaded OpenTelemetry's tracing or metrics API."""
    modules = sys.modules
    return any(modules.get(name) is not None for name in _OTEL_MODULES)


class _Dormant(Layer):
    """The telemetry layer of a client built before the application loaded OpenTelemetry.

    ``opentelemetry`` is installed but neither ``opentelemetry.trace`` nor
    ``opentelemetry.metrics`` is imported: no tracer or meter provider can have been set, so
    every span and instrument would be a no-op.  Importing the API costs a cold start tens of
    milliseconds, for nothing.  This layer imports nothing; at each call's start it looks
    whether the application has loaded OpenTelemetry since (a dictionary lookup), and from then
    on hands every call to the real :class:`Telemetry` layer (shared, as ``telemetry_layer``
    shares it).  A call already running when it wakes is not traced.
    """

    __slots__ = ("_args", "_lock", "real")

    def __init__(self, args: tuple[Any, ...]) -> None:
        self._args = args
        self._lock = threading.Lock()
        self.real: Layer | None = None

    def __repr__(self) -> str:
        return f"<Telemetry dormant={self.real is None}>"

    def _wake(self) -> Layer | None:
        with self._lock:
            if self.real is None:
                self.real = telemetry_layer(*self._args) or Layer()
        return self.real

    def start_call(self, call: CallRetryState) -> None:
        real = self.real
        if real is None:
            if not _otel_loaded():
                return
            real = self._wake()
        if real is not None:
            real.start_call(call)

    def before_attempt(self, call: CallRetryState) -> float | None:
        real = self.real
        return None if real is None else real.before_attempt(call)

    def on_send(self, call: CallRetryState) -> None:
        real = self.real
        if real is not None:
            real.on_send(call)

    def after_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        real = self.real
        if real is not None:
            real.after_attempt(call, error)

    def end_call(self, call: CallRetryState, error: ToRouterError | None) -> None:
        real = self.real
        if real is not None:
            real.end_call(call, error)

    def abandon_call(self, call: CallRetryState, exc: BaseException) -> None:
        real = self.real
        if real is not None:
            real.abandon_call(call, exc)


def _mask(text: str) -> str:
    """``text`` with every API key a client was built with masked."""
    for secret in _redact.known_secrets():
        if secret in text:
            text = text.replace(secret, mask_key(secret))
    return text


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Call:
    """What the layer keeps for one call (in ``call.notes[layer]``)."""

    __slots__ = ("attempt", "before", "caller_traced", "ended_ns", "model", "operation",
                 "recording", "reported", "slept", "span", "start", "token", "ttfc")

    def __init__(self, span: Any, recording: bool, operation: str, model: str | None) -> None:
        self.span = span  # None when an outer GenAI span covers the call
        self.recording = recording
        self.operation = operation
        self.model = model
        self.start = time.perf_counter()
        self.before = self.start
        self.attempt: Any = None
        self.token: Any = None
        self.caller_traced = False  # a valid trace context was current when the call started
        self.reported = 0  # attempts in call.attempts already turned into spans or events
        self.slept = 0  # the attempt number whose backoff was reported
        self.ended_ns = 0
        self.ttfc: float | None = None


class Telemetry(Layer):
    """The seam layer that emits spans and metrics (see the module's docstring)."""

    __slots__ = ("_address", "_capture", "_context", "_duration", "_inject", "_kind", "_port",
                 "_propagate", "_set_span", "_status", "_suppress", "_tokens", "_trace",
                 "_tracer", "_ttfc", "_url")

    def __init__(self, base_url: httpx.URL, tracer_provider: Any, meter_provider: Any,
                 capture_content: bool, propagate_context: bool) -> None:
        from opentelemetry import context, metrics, propagate, trace

        global _INVALID
        _INVALID = trace.INVALID_SPAN
        self._trace = trace
        self._context = context
        self._inject = propagate.inject
        self._set_span = trace.set_span_in_context
        self._kind = trace.SpanKind.CLIENT
        self._status = trace.StatusCode.ERROR
        try:
            self._tracer = trace.get_tracer("torouter", __version__,
                                            tracer_provider=tracer_provider)
            meter = metrics.get_meter("torouter", __version__, meter_provider=meter_provider)
        except AttributeError:
            raise InvalidArgumentError(
                "tracer_provider / meter_provider must be OpenTelemetry providers"
            ) from None
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS)
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS)
        self._ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streaming response",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS)
        self._capture = capture_content
        self._propagate = propagate_context
        self._address = base_url.host
        self._port = base_url.port or (443 if base_url.scheme == "https" else 80)
        # url.full never carries credentials (the HTTP conventions): no user:password@ part.
        self._url = str(base_url.copy_with(username=None, password=None)).rstrip("/")
        # The context key the OpenTelemetry HTTP instrumentations (httpx's among them) check
        # before making a span: set while torouter sends, so that they make none of their own.
        self._suppress = getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)

    def __repr__(self) -> str:
        return f"<Telemetry server={self._address}:{self._port} content={self._capture}>"

    # -- the call ------------------------------------------------------------------------

    def start_call(self, call: CallRetryState) -> None:
        spec = call.spec
        operation = spec.operation if spec is not None else "chat"
        model = call.model
        trace = self._trace
        current = trace.get_current_span()
        if _is_genai_span(current):  # another instrumentation already covers this call
            call.notes[self] = _Call(None, False, operation, model)
            return
        caller_traced = current is not _INVALID and current.get_span_context().is_valid
        genai = operation in GENAI_OPERATIONS
        attributes: dict[str, Any] = {
            "gen_ai.provider.name": PROVIDER,
            "server.address": self._address,
            "server.port": self._port,
        }
        if genai:
            attributes["gen_ai.operation.name"] = operation
        else:
            attributes["torouter.operation"] = operation
        if model is not None:
            attributes["gen_ai.request.model"] = model
        span = self._tracer.start_span(f"{operation} {model}" if model else operation,
                                       kind=self._kind, attributes=attributes)
        recording = span.is_recording()
        note = call.notes[self] = _Call(span, recording, operation, model)
        note.caller_traced = caller_traced
        if recording and spec is not None and spec.params:
            span.set_attributes(self._request_attributes(spec.params, spec.stream))

    def _request_attributes(self, params: Mapping[str, Any], stream: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, attribute in _NUMERIC_PARAMS:
            value = params.get(name)
            if _number(value):
                out[attribute] = value
        n = params.get("n")
        if _number(n) and n != 1:
            out["gen_ai.request.choice.count"] = n
        stop = params.get("stop")
        if isinstance(stop, str):
            out["gen_ai.request.stop_sequences"] = [stop]
        elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
            out["gen_ai.request.stop_sequences"] = list(stop)
        fmt = params.get("encoding_format")
        if isinstance(fmt, str):
            out["gen_ai.request.encoding_formats"] = [fmt]
        if stream:
            out["gen_ai.request.stream"] = True
        if self._capture and isinstance(params.get("messages"), (list, tuple)):
            out["gen_ai.input.messages"] = _mask(_dump(_input_messages(params["messages"])))
        return out

    def end_call(self, call: CallRetryState, error: ToRouterError | None) -> None:
        note = call.notes.pop(self, None)
        if note is None:
            return
        self._close_attempt(note)
        if note.span is None:
            return
        try:
            self._end(call, note, error)
        except Exception:  # telemetry never breaks a call
            log.debug("torouter telemetry: could not complete the call span", exc_info=True)
            note.span.end()

    def _end(self, call: CallRetryState, note: _Call, error: ToRouterError | None) -> None:
        span = note.span
        duration = time.perf_counter() - note.start
        genai = note.operation in GENAI_OPERATIONS
        facts = _Facts()
        result = call.result
        capture = self._capture and note.recording
        ended = call.stream_outcome  # a stream: how it ended, with the completion received
        stream_outcome = None
        if ended is not None:
            facts.read(ended.snapshot, capture)
            stream_outcome = _STREAM_OUTCOMES.get(ended.kind, ended.kind)
            if ended.kind == "error" and not isinstance(error, StreamInterrupted):
                stream_outcome = "failed"
        elif result is not None:
            facts.read(result, capture)
        metric_attrs: dict[str, Any] = {"gen_ai.provider.name": PROVIDER,
                                        "gen_ai.operation.name": note.operation,
                                        "server.address": self._address,
                                        "server.port": self._port}
        if note.model is not None:
            metric_attrs["gen_ai.request.model"] = note.model
        if facts.model is not None:
            metric_attrs["gen_ai.response.model"] = facts.model
        if error is not None:
            metric_attrs["error.type"] = type(error).__name__
        if note.recording:
            self._report_attempts(call, note)
            attributes = facts.attributes()
            response = call.response
            request_id = (error.request_id if error is not None and error.request_id
                          else response.headers.get("x-request-id") if response is not None
                          else None)
            if request_id:
                attributes["torouter.request_id"] = request_id
            # A stream that fails mid-way succeeded first: its retries are the call's.
            attributes["torouter.retries_taken"] = (
                error.retries_taken if error is not None and result is None
                else len(call.attempts))
            if call.model is not None and error is None:
                attributes["torouter.served_model"] = call.model
            if stream_outcome is not None:
                attributes["torouter.stream.outcome"] = stream_outcome
            if note.ttfc is not None:
                attributes["gen_ai.response.time_to_first_chunk"] = note.ttfc
            if facts.output is not None:
                attributes["gen_ai.output.messages"] = _mask(_dump(facts.output))
            if error is not None:
                attributes["error.type"] = type(error).__name__
                span.set_status(self._status, _mask(f"{type(error).__name__}: {error.message}"))
                _record_exception(span, error)
            span.set_attributes(attributes)
        span.end()
        if genai:
            self._duration.record(duration, metric_attrs)
            if note.ttfc is not None:
                self._ttfc.record(note.ttfc, metric_attrs)
            for kind, count in (("input", facts.input_tokens), ("output", facts.output_tokens)):
                if count is not None:
                    self._tokens.record(count, {**metric_attrs, "gen_ai.token.type": kind})

    def abandon_call(self, call: CallRetryState, exc: BaseException) -> None:
        note = call.notes.pop(self, None)
        if note is None:
            return
        self._close_attempt(note, exc)
        if note.span is None:
            return
        name = type(exc).__name__
        if note.recording:
            note.span.set_attribute("error.type", name)
            note.span.set_status(self._status, f"{name}: the call was abandoned")
        note.span.end()
        if note.operation in GENAI_OPERATIONS:
            attrs: dict[str, Any] = {"gen_ai.provider.name": PROVIDER,
                                     "gen_ai.operation.name": note.operation,
                                     "server.address": self._address, "server.port": self._port,
                                     "error.type": name}
            if note.model is not None:
                attrs["gen_ai.request.model"] = note.model
            self._duration.record(time.perf_counter() - note.start, attrs)

    # -- each attempt ----------------------------------------------------------------------

    def before_attempt(self, call: CallRetryState) -> float | None:
        note = call.notes.get(self)
        if note is not None:
            note.before = time.perf_counter()
            if call.attempts and note.recording:
                self._report_attempts(call, note)
        return None

    def on_send(self, call: CallRetryState) -> None:
        note: _Call | None = call.notes.get(self)
        if note is None:
            return
        if not note.recording and note.span is not None:
            # Nothing is recorded here: pass on the caller's trace context, if there is one.
            if self._propagate and note.caller_traced:
                self._inject(call.extra_headers)
            return
        # Recording: under the call span, or under an outer GenAI span (then ``span`` is None).
        parent = note.span if note.span is not None else self._trace.get_current_span()
        if call.wait > 0 and note.recording:  # another layer held the attempt back
            waited = time.perf_counter() - note.before
            note.span.add_event("torouter.attempt.delayed", {"torouter.wait.seconds": waited})
        spec = call.spec
        method = spec.method if spec is not None else "POST"
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "server.address": self._address,
            "server.port": self._port,
            "url.full": self._url + (spec.path if spec is not None else ""),
        }
        resends = len(call.attempts)
        if resends:
            attributes["http.request.resend_count"] = resends
        if call.model is not None:
            attributes["gen_ai.request.model"] = call.model
        parent_context = self._set_span(parent)
        attempt = self._tracer.start_span(method, context=parent_context, kind=self._kind,
                                          attributes=attributes)
        note.attempt = attempt
        context = self._set_span(attempt, parent_context)
        if self._propagate:
            self._inject(call.extra_headers, context=context)
        if self._suppress is not None:  # a generic httpx instrumentation stays out of it
            context = self._context.set_value(self._suppress, True, context)
        note.token = self._context.attach(context)

    def after_attempt(self, call: CallRetryState, error: ToRouterError | None) -> None:
        note: _Call | None = call.notes.get(self)
        if note is None:
            return
        if error is None and call.spec is not None and call.spec.stream and note.ttfc is None:
            note.ttfc = time.perf_counter() - note.start
        attempt = note.attempt
        if attempt is None:
            return
        self._detach(note)
        note.attempt = None
        if error is None:
            response = call.response
            if response is not None:
                attempt.set_attribute("http.response.status_code", response.status_code)
        else:
            note.reported = len(call.attempts)
            name = type(error).__name__
            if error.status_code is not None:
                attempt.set_attribute("http.response.status_code", error.status_code)
            attempt.set_attribute("error.type", name)
            attempt.set_status(self._status, name)
        attempt.end()
        note.ended_ns = time.time_ns()

    def _detach(self, note: _Call) -> None:
        token, note.token = note.token, None
        if token is not None:
            self._context.detach(token)

    def _close_attempt(self, note: _Call, exc: BaseException | None = None) -> None:
        """An attempt still open when the call ends (cancelled mid-send): close it."""
        attempt = note.attempt
        if attempt is None:
            return
        note.attempt = None
        try:
            self._detach(note)
        except Exception:  # e.g. detached in another context: the span still ends
            log.debug("torouter telemetry: could not detach the attempt context", exc_info=True)
        if exc is not None:
            attempt.set_attribute("error.type", type(exc).__name__)
            attempt.set_status(self._status, type(exc).__name__)
        attempt.end()

    def _report_attempts(self, call: CallRetryState, note: _Call) -> None:
        """Backoffs and refused attempts since the last report, as events on the call span."""
        span = note.span
        attempts = call.attempts
        for attempt in attempts[note.reported:]:  # refused by a layer: nothing was sent
            event = {"error.type": attempt.outcome, "torouter.attempt": attempt.number}
            if attempt.model is not None:
                event["gen_ai.request.model"] = attempt.model
            span.add_event("torouter.attempt.refused", event)
        note.reported = len(attempts)
        last = attempts[-1] if attempts else None
        if last is not None and last.sleep is not None and note.slept < last.number:
            note.slept = last.number
            span.add_event(
                "torouter.retry.backoff",
                {"torouter.retry.sleep_seconds": last.sleep, "error.type": last.outcome,
                 "torouter.attempt": last.number},
                timestamp=note.ended_ns or None,
            )


# -- reading the answer -------------------------------------------------------------------


_INVALID: Any = None  # trace.INVALID_SPAN, set when a layer is built


class _Facts:
    """Response facts read from a result (a completion, embeddings, a stream's snapshot)."""

    __slots__ = ("finish_reasons", "id", "input_tokens", "model", "output", "output_tokens")

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.output: list[dict[str, Any]] | None = None

    def read(self, result: Any, capture: bool) -> None:
        # Type checks, not hasattr: a missing attribute of a pydantic model costs ~5 us.
        if isinstance(result, RawResponse):
            result = result.parse()
        if isinstance(result, _StreamBase):  # read from its end's snapshot instead
            return
        fields = _fields(result)
        self.id = _str(fields.get("id"))
        self.model = _str(fields.get("model"))
        self._usage(fields.get("usage"))
        choices = fields.get("choices") or ()
        output = []
        for choice in choices:
            choice_fields = _fields(choice)
            reason = _str(choice_fields.get("finish_reason"))
            if reason:
                self.finish_reasons.append(reason)
            if capture:
                message = _fields(choice_fields.get("message"))
                output.append(_output_message(message.get("content"), reason))
        if capture and choices:
            self.output = output

    def _usage(self, usage: Any) -> None:
        if usage is None:
            return
        fields = _fields(usage)
        prompt = fields.get("prompt_tokens")
        completion = fields.get("completion_tokens")
        if isinstance(prompt, int):
            self.input_tokens = prompt
        if isinstance(completion, int):
            self.output_tokens = completion

    def attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id:
            out["gen_ai.response.id"] = self.id
        if self.model:
            out["gen_ai.response.model"] = self.model
        if self.finish_reasons:
            out["gen_ai.response.finish_reasons"] = self.finish_reasons
        if self.input_tokens is not None:
            out["gen_ai.usage.input_tokens"] = self.input_tokens
        if self.output_tokens is not None:
            out["gen_ai.usage.output_tokens"] = self.output_tokens
        return out


#: StreamOutcome.kind -> torouter.stream.outcome (an error that is not a cut: "failed").
_STREAM_OUTCOMES = {"completed": "completed", "closed": "closed_early", "error": "interrupted"}


def _fields(model: object) -> dict[str, Any]:
    """A pydantic model's declared fields (``{}`` for anything else), read without getattr:
    a field a model lacks would cost a raised and caught AttributeError each time."""
    fields = getattr(model, "__dict__", None)
    return fields if isinstance(fields, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _is_genai_span(span: Any) -> bool:
    """Whether ``span`` is a recording GenAI operation span (of another instrumentation)."""
    if not span.is_recording():
        return False
    attributes = getattr(span, "attributes", None)  # SDK spans expose theirs; others: unknown
    return isinstance(attributes, Mapping) and attributes.get("gen_ai.operation.name") is not None


def _input_messages(messages: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        if not isinstance(message, Mapping):
            message = _fields(message)  # a reply's message object, passed back as it came
            if not message:
                continue
        content = message.get("content")
        parts: list[Any]
        if isinstance(content, str):
            parts = [{"type": "text", "content": content}]
        elif isinstance(content, list):
            parts = [{"type": "text", "content": p.get("text")} if isinstance(p, Mapping)
                     and p.get("type") == "text" else {"type": str(p.get("type", "?"))
                                                       if isinstance(p, Mapping) else "?"}
                     for p in content]
        else:
            parts = []
        out.append({"role": str(message.get("role", "user")), "parts": parts})
    return out


def _output_message(content: object, finish_reason: str | None) -> dict[str, Any]:
    parts = [{"type": "text", "content": content}] if isinstance(content, str) else []
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish_reason:
        message["finish_reason"] = finish_reason
    return message


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _record_exception(span: Any, error: BaseException) -> None:
    """The exception event, as the SDK's ``record_exception`` writes it, with keys masked."""
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    span.add_event("exception", {
        "exception.type": type(error).__qualname__,
        "exception.message": _mask(str(error)),
        "exception.stacktrace": _mask(stack),
    })
