"""Pins for telemetry behaviours mutation runs of ``torouter/_telemetry.py`` showed unpinned:
the GenAI bucket boundaries, the dormant layer of a client built before the application loaded
OpenTelemetry, when telemetry is asked for explicitly, the bound on shared layers; and, end to
end through real clients (the helpers of ``test_telemetry.py``), what a trace and the metrics
show: ports, request attributes, event timestamps and waits, refused attempts, durations,
failures of the SDK or of a later layer, interrupted calls, outer spans, propagation without an
SDK, and captured content.

The dormant layer is driven directly through the seam's hooks (``Layer``), with
``_otel_loaded`` and the real layer's factory replaced, since in this process OpenTelemetry is
loaded already; the end-to-end case in a fresh interpreter is
``test_lazy_imports.py::test_installed_opentelemetry_is_not_imported_until_the_application_loads_it``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
from typing import Any

import httpx
import opentelemetry.context as otel_context
import pytest
import test_telemetry as tt  # its SDK exporter and reader, its fake gateway and clients
from opentelemetry import baggage, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import StatusCode

import torouter
from torouter import _telemetry
from torouter._retrying import CallRetryState
from torouter._seam import Layer, Seam

pytestmark = pytest.mark.anyio

BASE = httpx.URL("http://gw.test/v1")
KEY = "sk-pins-0123456789abcdef"
# The bucket boundaries the GenAI semantic conventions give for these histograms.
GENAI_SECONDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                 40.96, 81.92]
GENAI_TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                16777216, 67108864]
COMPLETION = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-5-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hi"}}],
    "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
}


def _call() -> CallRetryState:
    return CallRetryState(policy=torouter.RetryPolicy(), budget=None, clock=time.monotonic,
                          deadline=10, on_retry=None, label="pins")


def test_the_histograms_use_the_genai_bucket_boundaries() -> None:
    reader = InMemoryMetricReader()
    client = torouter.ToRouter(
        api_key=KEY, base_url=str(BASE), tracer_provider=TracerProvider(),
        meter_provider=MeterProvider(metric_readers=[reader]),
        http_client=httpx.Client(transport=httpx.MockTransport(
            lambda request: httpx.Response(200, json=COMPLETION))))
    client.chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "x"}])
    bounds: dict[str, list[float]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    bounds[metric.name] = list(point.explicit_bounds)
    assert bounds["gen_ai.client.operation.duration"] == GENAI_SECONDS
    assert bounds["gen_ai.client.token.usage"] == GENAI_TOKENS


# -- the dormant layer ------------------------------------------------------------------------


class Recorder(Layer):
    """Stands in for the real telemetry layer: records every hook it is given."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def start_call(self, call: CallRetryState) -> None:
        self.seen.append(("start", call))

    def before_attempt(self, call: CallRetryState) -> float | None:
        self.seen.append(("before", call))
        return 1.5

    def on_send(self, call: CallRetryState) -> None:
        self.seen.append(("send", call))

    def after_attempt(self, call: CallRetryState, error: Any) -> None:
        self.seen.append(("after", call, error))

    def end_call(self, call: CallRetryState, error: Any) -> None:
        self.seen.append(("end", call, error))

    def abandon_call(self, call: CallRetryState, exc: BaseException) -> None:
        self.seen.append(("abandon", call, exc))


