"""Regression tests for the review of the core: each failure stays typed, final and secret-free."""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Iterator

import httpx
import pytest
import respx

import torouter

KEY = "sk-test-HARDEN-abcdef123456"
BASE = "http://gw.test/v1"
CHUNK = b'data: {"id":"1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
MESSAGES = [{"role": "user", "content": "x"}]


def _client(**kw: object) -> torouter.ToRouter:
    client = torouter.ToRouter(api_key=KEY, base_url=BASE, **kw)  # type: ignore[arg-type]
    client._sleep = lambda seconds: None
    return client


class _Body(httpx.SyncByteStream):
    """A response body that yields ``parts`` then fails with ``ReadError``."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts
        raise httpx.ReadError("connection reset after the answer")


def test_a_failure_after_done_does_not_turn_a_complete_stream_into_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Body([CHUNK + b"data: [DONE]\n\n"]),
                              headers={"content-type": "text/event-stream"})

    client = _client(http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert [c.choices[0].delta.content for c in stream] == ["hi"]
    assert stream.response.is_closed


@pytest.mark.parametrize("chunks_before", [0, 1])
def test_a_body_cut_inside_an_event_is_an_interruption_not_a_decode_error(
    chunks_before: int,
) -> None:
    body = CHUNK * chunks_before + b'data: {"id":"1","choi'
    with respx.mock:
        route = respx.post(f"{BASE}/chat/completions").mock(
            return_value=httpx.Response(200, content=body,
                                        headers={"content-type": "text/event-stream"}))
        client = _client()
        with pytest.raises(torouter.StreamInterrupted) as info:
            for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
                pass
    assert info.value.text == "hi" * chunks_before  # the completion so far, in err.partial
    # Cut before the first event reached the caller: retried (1 + 2 retries); after: never.
    assert route.call_count == (3 if chunks_before == 0 else 1)


@pytest.mark.parametrize("bad", ["sk-abc\ndef-123456", "sk-abc def-123456", "sk-abc\x00d-123",
                                 "sk-abcé-123456789"])
def test_a_key_with_illegal_characters_is_refused_without_echoing_it(bad: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        with pytest.raises(torouter.InvalidArgumentError) as info:
            torouter.ToRouter(api_key=bad, base_url=BASE)
        assert not mock.calls
    text = str(info.value) + repr(info.value)
    assert bad not in text and "abc" not in text


def test_constructor_failures_never_show_the_key_in_traceback_locals() -> None:
    for kwargs in ({"timeout": -1}, {"max_retries": -1}, {"base_url": "ftp://x"},
                   {"default_headers": {"X-App": "caf\u00e9\u2713"}}):
        with pytest.raises(torouter.InvalidArgumentError) as info:
            torouter.ToRouter(api_key=KEY, **kwargs)  # type: ignore[arg-type]
        frames = traceback.TracebackException.from_exception(info.value, capture_locals=True)
        torouter_frames = [f for f in frames.stack if "/torouter/" in f.filename]
        assert torouter_frames
        for frame in torouter_frames:
            assert KEY not in repr(frame.locals), (kwargs, frame.name)


def test_a_closed_client_fails_once_without_retrying_or_spending_budget() -> None:
    client = _client()
    client.close()
    level = client.retry_budget.level if client.retry_budget else None
    with pytest.raises(torouter.ToRouterError) as info:
        client.models.list()
    assert not isinstance(info.value, torouter.APIConnectionError)
    assert "closed" in info.value.message and info.value.retryable is False
    assert len(info.value.attempts) == 1
    assert client.retry_budget is not None and client.retry_budget.level == level


def test_an_illegal_header_value_is_an_argument_error_sent_once() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json={"data": []}))
        with pytest.raises(torouter.InvalidArgumentError):
            _client().models.list(extra_headers={"X-Trace": "a\nb"})
        assert not mock.calls


def test_a_raw_response_refuses_to_be_pickled_because_its_request_holds_the_key() -> None:
    with respx.mock:
        respx.get(f"{BASE}/models").mock(return_value=httpx.Response(200, json={"data": []}))
        raw = _client().models.with_raw_response.list()
    with pytest.raises(TypeError, match="parse"):
        pickle.dumps(raw)
    assert KEY.encode() not in pickle.dumps(raw.parse())


@pytest.mark.parametrize("build", [lambda: torouter.RetryBudget("5"),  # type: ignore[arg-type]
                                   lambda: torouter.Backoff(initial=-1),
                                   lambda: torouter.RetryPolicy(max_retries=-1),
                                   lambda: torouter.RetryPolicy(rules={"x": 1})])  # type: ignore[dict-item]
def test_bad_retry_configuration_is_a_typed_argument_error(build: object) -> None:
    with pytest.raises(torouter.InvalidArgumentError) as info:
        build()  # type: ignore[operator]
    assert isinstance(info.value, (TypeError, ValueError))  # still what callers caught before


def test_a_key_echoed_in_a_response_header_is_masked_in_debug_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpcore logs response headers at DEBUG; the SDK's filter masks any client's key."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"object":"list","data":[]}'
            self.send_response(200)
            self.send_header("X-Echo", self.headers.get("Authorization", ""))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/v1"
        with caplog.at_level("DEBUG"), torouter.ToRouter(api_key=KEY, base_url=base) as client:
            raw = client.models.with_raw_response.list()
        assert raw.headers["x-echo"] == f"Bearer {KEY}"  # the server really echoed it
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "receive_response_headers" in logged  # httpcore's header record was captured
        assert KEY not in logged and KEY[-12:] not in logged
    finally:
        server.shutdown()
        server.server_close()
