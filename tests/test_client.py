"""The clients, their configuration and the endpoints (issue 2), for ToRouter and AsyncToRouter.

Every test runs twice, once per client (``kind``).  Tests are ``async def`` so that one body
drives both: ``await aw(x)`` awaits what the async client returns and passes the sync client's
results through.  HTTP is mocked with respx (or a user-supplied ``httpx.MockTransport``).
"""

from __future__ import annotations

import inspect
import json
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx

import torouter
from torouter.types.chat import ChatCompletion
from torouter.types.embedding import CreateEmbeddingResponse
from torouter.types.model import ModelList

pytestmark = pytest.mark.anyio

KEY = "sk-test-client-0123456789"
BASE = "https://portal.torouter.ai/v1"
MESSAGES = [{"role": "user", "content": "Hi"}]

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-5-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!"},
            "finish_reason": "stop",
            "native_finish_reason": "end_turn",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    "provider": "anthropic",
}
MODELS: dict[str, Any] = {
    "object": "list",
    "data": [
        {"id": "gpt-5-mini", "object": "model", "owned_by": "openai"},
        {"id": "claude-opus-4-7", "object": "model", "owned_by": "anthropic"},
    ],
}
EMBEDDINGS: dict[str, Any] = {
    "object": "list",
    "model": "openai/text-embedding-3-small",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 1.0]}],
    "usage": {"prompt_tokens": 2, "total_tokens": 2},
}
SSE_OK = (
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)