ARGS = (BASE, False, None, None, None, True)


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the application 'has loaded OpenTelemetry' (switch ``loaded[0]``)."""
    state = [False]
    monkeypatch.setattr(_telemetry, "_otel_loaded", lambda: state[0])
    return state


def _all_hooks(layer: Layer, call: CallRetryState, exc: BaseException) -> float | None:
    layer.start_call(call)
    wait = layer.before_attempt(call)
    layer.on_send(call)
    layer.after_attempt(call, None)
    layer.end_call(call, None)
    layer.abandon_call(call, exc)
    return wait


def test_opentelemetry_installed_but_not_loaded_gives_a_dormant_layer_that_does_nothing(
        loaded: list[bool]) -> None:
    layer = _telemetry.telemetry_layer(*ARGS)
    assert layer is not None and repr(layer) == "<Telemetry dormant=True>"
    call = _call()
    assert _all_hooks(layer, call, KeyboardInterrupt()) is None
    assert call.notes == {} and call.extra_headers == {}
    assert repr(layer) == "<Telemetry dormant=True>"


def test_the_dormant_layer_wakes_once_at_the_first_call_after_opentelemetry_is_loaded(
        loaded: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _telemetry.telemetry_layer(*ARGS)
    assert layer is not None
    real = Recorder()
    made: list[tuple[Any, ...]] = []

    def factory(*args: Any) -> Layer:
        made.append(args)
        return real

    monkeypatch.setattr(_telemetry, "telemetry_layer", factory)
    before = _call()
    layer.start_call(before)  # not loaded yet: stays dormant for this call
    loaded[0] = True
    layer.on_send(before)  # a call that started dormant is not traced
    assert real.seen == [] and made == []
    call, exc = _call(), KeyboardInterrupt()
    assert _all_hooks(layer, call, exc) == 1.5  # the real layer's answer is the seam's
    assert real.seen == [("start", call), ("before", call), ("send", call), ("after", call, None),
                         ("end", call, None), ("abandon", call, exc)]
    assert made == [ARGS]  # built with the client's settings
    layer.start_call(_call())
    assert made == [ARGS]  # once
    assert repr(layer) == "<Telemetry dormant=False>"


def test_a_dormant_layer_whose_wake_finds_no_telemetry_stays_quiet_and_wakes_once(
        loaded: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _telemetry.telemetry_layer(*ARGS)
    assert layer is not None
    made: list[tuple[Any, ...]] = []
    monkeypatch.setattr(_telemetry, "telemetry_layer", lambda *args: made.append(args))
    loaded[0] = True
    call = _call()
    assert _all_hooks(layer, call, KeyboardInterrupt()) is None
    layer.start_call(_call())
    assert len(made) == 1 and call.notes == {}


def test_two_threads_waking_the_dormant_layer_build_one_real_layer(
        loaded: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    layer = _telemetry.telemetry_layer(*ARGS)
    assert layer is not None
    inside, release = threading.Event(), threading.Event()
    made: list[Layer] = []

    def slow_factory(*args: Any) -> Layer:
        made.append(Recorder())
        if len(made) == 1:
            inside.set()
            release.wait(5)
        return made[-1]

    monkeypatch.setattr(_telemetry, "telemetry_layer", slow_factory)
    loaded[0] = True
    first = threading.Thread(target=layer.start_call, args=(_call(),))
    first.start()
    assert inside.wait(5)
    second = threading.Thread(target=layer.start_call, args=(_call(),))
    second.start()
    second.join(0.2)  # with the lock it waits for the first (a hang guard, not a timing test)
    release.set()
    first.join(5)
    second.join(5)
    assert len(made) == 1


def test_without_the_package_there_is_no_layer(loaded: list[bool],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "opentelemetry" else
                        real_find_spec(name, *a))
    assert _telemetry.telemetry_layer(*ARGS) is None


@pytest.mark.parametrize("asked", ["telemetry=True", "tracer_provider", "meter_provider"])
def test_telemetry_asked_for_explicitly_is_never_dormant(asked: str, loaded: list[bool]) -> None:
    args = [BASE, asked == "telemetry=True",
            TracerProvider() if asked == "tracer_provider" else None,
            MeterProvider() if asked == "meter_provider" else None, None, True]
    layer = _telemetry.telemetry_layer(*args)
    assert isinstance(layer, _telemetry.Telemetry)


@pytest.mark.parametrize("asked", ["telemetry=True", "tracer_provider", "meter_provider"])
def test_telemetry_asked_for_without_the_api_is_an_error(
        asked: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)  # `import` now fails
    args = [BASE, asked == "telemetry=True",
            TracerProvider() if asked == "tracer_provider" else None,
            MeterProvider() if asked == "meter_provider" else None, None, True]
    with pytest.raises(torouter.InvalidArgumentError, match=r"pip install 'torouter\[otel\]'"):
        _telemetry.telemetry_layer(*args)


def test_an_unimportable_api_without_an_explicit_ask_means_no_layer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    assert "opentelemetry.metrics" in sys.modules  # loaded: not the dormant path
    assert _telemetry.telemetry_layer(*ARGS) is None


def test_the_shared_layers_are_bounded_to_32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_telemetry, "_cache", {})
    tracer, meter = TracerProvider(), MeterProvider()

    def layer(i: int) -> Any:
        return _telemetry.telemetry_layer(httpx.URL(f"http://h{i}.test/v1"), False, tracer,
                                          meter, False, True)

    first = layer(0)
    for i in range(1, 32):
        layer(i)
    assert len(_telemetry._cache) == 32
    assert layer(0) is first  # still shared
    layer(32)  # the 33rd configuration: the table starts again
    assert len(_telemetry._cache) == 1
    assert layer(0) is not first


# -- what a trace and the metrics show, end to end ------------------------------------------------
#
# Through real clients, read back from the SDK's in-memory exporter and reader (the helpers of
# test_telemetry.py).  Durations are read against a clock the test moves (``clock``): the
# telemetry layer's ``time`` is replaced, so a duration is exactly the time the test let pass.

class Interrupted(BaseException):
    """Stands in for a KeyboardInterrupt or a cancellation arriving mid-send."""


class FakeTime:
    """The telemetry layer's ``time``: ``perf_counter`` is a clock the test moves; ``time_ns``
    is the real one, and every value the layer took is kept in ``stamps``."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.stamps: list[int] = []

    def perf_counter(self) -> float:
        return self.now

    def time_ns(self) -> int:
        value = time.time_ns()
        self.stamps.append(value)
        return value


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(_telemetry, "time", fake)
    return fake


