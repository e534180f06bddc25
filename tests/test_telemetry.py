"""OpenTelemetry (``torouter/_telemetry.py``), read back through the SDK's in-memory span exporter
and metric reader: the call span and its attempt spans, their attribute names and values, the
GenAI metrics, streams ending the span when they end, the key and (by default) the content never
exported, ``traceparent`` on the wire, and no cost or import when switched off."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import torouter
from torouter._seam import Layer, Seam

pytestmark = pytest.mark.anyio

KEY = "sk-otel-test-0123456789abcdefSECRET"
BASE = "http://127.0.0.1:9/v1"
MESSAGES = [{"role": "user", "content": "Say hi to the tracer"}]
USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


def completion(text: str = "hi there", model: str = "gpt-5-mini-2026") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": USAGE}


def chunk(content: str | None = None, finish: str | None = None,
          usage: dict[str, int] | None = None) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {},
                                 "finish_reason": finish}]
    body: dict[str, Any] = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
                            "model": "gpt-5-mini-2026", "choices": choices}
    if usage:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM_OK = [chunk("Hel"), chunk("lo"), chunk(finish="stop"), chunk(usage=USAGE),
             b"data: [DONE]\n\n"]


class Gateway:
    """An httpx mock transport answering from a script; records every request it got."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        rid = {"x-request-id": f"req-{len(self.requests)}"}
        if isinstance(answer, list):  # an SSE stream: a list of raw event bytes
            return httpx.Response(200, content=b"".join(answer),
                                  headers={**rid, "content-type": "text/event-stream"})
        if isinstance(answer, httpx.Response):
            return answer
        status, body = answer
        return httpx.Response(status, json=body, headers=rid)