# What a request may carry: nothing that identifies the machine, the runtime or the OS.
ALLOWED_HEADERS = {
    "host",
    "accept",
    "accept-encoding",
    "connection",
    "content-type",
    "content-length",
    "user-agent",
    "authorization",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOROUTER_API_KEY", raising=False)
    monkeypatch.delenv("TOROUTER_BASE_URL", raising=False)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def aw(value: Any) -> Any:
    """Await what the async client returns; pass the sync client's results through."""
    if inspect.isawaitable(value):
        return await value
    return value


def client_class(kind: str) -> type[torouter.ToRouter] | type[torouter.AsyncToRouter]:
    return torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter


def no_sleep(client: Any) -> list[float]:
    """Replace the client's sleep (retries must not slow the suite); return the sleeps asked."""
    sleeps: list[float] = []
    if isinstance(client, torouter.AsyncToRouter):

        async def fake_async(seconds: float) -> None:
            sleeps.append(seconds)

        client._sleep = fake_async
    else:
        client._sleep = sleeps.append
    return sleeps


Make = Callable[..., Any]


# Building an SSL context costs ~80 ms; clients made by ``make`` share one unless the test
# is about the client's own pool (``own_pool=True``).
_SSL = ssl.create_default_context()


@pytest.fixture
async def make(kind: str) -> AsyncIterator[Make]:
    """``make(**kwargs)`` -> a client of this test's kind (api_key defaults to KEY), no sleeps;
    every client and pool made is closed at the end."""
    made: list[Any] = []

    def factory(*, own_pool: bool = False, **kwargs: Any) -> Any:
        kwargs.setdefault("api_key", KEY)
        if not own_pool and "http_client" not in kwargs:
            kwargs["http_client"] = (httpx.Client(verify=_SSL) if kind == "sync"
                                     else httpx.AsyncClient(verify=_SSL))
            made.append(kwargs["http_client"])
        client = client_class(kind)(**kwargs)
        no_sleep(client)
        made.append(client)
        return client

    yield factory
    for obj in made:
        await aw(obj.aclose() if isinstance(obj, httpx.AsyncClient) else obj.close())


@pytest.fixture
def api() -> Any:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def chat_route(api: Any, **response: Any) -> Any:
    response.setdefault("json", COMPLETION)
    response.setdefault("headers", {"x-request-id": "req-chat-1"})
    status = response.pop("status", 200)
    return api.post("/chat/completions").mock(return_value=httpx.Response(status, **response))


def sent_json(route: Any, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


async def create_chat(client: Any, **params: Any) -> Any:
    params.setdefault("model", "gpt-5-mini")
    params.setdefault("messages", MESSAGES)
    return await aw(client.chat.completions.create(**params))


# ---------------------------------------------------------------------------------------------
# 1. Construction and configuration
# ---------------------------------------------------------------------------------------------


async def test_api_key_argument_is_sent_as_bearer(make: Make, api: Any) -> None:
    route = chat_route(api)
    await create_chat(make(api_key="sk-from-argument"))
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-from-argument"


async def test_api_key_from_environment(make: Make, api: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOROUTER_API_KEY", "sk-from-env")
    route = chat_route(api)
    client = make(api_key=None)
    await create_chat(client)
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-from-env"
    assert client.api_key.get_secret_value() == "sk-from-env"


async def test_api_key_argument_wins_over_environment(make: Make, api: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOROUTER_API_KEY", "sk-from-env")
    route = chat_route(api)
    await create_chat(make(api_key="sk-from-argument"))
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-from-argument"


@pytest.mark.parametrize("missing", [None, "", "   "])
async def test_no_key_raises_api_key_required_locally(kind: str, api: Any,
                                                      missing: str | None) -> None:
    route = chat_route(api)
    with pytest.raises(torouter.ApiKeyRequired) as info:
        client_class(kind)(api_key=missing)
    err = info.value
    assert isinstance(err, torouter.AuthenticationError)
    assert (err.status_code, err.request_id, err.response) == (None, None, None)
    assert "TOROUTER_API_KEY" in str(err)
    assert route.call_count == 0


async def test_default_base_url(make: Make, api: Any) -> None:
    client = make()
    assert client.base_url == httpx.URL("https://portal.torouter.ai/v1")
    assert str(client.base_url) == torouter.DEFAULT_BASE_URL
    route = api.get("/models").respond(json=MODELS)
    await aw(client.models.list())
    assert str(route.calls.last.request.url) == "https://portal.torouter.ai/v1/models"


async def test_base_url_from_environment_and_argument(make: Make,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOROUTER_BASE_URL", "https://env.example/v1")
    with respx.mock(assert_all_called=False) as mock:
        env_route = mock.get("https://env.example/v1/models").respond(json=MODELS)
        arg_route = mock.get("https://arg.example/gw/v1/models").respond(json=MODELS)
        from_env = make()
        assert from_env.base_url == httpx.URL("https://env.example/v1")
        await aw(from_env.models.list())
        # The argument wins over the environment; a trailing slash does not double up.
        from_arg = make(base_url="https://arg.example/gw/v1/")
        await aw(from_arg.models.list())
        assert env_route.call_count == 1
        assert arg_route.call_count == 1
        assert str(arg_route.calls.last.request.url) == "https://arg.example/gw/v1/models"


async def test_default_timeout_is_documented_constant(make: Make, api: Any) -> None:
    client = make(own_pool=True)
    assert client.timeout == torouter.DEFAULT_TIMEOUT
    assert torouter.DEFAULT_TIMEOUT.read == 600.0
    assert torouter.DEFAULT_TIMEOUT.connect == 5.0
    route = chat_route(api)
    await create_chat(client)
    sent = route.calls.last.request.extensions["timeout"]
    assert sent["read"] == 600.0
    assert sent["connect"] == 5.0


async def test_timeout_as_float_applies_to_requests(make: Make, api: Any) -> None:
    client = make(timeout=12.5)
    assert client.timeout.read == 12.5
    route = chat_route(api)
    await create_chat(client)
    assert route.calls.last.request.extensions["timeout"]["read"] == 12.5


async def test_timeout_as_httpx_timeout(make: Make, api: Any) -> None:
    timeout = httpx.Timeout(30.0, connect=2.0)
    client = make(timeout=timeout)
    assert client.timeout == timeout
    route = chat_route(api)
    await create_chat(client)
    sent = route.calls.last.request.extensions["timeout"]
    assert (sent["read"], sent["connect"]) == (30.0, 2.0)


@pytest.mark.parametrize("bad", [-1, 0, "10", True])
async def test_bad_timeout_rejected(kind: str, bad: Any) -> None:
    with pytest.raises(torouter.InvalidArgumentError):
        client_class(kind)(api_key=KEY, timeout=bad)


async def test_max_retries_default_retries_a_503_twice(make: Make, api: Any) -> None:
    route = chat_route(api, status=503, json={"error": "service unavailable"})
    client = make()
    assert client.max_retries == torouter.DEFAULT_MAX_RETRIES == 2
    with pytest.raises(torouter.InternalServerError) as info:
        await create_chat(client)
    assert route.call_count == 3
    assert info.value.retries_taken == 2


async def test_max_retries_zero_sends_a_503_once(make: Make, api: Any) -> None:
    route = chat_route(api, status=503, json={"error": "service unavailable"})
    client = make(max_retries=0)
    assert client.max_retries == 0
    with pytest.raises(torouter.InternalServerError) as info:
        await create_chat(client)
    assert info.value.status_code == 503
    assert route.call_count == 1


async def test_max_retries_one(make: Make, api: Any) -> None:
    route = chat_route(api, status=503, json={"error": "service unavailable"})
    with pytest.raises(torouter.InternalServerError):
        await create_chat(make(max_retries=1))
    assert route.call_count == 2


async def test_default_headers_are_sent_and_cannot_replace_the_key(make: Make, api: Any) -> None:
    route = chat_route(api)
    client = make(default_headers={"X-Trace": "abc", "Authorization": "Bearer not-the-key"})
    await create_chat(client)
    headers = route.calls.last.request.headers
    assert headers["x-trace"] == "abc"
    assert headers["authorization"] == f"Bearer {KEY}"


async def test_user_http_client_is_used_and_not_closed(kind: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=MODELS, headers={"x-request-id": "req-own"})

    transport = httpx.MockTransport(handler)
    http: httpx.Client | httpx.AsyncClient = (
        httpx.Client(transport=transport) if kind == "sync"
        else httpx.AsyncClient(transport=transport)
    )
    client = client_class(kind)(api_key=KEY, http_client=http)  # type: ignore[arg-type]
    models = await aw(client.models.list())
    assert models.request_id == "req-own"
    assert len(seen) == 1
    assert str(seen[0].url) == f"{BASE}/models"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    await aw(client.close())
    assert not http.is_closed
    # Leaving the context manager does not close it either; the user's client still works.
    if kind == "sync":
        with torouter.ToRouter(api_key=KEY, http_client=http) as c:  # type: ignore[arg-type]
            c.models.list()
    else:
        async with torouter.AsyncToRouter(api_key=KEY, http_client=http) as ac:  # type: ignore[arg-type]
            await ac.models.list()
    assert not http.is_closed
    assert len(seen) == 2
    await aw(http.close() if kind == "sync" else http.aclose())  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"max_retries": "2"},
        {"base_url": "https://portal.torouter.ai/v1?key=sk-leak"},
        {"base_url": "https://portal.torouter.ai/v1#frag"},
        {"base_url": "ftp://portal.torouter.ai/v1"},
        {"base_url": "portal.torouter.ai/v1"},
        {"on_retry": "print"},
        {"default_headers": {"X-Count": 3}},
    ],
    ids=lambda kw: "-".join(f"{k}={v!r}" for k, v in kw.items()),
)
async def test_bad_arguments_raise_invalid_argument(kind: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(torouter.InvalidArgumentError):
        client_class(kind)(api_key=KEY, **kwargs)


async def test_wrong_http_client_type_raises_invalid_argument(kind: str) -> None:
    wrong: list[Any] = ["http://x", object()]
    if kind == "sync":
        wrong.append(httpx.AsyncClient(verify=_SSL))
    else:
        wrong.append(httpx.Client(verify=_SSL))
    for value in wrong:
        with pytest.raises(torouter.InvalidArgumentError):
            client_class(kind)(api_key=KEY, http_client=value)
    await aw(wrong[-1].aclose() if kind == "sync" else wrong[-1].close())


async def test_invalid_argument_error_is_also_a_type_and_value_error() -> None:
    assert issubclass(torouter.InvalidArgumentError, TypeError)
    assert issubclass(torouter.InvalidArgumentError, ValueError)
    assert issubclass(torouter.InvalidArgumentError, torouter.ToRouterError)


async def test_close_closes_the_owned_pool(make: Make) -> None:
    client = make(own_pool=True)
    assert not client._http.is_closed
    await aw(client.close())
    assert client._http.is_closed


async def test_context_manager_closes_the_pool(kind: str, api: Any) -> None:
    chat_route(api)
    if kind == "sync":
        with torouter.ToRouter(api_key=KEY) as client:
            await create_chat(client)
            assert not client._http.is_closed
        assert client._http.is_closed
    else:
        async with torouter.AsyncToRouter(api_key=KEY) as aclient:
            await create_chat(aclient)
            assert not aclient._http.is_closed
        assert aclient._http.is_closed


async def test_with_options_copy_shares_pool_and_budget(make: Make, api: Any) -> None:
    route = chat_route(api, status=503, json={"error": "service unavailable"})
    client = make(default_headers={"X-Team": "a"})
    copy = client.with_options(timeout=5.0, max_retries=0)
    assert copy is not client
    assert copy._http is client._http
    assert copy.retry_budget is client.retry_budget
    assert (copy.timeout.read, copy.max_retries) == (5.0, 0)
    assert (client.timeout, client.max_retries) == (torouter.DEFAULT_TIMEOUT, 2)
    assert copy.base_url == client.base_url
    assert copy.api_key.get_secret_value() == KEY

    # The copy's settings apply to its calls only.
    with pytest.raises(torouter.InternalServerError):
        await create_chat(copy)
    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.extensions["timeout"]["read"] == 5.0
    assert sent.headers["x-team"] == "a"
    with pytest.raises(torouter.InternalServerError):
        await create_chat(client)
    assert route.call_count == 4

    # The retries the original made were paid from the budget both share.
    budget = client.retry_budget
    assert budget is not None and budget.level < budget.capacity


async def test_with_options_retries_spend_the_shared_budget(make: Make, api: Any) -> None:
    route = chat_route(api, status=503, json={"error": "service unavailable"})
    client = make()
    copy = client.with_options(max_retries=1)
    budget = client.retry_budget
    assert budget is not None
    before = budget.level
    with pytest.raises(torouter.InternalServerError):
        await create_chat(copy)
    assert route.call_count == 2
    assert budget.level == before - budget.retry_cost


async def test_closing_a_with_options_copy_keeps_the_pool(make: Make, api: Any) -> None:
    chat_route(api)
    client = make(own_pool=True)
    copy = client.with_options(timeout=7.0)
    await aw(copy.close())
    assert not client._http.is_closed
    reply = await create_chat(client)
    assert reply.id == "chatcmpl-1"


@pytest.mark.parametrize("bad", [{"timeuot": 5}, {"http_client": None}, {"max_retries": -2}])
async def test_with_options_rejects_unknown_or_bad_options(make: Make,
                                                           bad: dict[str, Any]) -> None:
    client = make()
    with pytest.raises(torouter.InvalidArgumentError):
        client.with_options(**bad)


# ---------------------------------------------------------------------------------------------
# 2. Headers: the key travels only as a bearer token; no telemetry
# ---------------------------------------------------------------------------------------------


async def test_key_only_in_authorization_header(make: Make, api: Any) -> None:
    stream = api.post("/chat/completions", json__stream=True).respond(
        content=SSE_OK, headers={"content-type": "text/event-stream"}
    )
    chat = chat_route(api)
    models = api.get("/models").respond(json=MODELS)
    embed = api.post("/embeddings").respond(json=EMBEDDINGS)
    client = make()
    await create_chat(client)
    await aw(client.models.list())
    await aw(client.embeddings.create(model="openai/text-embedding-3-small", input="hi"))
    s = await create_chat(client, stream=True)
    if kind_of(client) == "sync":
        list(s)
    else:
        [c async for c in s]
    requests = [call.request for r in (chat, models, embed, stream) for call in r.calls]
    assert len(requests) == 4
    for request in requests:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert KEY not in str(request.url)
        assert "key" not in request.url.params
        assert KEY.encode() not in request.content
        holding = [k for k, v in request.headers.items() if KEY in v]
        assert holding == ["authorization"]


def kind_of(client: Any) -> str:
    return "async" if isinstance(client, torouter.AsyncToRouter) else "sync"


async def test_user_agent_and_no_telemetry_headers(make: Make, api: Any) -> None:
    route = chat_route(api)
    await create_chat(make())
    headers = route.calls.last.request.headers
    assert headers["user-agent"] == f"torouter-python/{torouter.__version__}"
    assert not [k for k in headers if k.lower().startswith(("x-stainless", "x-torouter"))]
    assert set(headers.keys()) <= ALLOWED_HEADERS
    assert headers["content-type"] == "application/json"


# ---------------------------------------------------------------------------------------------
# 3. Endpoints
# ---------------------------------------------------------------------------------------------


async def test_chat_completion_is_typed_and_keeps_unknown_fields(make: Make, api: Any) -> None:
    chat_route(api)
    reply = await create_chat(make())
    assert isinstance(reply, ChatCompletion)
    assert reply.request_id == "req-chat-1"
    assert reply.retries_taken == 0
    assert reply.choices[0].message.content == "Hello!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens == 5
    # Fields this SDK does not know are kept, at every level.
    assert reply.model_extra == {"provider": "anthropic"}
    assert reply.provider == "anthropic"
    assert reply.choices[0].model_extra == {"native_finish_reason": "end_turn"}
    assert reply.to_dict()["provider"] == "anthropic"


async def test_chat_request_id_after_retry(make: Make, api: Any) -> None:
    route = api.post("/chat/completions").mock(side_effect=[
        httpx.Response(503, json={"error": "busy"}, headers={"x-request-id": "req-a"}),
        httpx.Response(200, json=COMPLETION, headers={"x-request-id": "req-b"}),
    ])
    reply = await create_chat(make())
    assert route.call_count == 2
    assert reply.request_id == "req-b"
    assert reply.retries_taken == 1


async def test_chat_body_holds_the_given_parameters(make: Make, api: Any) -> None:
    route = chat_route(api)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "w",
                                               "parameters": {"type": "object"}}}]
    response_format = {"type": "json_schema",
                       "json_schema": {"name": "x", "schema": {"type": "object"}}}
    await create_chat(
        make(),
        temperature=0.2,
        top_p=0.9,
        max_tokens=64,
        max_completion_tokens=80,
        stop=["\n\n"],
        n=1,
        seed=7,
        tools=tools,
        tool_choice="auto",
        response_format=response_format,
        reasoning_effort="low",
        user="user-1",
        frequency_penalty=None,  # None means "not sent"
        extra_body={"provider": {"order": ["anthropic"]}, "transforms": ["middle-out"]},
    )
    assert sent_json(route) == {
        "model": "gpt-5-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "max_completion_tokens": 80,
        "stop": ["\n\n"],
        "n": 1,
        "seed": 7,
        "tools": tools,
        "tool_choice": "auto",
        "response_format": response_format,
        "reasoning_effort": "low",
        "user": "user-1",
        "provider": {"order": ["anthropic"]},
        "transforms": ["middle-out"],
    }


