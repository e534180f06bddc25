"""The seam around calls and attempts (``torouter/_seam.py``): the points every layer sees, in
order, for the sync and the async client alike; refusals send nothing; waits are slept by the
client and bounded by the deadline; headers a layer adds reach the wire."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import torouter
from torouter._seam import Layer, Seam

pytestmark = pytest.mark.anyio

KEY = "sk-seam-test-0123456789abcdef"
OK = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-5-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "hi"}}],
}
MESSAGES = [{"role": "user", "content": "hi"}]


class Refused(torouter.ToRouterError):
    """A layer's refusal (never retried: ToRouterError's default rule)."""


class Recorder(Layer):
    """Records every point of the seam it sees; can be told to wait, refuse or add a header."""

    __slots__ = ("events", "header", "refuse", "wait")

    def __init__(self, *, wait: float = 0.0, refuse: bool = False,
                 header: str | None = None) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.wait = wait
        self.refuse = refuse
        self.header = header

    def start_call(self, call: Any) -> None:
        call.notes[self] = "mine"
        self.events.append(("start", call.spec.operation, call.model))

    def before_attempt(self, call: Any) -> float | None:
        self.events.append(("before", len(call.attempts) + 1))
        if self.refuse:
            raise Refused("refused by the test layer")
        return self.wait

    def on_send(self, call: Any) -> None:
        self.events.append(("send",))
        if self.header:
            call.extra_headers["x-seam"] = self.header

    def after_attempt(self, call: Any, error: torouter.ToRouterError | None) -> None:
        self.events.append(("after", type(error).__name__ if error else None,
                            call.notes[self]))

    def end_call(self, call: Any, error: torouter.ToRouterError | None) -> None:
        self.events.append(("end", type(error).__name__ if error else None))


class Handler:
    """An httpx transport handler answering from a script of (status, body) pairs."""

    def __init__(self, *answers: tuple[int, dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.pop(0)
        return httpx.Response(status, json=body, headers={"x-request-id": f"r{len(self.requests)}"})


def make(kind: str, handler: Handler, *layers: Layer, **options: Any) -> Any:
    base = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter

    class Client(base):  # type: ignore[misc, valid-type]
        def _layers(self) -> tuple[Layer | None, ...]:
            return layers

    transport = httpx.MockTransport(handler)
    http = httpx.Client(transport=transport) if kind == "sync" else \
        httpx.AsyncClient(transport=transport)
    client = Client(api_key=KEY, base_url="http://127.0.0.1:9/v1", http_client=http, **options)
    sleeps: list[float] = []
    if kind == "sync":
        client._sleep = sleeps.append
    else:
        async def sleep(seconds: float) -> None:
            sleeps.append(seconds)
        client._sleep = sleep
    client.test_sleeps = sleeps
    return client


async def call(client: Any, **params: Any) -> Any:
    params = {"model": "gpt-5-mini", "messages": MESSAGES, **params}
    result = client.chat.completions.create(**params)
    if isinstance(client, torouter.AsyncToRouter):
        result = await result
    return result


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_client_without_layers_has_no_seam() -> None:
    # telemetry=False: with opentelemetry installed, telemetry is a layer (tests/test_telemetry.py)
    assert torouter.ToRouter(api_key=KEY, telemetry=False, circuit_breaker=None)._seam is None
    assert torouter.AsyncToRouter(api_key=KEY, telemetry=False, circuit_breaker=None)._seam is None
    # Without telemetry the default client has one layer: its per-model circuit breaker.
    seam = torouter.ToRouter(api_key=KEY, telemetry=False)._seam
    assert [type(x).__name__ for x in seam.layers] == ["CircuitBreaker"]


async def test_a_success_passes_every_point_once_in_order(kind: str) -> None:
    rec = Recorder()
    reply = await call(make(kind, Handler((200, OK)), rec))
    assert reply.choices[0].message.content == "hi"
    assert rec.events == [
        ("start", "chat", "gpt-5-mini"), ("before", 1), ("send",), ("after", None, "mine"),
        ("end", None),
    ]


async def test_a_retried_failure_is_seen_per_attempt(kind: str) -> None:
    handler = Handler((503, {"error": {"message": "down", "type": "upstream_unavailable"}}),
                      (200, OK))
    rec = Recorder()
    reply = await call(make(kind, handler, rec))
    assert reply.retries_taken == 1
    assert rec.events == [
        ("start", "chat", "gpt-5-mini"),
        ("before", 1), ("send",), ("after", "UpstreamUnavailable", "mine"),
        ("before", 2), ("send",), ("after", None, "mine"),
        ("end", None),
    ]


async def test_a_refusal_sends_nothing_and_is_recorded_as_an_attempt(kind: str) -> None:
    handler = Handler((200, OK))
    rec = Recorder(refuse=True)
    with pytest.raises(Refused) as info:
        await call(make(kind, handler, rec))
    assert handler.requests == []
    assert rec.events == [("start", "chat", "gpt-5-mini"), ("before", 1), ("end", "Refused")]
    (attempt,) = info.value.attempts
    assert attempt.outcome == "Refused" and attempt.model == "gpt-5-mini"
    assert attempt.status_code is None


async def test_layers_run_in_order_and_report_in_reverse(kind: str) -> None:
    outer, inner = Recorder(), Recorder()
    log: list[str] = []
    for name, layer in (("outer", outer), ("inner", inner)):
        layer.events = _Tagged(name, log)  # type: ignore[assignment]
    await call(make(kind, Handler((200, OK)), outer, inner))
    assert log == ["outer start", "inner start", "outer before", "inner before", "outer send",
                   "inner send", "inner after", "outer after", "inner end", "outer end"]


class _Tagged(list):  # type: ignore[type-arg]
    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__()
        self.name, self.log = name, log

    def append(self, event: Any) -> None:
        self.log.append(f"{self.name} {event[0]}")


async def test_a_wait_is_slept_by_the_client_before_sending(kind: str) -> None:
    handler = Handler((200, OK))
    client = make(kind, handler, Recorder(wait=0.75))
    await call(client)
    assert client.test_sleeps == [0.75]
    assert len(handler.requests) == 1


async def test_a_wait_past_the_deadline_ends_the_call_unsent(kind: str) -> None:
    handler = Handler((200, OK))
    client = make(kind, handler, Recorder(wait=30.0), deadline=5.0)
    with pytest.raises(torouter.APITimeoutError, match="would pass the deadline") as info:
        await call(client)
    assert handler.requests == [] and client.test_sleeps == []
    assert [a.outcome for a in info.value.attempts] == ["APITimeoutError"]


async def test_headers_a_layer_adds_reach_the_wire(kind: str) -> None:
    handler = Handler((200, OK))
    await call(make(kind, handler, Recorder(header="t-1")))
    (request,) = handler.requests
    assert request.headers["x-seam"] == "t-1"
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_an_attempt_records_the_model_it_asked_for(kind: str) -> None:
    handler = Handler((401, {"error": {"message": "bad key", "type": "INVALID_API_KEY"}}))
    with pytest.raises(torouter.InvalidApiKey) as info:
        await call(make(kind, handler, Recorder()), model="claude-opus-4-7")
    assert [a.model for a in info.value.attempts] == ["claude-opus-4-7"]


def test_with_model_reencodes_the_body_for_another_model() -> None:
    from torouter.resources._common import build_spec
    from torouter.types.chat import ChatCompletion
    from torouter.types.chat_params import COMPLETION_CREATE_PARAM_NAMES

    spec = build_spec("POST", "/chat/completions", ChatCompletion,
                      {"model": "gpt-5", "messages": MESSAGES, "temperature": 0.5},
                      allowed=COMPLETION_CREATE_PARAM_NAMES, required=("model",))
    other = spec.with_model("claude-opus-4-7")
    assert spec.model == "gpt-5" and other.model == "claude-opus-4-7"
    assert json.loads(other.body or b"") == {"model": "claude-opus-4-7", "messages": MESSAGES,
                                             "temperature": 0.5}
    assert (other.operation, other.path, other.cast_to) == ("chat", spec.path, spec.cast_to)


def test_the_seam_reports_a_call_end_once() -> None:
    rec = Recorder()
    seam = Seam([rec])

    class Call:
        ended = False

    seam.end(Call(), None)  # type: ignore[arg-type]
    call_ = Call()
    seam.end(call_, None)  # type: ignore[arg-type]
    seam.end(call_, None)  # type: ignore[arg-type]
    assert rec.events == [("end", None), ("end", None)]


def _sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def _chunk(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5-mini",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


class SSEHandler(Handler):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, content=self.body,
                              headers={"content-type": "text/event-stream"})


async def _consume(stream: Any, limit: int | None = None) -> list[Any]:
    got: list[Any] = []
    if isinstance(stream, torouter.AsyncStream):
        async for chunk in stream:
            got.append(chunk)
            if limit is not None and len(got) >= limit:
                break
        await stream.close()
    else:
        for chunk in stream:
            got.append(chunk)
            if limit is not None and len(got) >= limit:
                break
        stream.close()
    return got


class EndRecorder(Recorder):
    __slots__ = ("outcomes",)

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[Any] = []

    def end_call(self, call: Any, error: torouter.ToRouterError | None) -> None:
        super().end_call(call, error)
        self.outcomes.append(call.stream_outcome)


async def test_a_stream_call_ends_when_the_stream_ends_not_when_create_returns(kind: str) -> None:
    rec = EndRecorder()
    body = _sse(_chunk("Hel"), _chunk("lo"), _chunk("", "stop"))
    stream = await call(make(kind, SSEHandler(body), rec), stream=True)
    assert ("end", None) not in rec.events  # create() returned with the first chunk only
    got = await _consume(stream)
    assert len(got) == 3
    assert rec.events[-1] == ("end", None)
    (outcome,) = rec.outcomes
    assert outcome.kind == "completed" and outcome.snapshot.choices[0].message.content == "Hello"


async def test_a_stream_closed_early_ends_the_call_once_as_closed(kind: str) -> None:
    rec = EndRecorder()
    body = _sse(_chunk("a"), _chunk("b"), _chunk("c"), _chunk("", "stop"))
    stream = await call(make(kind, SSEHandler(body), rec), stream=True)
    await _consume(stream, limit=1)
    if isinstance(stream, torouter.AsyncStream):
        await stream.close()
    else:
        stream.close()
    assert [e for e in rec.events if e[0] == "end"] == [("end", None)]
    assert [o.kind for o in rec.outcomes] == ["closed"]


async def test_a_stream_cut_short_ends_the_call_with_its_error(kind: str) -> None:
    rec = EndRecorder()
    body = _sse(_chunk("a"), done=False)  # no finish reason, no [DONE]: interrupted
    stream = await call(make(kind, SSEHandler(body), rec), stream=True)
    with pytest.raises(torouter.StreamInterrupted):
        await _consume(stream)
    assert rec.events[-1] == ("end", "StreamInterrupted")
    assert [o.kind for o in rec.outcomes] == ["error"]


def test_an_interrupted_call_is_abandoned_once_and_never_ended() -> None:
    """KeyboardInterrupt (or an async cancellation) in the middle of an attempt: the layers hear
    ``abandon_call`` (to release what the call holds), never ``after_attempt``/``end_call``."""

    class Abandoning(Recorder):
        def abandon_call(self, call: Any, exc: BaseException) -> None:
            self.events.append(("abandon", type(exc).__name__))

    def interrupted(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    rec = Abandoning()
    client = make("sync", interrupted, rec)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert rec.events == [("start", "chat", "gpt-5-mini"), ("before", 1), ("send",),
                          ("abandon", "KeyboardInterrupt")]


class _Asks(Layer):
    """Asks the given waits, one per attempt."""

    def __init__(self, *waits: float | None) -> None:
        self.waits = list(waits)

    def before_attempt(self, call: Any) -> float | None:
        return self.waits.pop(0)


def test_the_wait_the_layers_asked_for_is_on_the_call_for_that_attempt() -> None:
    """Layers read ``call.wait`` (telemetry marks a held-back attempt with it): the longest wait
    the layers asked before the current attempt, 0 when none did."""
    import time

    from torouter._retrying import CallRetryState

    call = CallRetryState(policy=torouter.RetryPolicy(), budget=None, clock=time.monotonic,
                          deadline=None, on_retry=None, label="t")
    assert call.wait == 0.0  # before any attempt
    seam = Seam([_Asks(0.5, None), _Asks(2.0, 0.0)])
    assert seam.before(call) == 2.0 and call.wait == 2.0
    assert seam.before(call) == 0.0 and call.wait == 0.0


class _Ends(Layer):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def end_call(self, call: Any, error: Any) -> None:
        self.events.append(("end", error))

    def abandon_call(self, call: Any, exc: BaseException) -> None:
        self.events.append(("abandon", exc))


def test_the_seam_reports_an_abandoned_call_once_and_never_after_its_end() -> None:
    rec = _Ends()
    seam = Seam([rec])

    class Call:
        ended = False

    stop = KeyboardInterrupt()
    abandoned = Call()
    seam.abandon(abandoned, stop)  # type: ignore[arg-type]
    seam.abandon(abandoned, stop)  # type: ignore[arg-type]
    seam.end(abandoned, None)  # type: ignore[arg-type]
    ended = Call()
    seam.end(ended, None)  # type: ignore[arg-type]
    seam.abandon(ended, stop)  # type: ignore[arg-type]
    assert rec.events == [("abandon", stop), ("end", None)]