class Otel:
    """An SDK tracer and meter provider with in-memory export."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def call_span(self) -> ReadableSpan:
        (span,) = [s for s in self.spans() if s.parent is None]
        return span

    def attempt_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.parent is not None]

    def metrics(self) -> dict[str, list[Any]]:
        """metric name -> its data points."""
        out: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture
def otel() -> Otel:
    return Otel()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(kind: str, gateway: Gateway, otel: Otel | None, **options: Any) -> Any:
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    transport = httpx.MockTransport(gateway)
    http = httpx.Client(transport=transport) if kind == "sync" else \
        httpx.AsyncClient(transport=transport)
    if otel is not None:
        options.setdefault("tracer_provider", otel.tracer_provider)
        options.setdefault("meter_provider", otel.meter_provider)
    client = cls(api_key=KEY, base_url=BASE, http_client=http, **options)
    return torouter.testing.instant_retries(client)


async def run(client: Any, method: Any, /, **params: Any) -> Any:
    result = method(**params)
    if isinstance(client, torouter.AsyncToRouter):
        result = await result
    return result


async def chat(client: Any, **params: Any) -> Any:
    params = {"model": "gpt-5-mini", "messages": MESSAGES, **params}
    return await run(client, client.chat.completions.create, **params)


async def drain(client: Any, stream: Any, stop_after: int | None = None) -> list[Any]:
    got: list[Any] = []
    if isinstance(client, torouter.AsyncToRouter):
        async with stream:
            async for item in stream:
                got.append(item)
                if stop_after is not None and len(got) >= stop_after:
                    break
    else:
        with stream:
            for item in stream:
                got.append(item)
                if stop_after is not None and len(got) >= stop_after:
                    break
    return got


def everything_exported(otel: Otel) -> str:
    """Every name and value of every exported span, event and metric point, as one text."""
    parts: list[str] = []
    for span in otel.spans():
        parts.append(span.to_json())
    parts.append(json.dumps(json.loads(otel.reader.get_metrics_data().to_json())))
    return "\n".join(parts)


# -- a call and its attempts ----------------------------------------------------------------


async def test_a_success_is_one_call_span_with_one_attempt_span_and_the_genai_attributes(
        kind: str, otel: Otel) -> None:
    gateway = Gateway((200, completion()))
    client = make(kind, gateway, otel)
    reply = await chat(client, max_tokens=64, temperature=0.3, top_p=0.9, seed=7,
                       stop=["END"], frequency_penalty=0.1, presence_penalty=0.2)
    assert reply.choices[0].message.content == "hi there"

    span = otel.call_span()
    assert span.name == "chat gpt-5-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "torouter",
        "gen_ai.request.model": "gpt-5-mini",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.2,
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.model": "gpt-5-mini-2026",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 11,
        "gen_ai.usage.output_tokens": 3,
        "server.address": "127.0.0.1",
        "server.port": 9,
        "torouter.request_id": "req-1",
        "torouter.retries_taken": 0,
        "torouter.served_model": "gpt-5-mini",
    }
    (attempt,) = otel.attempt_spans()
    assert attempt.name == "POST"
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.parent is not None and attempt.parent.span_id == span.context.span_id
    assert attempt.context.trace_id == span.context.trace_id
    assert dict(attempt.attributes or {}) == {
        "http.request.method": "POST",
        "http.response.status_code": 200,
        "server.address": "127.0.0.1",
        "server.port": 9,
        "url.full": "http://127.0.0.1:9/v1/chat/completions",
        "gen_ai.request.model": "gpt-5-mini",
    }
    assert span.start_time <= attempt.start_time <= attempt.end_time <= span.end_time

    metrics = otel.metrics()
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "torouter",
        "gen_ai.request.model": "gpt-5-mini", "gen_ai.response.model": "gpt-5-mini-2026",
        "server.address": "127.0.0.1", "server.port": 9,
    }
    assert duration.count == 1 and duration.sum > 0
    tokens = {p.attributes["gen_ai.token.type"]: p.sum
              for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input": 11, "output": 3}
    assert "gen_ai.client.operation.time_to_first_chunk" not in metrics  # not a stream


async def test_a_retried_503_shows_two_attempts_with_the_resend_count_and_the_backoff(
        kind: str, otel: Otel) -> None:
    down = {"error": {"message": "no upstream", "type": "upstream_unavailable"}}
    gateway = Gateway((503, down), (200, completion()))
    client = make(kind, gateway, otel)
    reply = await chat(client)
    assert reply.retries_taken == 1

    span = otel.call_span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["torouter.retries_taken"] == 1
    assert span.attributes["torouter.request_id"] == "req-2"
    first, second = sorted(otel.attempt_spans(), key=lambda s: s.start_time)
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "UpstreamUnavailable"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert "error.type" not in second.attributes
    assert first.end_time <= second.start_time
    (backoff,) = [e for e in span.events if e.name == "torouter.retry.backoff"]
    assert backoff.attributes["error.type"] == "UpstreamUnavailable"
    assert backoff.attributes["torouter.attempt"] == 1
    assert backoff.attributes["torouter.retry.sleep_seconds"] > 0
    assert not [e for e in span.events if e.name == "exception"]  # the call succeeded
    assert not [e for s in otel.attempt_spans() for e in s.events]


async def test_a_typed_403_fails_the_call_span_once_with_its_class(kind: str, otel: Otel) -> None:
    denied = {"error": {"message": f"key {KEY} may not use this model",
                        "type": "access_denied"}}
    gateway = Gateway((403, denied))
    client = make(kind, gateway, otel)
    with pytest.raises(torouter.PermissionDeniedError) as info:
        await chat(client)
    name = type(info.value).__name__

    span = otel.call_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == name
    assert span.attributes["torouter.request_id"] == "req-1"
    assert span.attributes["torouter.retries_taken"] == 0
    assert "torouter.served_model" not in span.attributes
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert exception.attributes["exception.type"] == name
    assert "may not use this model" in exception.attributes["exception.message"]
    (attempt,) = otel.attempt_spans()
    assert attempt.attributes["error.type"] == name
    assert attempt.attributes["http.response.status_code"] == 403
    assert not attempt.events  # the exception is recorded once, on the call span
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == name
    assert KEY not in everything_exported(otel)


async def test_embeddings_are_an_embeddings_span_with_input_tokens(kind: str, otel: Otel) -> None:
    body = {"object": "list", "model": "text-embedding-3-small",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "usage": {"prompt_tokens": 5, "total_tokens": 5}}
    client = make(kind, Gateway((200, body)), otel)
    reply = await run(client, client.embeddings.create, model="text-embedding-3-small",
                      input="hello", encoding_format="float", dimensions=2)
    assert reply.data[0].embedding == [0.1, 0.2]
    span = otel.call_span()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.request.encoding_formats"] == ("float",)
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 2
    assert span.attributes["gen_ai.usage.input_tokens"] == 5
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert "gen_ai.input.messages" not in span.attributes
    tokens = otel.metrics()["gen_ai.client.token.usage"]
    assert [p.attributes["gen_ai.token.type"] for p in tokens] == ["input"]
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["gen_ai.operation.name"] == "embeddings"


async def test_listing_models_is_a_span_but_not_a_genai_operation(kind: str, otel: Otel) -> None:
    body = {"object": "list", "data": [{"id": "gpt-5-mini", "object": "model", "created": 1,
                                        "owned_by": "x"}]}
    client = make(kind, Gateway((200, body)), otel)
    await run(client, client.models.list)
    span = otel.call_span()
    assert span.name == "models"
    assert "gen_ai.operation.name" not in span.attributes
    assert span.attributes["torouter.operation"] == "models"
    assert "gen_ai.client.operation.duration" not in otel.metrics()


# -- streams ------------------------------------------------------------------------------


async def test_a_stream_span_ends_when_the_stream_ends_with_usage_and_first_chunk_time(
        kind: str, otel: Otel) -> None:
    client = make(kind, Gateway(STREAM_OK), otel)
    stream = await chat(client, stream=True, stream_options={"include_usage": True})
    assert [s for s in otel.spans() if s.parent is None] == []  # create() returned: still open
    (attempt,) = otel.attempt_spans()  # the attempt ended with the first chunk in hand
    assert attempt.attributes["http.response.status_code"] == 200
    chunks = await drain(client, stream)
    assert len(chunks) == 4

    span = otel.call_span()
    assert span.attributes["torouter.stream.outcome"] == "completed"
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-s"
    assert span.attributes["gen_ai.response.model"] == "gpt-5-mini-2026"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.input_tokens"] == 11
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9
    assert span.status.status_code is StatusCode.UNSET
    metrics = otel.metrics()
    (first_chunk,) = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert first_chunk.count == 1 and first_chunk.sum == pytest.approx(ttfc)
    assert first_chunk.attributes["gen_ai.operation.name"] == "chat"
    assert {p.attributes["gen_ai.token.type"]: p.sum
            for p in metrics["gen_ai.client.token.usage"]} == {"input": 11, "output": 3}


async def test_an_interrupted_stream_fails_its_span_when_the_connection_drops(
        kind: str, otel: Otel) -> None:
    down = {"error": {"message": "x", "type": "upstream_unavailable"}}
    cut = [chunk("Hel"), chunk("lo")]  # no finish reason, no [DONE]
    client = make(kind, Gateway((503, down), cut), otel)
    stream = await chat(client, stream=True)
    with pytest.raises(torouter.StreamInterrupted):
        await drain(client, stream)
    span = otel.call_span()
    assert span.attributes["torouter.stream.outcome"] == "interrupted"
    assert span.attributes["error.type"] == "StreamInterrupted"
    assert span.attributes["torouter.retries_taken"] == 1  # before its first chunk
    assert span.attributes["torouter.request_id"] == "req-2"
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["torouter.retry.backoff", "exception"]
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "StreamInterrupted"


async def test_a_stream_closed_early_ends_its_span_marked_closed_early(
        kind: str, otel: Otel) -> None:
    client = make(kind, Gateway(STREAM_OK), otel)
    stream = await chat(client, stream=True)
    assert len(await drain(client, stream, stop_after=1)) == 1
    span = otel.call_span()
    assert span.attributes["torouter.stream.outcome"] == "closed_early"
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes


# -- content and secrets --------------------------------------------------------------------


async def test_content_is_not_recorded_by_default(kind: str, otel: Otel,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    client = make(kind, Gateway((200, completion("the secret answer"))), otel)
    await chat(client)
    text = everything_exported(otel)
    assert "Say hi to the tracer" not in text
    assert "the secret answer" not in text
    assert "gen_ai.input.messages" not in text


@pytest.mark.parametrize("how", ["argument", "environment"])
async def test_content_is_recorded_when_asked_and_the_key_is_masked_even_there(
        kind: str, otel: Otel, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    options: dict[str, Any] = {}
    if how == "argument":
        options["capture_content"] = True
    else:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client = make(kind, Gateway((200, completion("the answer"))), otel, **options)
    await chat(client, messages=[{"role": "system", "content": "be brief"},
                                 {"role": "user", "content": f"my key is {KEY}"}])
    span = otel.call_span()
    inputs = json.loads(span.attributes["gen_ai.input.messages"])
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "be brief"}]}
    assert inputs[1]["parts"][0]["content"].startswith("my key is sk-")
    outputs = json.loads(span.attributes["gen_ai.output.messages"])
    assert outputs == [{"role": "assistant", "finish_reason": "stop",
                        "parts": [{"type": "text", "content": "the answer"}]}]
    assert KEY not in everything_exported(otel)


async def test_streamed_content_is_recorded_when_asked(kind: str, otel: Otel) -> None:
    client = make(kind, Gateway(STREAM_OK), otel, capture_content=True)
    await drain(client, await chat(client, stream=True))
    outputs = json.loads(otel.call_span().attributes["gen_ai.output.messages"])
    assert outputs == [{"role": "assistant", "finish_reason": "stop",
                        "parts": [{"type": "text", "content": "Hello"}]}]


async def test_the_key_is_in_no_exported_attribute_or_event(kind: str, otel: Otel) -> None:
    """Every path that exports text: success, retry, failure echoing the key, a cut stream."""
    echo = {"error": {"message": f"bad key {KEY}", "type": "upstream_unavailable"}}
    client = make(kind, Gateway((503, echo), (200, completion())), otel, capture_content=True)
    await chat(client)
    client = make(kind, Gateway((401, {"error": {"message": f"{KEY} is not valid",
                                                 "type": "invalid_api_key"}})), otel)
    with pytest.raises(torouter.AuthenticationError):
        await chat(client)
    client = make(kind, Gateway([chunk(KEY)]), otel, capture_content=True)
    with pytest.raises(torouter.StreamInterrupted):
        await drain(client, await chat(client, stream=True))
    text = everything_exported(otel)
    assert len(otel.spans()) == 7
    assert KEY not in text
    assert KEY[8:] not in text  # not even most of it
    assert "sk-" in text  # the masked form is there: the test looked at the right text


async def test_url_full_never_carries_credentials_of_the_base_url(otel: Otel) -> None:
    gateway = Gateway((200, completion()))
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    client = torouter.ToRouter(api_key=KEY, base_url="http://user:hunter2@127.0.0.1:9/v1",
                               http_client=http, tracer_provider=otel.tracer_provider,
                               meter_provider=otel.meter_provider)
    client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    (attempt,) = otel.attempt_spans()
    assert attempt.attributes["url.full"] == "http://127.0.0.1:9/v1/chat/completions"
    assert "hunter2" not in everything_exported(otel)


# -- context propagation ----------------------------------------------------------------------


async def test_each_attempt_sends_a_traceparent_naming_its_attempt_span(
        kind: str, otel: Otel) -> None:
    gateway = Gateway((503, {"error": {"message": "x", "type": "upstream_unavailable"}}),
                      (200, completion()))
    client = make(kind, gateway, otel)
    await chat(client)
    attempts = sorted(otel.attempt_spans(), key=lambda s: s.start_time)
    sent = [r.headers["traceparent"] for r in gateway.requests]
    assert sent == [f"00-{s.context.trace_id:032x}-{s.context.span_id:016x}-"
                    f"{int(s.context.trace_flags):02x}" for s in attempts]


async def test_propagate_context_false_sends_no_traceparent(kind: str, otel: Otel) -> None:
    gateway = Gateway((200, completion()))
    await chat(make(kind, gateway, otel, propagate_context=False))
    assert "traceparent" not in gateway.requests[0].headers
    assert len(otel.spans()) == 2  # spans are still recorded


async def test_without_an_sdk_the_callers_context_still_goes_out(kind: str) -> None:
    """The global provider is the API's no-op: nothing is recorded, but a trace the caller is
    in (e.g. taken from an incoming request) is passed on unchanged."""
    gateway = Gateway((200, completion()))
    client = make(kind, gateway, None)
    await chat(client)
    assert "traceparent" not in gateway.requests[0].headers  # no trace: nothing invented
    parent = trace.SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True,
                               trace_flags=trace.TraceFlags(1))
    token = otel_context.attach(trace.set_span_in_context(trace.NonRecordingSpan(parent)))
    try:
        await chat(client)
    finally:
        otel_context.detach(token)
    assert gateway.requests[1].headers["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-01"


# -- no double spans, no leaks ------------------------------------------------------------------


async def test_an_outer_genai_span_gets_no_second_call_span(kind: str, otel: Otel) -> None:
    client = make(kind, Gateway((200, completion())), otel)
    tracer = otel.tracer_provider.get_tracer("outer-instrumentation")
    with tracer.start_as_current_span("chat gpt-5-mini", kind=SpanKind.CLIENT,
                                      attributes={"gen_ai.operation.name": "chat"}) as outer:
        await chat(client)
    spans = otel.spans()
    assert [s.name for s in spans] == ["POST", "chat gpt-5-mini"]
    attempt = spans[0]
    assert attempt.parent is not None and attempt.parent.span_id == outer.get_span_context().span_id
    assert "gen_ai.client.operation.duration" not in otel.metrics()  # the outer one counts


async def test_a_plain_outer_span_is_the_call_spans_parent(kind: str, otel: Otel) -> None:
    client = make(kind, Gateway((200, completion())), otel)
    with otel.tracer_provider.get_tracer("app").start_as_current_span("handle request") as outer:
        await chat(client)
    (span,) = [s for s in otel.spans() if s.name.startswith("chat")]
    assert span.parent is not None and span.parent.span_id == outer.get_span_context().span_id


def test_generic_httpx_instrumentation_adds_no_span_for_torouters_attempts(otel: Otel) -> None:
    """HTTPXClientInstrumentor is suppressed while torouter sends: one span per attempt, not two
    (the same httpx client used directly is still traced by it)."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    gateway = Gateway((200, completion()))
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=otel.tracer_provider)
    client = torouter.ToRouter(api_key=KEY, base_url=BASE, http_client=http,
                               tracer_provider=otel.tracer_provider,
                               meter_provider=otel.meter_provider)
    client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert sorted(s.name for s in otel.spans()) == ["POST", "chat gpt-5-mini"]
    http.get(BASE + "/direct")  # the instrumentation works: a direct request gets its span
    assert len(otel.spans()) == 3