@pytest.fixture
def otel() -> tt.Otel:
    return tt.Otel()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


DOWN = (503, {"error": {"message": "no upstream", "type": "upstream_unavailable"}})


def _events(span: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, dict(e.attributes or {})) for e in span.events]


def _slow_sleep(kind: str, clock: FakeTime) -> Any:
    """A client ``_sleep`` that lets the test's clock pass instead of waiting."""
    if kind == "sync":
        def sleep(seconds: float) -> None:
            clock.now += seconds
        return sleep

    async def asleep(seconds: float) -> None:
        clock.now += seconds
    return asleep


async def test_the_duration_is_the_time_from_create_to_the_answer(
        kind: str, otel: tt.Otel, clock: FakeTime) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        clock.now += 2.5
        return httpx.Response(200, json=tt.completion())

    client = tt.make(kind, answer, otel)
    await tt.chat(client)
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.count == 1 and duration.sum == pytest.approx(2.5)


@pytest.mark.parametrize(("base", "port"), [("https://gw.test/v1", 443), ("http://gw.test/v1", 80),
                                            ("https://gw.test:8443/v1", 8443)])
async def test_server_port_defaults_to_the_schemes_port(otel: tt.Otel, base: str,
                                                        port: int) -> None:
    http = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, json=tt.completion())))
    client = torouter.ToRouter(api_key=tt.KEY, base_url=base, http_client=http,
                               tracer_provider=otel.tracer_provider,
                               meter_provider=otel.meter_provider)
    await tt.chat(client)
    (attempt,) = otel.attempt_spans()
    assert otel.call_span().attributes["server.port"] == port
    assert attempt.attributes["server.port"] == port
    assert attempt.attributes["url.full"] == base + "/chat/completions"
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["server.port"] == port


async def test_n_and_a_single_stop_string_are_request_attributes(kind: str,
                                                                 otel: tt.Otel) -> None:
    client = tt.make(kind, tt.Gateway((200, tt.completion())), otel)
    await tt.chat(client, n=2, stop="END")
    await tt.chat(client, n=1)
    first, second = sorted((s for s in otel.spans() if s.parent is None),
                           key=lambda s: s.start_time)
    assert first.attributes["gen_ai.request.choice.count"] == 2
    assert first.attributes["gen_ai.request.stop_sequences"] == ("END",)
    assert "gen_ai.request.choice.count" not in second.attributes  # n=1 is the default
    assert "gen_ai.request.stop_sequences" not in second.attributes


async def test_the_backoff_event_is_timestamped_when_the_failed_attempt_ended(
        kind: str, otel: tt.Otel, clock: FakeTime) -> None:
    client = tt.make(kind, tt.Gateway(DOWN, (200, tt.completion())), otel)
    await tt.chat(client)
    first, second = sorted(otel.attempt_spans(), key=lambda s: s.start_time)
    (backoff,) = otel.call_span().events
    assert backoff.name == "torouter.retry.backoff"
    assert backoff.timestamp == clock.stamps[0]  # the first attempt's end, as the layer saw it
    assert first.end_time <= backoff.timestamp <= second.start_time


