"""One-line respx stubs for testing code that uses torouter, sync and async alike.

With respx (``pip install "torouter[testing]"`` brings it; its pytest fixture is ``respx_mock``)
the real client talks to no server at all: each helper answers the client's next requests with
exactly what the gateway would send::

    import torouter
    from torouter.testing import instant_retries, stub_completion, stub_error, stub_stream

    def test_expired_key(respx_mock):
        stub_error(respx_mock, torouter.KeyExpired)            # 403 API_KEY_EXPIRED body
        client = torouter.ToRouter(api_key="sk-test")
        with pytest.raises(torouter.KeyExpired):
            client.chat.completions.create(model="gpt-5-mini", messages=[...])

    def test_rate_limit_then_success(respx_mock):
        stub_completion(respx_mock, text="hi")                  # the normal answer ...
        stub_error(respx_mock, torouter.RateLimited, times=1)   # ... after one 429
        client = instant_retries(torouter.ToRouter(api_key="sk-test"))
        assert client.chat.completions.create(...).retries_taken == 1

Rules:

* ``stub_error`` builds the canonical body of any class in :data:`torouter.ERROR_CATALOG` (its
  first code and first status, in the ``openai``, ``anthropic`` or ``gemini`` body shape) and checks
  that the SDK classifies it back to that class; transport classes (``APIConnectionError``,
  ``APITimeoutError``) raise the matching httpx exception; ``APIResponseValidationError`` is a 200
  with a body that is not JSON.
* The newest stub wins; a stub with ``times=N`` answers N requests and then steps aside for the
  older ones. ``path=`` limits a stub to URLs ending with that path (e.g. ``"/models"``).
* Bodies are static bytes (or a byte stream that works under both ``httpx.Client`` and
  ``httpx.AsyncClient``), so one stub serves sync and async clients, and retries.
* Every helper returns a :class:`Stub` (``called``, ``call_count``, ``calls``).

Each stub helper has a ``*_response`` twin returning the ``httpx.Response`` itself, to use with
respx routes of your own or with ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import httpx

from . import _sse_writer as w

if TYPE_CHECKING:
    from .._base_client import BaseClient
    from .._errors import CatalogEntry, ToRouterError

__all__ = [
    "Stub",
    "completion_response",
    "error_body",
    "error_response",
    "instant_retries",
    "stream_response",
    "stub_completion",
    "stub_error",
    "stub_stream",
]

Shape = Literal["openai", "anthropic", "gemini"]
ClientT = TypeVar("ClientT", bound="BaseClient[Any]")

DEFAULT_REQUEST_ID = "req_stub"
_CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: stubbed objects are reproducible
_ROUTE_NAME = "torouter.testing stubs"
_CHAT = "/chat/completions"


class _Router(Protocol):
    """What the helpers need of a respx router (``respx_mock``, ``respx.mock(...)``, ``respx``)."""

    @property
    def routes(self) -> Any: ...

    def route(self, *patterns: Any, name: str | None = None, **lookups: Any) -> Any: ...


# --- error bodies ------------------------------------------------------------------------------


def _entry(cls: type[ToRouterError]) -> CatalogEntry | None:
    from .._errors import ERROR_CATALOG

    for entry in ERROR_CATALOG:
        if entry.cls is cls:
            return entry
    return None


def _error_payload(
    cls: type[ToRouterError], status: int, shape: Shape, message: str | None, *, in_stream: bool
) -> object:
    """The JSON error object the gateway sends for ``cls`` (checked by the caller)."""
    from .._errors import RateLimited

    entry = _entry(cls)
    assert entry is not None
    if cls is RateLimited:  # the code-less request-rate 429, the same on every surface (§5)
        if message is not None:
            raise ValueError("RateLimited is told apart by its fixed body "
                             "{\"error\": \"rate limit exceeded\"}: it takes no message=")
        return {"error": "rate limit exceeded"}
    code = entry.codes[0] if entry.codes else None
    msg = message or entry.meaning
    inner: dict[str, object]
    if shape == "gemini":
        inner = {"code": status, "message": msg}
        if code is not None:
            inner["status"] = code
    else:
        inner = {"message": msg}
        if code is not None:
            inner["type"] = code
        elif in_stream:  # an error event has no HTTP status of its own: carry it in the body
            inner["code"] = status
    if shape == "anthropic":
        return {"type": "error", "error": inner}
    return {"error": inner}


def _status_of(cls: type[ToRouterError], status: int | None) -> int:
    from .._errors import APIStatusError

    entry = _entry(cls)
    if entry is None or not issubclass(cls, APIStatusError):
        raise TypeError(
            f"{cls.__name__} is not an error class with an HTTP status in torouter.ERROR_CATALOG"
        )
    if status is None:
        if not entry.statuses:
            raise TypeError(f"{cls.__name__} has no HTTP status")
        status = entry.statuses[0]
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"status must be an int from 400 to 599, not {status!r}")
    return status


def _check(cls: type[ToRouterError], got: type[ToRouterError], what: str) -> None:
    if got is not cls:
        raise ValueError(f"{what} would be classified as {got.__name__}, not {cls.__name__}")


def error_body(
    cls: type[ToRouterError],
    *,
    status: int | None = None,
    shape: Shape = "openai",
    message: str | None = None,
) -> tuple[int, bytes]:
    """``(status, body)`` of the gateway's error for ``cls``, verified against the SDK.

    The status defaults to the first one the catalog lists for the class, the code to its first
    code (classes without a code get a code-less body). ``ValueError`` if the SDK would read the
    result as another class (e.g. ``NoEligibleChannel`` with ``status=502``).
    """
    from .._errors import classify, parse_error_body

    if shape not in ("openai", "anthropic", "gemini"):
        raise ValueError(f"shape must be 'openai', 'anthropic' or 'gemini', not {shape!r}")
    st = _status_of(cls, status)
    body = json.dumps(_error_payload(cls, st, shape, message, in_stream=False)).encode()
    parsed = parse_error_body(body, "application/json")
    _check(cls, classify(parsed.codes, st, parsed.message)[0], f"a {st} {shape} body")
    return st, body


def _error_event(cls: type[ToRouterError], message: str | None) -> bytes:
    """An SSE error event that the SDK reads as ``cls`` (status carried in the body)."""
    from .._errors import make_status_error, parse_error_object

    st = _status_of(cls, None)
    payload = _error_payload(cls, st, "openai", message, in_stream=True)
    err = make_status_error(
        status=None, parsed=parse_error_object(payload), request_id=None, response=None,
        retry_after=None,
    )
    _check(cls, type(err), "the stream error event")
    return w.sse(payload)


def error_response(
    cls: type[ToRouterError],
    *,
    status: int | None = None,
    shape: Shape = "openai",
    retry_after: float | None = None,
    request_id: str | None = DEFAULT_REQUEST_ID,
    message: str | None = None,
) -> httpx.Response:
    """The ``httpx.Response`` the gateway sends for ``cls`` (see :func:`error_body`).

    ``APIResponseValidationError`` gives a 200 whose body is not JSON. Transport classes have no
    response: use :func:`stub_error`, which raises the matching httpx exception for them.
    """
    from .._errors import APIResponseValidationError

    headers = {"content-type": "application/json"}
    if request_id is not None:
        headers["x-request-id"] = request_id
    if cls is APIResponseValidationError:
        headers["content-type"] = "text/plain"
        return httpx.Response(200, headers=headers, content=b"this is not JSON")
    st, body = error_body(cls, status=status, shape=shape, message=message)
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return httpx.Response(st, headers=headers, content=body)


# --- success bodies ----------------------------------------------------------------------------


def completion_response(
    text: str = "Hello from the stub.",
    *,
    model: str = "gpt-5-mini",
    reasoning: str | None = None,
    request_id: str | None = DEFAULT_REQUEST_ID,
) -> httpx.Response:
    """A 200 ``chat.completion`` whose answer is ``text`` (and ``reasoning_content``)."""
    body = w.chat_completion("chatcmpl-stub", _CREATED, model, text, reasoning, 0)
    return httpx.Response(200, headers=_headers("application/json", request_id), content=body)


class _Events(httpx.SyncByteStream, httpx.AsyncByteStream):
    """SSE events, then an httpx error (a dropped connection or a read timeout).

    Both a sync and an async byte stream, so one response serves either client.
    """

    def __init__(self, events: Sequence[bytes], failure: type[httpx.TransportError]) -> None:
        self._events = list(events)
        self._failure = failure

    def _fail(self) -> httpx.TransportError:
        if self._failure is httpx.ReadTimeout:
            return httpx.ReadTimeout("stubbed: no data before the read timeout")
        return self._failure(
            "stubbed: peer closed connection without sending complete message body"
        )

    def __iter__(self) -> Iterator[bytes]:
        yield from self._events
        raise self._fail()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event
        raise self._fail()


def stream_response(
    chunks: Sequence[str] = ("Hello", " from", " the", " stub."),
    *,
    model: str = "gpt-5-mini",
    reasoning: str | None = None,
    error_after: int | None = None,
    error: type[ToRouterError] | None = None,
    drop_after: int | None = None,
    timeout_after: int | None = None,
    request_id: str | None = DEFAULT_REQUEST_ID,
) -> httpx.Response:
    """A 200 ``text/event-stream`` chat stream: each text of ``chunks`` is one ``delta.content``.

    The stream starts with the assistant role chunk (and ``reasoning`` as ``reasoning_content``
    chunks), ends with a ``finish_reason: "stop"`` chunk and ``data: [DONE]``. Instead:

    * ``error_after=N``: after N texts an error event for ``error`` (default
      ``UpstreamUnavailable``), and no ``[DONE]``: the SDK raises that class;
    * ``drop_after=N``: after N texts the connection drops: ``StreamInterrupted`` with the chunks;
    * ``timeout_after=N``: after N texts the read times out: ``StreamIdleTimeout``.
    """
    from .._errors import UpstreamUnavailable

    cuts = [x for x in (error_after, drop_after, timeout_after) if x is not None]
    if len(cuts) > 1:
        raise ValueError("give at most one of error_after, drop_after, timeout_after")
    if any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in cuts):
        raise ValueError("error_after / drop_after / timeout_after must be ints >= 0")
    if isinstance(chunks, str):
        raise TypeError("chunks must be a list of strings, not one string")
    texts = [str(c) for c in chunks]
    cut = cuts[0] if cuts else None
    events = _chunk_events(texts if cut is None else texts[:cut], model, reasoning,
                           finished=cut is None)
    headers = _headers("text/event-stream", request_id)
    if error_after is not None:
        events.append(_error_event(error or UpstreamUnavailable, None))
    elif error is not None:
        raise ValueError("error= needs error_after=")
    if drop_after is not None or timeout_after is not None:
        failure = httpx.RemoteProtocolError if drop_after is not None else httpx.ReadTimeout
        return httpx.Response(200, headers=headers, stream=_Events(events, failure))
    return httpx.Response(200, headers=headers, content=b"".join(events))


def _chunk_events(texts: list[str], model: str, reasoning: str | None,
                  *, finished: bool) -> list[bytes]:
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": _CREATED,
            "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return w.sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    events = [chunk({"role": "assistant", "content": ""})]
    if reasoning:
        events += [chunk({"reasoning_content": p}) for p in w.split_text(reasoning, None)]
    events += [chunk({"content": t}) for t in texts]
    if finished:
        events += [chunk({}, "stop"), w.DONE]
    return events


def _headers(content_type: str, request_id: str | None) -> dict[str, str]:
    headers = {"content-type": content_type}
    if request_id is not None:
        headers["x-request-id"] = request_id
    return headers


# --- routing -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Stub:
    """One stub installed on a respx router: what it answers and the requests it answered."""

    name: str
    path: str | None
    times: int | None
    calls: list[httpx.Request] = field(default_factory=list)
    _answer: Any = field(default=None, repr=False)

    @property
    def called(self) -> bool:
        """Whether the stub answered at least one request."""
        return bool(self.calls)

    @property
    def call_count(self) -> int:
        """How many requests the stub answered."""
        return len(self.calls)

    @property
    def exhausted(self) -> bool:
        """A ``times=N`` stub that has answered N requests (it now steps aside)."""
        return self.times is not None and len(self.calls) >= self.times

    def _matches(self, request: httpx.Request) -> bool:
        if self.exhausted:
            return False
        return self.path is None or request.url.path.rstrip("/").endswith(self.path)

    def _respond(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self._answer
        if isinstance(answer, type) and issubclass(answer, httpx.TransportError):
            message = ("stubbed: connection refused" if answer is httpx.ConnectError
                       else "stubbed: read timed out")
            raise answer(message, request=request)
        response: httpx.Response = answer()
        return response


def _stubs_on(router: _Router) -> list[Stub]:
    """The stub stack of ``router``, adding the one respx route that serves it if needed."""
    routes = router.routes
    if _ROUTE_NAME in routes:
        stack: list[Stub] = routes[_ROUTE_NAME]._torouter_stubs
        return stack
    stack = []

    def dispatch(request: httpx.Request) -> httpx.Response | None:
        for stub in reversed(stack):  # the newest stub wins
            if stub._matches(request):
                return stub._respond(request)
        return None  # no stub applies: respx tries the router's other routes

    # A regex comment makes the pattern unique, so respx never merges it with a user's route.
    route = router.route(path__regex=r"(?#torouter.testing)", name=_ROUTE_NAME)
    route.mock(side_effect=dispatch)
    route._torouter_stubs = stack
    return stack


def _install(router: _Router, name: str, answer: Any, path: str | None,
             times: int | None) -> Stub:
    if not callable(getattr(router, "route", None)) or not hasattr(router, "routes"):
        raise TypeError("router must be a respx router: respx_mock, respx.mock(...) or respx")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be an int >= 1 or None, not {times!r}")
    norm = None
    if path is not None:
        norm = "/" + path.strip().strip("/")
        if not re.fullmatch(r"/[\w./-]*", norm):
            raise ValueError(f"path must be a URL path such as '/chat/completions', not {path!r}")
    stub = Stub(name, norm, times, _answer=answer)
    _stubs_on(router).append(stub)
    return stub


def stub_error(
    router: Any,
    cls: type[ToRouterError],
    *,
    status: int | None = None,
    shape: Shape = "openai",
    retry_after: float | None = None,
    request_id: str | None = DEFAULT_REQUEST_ID,
    message: str | None = None,
    path: str | None = None,
    times: int | None = None,
) -> Stub:
    """Make requests through ``router`` fail with ``cls`` (every request, or ``path``'s).

    ``status``/``shape``/``retry_after``/``request_id``/``message``: see :func:`error_response`.
    ``APIConnectionError`` / ``APITimeoutError`` raise ``httpx.ConnectError`` /
    ``httpx.ReadTimeout`` instead of answering. ``times=N``: only the next N requests.
    """
    from .._errors import APIConnectionError, APITimeoutError, StreamInterrupted

    answer: Any
    if not isinstance(cls, type):
        raise TypeError(f"cls must be a torouter error class, not {cls!r}")
    if issubclass(cls, StreamInterrupted):
        raise TypeError(f"{cls.__name__} happens inside a stream: use stub_stream(drop_after=...) "
                        "or stub_stream(timeout_after=...)")
    if cls is APITimeoutError:
        answer = httpx.ReadTimeout
    elif cls is APIConnectionError:
        answer = httpx.ConnectError
    else:
        error_response(cls, status=status, shape=shape, message=message)  # validate now

        def answer() -> httpx.Response:
            return error_response(cls, status=status, shape=shape, retry_after=retry_after,
                                  request_id=request_id, message=message)

    return _install(router, f"error {cls.__name__}", answer, path, times)


def stub_completion(
    router: Any,
    text: str = "Hello from the stub.",
    *,
    model: str = "gpt-5-mini",
    reasoning: str | None = None,
    request_id: str | None = DEFAULT_REQUEST_ID,
    path: str = _CHAT,
    times: int | None = None,
) -> Stub:
    """Answer chat completions through ``router`` with ``text`` (a plain, non-streamed reply)."""

    def answer() -> httpx.Response:
        return completion_response(text, model=model, reasoning=reasoning, request_id=request_id)

    return _install(router, "completion", answer, path, times)


def stub_stream(
    router: Any,
    chunks: Sequence[str] = ("Hello", " from", " the", " stub."),
    *,
    error_after: int | None = None,
    error: type[ToRouterError] | None = None,
    drop_after: int | None = None,
    timeout_after: int | None = None,
    reasoning: str | None = None,
    model: str = "gpt-5-mini",
    request_id: str | None = DEFAULT_REQUEST_ID,
    path: str = _CHAT,
    times: int | None = None,
) -> Stub:
    """Answer chat completions through ``router`` with an SSE stream of ``chunks``.

    Ends in ``data: [DONE]``, or an error event / a dropped connection / a read timeout after N
    chunks: see :func:`stream_response`.
    """
    kwargs: dict[str, Any] = dict(
        model=model, reasoning=reasoning, error_after=error_after, error=error,
        drop_after=drop_after, timeout_after=timeout_after, request_id=request_id,
    )
    stream_response(chunks, **kwargs)  # validate now, not at the first request

    def answer() -> httpx.Response:
        return stream_response(chunks, **kwargs)

    return _install(router, "stream", answer, path, times)


# --- clients -----------------------------------------------------------------------------------


def instant_retries(client: ClientT) -> ClientT:
    """Skip the sleeps between retries of ``client`` (a ``ToRouter`` or ``AsyncToRouter``).

    Retries still happen, are counted and logged, and ``err.attempts[i].sleep`` still says how long
    the SDK would have waited; the test just does not wait. Returns ``client``.
    """
    from .._client import AsyncToRouter, ToRouter

    if isinstance(client, AsyncToRouter):

        async def no_sleep(seconds: float) -> None:
            return None

        client._sleep = no_sleep
    elif isinstance(client, ToRouter):
        client._sleep = _sleep_nothing
    else:
        raise TypeError(f"expected a ToRouter or AsyncToRouter, not {type(client).__name__}")
    return client


def _sleep_nothing(seconds: float) -> None:
    return None


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
