"""Error codes, statuses per dialect, body shapes, x-request-id and Retry-After (§3, §4, §11)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from torouter.testing import RATE_LIMIT, FakeGateway, Outcome

from .conftest import ClientFactory, chat_body

# code → (reference status, limits status)
DOCUMENTED = {
    "API_KEY_REQUIRED": (401, 401),
    "INVALID_API_KEY": (401, 401),
    "API_KEY_DISABLED": (401, 401),
    "API_KEY_EXPIRED": (403, 401),
    "API_KEY_QUOTA_EXHAUSTED": (429, 402),
    "USER_NOT_FOUND": (401, 401),
    "USER_INACTIVE": (401, 401),
    "ACCESS_DENIED": (403, 401),
    "model_not_allowed": (403, 403),
    "SUBSCRIPTION_NOT_FOUND": (403, 403),
    "SUBSCRIPTION_INVALID": (403, 403),
    "INSUFFICIENT_BALANCE": (403, 402),
    "USAGE_LIMIT_EXCEEDED": (429, 429),
    "api_key_in_query_deprecated": (400, 400),
    "invalid_request_error": (400, 400),
    "upstream_unavailable": (502, 502),
}


@pytest.mark.parametrize("dialect", ["reference", "limits"])
@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_forced_errors_use_the_dialect_status(
    connect: ClientFactory, dialect: str, code: str
) -> None:
    gw = FakeGateway(dialect=dialect)  # type: ignore[arg-type]
    k = gw.add_key()
    gw.fail_next(code)
    r = connect(gw, k).post("/chat/completions", json=chat_body())
    assert r.status_code == DOCUMENTED[code][dialect == "limits"]
    assert r.json()["error"]["type"] == code
    assert isinstance(r.json()["error"]["message"], str)
    assert gw.requests[-1].code == code and gw.requests[-1].cost_usd == 0


def _status_and_type(gw: FakeGateway, connect: ClientFactory, key: str) -> tuple[int, str]:
    r = connect(gw, key).post("/chat/completions", json=chat_body("o3"))
    return r.status_code, r.json()["error"]["type"]


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            "reference",
            {
                "expired": (403, "API_KEY_EXPIRED"),
                "quota": (429, "API_KEY_QUOTA_EXHAUSTED"),
                "balance": (403, "INSUFFICIENT_BALANCE"),
                "ip": (403, "ACCESS_DENIED"),
                "model": (403, "ACCESS_DENIED"),
            },
        ),
        (
            "limits",
            {
                "expired": (401, "API_KEY_EXPIRED"),
                "quota": (402, "API_KEY_QUOTA_EXHAUSTED"),
                "balance": (402, "INSUFFICIENT_BALANCE"),
                "ip": (401, "ACCESS_DENIED"),
                "model": (403, "model_not_allowed"),
            },
        ),
    ],
)
def test_contradictions_follow_the_dialect(
    connect: ClientFactory, dialect: str, expected: dict[str, tuple[int, str]]
) -> None:
    """§11 items 1-5, produced by the real checks rather than forced."""
    gw = FakeGateway(dialect=dialect, clock=lambda: 1_000_000.0)  # type: ignore[arg-type]
    expired = gw.add_key(expires_at=datetime(1970, 1, 2, tzinfo=timezone.utc))
    quota = gw.add_key(quota_usd=0.001, user="q")
    gw.key_info(quota).spent_usd = 0.001
    balance = gw.add_key(user="poor")
    gw.set_balance("poor", 0)
    ip = gw.add_key(ip_block=["127.0.0.0/8"])
    model = gw.add_key(models="gpt-5")
    got = {
        name: _status_and_type(gw, connect, k)
        for name, k in [
            ("expired", expired),
            ("quota", quota),
            ("balance", balance),
            ("ip", ip),
            ("model", model),
        ]
    }
    assert got == expected


def test_error_shapes(connect: ClientFactory) -> None:
    bodies = {}
    for shape in ("openai", "anthropic", "gemini"):
        gw = FakeGateway(error_shape=shape)
        gw.add_key()
        bodies[shape] = connect(gw, "sk-unknown").get("/models")
        assert bodies[shape].status_code == 401
    assert bodies["openai"].json() == {
        "error": {"type": "INVALID_API_KEY", "message": "invalid API key"}
    }
    assert bodies["anthropic"].json() == {
        "type": "error",
        "error": {"type": "INVALID_API_KEY", "message": "invalid API key"},
    }
    assert bodies["gemini"].json() == {
        "error": {"code": 401, "message": "invalid API key", "status": "INVALID_API_KEY"}
    }


@pytest.mark.parametrize("shape", ["openai", "anthropic", "gemini"])
def test_rate_limit_body_is_code_less_on_every_surface(connect: ClientFactory, shape: str) -> None:
    gw = FakeGateway(error_shape=shape)  # type: ignore[arg-type]
    k = gw.add_key()
    gw.fail_next(RATE_LIMIT, retry_after=2)
    r = connect(gw, k).post("/chat/completions", json=chat_body())
    assert r.status_code == 429 and r.json() == {"error": "rate limit exceeded"}
    assert r.headers["retry-after"] == "2"


@pytest.mark.parametrize("shape", ["openai", "anthropic", "gemini"])
def test_plain_errors_have_no_code(connect: ClientFactory, shape: str) -> None:
    gw = FakeGateway(error_shape=shape)  # type: ignore[arg-type]
    k = gw.add_key()
    r = connect(gw, k).post("/chat/completions", json=chat_body("no-such-model"))
    assert r.status_code == 404
    body = r.json()
    inner = body["error"]
    assert "no-such-model" in inner["message"]
    if shape == "gemini":
        assert inner["status"] == "NOT_FOUND" and inner["code"] == 404
    else:
        assert "type" not in inner
    assert (body.get("type") == "error") == (shape == "anthropic")


def test_unknown_paths_and_methods_are_404(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    c = connect(gw, key)
    assert c.post("/responses", json={}).status_code == 404
    assert c.get("/chat/completions").status_code == 404
    assert connect(gw).get("http://gateway.test/nothing").status_code == 404  # before auth


def test_api_v1_prefix_is_an_alias(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    c = connect(gw, key)
    assert c.get("http://gateway.test/api/v1/models").json()["object"] == "list"
    r = c.post("http://gateway.test/api/v1/chat/completions", json=chat_body())
    assert r.status_code == 200
    assert gw.requests[-1].path == "/api/v1/chat/completions"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"messages": []}', "'model'"),
        (b'{"model": "gpt-5", "messages": "hi"}', "'messages'"),
        (b'{"model": "text-embedding-3-large", "messages": []}', "does not support"),
    ],
)
def test_bad_request_bodies(
    gw: FakeGateway, key: str, connect: ClientFactory, body: bytes, fragment: str
) -> None:
    r = connect(gw, key).post("/chat/completions", content=body)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert fragment in r.json()["error"]["message"]
    assert gw.key_info(key).spent_usd == 0


def test_x_request_id_on_every_response(gw: FakeGateway, key: str, frontend: ClientFactory) -> None:
    c = frontend(gw, key)
    responses = [
        c.get("/models"),
        c.post("/chat/completions", json=chat_body()),
        c.post("/chat/completions", json=chat_body("nope")),
        c.post("/chat/completions", content=b"{"),
        frontend(gw).get("/models"),
        c.get("/models", params={"key": "x"}),
        c.post("/images/generations", json={}),
    ]
    gw.fail_next(503, retry_after=1)
    responses.append(c.post("/chat/completions", json=chat_body()))
    with c.stream("POST", "/chat/completions", json=chat_body(stream=True)) as s:
        s.read()
        responses.append(s)
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == [rec.request_id for rec in gw.requests]
    assert responses[7].status_code == 503 and responses[7].headers["retry-after"] == "1"


def test_request_ids_are_deterministic(connect: ClientFactory) -> None:
    def run() -> list[str]:
        gw = FakeGateway(seed=11)
        c = connect(gw, gw.add_key())
        return [c.get("/models").headers["x-request-id"] for _ in range(3)]

    assert run() == run()


def test_retry_after_option_applies_to_429_and_503_only(connect: ClientFactory) -> None:
    gw = FakeGateway(retry_after=1.5)
    k = gw.add_key()
    c = connect(gw, k)
    gw.script(
        Outcome.no_channel(),
        Outcome.upstream_unavailable(502),
        Outcome.rate_limited(),
        Outcome.error("USAGE_LIMIT_EXCEEDED"),
    )
    got = [c.post("/chat/completions", json=chat_body()) for _ in range(4)]
    assert [(r.status_code, r.headers.get("retry-after")) for r in got] == [
        (503, "1.5"),
        (502, None),
        (429, "1.5"),
        (429, "1.5"),
    ]
    assert got[0].json()["error"]["type"] == "upstream_unavailable"


def test_error_body_is_json_with_content_type(gw: FakeGateway, connect: ClientFactory) -> None:
    r = connect(gw).get("/models")
    assert r.headers["content-type"] == "application/json"
    assert json.loads(r.content) == r.json()