async def test_a_cancelled_call_ends_its_spans_and_leaves_the_context_clean(otel: Otel) -> None:
    started = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)  # cancelled long before: the test never waits for this
        raise AssertionError("unreachable")

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow))
    client = torouter.AsyncToRouter(api_key=KEY, base_url=BASE, http_client=http,
                                    tracer_provider=otel.tracer_provider,
                                    meter_provider=otel.meter_provider)
    before = trace.get_current_span()

    async def caller() -> None:
        try:
            await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        finally:  # the attempt's context was detached in this very task
            assert trace.get_current_span() is before

    task = asyncio.ensure_future(caller())
    await asyncio.wait_for(started.wait(), 30)  # generous watchdog against a hang only
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = otel.call_span()
    assert span.attributes["error.type"] == "CancelledError"
    assert span.status.status_code is StatusCode.ERROR
    (attempt,) = otel.attempt_spans()
    assert attempt.attributes["error.type"] == "CancelledError"


# -- switching off, and what it costs ------------------------------------------------------------


def _telemetry_layers(client: Any) -> list[Any]:
    """The client's telemetry layers (its seam may still hold others: the circuit breaker)."""
    layers = () if client._seam is None else client._seam.layers
    return [x for x in layers if type(x).__module__.endswith("_telemetry")]