async def test_stream_body_has_stream_true_and_stream_options(make: Make, api: Any) -> None:
    route = api.post("/chat/completions").respond(
        content=SSE_OK, headers={"content-type": "text/event-stream"}
    )
    client = make()
    s = await create_chat(client, stream=True, stream_options={"include_usage": True})
    await aw(s.close())
    body = sent_json(route)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # A plain call sends no "stream" key at all.
    plain = api.post("/chat/completions").mock(return_value=httpx.Response(200, json=COMPLETION))
    await create_chat(client)
    assert "stream" not in sent_json(plain)


async def test_extra_headers_are_sent_for_one_call(make: Make, api: Any) -> None:
    route = chat_route(api)
    client = make()
    await create_chat(client, extra_headers={"X-Title": "my app", "HTTP-Referer": "https://a.b"})
    first = route.calls.last.request.headers
    assert (first["x-title"], first["http-referer"]) == ("my app", "https://a.b")
    assert first["authorization"] == f"Bearer {KEY}"
    await create_chat(client)
    assert "x-title" not in route.calls.last.request.headers


async def test_per_call_timeout_applies_to_that_call_only(make: Make, api: Any) -> None:
    route = chat_route(api)
    client = make(timeout=40.0)
    await create_chat(client, timeout=3.0)
    assert route.calls.last.request.extensions["timeout"]["read"] == 3.0
    await create_chat(client, timeout=httpx.Timeout(9.0, connect=1.0))
    sent = route.calls.last.request.extensions["timeout"]
    assert (sent["read"], sent["connect"]) == (9.0, 1.0)
    await create_chat(client)
    assert route.calls.last.request.extensions["timeout"]["read"] == 40.0


