"""Pins for ``torouter/_retrying.py`` behaviours a mutation run showed unpinned: the fallback
decision at the deadline's edge, what a fallback leaves on the call, a stream call's end with
raw responses and with an error, and the module's public surface."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

import torouter
from torouter import _retrying
from torouter._base_client import RequestSpec
from torouter._retrying import CallRetryState
from torouter._seam import Layer
from torouter.types import ChatCompletion

MESSAGES = [{"role": "user", "content": "hi"}]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _fallback_call(clock: Clock, deadline: float | None = 5.0) -> CallRetryState:
    spec: RequestSpec[Any] = RequestSpec("POST", "/chat/completions", ChatCompletion,
                                         params={"model": "a", "messages": MESSAGES})
    call = CallRetryState(policy=torouter.RetryPolicy(), budget=None, clock=clock,
                          deadline=deadline, on_retry=None, label="pins", spec=spec,
                          fallbacks=["b", "c"])
    call.begin(httpx.Timeout(10.0))
    call.failed(torouter.UpstreamUnavailable("down"))
    return call


def test_no_fallback_once_the_deadline_is_reached_exactly() -> None:
    clock = Clock()
    call = _fallback_call(clock)
    clock.now = 105.0  # the deadline itself
    assert call.next_spec(torouter.UpstreamUnavailable("down")) is None
    assert call.stop_reason == "the deadline ran out before the next fallback model"
    assert call.fallbacks == ["b", "c"] and call.model == "a"


def test_a_fallback_moves_to_the_next_model_and_clears_the_stop_reason() -> None:
    clock = Clock()
    call = _fallback_call(clock)
    call.stop_reason = "retries for a are used up"
    spec = call.next_spec(torouter.UpstreamUnavailable("down"))
    assert spec is not None and spec.model == "b" and call.model == "b"
    assert call.stop_reason is None  # the reason belongs to model a's last attempt
    assert call.attempts[-1].stop_reason == "retries for a are used up"
    assert call.attempts[-1].next_model == "b"


class Ends(Layer):
    def __init__(self) -> None:
        self.ends: list[tuple[Any, Any]] = []

    def end_call(self, call: Any, error: Any) -> None:
        self.ends.append((error, call.error))


def _client(body: bytes, layer: Layer) -> torouter.ToRouter:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = torouter.ToRouter(api_key="sk-pins-0123456789", base_url="http://gw.test/v1",
                               http_client=httpx.Client(transport=httpx.MockTransport(answer)),
                               max_retries=0)
    from torouter._seam import Seam

    client._seam = Seam([layer])
    return client


CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}


def test_a_raw_stream_call_ends_when_its_stream_ends() -> None:
    layer = Ends()
    done = dict(CHUNK, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    body = f"data: {json.dumps(CHUNK)}\n\ndata: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()
    raw = _client(body, layer).chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, stream=True)
    assert layer.ends == []  # not when create() returned
    assert [c.choices[0].delta.content for c in raw.parse()] == ["hi", None]
    assert layer.ends == [(None, None)]


def test_a_stream_that_fails_ends_its_call_with_the_error_on_the_call() -> None:
    layer = Ends()
    body = f"data: {json.dumps(CHUNK)}\n\n".encode()  # cut: no finish, no [DONE]
    stream = _client(body, layer).chat.completions.create(model="m", messages=MESSAGES,
                                                           stream=True)
    with pytest.raises(torouter.StreamInterrupted) as info:
        list(stream)
    assert layer.ends == [(info.value, info.value)]


def test_the_module_refuses_unknown_names_and_names_its_classes_publicly() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _retrying.no_such_name  # noqa: B018
    code = ("import json\nfrom torouter._retrying import Attempt\n"
            "print(json.dumps([Attempt.__module__]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    assert json.loads(out) == ["torouter"]
