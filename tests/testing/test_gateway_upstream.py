"""Scripted upstream behaviour and failover (§6): forced errors, channels, drops, latency."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from torouter.testing import FakeGateway, Outcome

from .conftest import ClientFactory, chat_body


def post(c: httpx.Client, **kw: object) -> httpx.Response:
    return c.post("/chat/completions", json=chat_body(**kw))  # type: ignore[arg-type]


def test_fail_next_then_recover(gw: FakeGateway, key: str, frontend: ClientFactory) -> None:
    c = frontend(gw, key)
    gw.fail_next("upstream_unavailable", times=2, retry_after=3)
    got = [post(c) for _ in range(3)]
    assert [r.status_code for r in got] == [502, 502, 200]
    assert got[0].json() == {
        "error": {"type": "upstream_unavailable", "message": "Service temporarily unavailable"}
    }
    assert got[0].headers["retry-after"] == "3"
    assert [r.outcome for r in gw.requests] == ["scripted", "scripted", "ok"]
    assert [r.cost_usd for r in gw.requests] == [0, 0, 0.01]


@pytest.mark.parametrize(
    ("outcome", "status", "type_"),
    [
        (Outcome.upstream_unavailable(503), 503, "upstream_unavailable"),
        (Outcome.no_channel(), 503, "upstream_unavailable"),
        (Outcome.no_channel(plain=True), 503, None),
        (Outcome.plain(502), 502, None),
        (Outcome.plain(500), 500, None),
        (Outcome.timeout(), 504, None),
        (Outcome.error("INSUFFICIENT_BALANCE", status=402), 402, "INSUFFICIENT_BALANCE"),
        (Outcome.content_policy("nope"), 400, "invalid_request_error"),
    ],
)
def test_gateway_level_outcomes(
    gw: FakeGateway,
    key: str,
    connect: ClientFactory,
    outcome: Outcome,
    status: int,
    type_: str | None,
) -> None:
    gw.script(outcome)
    r = post(connect(gw, key))
    assert r.status_code == status
    assert r.json()["error"].get("type") == type_


def test_content_policy_is_relayed(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.upstream.channel().script(Outcome.content_policy("unsafe input"))
    gw.upstream.add_channel("backup")
    r = post(connect(gw, key))
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "type": "invalid_request_error",
            "message": "unsafe input",
            "code": "content_policy_violation",
        }
    }
    assert gw.requests[-1].attempts == ("default",)  # never failed over


def test_raw_outcome(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.script(Outcome.raw(418, '{"weird": true}', headers=(("x-extra", "1"),)))
    r = post(connect(gw, key))
    assert (r.status_code, r.json(), r.headers["x-extra"]) == (418, {"weird": True}, "1")
    assert "x-request-id" in r.headers
    gw.script(Outcome.raw(200, "plain text", headers=(("Content-Type", "text/plain"),)))
    r = post(connect(gw, key))
    assert r.headers.get_list("content-type") == ["text/plain"] and r.text == "plain text"


def test_always_and_clear(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    c = connect(gw, key)
    gw.upstream.always(Outcome.plain(500))
    gw.script(Outcome.ok("first"))
    assert post(c).json()["choices"][0]["message"]["content"] == "first"
    assert [post(c).status_code for _ in range(3)] == [500] * 3
    gw.upstream.always(None)
    assert post(c).status_code == 200
    gw.fail_next(503, times=5)
    assert gw.upstream.pending == 5
    gw.upstream.clear()
    assert post(c).status_code == 200


def test_scripts_skip_the_models_list_unless_targeted(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    c = connect(gw, key)
    gw.fail_next(503)
    assert c.get("/models").status_code == 200
    assert post(c).status_code == 503
    gw.fail_next(500, path="/models")
    gw.fail_next(502, path="/embeddings")
    assert post(c).status_code == 200
    assert c.get("/models").status_code == 500
    assert (
        c.post("/embeddings", json={"model": "text-embedding-3-large", "input": "x"}).status_code
        == 502
    )


def test_gateway_checks_run_before_scripts(gw: FakeGateway, connect: ClientFactory) -> None:
    gw.fail_next(503)
    assert post(connect(gw, "sk-invalid-0000")).status_code == 401
    assert gw.upstream.pending == 1


def test_failover_to_a_backup_channel(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.upstream.add_channel("backup", priority=10)
    gw.upstream.channel("default").script(
        Outcome.plain(500),
        Outcome.rate_limited(),
        Outcome.timeout(),
        Outcome.disconnect(),
        Outcome.error("INVALID_API_KEY"),
    )
    c = connect(gw, key)
    for _ in range(5):
        assert post(c).status_code == 200
        assert gw.requests[-1].attempts == ("default", "backup")
        assert gw.requests[-1].channel == "backup"
    assert post(c).status_code == 200
    assert gw.requests[-1].attempts == ("default",)  # priority 0 preferred again


@pytest.mark.parametrize("status", [400, 404, 422])
def test_client_errors_from_a_channel_are_not_failed_over(
    gw: FakeGateway, key: str, connect: ClientFactory, status: int
) -> None:
    gw.upstream.add_channel("backup")
    gw.upstream.channel("default").script(Outcome.plain(status, message="from upstream"))
    gw.upstream.channel("backup").script(Outcome.plain(status, message="from upstream"))
    r = post(connect(gw, key))
    assert r.status_code == status and r.json()["error"]["message"] == "from upstream"
    assert len(gw.requests[-1].attempts) == 1


def test_failover_exhausted(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.upstream.add_channel("b", priority=1)
    gw.upstream.add_channel("c", priority=2)
    for ch in gw.upstream.channels:
        ch.always(Outcome.plain(503))
    c = connect(gw, key)
    r = post(c)
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_unavailable"
    assert gw.requests[-1].attempts == ("default", "b", "c")
    assert gw.requests[-1].outcome == "failover_exhausted" and gw.requests[-1].cost_usd == 0
    for ch in gw.upstream.channels:
        ch.always(Outcome.timeout())
    r = post(c)
    assert r.status_code == 504 and "type" not in r.json()["error"]


def test_no_eligible_channel(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    c = connect(gw, key)
    gw.upstream.channel().models = frozenset({"o3"})
    r = post(c)
    assert r.status_code == 503 and r.json()["error"]["type"] == "upstream_unavailable"
    assert post(c, model="o3").status_code == 200
    gw.upstream.remove_channel("default")
    assert post(c, model="o3").status_code == 503


def test_equal_priority_rotates_least_recently_used(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    gw.upstream.add_channel("b")
    gw.upstream.add_channel("c")
    c = connect(gw, key)
    served: list[str | None] = []
    for _ in range(6):
        post(c)
        served.append(gw.requests[-1].channel)
    assert set(served[:3]) == {"b", "c", "default"}
    assert served[3:] == served[:3]


def test_channel_latencies_add_up(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.upstream.add_channel("b", priority=1)
    gw.upstream.channel().script(Outcome.plain(500, latency=0.03))
    gw.upstream.channel("b").script(Outcome.ok(latency=0.03))
    t0 = time.perf_counter()
    assert post(connect(gw, key)).status_code == 200
    assert time.perf_counter() - t0 >= 0.06


@pytest.mark.parametrize("after", [0, 1, 3, 100])
def test_stream_drop(gw: FakeGateway, key: str, frontend: ClientFactory, after: int) -> None:
    c = frontend(gw, key)
    gw.script(Outcome.drop(after=after))
    got: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        c.stream("POST", "/chat/completions", json=chat_body(text="a b c d e", stream=True)) as r,
    ):
        assert r.status_code == 200
        got.extend(line for line in r.iter_lines() if line)
    assert "data: [DONE]" not in got
    assert len(got) == min(after, 7)  # role + 5 words + stop; [DONE] never arrives
    assert gw.requests[-1].outcome == "drop"
    # the connection pool recovers
    assert post(c).status_code == 200


def test_transport_drop_is_also_a_read_error(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    gw.script(Outcome.drop(after=1))
    with (
        pytest.raises(httpx.ReadError),
        connect(gw, key).stream("POST", "/chat/completions", json=chat_body(stream=True)) as r,
    ):
        r.read()


def test_disconnect_without_response(gw: FakeGateway, key: str, frontend: ClientFactory) -> None:
    c = frontend(gw, key)
    gw.script(Outcome.disconnect())
    with pytest.raises(httpx.RemoteProtocolError):
        post(c)
    gw.script(Outcome.drop(2))  # a drop on a non-streaming request: no response either
    with pytest.raises(httpx.RemoteProtocolError):
        post(c)
    assert [r.status for r in gw.requests] == [0, 0]
    assert post(c).status_code == 200


def test_mid_stream_error_event(gw: FakeGateway, key: str, frontend: ClientFactory) -> None:
    c = frontend(gw, key)
    gw.script(Outcome.stream_error(after=2, message="boom"))
    with c.stream("POST", "/chat/completions", json=chat_body(text="a b c", stream=True)) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line]
    assert len(lines) == 3 and "data: [DONE]" not in lines
    assert json.loads(lines[-1][len("data: ") :]) == {
        "error": {"type": "upstream_unavailable", "message": "boom"}
    }
    assert post(c).status_code == 200  # keep-alive connection still usable


def test_stream_error_on_a_non_streaming_request(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    gw.script(Outcome.stream_error(after=2))
    r = post(connect(gw, key))
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_unavailable"


def test_latency_sleeps_before_answering(
    gw: FakeGateway, key: str, frontend: ClientFactory
) -> None:
    c = frontend(gw, key)
    gw.script(Outcome.slow(0.08))
    t0 = time.perf_counter()
    assert post(c).status_code == 200
    assert time.perf_counter() - t0 >= 0.08


def test_client_read_timeout_against_the_socket_server(gw: FakeGateway, key: str) -> None:
    gw.script(Outcome.slow(0.5))
    with gw.serve() as server, httpx.Client(base_url=server.base_url, timeout=0.05) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        with pytest.raises(httpx.ReadTimeout):
            post(c)


def test_chunk_delay_slows_the_stream(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    gw.script(Outcome.ok("a b c", chunk_delay=0.02))
    t0 = time.perf_counter()
    with connect(gw, key).stream("POST", "/chat/completions", json=chat_body(stream=True)) as r:
        r.read()
    assert time.perf_counter() - t0 >= 0.02 * 5


def test_explicit_retry_after_is_sent_on_any_status(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    gw.fail_next("INSUFFICIENT_BALANCE", retry_after=30)
    gw.fail_next(500, retry_after=0.25)
    c = connect(gw, key)
    assert post(c).headers["retry-after"] == "30"
    assert post(c).headers["retry-after"] == "0.25"


def test_a_failing_reply_callable_is_a_500(
    gw: FakeGateway, key: str, frontend: ClientFactory
) -> None:
    def boom(messages: object) -> str:
        raise RuntimeError("reply broke")

    gw.reply = boom
    r = post(frontend(gw, key))
    assert r.status_code == 500 and "reply broke" in r.json()["error"]["message"]
    assert "x-request-id" in r.headers and gw.requests[-1].outcome == "internal"


def test_channels_match_the_base_id_of_thinking_models(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    gw.upstream.channel().models = frozenset({"gpt-5"})
    c = connect(gw, key)
    assert post(c, model="gpt-5-thinking").status_code == 200
    assert post(c, model="o3-thinking").status_code == 503
