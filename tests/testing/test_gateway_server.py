"""The socket server and ``python -m torouter.testing``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

import torouter.testing
from torouter.testing import FakeGateway, Outcome

from .conftest import bearer, chat_body


def test_server_basics(gw: FakeGateway, key: str) -> None:
    with gw.serve() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert server.port > 0 and str(server.port) in repr(server)
        with httpx.Client(base_url=server.base_url, headers=bearer(key)) as c:
            assert c.get("/models").status_code == 200
            assert c.post("/chat/completions", json=chat_body()).status_code == 200
            r = c.post(
                "/chat/completions",
                content=b'{"model": "gpt-5", "messages": []}',
                headers={"transfer-encoding": "chunked"},
            )
            assert r.status_code == 200
    assert [r.client_ip for r in gw.requests] == ["127.0.0.1"] * 3
    server.close()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.base_url + "/models")


def test_keep_alive_reuses_one_connection(gw: FakeGateway, key: str) -> None:
    ports: set[int] = set()
    with gw.serve() as server, httpx.Client(base_url=server.base_url, headers=bearer(key)) as c:
        for i in range(4):
            stream = i % 2 == 1
            with c.stream("POST", "/chat/completions", json=chat_body(stream=stream)) as r:
                r.read()
                info = r.extensions["network_stream"].get_extra_info("client_addr")
                ports.add(info[1])
    assert len(ports) == 1


def test_server_uses_the_peer_address_and_ignores_forwarded_for(key: str) -> None:
    gw = FakeGateway(client_ip="10.0.0.1")  # the transports' default; the server uses the peer
    k = gw.add_key(ip_allow=["10.0.0.0/8"])
    spoof = {"X-Forwarded-For": "10.0.0.9"}
    with gw.serve() as server, httpx.Client(base_url=server.base_url, headers=bearer(k)) as c:
        assert c.get("/models", headers=spoof).status_code == 403
        gw.trust_forwarded_for = True
        assert c.get("/models", headers=spoof).status_code == 200
    assert [r.client_ip for r in gw.requests] == ["127.0.0.1", "10.0.0.9"]


def test_ipv6_loopback_server() -> None:
    if not socket_has_ipv6():
        pytest.skip("no IPv6 loopback")
    gw = FakeGateway()
    k = gw.add_key(ip_allow=["::1/128"])
    with gw.serve("::1") as server, httpx.Client(base_url=server.base_url, headers=bearer(k)) as c:
        assert server.base_url.startswith("http://[::1]:")
        assert c.get("/models").status_code == 200


def socket_has_ipv6() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_threaded_requests_are_all_logged(gw: FakeGateway, key: str) -> None:
    gw.upstream.always(Outcome.slow(0.02))
    errors: list[BaseException] = []
    with gw.serve() as server:

        def worker() -> None:
            try:
                with httpx.Client(base_url=server.base_url, headers=bearer(key)) as c:
                    for _ in range(5):
                        assert c.post("/chat/completions", json=chat_body()).status_code == 200
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(gw.requests) == 40 and len({r.request_id for r in gw.requests}) == 40
    assert gw.key_info(key).spent_usd == pytest.approx(0.4)


def test_close_ends_open_keep_alive_connections(gw: FakeGateway, key: str) -> None:
    server = gw.serve()
    c = httpx.Client(base_url=server.base_url, headers=bearer(key))
    assert c.get("/models").status_code == 200
    server.close()
    with pytest.raises(httpx.TransportError):
        c.get("/models")
    c.close()


def test_module_main_serves_models() -> None:
    root = Path(torouter.testing.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "torouter.testing", "--port", "0", "--key", "sk-test-main-0001"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("PORT ")
        port = int(lines[0].split()[1])
        assert lines[1] == f"BASE_URL http://127.0.0.1:{port}/v1"
        assert lines[2] == "KEY sk-test-main-0001"
        r = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=bearer("sk-test-main-0001"))
        assert r.status_code == 200 and r.json()["object"] == "list"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