async def test_misspelt_parameter_fails_before_any_request(make: Make, api: Any) -> None:
    route = chat_route(api)
    with pytest.raises(torouter.InvalidArgumentError) as info:
        await create_chat(make(), temprature=0.5)
    assert "temprature" in str(info.value)
    assert "'temperature'" in str(info.value)  # the suggestion
    assert "extra_body" in str(info.value)
    assert route.call_count == 0
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"messages": MESSAGES},
        {"model": "gpt-5-mini"},
        {"model": "", "messages": MESSAGES},
        {"model": "gpt-5-mini", "messages": []},
        {"model": None, "messages": MESSAGES},
        {"model": 5, "messages": MESSAGES},
        {"model": "gpt-5-mini", "messages": "Hi"},
    ],
    ids=["no-model", "no-messages", "empty-model", "empty-messages", "none-model", "int-model",
         "str-messages"],
)
async def test_missing_or_bad_required_arguments(make: Make, api: Any,
                                                 params: dict[str, Any]) -> None:
    route = chat_route(api)
    with pytest.raises(torouter.InvalidArgumentError):
        await aw(make().chat.completions.create(**params))
    assert route.call_count == 0


async def test_bad_request_options_fail_before_any_request(make: Make, api: Any) -> None:
    route = chat_route(api)
    client = make()
    for bad in ({"extra_body": ["not", "a", "mapping"]}, {"extra_headers": "X-A: 1"},
                {"timeout": -5}, {"stream": "yes"}, {"temperature": object()}):
        with pytest.raises(torouter.InvalidArgumentError):
            await create_chat(client, **bad)
    assert route.call_count == 0