async def test_telemetry_false_emits_nothing_and_has_no_seam(kind: str, otel: Otel) -> None:
    gateway = Gateway((200, completion()))
    client = make(kind, gateway, otel, telemetry=False)
    assert not _telemetry_layers(client)
    await chat(client)
    assert otel.spans() == []
    assert "traceparent" not in gateway.requests[0].headers


async def test_with_options_keeps_the_telemetry_settings_and_can_change_them(
        kind: str, otel: Otel) -> None:
    gateway = Gateway((200, completion()))
    client = make(kind, gateway, otel)
    await chat(client.with_options(timeout=5))
    assert len(otel.spans()) == 2
    assert client.with_options(timeout=5)._seam.layers == client._seam.layers  # shared layer
    assert not _telemetry_layers(client.with_options(telemetry=False))
    await chat(client.with_options(capture_content=True))
    assert "gen_ai.input.messages" in otel.spans()[-1].attributes


def test_telemetry_arguments_are_checked() -> None:
    with pytest.raises(torouter.InvalidArgumentError, match="telemetry"):
        torouter.ToRouter(api_key=KEY, telemetry="yes")  # type: ignore[arg-type]
    with pytest.raises(torouter.InvalidArgumentError, match="propagate_context"):
        torouter.ToRouter(api_key=KEY, propagate_context=None)  # type: ignore[arg-type]
    with pytest.raises(torouter.InvalidArgumentError, match="provider"):
        torouter.ToRouter(api_key=KEY, tracer_provider=object())


