"""The default async transport (aiohttp, ``torouter/_transport.py``): chosen for the clients
torouter builds itself, invisible to a user's respx tests, and raising the same error classes as
httpx's own transport."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
from typing import Any

import httpx
import pytest
import respx

import torouter
from torouter import _transport
from torouter.testing import stub_completion

aiohttp = pytest.importorskip("aiohttp")

KEY = "sk-transport-test-000000000000"
BASE = "https://portal.torouter.ai/v1"
MESSAGES = [{"role": "user", "content": "hi"}]
COMPLETION = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-5-mini",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "mocked"}}],
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def test_the_default_async_client_is_on_aiohttp_and_the_sync_one_on_httpx(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    client = torouter.AsyncToRouter(api_key=KEY)
    assert _transport.ASYNC_BACKEND == "aiohttp"  # aiohttp is a dependency
    assert isinstance(client._http, httpx.AsyncClient)  # still httpx on top
    assert isinstance(client._http._transport, _transport.AiohttpTransport)
    sync = torouter.ToRouter(api_key=KEY)
    assert isinstance(sync._http._transport, httpx.HTTPTransport)
    sync.close()


# -- a user's respx tests keep intercepting the default clients --------------------------------


@respx.mock
def test_respx_mock_intercepts_a_default_sync_client() -> None:
    route = respx.post(f"{BASE}/chat/completions").respond(json=COMPLETION)
    client = torouter.ToRouter(api_key=KEY)
    reply = client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "mocked"
    assert route.call_count == 1


@pytest.mark.anyio
@respx.mock
async def test_respx_mock_intercepts_a_default_async_client() -> None:
    route = respx.post(f"{BASE}/chat/completions").respond(json=COMPLETION)
    client = torouter.AsyncToRouter(api_key=KEY)
    reply = await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "mocked"
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    await client.close()


@pytest.mark.anyio
async def test_respx_intercepts_a_client_built_before_the_mock_started() -> None:
    client = torouter.AsyncToRouter(api_key=KEY)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").respond(json=COMPLETION)
        reply = await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        assert reply.choices[0].message.content == "mocked"
        with pytest.raises(respx.models.AllMockedAssertionError):  # unmatched: not sent
            await client.models.list()
    await client.close()


@pytest.mark.anyio
async def test_respx_mock_fixture_and_the_testing_kit_see_the_async_client(
        respx_mock: respx.MockRouter) -> None:
    stub_completion(respx_mock, text="from the kit")
    client = torouter.AsyncToRouter(api_key=KEY)
    reply = await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "from the kit"
    await client.close()


@pytest.mark.anyio
async def test_respx_using_httpx_mocker_also_intercepts() -> None:
    with respx.mock(using="httpx") as mock:
        mock.post(f"{BASE}/chat/completions").respond(json=COMPLETION)
        client = torouter.AsyncToRouter(api_key=KEY)
        reply = await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        assert reply.choices[0].message.content == "mocked"
        await client.close()


@pytest.mark.anyio
async def test_http_client_still_takes_any_httpx_async_client() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=COMPLETION)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = torouter.AsyncToRouter(api_key=KEY, http_client=http)
        assert client._http is http
        reply = await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
        assert reply.choices[0].message.content == "mocked"


# -- the same error classes on both transports -------------------------------------------------


@pytest.fixture(params=["aiohttp", "httpx"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(_transport, "ASYNC_BACKEND", request.param)
    return str(request.param)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: connecting is refused


@pytest.mark.anyio
async def test_a_refused_connection_is_a_connection_error_not_a_timeout(backend: str) -> None:
    client = torouter.AsyncToRouter(api_key=KEY, base_url=f"http://127.0.0.1:{_closed_port()}/v1",
                                    max_retries=0)
    with pytest.raises(torouter.APIConnectionError) as info:
        await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)
    assert not isinstance(info.value, torouter.APITimeoutError)
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None
    await client.close()


def test_an_async_client_works_from_one_event_loop_after_another() -> None:
    """Test suites often run each test in a new event loop with one module-level client (on
    httpx's own transport the second loop fails: "Event loop is closed")."""
    from torouter.testing import FakeGateway

    gw = FakeGateway(seed=1)
    key = gw.add_key()
    with gw.serve() as server:
        client = torouter.AsyncToRouter(api_key=key, base_url=server.base_url, max_retries=0)

        async def one() -> str | None:
            reply = await client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "same client"}])
            return reply.choices[0].message.content

        assert asyncio.run(one()) == "same client"
        assert asyncio.run(one()) == "same client"
        assert isinstance(client._http._transport, _transport.AiohttpTransport)  # still
        asyncio.run(client.close())


_A = aiohttp
_CONN_KEY: Any = type("Key", (), {"ssl": False, "host": "127.0.0.1", "port": 1})()