async def test_models_list(make: Make, api: Any) -> None:
    route = api.get("/models").respond(json=MODELS, headers={"x-request-id": "req-models"})
    models = await aw(make().models.list())
    assert isinstance(models, ModelList)
    assert [m.id for m in models] == ["gpt-5-mini", "claude-opus-4-7"]
    assert [m.id for m in models.data] == ["gpt-5-mini", "claude-opus-4-7"]
    assert models.data[1].owned_by == "anthropic"
    assert models.request_id == "req-models"
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.content == b""


async def test_models_list_rejects_unknown_arguments(make: Make, api: Any) -> None:
    route = api.get("/models").respond(json=MODELS)
    with pytest.raises(torouter.InvalidArgumentError):
        await aw(make().models.list(limit=5))
    assert route.call_count == 0


async def test_embeddings_create(make: Make, api: Any) -> None:
    route = api.post("/embeddings").respond(json=EMBEDDINGS, headers={"x-request-id": "req-emb"})
    result = await aw(make().embeddings.create(model="openai/text-embedding-3-small",
                                               input=["hello"], dimensions=3))
    assert isinstance(result, CreateEmbeddingResponse)
    assert result.data[0].embedding == [0.25, -0.5, 1.0]
    assert result.usage is not None and result.usage.prompt_tokens == 2
    assert result.request_id == "req-emb"
    assert sent_json(route) == {"model": "openai/text-embedding-3-small", "input": ["hello"],
                                "dimensions": 3}