class _PauseTheRetry(Layer):
    """A coordination layer that asks the second attempt of every call to wait 0.25 s."""

    __slots__ = ()

    def before_attempt(self, call: Any) -> float | None:
        return 0.25 if len(call.attempts) == 1 else None


async def test_the_delayed_event_gives_the_time_the_attempt_was_held_back(
        kind: str, otel: tt.Otel, clock: FakeTime) -> None:
    gateway = tt.Gateway(DOWN, (200, tt.completion()))

    def answer(request: httpx.Request) -> httpx.Response:
        clock.now += 1.0  # time passes in every attempt: it is not part of the wait
        return gateway(request)

    client = tt.make(kind, answer, otel)
    client._sleep = _slow_sleep(kind, clock)  # the backoff and the wait let the clock pass
    client._seam = Seam((*client._seam.layers, _PauseTheRetry()))
    await tt.chat(client)
    events = _events(otel.call_span())
    assert [name for name, _ in events] == ["torouter.retry.backoff", "torouter.attempt.delayed"]
    assert events[1][1] == {"torouter.wait.seconds": pytest.approx(0.25, abs=1e-9)}


class _RefuseTheFirst(Layer):
    """A layer (a breaker, a coordinator) that refuses each call's first attempt."""

    __slots__ = ()

    def before_attempt(self, call: Any) -> float | None:
        if not call.attempts:
            raise torouter.APIConnectionError("refused by the test's layer")
        return None


async def test_a_refused_attempt_is_one_event_and_its_retry_an_attempt_span(
        kind: str, otel: tt.Otel) -> None:
    gateway = tt.Gateway((200, tt.completion()))
    client = tt.make(kind, gateway, otel)
    client._seam = Seam((*client._seam.layers, _RefuseTheFirst()))
    await tt.chat(client)
    assert len(gateway.requests) == 1
    span = otel.call_span()
    (attempt,) = otel.attempt_spans()
    events = _events(span)
    assert [name for name, _ in events] == ["torouter.attempt.refused", "torouter.retry.backoff"]
    assert events[0][1] == {"error.type": "APIConnectionError", "torouter.attempt": 1,
                            "gen_ai.request.model": "gpt-5-mini"}
    assert events[1][1]["torouter.attempt"] == 1
    # No attempt ended before the backoff: it is stamped when it was reported, in the call.
    backoff = span.events[1]
    assert span.start_time <= backoff.timestamp <= attempt.start_time
    assert attempt.attributes["http.request.resend_count"] == 1
    assert span.attributes["torouter.retries_taken"] == 1


class _Open(Layer):
    """An open circuit breaker: every attempt refused, never retried."""

    __slots__ = ()

    def before_attempt(self, call: Any) -> float | None:
        raise torouter.CircuitOpen("open", model=call.model)


async def test_a_call_ended_by_a_refusal_shows_the_refusal_and_no_attempt_span(
        kind: str, otel: tt.Otel) -> None:
    gateway = tt.Gateway((200, tt.completion()))
    client = tt.make(kind, gateway, otel)
    client._seam = Seam((*client._seam.layers, _Open()))
    with pytest.raises(torouter.CircuitOpen):
        await tt.chat(client)
    assert gateway.requests == [] and otel.attempt_spans() == []
    span = otel.call_span()
    assert [name for name, _ in _events(span)] == ["torouter.attempt.refused", "exception"]
    assert _events(span)[0][1] == {"error.type": "CircuitOpen", "torouter.attempt": 1,
                                   "gen_ai.request.model": "gpt-5-mini"}
    assert span.attributes["error.type"] == "CircuitOpen"


