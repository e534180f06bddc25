"""Pins for telemetry behaviours a mutation run of ``torouter/_telemetry.py`` showed unpinned:
the GenAI bucket boundaries, the dormant layer of a client built before the application loaded
OpenTelemetry, when telemetry is asked for explicitly, and the bound on shared layers.

The dormant layer is driven directly through the seam's hooks (``Layer``), with
``_otel_loaded`` and the real layer's factory replaced, since in this process OpenTelemetry is
loaded already; the end-to-end case in a fresh interpreter is
``test_lazy_imports.py::test_installed_opentelemetry_is_not_imported_until_the_application_loads_it``.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import torouter
from torouter import _telemetry
from torouter._retrying import CallRetryState
from torouter._seam import Layer

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