@pytest.fixture(autouse=True)
def _no_leaked_context() -> Iterator[None]:
    """Every test leaves no span current behind it (an attempt context left attached would)."""
    yield
    assert not trace.get_current_span().get_span_context().is_valid


def test_the_console_example_of_the_docs_runs_and_prints_what_the_docs_show() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "telemetry.md").read_text("utf-8")
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    pasted = doc.split("```json\n", 1)[1].split("```", 1)[0]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    decoder = json.JSONDecoder()

    def spans(text: str) -> list[dict[str, Any]]:
        out, i = [], 0
        while i < len(text.rstrip()):
            span, i = decoder.raw_decode(text, i)
            out.append(span)
            while i < len(text) and text[i].isspace():
                i += 1
        return out

    def shape(span: dict[str, Any]) -> tuple[Any, ...]:
        """What does not change from run to run (ids, times, ports and sleeps do)."""
        varying = {"server.port", "url.full", "gen_ai.response.id", "torouter.request_id"}
        return (span["name"], span["kind"], span["status"]["status_code"],
                sorted(k for k in span["attributes"]),
                {k: v for k, v in span["attributes"].items() if k not in varying},
                [e["name"] for e in span["events"]])

    assert [shape(s) for s in spans(run.stdout)] == [shape(s) for s in spans(pasted)]


class _Pause(Layer):
    """A coordination layer that asks the first attempt of every call to wait 0.25 s."""

    __slots__ = ()

    def before_attempt(self, call: Any) -> float | None:
        return 0.25 if not call.attempts else None


async def test_an_attempt_a_layer_held_back_has_a_delayed_event_and_others_have_none(
        kind: str, otel: Otel) -> None:
    gateway = Gateway((200, completion()), (200, completion()))
    client = make(kind, gateway, otel)
    await chat(client)  # no layer asked for a wait: no event, however long the attempt took
    assert [e.name for e in otel.call_span().events] == []
    client._seam = Seam((*client._seam.layers, _Pause()))
    await chat(client)
    delayed = [e for e in otel.spans()[-1].events if e.name == "torouter.attempt.delayed"]
    assert len(delayed) == 1 and delayed[0].attributes["torouter.wait.seconds"] >= 0