async def test_a_call_whose_span_cannot_be_completed_still_returns_and_ends_the_span(
        kind: str, otel: tt.Otel, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Telemetry never breaks a call: an SDK that raises while the call span is completed."""
    original = SdkSpan.set_attributes

    def failing(self: Any, attributes: Any) -> None:
        if "torouter.retries_taken" in attributes:
            raise RuntimeError("a broken span processor")
        original(self, attributes)

    monkeypatch.setattr(SdkSpan, "set_attributes", failing)
    caplog.set_level(logging.DEBUG, logger="torouter")
    client = tt.make(kind, tt.Gateway((200, tt.completion())), otel)
    reply = await tt.chat(client)
    assert reply.choices[0].message.content == "hi there"
    span = otel.call_span()  # ended (exported) all the same
    assert "torouter.retries_taken" not in span.attributes
    (record,) = [r for r in caplog.records
                 if r.getMessage() == "torouter telemetry: could not complete the call span"]
    assert record.levelno == logging.DEBUG
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


async def test_a_call_that_never_got_a_response_still_has_its_attributes(
        kind: str, otel: tt.Otel) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    client = tt.make(kind, refuse, otel, max_retries=0)
    with pytest.raises(torouter.APIConnectionError):
        await tt.chat(client)
    span = otel.call_span()
    assert span.attributes["error.type"] == "APIConnectionError"
    assert span.attributes["torouter.retries_taken"] == 0
    assert "torouter.request_id" not in span.attributes
    (attempt,) = otel.attempt_spans()
    assert "http.response.status_code" not in attempt.attributes
    assert attempt.attributes["error.type"] == "APIConnectionError"


async def test_an_error_event_mid_stream_is_the_outcome_failed(kind: str, otel: tt.Otel) -> None:
    error = b"data: " + json.dumps({"error": {"type": "upstream_unavailable",
                                              "message": "gone"}}).encode() + b"\n\n"
    client = tt.make(kind, tt.Gateway([tt.chunk("Hel"), error]), otel)
    with pytest.raises(torouter.UpstreamUnavailable):
        await tt.drain(client, await tt.chat(client, stream=True))
    span = otel.call_span()
    assert span.attributes["torouter.stream.outcome"] == "failed"
    assert span.attributes["error.type"] == "UpstreamUnavailable"
    assert span.status.status_code is StatusCode.ERROR


async def test_listing_models_is_a_get_attempt(kind: str, otel: tt.Otel) -> None:
    body = {"object": "list", "data": []}
    client = tt.make(kind, tt.Gateway((200, body)), otel)
    await tt.run(client, client.models.list)
    (attempt,) = otel.attempt_spans()
    assert attempt.name == "GET"
    assert attempt.attributes["http.request.method"] == "GET"
    assert attempt.attributes["url.full"] == tt.BASE + "/models"
    assert otel.call_span().attributes["torouter.retries_taken"] == 0


async def test_a_raw_response_call_has_the_response_attributes(kind: str, otel: tt.Otel) -> None:
    client = tt.make(kind, tt.Gateway((200, tt.completion())), otel)
    raw = await tt.run(client, client.chat.completions.with_raw_response.create,
                       model="gpt-5-mini", messages=tt.MESSAGES)
    assert raw.parse().id == "chatcmpl-1"
    attributes = otel.call_span().attributes
    assert attributes["gen_ai.response.id"] == "chatcmpl-1"
    assert attributes["gen_ai.response.model"] == "gpt-5-mini-2026"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 11
    tokens = otel.metrics()["gen_ai.client.token.usage"]
    assert sorted(p.attributes["gen_ai.token.type"] for p in tokens) == ["input", "output"]


async def test_a_call_interrupted_mid_send_ends_its_spans_and_records_its_duration(
        kind: str, otel: tt.Otel, clock: FakeTime) -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        clock.now += 4.0
        raise Interrupted

    client = tt.make(kind, interrupted, otel)
    with pytest.raises(Interrupted):
        await tt.chat(client)
    span = otel.call_span()
    assert span.attributes["error.type"] == "Interrupted"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Interrupted: the call was abandoned"
    (attempt,) = otel.attempt_spans()
    assert attempt.attributes["error.type"] == "Interrupted"
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.end_time <= span.end_time
    (duration,) = otel.metrics()["gen_ai.client.operation.duration"]
    assert dict(duration.attributes) == {
        "gen_ai.provider.name": "torouter", "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-5-mini", "server.address": "127.0.0.1", "server.port": 9,
        "error.type": "Interrupted"}
    assert duration.sum == pytest.approx(4.0)


def test_an_attempt_context_that_cannot_be_detached_still_ends_the_attempt(
        otel: tt.Otel, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        raise Interrupted

    tokens: list[Any] = []

    def failing_detach(token: Any) -> None:
        tokens.append(token)
        raise RuntimeError("detached in another context")

    client = tt.make("sync", interrupted, otel)
    caplog.set_level(logging.DEBUG, logger="torouter")
    real_detach = otel_context.detach
    monkeypatch.setattr(otel_context, "detach", failing_detach)
    try:
        with pytest.raises(Interrupted):
            client.chat.completions.create(model="gpt-5-mini", messages=tt.MESSAGES)
    finally:
        monkeypatch.setattr(otel_context, "detach", real_detach)
        for token in tokens:
            real_detach(token)
    assert len(tokens) == 1
    (attempt,) = otel.attempt_spans()
    assert attempt.attributes["error.type"] == "Interrupted"
    assert attempt.status.status_code is StatusCode.ERROR
    assert otel.call_span().attributes["error.type"] == "Interrupted"
    (record,) = [r for r in caplog.records
                 if r.getMessage() == "torouter telemetry: could not detach the attempt context"]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def _outer_genai(otel: tt.Otel) -> Any:
    return otel.tracer_provider.get_tracer("outer").start_as_current_span(
        "chat gpt-5-mini", attributes={"gen_ai.operation.name": "chat"})


async def test_under_an_outer_genai_span_a_retried_call_has_its_attempt_spans_only(
        kind: str, otel: tt.Otel) -> None:
    client = tt.make(kind, tt.Gateway(DOWN, (200, tt.completion())), otel)
    client._seam = Seam((*client._seam.layers, _PauseTheRetry()))
    with _outer_genai(otel) as outer:
        reply = await tt.chat(client)
    assert reply.retries_taken == 1
    spans = otel.spans()
    assert [s.name for s in spans] == ["POST", "POST", "chat gpt-5-mini"]
    outer_id = outer.get_span_context().span_id
    assert all(s.parent is not None and s.parent.span_id == outer_id for s in spans[:2])
    assert spans[1].attributes["http.request.resend_count"] == 1
    assert spans[2].events == ()  # torouter adds nothing to a span that is not its own
    assert "gen_ai.client.operation.duration" not in otel.metrics()


async def test_under_an_outer_genai_span_an_interrupted_call_ends_its_attempt(
        kind: str, otel: tt.Otel) -> None:
    def interrupted(request: httpx.Request) -> httpx.Response:
        raise Interrupted

    client = tt.make(kind, interrupted, otel)
    with pytest.raises(Interrupted), _outer_genai(otel):
        await tt.chat(client)
    attempt, outer = otel.spans()
    assert attempt.attributes["error.type"] == "Interrupted"
    assert "error.type" not in outer.attributes
    assert "gen_ai.client.operation.duration" not in otel.metrics()


async def test_an_ended_genai_span_still_current_does_not_stand_in_for_the_call_span(
        kind: str, otel: tt.Otel) -> None:
    client = tt.make(kind, tt.Gateway((200, tt.completion())), otel)
    outer = otel.tracer_provider.get_tracer("outer").start_span(
        "chat gpt-5-mini", attributes={"gen_ai.operation.name": "chat"})
    outer.end()
    with trace.use_span(outer, end_on_exit=False):
        await tt.chat(client)
    mine = [s for s in otel.spans() if s.instrumentation_scope.name == "torouter"]
    assert sorted(s.name for s in mine) == ["POST", "chat gpt-5-mini"]
    assert len(otel.metrics()["gen_ai.client.operation.duration"]) == 1


def test_a_call_running_when_the_dormant_layer_wakes_is_not_traced(
        otel: tt.Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Call A starts dormant; while it is in flight the application loads OpenTelemetry and call
    B wakes the layer.  B is traced; A's remaining hooks (a retry, its end) find no state."""
    state = [False]
    monkeypatch.setattr(_telemetry, "_otel_loaded", lambda: state[0])
    headers: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers)
        if len(headers) == 1:  # call A's first attempt: B runs meanwhile, then A is retried
            state[0] = True
            client.chat.completions.create(model="gpt-5-b", messages=tt.MESSAGES)
            return httpx.Response(DOWN[0], json=DOWN[1])
        return httpx.Response(200, json=tt.completion())

    client = tt.make("sync", answer, None)
    (layer,) = [x for x in client._seam.layers if isinstance(x, _telemetry._Dormant)]
    real_factory = _telemetry.telemetry_layer
    monkeypatch.setattr(_telemetry, "telemetry_layer", lambda *args: real_factory(
        httpx.URL(tt.BASE), False, otel.tracer_provider, otel.meter_provider, None, True))
    reply = client.chat.completions.create(model="gpt-5-a", messages=tt.MESSAGES)
    assert reply.retries_taken == 1
    assert isinstance(layer.real, _telemetry.Telemetry)
    assert sorted(s.name for s in otel.spans()) == ["POST", "chat gpt-5-b"]
    assert ["traceparent" in h for h in headers] == [False, True, False]