async def test_embeddings_argument_checks(make: Make, api: Any) -> None:
    route = api.post("/embeddings").respond(json=EMBEDDINGS)
    client = make()
    with pytest.raises(torouter.InvalidArgumentError):
        await aw(client.embeddings.create(model="openai/text-embedding-3-small"))
    with pytest.raises(torouter.InvalidArgumentError) as info:
        await aw(client.embeddings.create(model="m", input="x", dimension=3))
    assert "'dimensions'" in str(info.value)
    assert route.call_count == 0


async def test_raw_response_chat(make: Make, api: Any) -> None:
    chat_route(api, headers={"x-request-id": "req-raw", "x-ratelimit-remaining": "41"})
    raw = await aw(make().chat.completions.with_raw_response.create(model="gpt-5-mini",
                                                                    messages=MESSAGES))
    assert isinstance(raw, torouter.RawResponse)
    assert raw.status_code == 200
    assert raw.request_id == "req-raw"
    assert raw.headers["x-ratelimit-remaining"] == "41"
    parsed = raw.parse()
    assert isinstance(parsed, ChatCompletion)
    assert parsed.choices[0].message.content == "Hello!"
    assert parsed.request_id == "req-raw"
    assert raw.parse() is parsed


async def test_raw_response_models_and_embeddings(make: Make, api: Any) -> None:
    api.get("/models").respond(json=MODELS, headers={"x-request-id": "req-m"})
    api.post("/embeddings").respond(201, json=EMBEDDINGS, headers={"x-request-id": "req-e"})
    client = make()
    raw_models = await aw(client.models.with_raw_response.list())
    assert (raw_models.status_code, raw_models.request_id) == (200, "req-m")
    assert raw_models.headers["content-type"] == "application/json"
    assert isinstance(raw_models.parse(), ModelList)
    assert raw_models.parse().data[0].id == "gpt-5-mini"
    raw_emb = await aw(client.embeddings.with_raw_response.create(model="m", input="x"))
    assert (raw_emb.status_code, raw_emb.request_id) == (201, "req-e")
    assert isinstance(raw_emb.parse(), CreateEmbeddingResponse)


async def test_raw_response_still_raises_typed_errors(make: Make, api: Any) -> None:
    chat_route(api, status=401, json={"error": {"type": "INVALID_API_KEY", "message": "bad"}},
               headers={"x-request-id": "req-401"})
    with pytest.raises(torouter.InvalidApiKey) as info:
        await aw(make().chat.completions.with_raw_response.create(model="m", messages=MESSAGES))
    assert info.value.request_id == "req-401"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>ok</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"id": "x"}),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, content=b""),
    ],
    ids=["html", "missing-choices", "list", "empty"],
)
async def test_unexpected_2xx_body_is_a_typed_error(make: Make, api: Any,
                                                    response: httpx.Response) -> None:
    response.headers["x-request-id"] = "req-odd"
    route = api.post("/chat/completions").mock(return_value=response)
    with pytest.raises(torouter.APIResponseValidationError) as info:
        await create_chat(make())
    assert info.value.request_id == "req-odd"
    assert info.value.status_code == 200
    assert route.call_count == 1  # not retried