MAPPING = [
    (_A.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
    (_A.SocketTimeoutError("read"), httpx.ReadTimeout),
    (asyncio.TimeoutError(), httpx.PoolTimeout),
    (_A.ClientConnectorError(_CONN_KEY, ConnectionRefusedError(111, "refused")),
     httpx.ConnectError),
    (_A.ServerDisconnectedError(), httpx.RemoteProtocolError),
    (_A.ClientPayloadError("cut"), httpx.RemoteProtocolError),
    (_A.ClientResponseError(None, (), status=400, message="bad status line"),  # type: ignore[arg-type]
     httpx.RemoteProtocolError),
    (_A.ClientOSError(104, "reset"), httpx.ReadError),
    (_A.ClientConnectionResetError("reset"), httpx.ReadError),
    (_A.InvalidURL("x"), httpx.UnsupportedProtocol),
    (_A.ClientError("other"), httpx.TransportError),
]


@pytest.mark.parametrize(("exc", "expected"), MAPPING, ids=lambda x: type(x).__name__)
def test_aiohttp_errors_become_what_httpx_raises(exc: Exception, expected: type) -> None:
    mapped = _transport._httpx_error(exc)
    assert type(mapped) is expected
    is_timeout = isinstance(exc, asyncio.TimeoutError)
    assert isinstance(mapped, httpx.TimeoutException) == is_timeout


def test_other_exceptions_pass_through_unchanged() -> None:
    err = asyncio.CancelledError()
    assert _transport._httpx_error(err) is err


def test_aiohttp_loads_on_the_first_async_request_only() -> None:
    code = (
        "import json, sys, torouter\n"
        "torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1').close()\n"
        "a = 'aiohttp' in sys.modules\n"
        "torouter.AsyncToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1')\n"
        "print(json.dumps([a, 'aiohttp' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    assert json.loads(out) == [False, False]


# -- TLS: the CA bundle is read at the first handshake, and still verifies ---------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    for name in ("ca", "other"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            f"/CN=torouter test {name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    return {name: str(d / f"{name}.pem") for name in ("ca", "other", "server")} | {
        "server_key": str(d / "server.key")}


@pytest.fixture
def tls_server(tls_files: dict[str, str]) -> Any:
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps(COMPLETION).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files["server"], tls_files["server_key"])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _https_call(kind: str, base_url: str) -> Any:
    if kind == "sync":
        with torouter.ToRouter(api_key=KEY, base_url=base_url, max_retries=0) as client:
            return client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)

    async def run() -> Any:
        async with torouter.AsyncToRouter(api_key=KEY, base_url=base_url,
                                          max_retries=0) as client:
            return await client.chat.completions.create(model="gpt-5-mini", messages=MESSAGES)

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_https_verifies_against_the_ca_bundle_read_at_the_first_handshake(
        kind: str, backend: str, tls_server: str, tls_files: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_files["ca"])
    client = torouter.ToRouter(api_key=KEY, base_url=tls_server)
    assert client._http._transport._pool._ssl_context.get_ca_certs() == []  # not read yet
    client.close()
    assert _https_call(kind, tls_server).choices[0].message.content == "mocked"

    monkeypatch.setenv("SSL_CERT_FILE", tls_files["other"])  # a CA that did not sign it
    with pytest.raises(torouter.APIConnectionError) as info:
        _https_call(kind, tls_server)
    assert not isinstance(info.value, torouter.APITimeoutError)
    assert "certificate" in str(info.value).lower()


def test_the_deferred_context_has_httpx_settings_and_ca_list() -> None:
    import ssl

    ours = _transport._deferred_ssl_context()
    httpx_own = httpx.create_ssl_context()
    # before the first handshake: nothing read, certificates and host names already verified
    assert ours.get_ca_certs() == []
    assert ours.verify_mode == ssl.CERT_REQUIRED and ours.check_hostname
    ours._load_ca()  # type: ignore[attr-defined]  (what wrap_socket / wrap_bio do first)
    for name in ("protocol", "verify_mode", "check_hostname", "verify_flags", "options",
                 "minimum_version", "maximum_version", "keylog_filename"):
        assert getattr(ours, name) == getattr(httpx_own, name), name
    assert ours.get_ca_certs() == httpx_own.get_ca_certs() != []


def test_building_a_plain_http_client_makes_no_template_context_and_reads_no_ca() -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    code = ("import json, sys, torouter\n"
            "torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1').close()\n"
            "from torouter import _transport\n"
            "print(json.dumps([len(_transport._TEMPLATE)]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60, env=env).stdout
    assert json.loads(out) == [0]


def test_an_async_client_dropped_unclosed_logs_no_aiohttp_error(
        caplog: pytest.LogCaptureFixture) -> None:
    import gc

    from torouter.testing import FakeGateway

    gw = FakeGateway(seed=2)
    key = gw.add_key()
    with gw.serve() as server:
        async def run() -> None:
            client = torouter.AsyncToRouter(api_key=key, base_url=server.base_url)
            await client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "dropped"}])
            del client
            gc.collect()

        with caplog.at_level(logging.DEBUG, logger="asyncio"):
            asyncio.run(run())
            gc.collect()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


@pytest.mark.parametrize("var", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "HTTP_PROXY"])
def test_a_proxy_from_the_environment_keeps_the_async_client_on_httpx(
        var: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx applies environment proxies to its own transport only: such a client keeps it."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(var, "http://127.0.0.1:3128")
    client = torouter.AsyncToRouter(api_key=KEY)
    assert not isinstance(client._http._transport, _transport.AiohttpTransport)
    assert client._http._mounts  # the proxy is mounted, as for any httpx.AsyncClient


@pytest.mark.anyio
async def test_an_aiohttp_stream_response_exposes_its_socket_to_the_stream_watchdog() -> None:
    """The stream watchdog cuts a socket through httpcore's ``network_stream`` extension."""
    from torouter.testing import FakeGateway, Outcome

    gw = FakeGateway(seed=3)
    key = gw.add_key()
    gw.script(Outcome.ok(chunk_delay=0.05))  # the body is still coming when the headers are in
    with gw.serve() as server:
        async with torouter.AsyncToRouter(api_key=key, base_url=server.base_url) as client:
            assert isinstance(client._http._transport, _transport.AiohttpTransport)
            stream = await client.chat.completions.create(
                model="gpt-5", messages=[{"role": "user", "content": "a b c"}], stream=True)
            async with stream:
                sock = stream.response.extensions["network_stream"].get_extra_info("socket")
                assert sock is not None and sock.getpeername()[0] == "127.0.0.1"
                assert [c async for c in stream]