def test_a_call_interrupted_after_the_dormant_layer_woke_is_not_traced(
        otel: tt.Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    state = [False]
    monkeypatch.setattr(_telemetry, "_otel_loaded", lambda: state[0])

    def answer(request: httpx.Request) -> httpx.Response:
        if not state[0]:
            state[0] = True
            client.chat.completions.create(model="gpt-5-b", messages=tt.MESSAGES)
            raise Interrupted
        return httpx.Response(200, json=tt.completion())

    client = tt.make("sync", answer, None)
    real_factory = _telemetry.telemetry_layer
    monkeypatch.setattr(_telemetry, "telemetry_layer", lambda *args: real_factory(
        httpx.URL(tt.BASE), False, otel.tracer_provider, otel.meter_provider, None, True))
    with pytest.raises(Interrupted):
        client.chat.completions.create(model="gpt-5-a", messages=tt.MESSAGES)
    assert sorted(s.name for s in otel.spans()) == ["POST", "chat gpt-5-b"]


def _caller_context(**items: str) -> Any:
    """A context the caller is in: a remote parent span and, optionally, baggage."""
    parent = trace.SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True,
                               trace_flags=trace.TraceFlags(1))
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    for key, value in items.items():
        ctx = baggage.set_baggage(key, value, ctx)
    return ctx


