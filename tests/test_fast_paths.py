"""The per-request shortcuts taken for speed send exactly what the general path sends.

``_build`` makes the ``httpx.Request`` directly when torouter built the httpx client itself
(headers merged once per client, URLs parsed once per path); it must equal what
``httpx.Client.build_request`` gives, header order included.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import torouter
from torouter._base_client import RequestSpec
from torouter._retrying import CallRetryState
from torouter.types import ChatCompletion

KEY = "sk-fast-path-test-000000000000"


def _call(client: Any) -> CallRetryState:
    return client._new_call(RequestSpec("POST", "/chat/completions", ChatCompletion))


def _reference(client: Any, spec: RequestSpec[Any]) -> httpx.Request:
    """What the general path (httpx's own build_request) makes of ``spec``."""
    timeout = client._attempt_timeout(spec, _call(client))
    headers = client._headers.copy()
    headers.update(spec.headers or {})
    request: httpx.Request = client._http.build_request(
        spec.method, client._base + spec.path, content=spec.body, headers=headers,
        timeout=timeout)
    return request


def _same(a: httpx.Request, b: httpx.Request) -> None:
    assert a.method == b.method
    assert a.url == b.url and str(a.url) == str(b.url)
    assert a.headers.raw == b.headers.raw  # names, values and order
    assert a.content == b.content
    assert a.extensions == b.extensions


SPECS = [
    RequestSpec("POST", "/chat/completions", ChatCompletion, body=b'{"model":"m"}'),
    RequestSpec("GET", "/models", ChatCompletion),
    RequestSpec("POST", "/chat/completions", ChatCompletion, body=b'{"stream":true}',
                stream=True),
    RequestSpec("POST", "/embeddings", ChatCompletion, body=b"{}",
                headers={"X-Trace": "t1", "user-agent": "mine/1.0", "Accept": "text/plain"}),
    RequestSpec("POST", "/chat/completions", ChatCompletion, body=b"{}",
                timeout=httpx.Timeout(3.0, connect=1.0)),
]


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.method}{s.path}")
def test_direct_build_equals_httpx_build_request(kind: str, spec: RequestSpec[Any]) -> None:
    cls = torouter.ToRouter if kind == "sync" else torouter.AsyncToRouter
    client: Any = cls(api_key=KEY, base_url="http://127.0.0.1:9/api/v1/",
                      default_headers={"X-App": "bench", "Accept": "application/json"})
    assert client._wire_headers is not None  # the shortcut is in use
    for _ in range(2):  # the second time from the per-path URL cache
        fast = client._build(client._http, spec, _call(client))
        _same(fast, _reference(client, spec))
    clone = client.with_options(api_key="sk-other-key-1111111111", default_headers={"X-B": "2"})
    assert clone._http is client._http and clone._wire_headers is not None
    built = clone._build(clone._http, spec, _call(clone))
    _same(built, _reference(clone, spec))
    assert built.headers["authorization"] == "Bearer sk-other-key-1111111111"
    assert "x-app" not in built.headers and built.headers["x-b"] == "2"


def test_user_http_client_keeps_its_live_defaults() -> None:
    http = httpx.Client(headers={"X-Tenant": "a"}, params={"v": "1"})
    client: Any = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1",
                                    http_client=http)
    assert client._wire_headers is None  # httpx's build_request: the client may change
    http.headers["X-Tenant"] = "b"
    request = client._build(http, SPECS[0], _call(client))
    assert request.headers["x-tenant"] == "b"
    assert request.url.params["v"] == "1"
    http.close()


def test_cookies_set_by_the_server_are_still_sent() -> None:
    client: Any = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    client._http.cookies.set("lb", "node-3", domain="127.0.0.1")
    request = client._build(client._http, SPECS[0], _call(client))
    assert request.headers["cookie"] == "lb=node-3"
    _same(request, _reference(client, SPECS[0]))


def test_requests_on_the_wire_are_unchanged() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "c", "choices": []},
                              headers={"x-request-id": "r1"})

    client = torouter.ToRouter(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_retries=0)
    client._http._transport = httpx.MockTransport(handler)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                           extra_headers={"X-Extra": "1"})
    assert reply.request_id == "r1"
    request = seen[0]
    assert str(request.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-extra"] == "1"
    assert request.headers["content-length"] == str(len(request.content))
    assert request.extensions["timeout"]["read"] == 600.0