async def test_without_an_sdk_propagate_context_false_passes_on_nothing(kind: str) -> None:
    gateway = tt.Gateway((200, tt.completion()))
    client = tt.make(kind, gateway, None, propagate_context=False)
    token = otel_context.attach(_caller_context(tenant="acme"))
    try:
        await tt.chat(client)
    finally:
        otel_context.detach(token)
    assert "traceparent" not in gateway.requests[0].headers
    assert "baggage" not in gateway.requests[0].headers


async def test_without_an_sdk_or_a_valid_trace_nothing_is_passed_on(kind: str) -> None:
    """A span with an invalid context (not a trace) is current, baggage too: the call sends
    neither, as with no span at all."""
    gateway = tt.Gateway((200, tt.completion()))
    client = tt.make(kind, gateway, None)
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))
    token = otel_context.attach(baggage.set_baggage("tenant", "acme", ctx))
    try:
        await tt.chat(client)
    finally:
        otel_context.detach(token)
    assert "traceparent" not in gateway.requests[0].headers
    assert "baggage" not in gateway.requests[0].headers
    token = otel_context.attach(_caller_context(tenant="acme"))  # a valid trace: both go out
    try:
        await tt.chat(client)
    finally:
        otel_context.detach(token)
    assert gateway.requests[1].headers["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-01"
    assert gateway.requests[1].headers["baggage"] == "tenant=acme"


def test_when_torouter_records_nothing_a_generic_httpx_instrumentation_still_traces(
        otel: tt.Otel) -> None:
    """No SDK for torouter (the global no-op providers), httpx instrumented with a provider of
    its own: torouter does not suppress it, so the request still has its httpx span."""
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    gateway = tt.Gateway((200, tt.completion()))
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    HTTPXClientInstrumentor.instrument_client(http, tracer_provider=otel.tracer_provider)
    client = torouter.ToRouter(api_key=tt.KEY, base_url=tt.BASE, http_client=http)
    client.chat.completions.create(model="gpt-5-mini", messages=tt.MESSAGES)
    (span,) = otel.spans()
    assert span.instrumentation_scope.name.startswith("opentelemetry.instrumentation.httpx")


async def test_a_retried_call_ends_every_span_once(kind: str, otel: tt.Otel,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """The SDK warns about a span ended twice or changed after its end: no such warning."""
    caplog.set_level(logging.WARNING)
    client = tt.make(kind, tt.Gateway(DOWN, (200, tt.completion())), otel)
    await tt.chat(client)
    assert len(otel.spans()) == 3
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []


# -- content capture ---------------------------------------------------------------------------


async def test_captured_input_keeps_each_messages_parts(kind: str, otel: tt.Otel) -> None:
    client = tt.make(kind, tt.Gateway((200, tt.completion())), otel, capture_content=True)
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:x"}},
                                     {"text": "no type"}, "a bare string part"]},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"content": "no role"},
        "not a message",
    ]
    await tt.chat(client, messages=messages)
    captured = json.loads(otel.call_span().attributes["gen_ai.input.messages"])
    assert captured == [
        {"role": "user", "parts": [{"type": "text", "content": "what is this?"},
                                   {"type": "image_url"}, {"type": "?"}, {"type": "?"}]},
        {"role": "assistant", "parts": []},
        {"role": "user", "parts": [{"type": "text", "content": "no role"}]},
    ]


async def test_captured_output_of_a_tool_call_has_no_text_part(kind: str, otel: tt.Otel) -> None:
    body = tt.completion()
    body["choices"][0].update(finish_reason="tool_calls",
                              message={"role": "assistant", "content": None})
    client = tt.make(kind, tt.Gateway((200, body)), otel, capture_content=True)
    await tt.chat(client)
    captured = json.loads(otel.call_span().attributes["gen_ai.output.messages"])
    assert captured == [{"role": "assistant", "parts": [], "finish_reason": "tool_calls"}]


async def test_captured_text_is_kept_as_written_not_escaped(kind: str, otel: tt.Otel) -> None:
    client = tt.make(kind, tt.Gateway((200, tt.completion("déjà vu ✓"))), otel,
                     capture_content=True)
    await tt.chat(client, messages=[{"role": "user", "content": "naïve café"}])
    attributes = otel.call_span().attributes
    assert "naïve café" in attributes["gen_ai.input.messages"]
    assert "déjà vu ✓" in attributes["gen_ai.output.messages"]


async def test_a_reply_message_passed_back_is_in_the_captured_input(kind: str,
                                                                   otel: tt.Otel) -> None:
    """The usual way to continue a conversation: the reply's message object, as it came."""
    client = tt.make(kind, tt.Gateway((200, tt.completion("it is a cat")),
                                      (200, tt.completion("yes"))), otel, capture_content=True)
    reply = await tt.chat(client, messages=[{"role": "user", "content": "what is this?"}])
    await tt.chat(client, messages=[{"role": "user", "content": "what is this?"},
                                    reply.choices[0].message,
                                    {"role": "user", "content": "sure?"}])
    span = max((s for s in otel.spans() if s.parent is None), key=lambda s: s.start_time)
    captured = json.loads(span.attributes["gen_ai.input.messages"])
    assert captured == [
        {"role": "user", "parts": [{"type": "text", "content": "what is this?"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "it is a cat"}]},
        {"role": "user", "parts": [{"type": "text", "content": "sure?"}]},
    ]


class _FailTheSend(Layer):
    """A layer after telemetry whose ``on_send`` fails: the attempt is never sent."""

    __slots__ = ()

    def on_send(self, call: Any) -> None:
        raise torouter.APIConnectionError("the send was refused late")


async def test_an_attempt_a_later_layer_failed_to_send_is_ended_with_the_call(
        kind: str, otel: tt.Otel) -> None:
    gateway = tt.Gateway((200, tt.completion()))
    client = tt.make(kind, gateway, otel, max_retries=0)
    client._seam = Seam((*client._seam.layers, _FailTheSend()))
    with pytest.raises(torouter.APIConnectionError):
        await tt.chat(client)
    assert gateway.requests == []
    (attempt,) = otel.attempt_spans()  # ended (exported), not left open
    assert otel.call_span().attributes["error.type"] == "APIConnectionError"
    assert attempt.end_time <= otel.call_span().end_time
    assert not trace.get_current_span().get_span_context().is_valid  # its context detached
