"""Per-key limits and account state (api doc §7): each check, its error, and billing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from torouter.testing import FakeClock, FakeGateway

from .conftest import ClientFactory, bearer, chat_body


def err(r: httpx.Response) -> tuple[int, object]:
    e = r.json()["error"]
    return r.status_code, e["type"] if isinstance(e, dict) else e


def test_missing_unknown_disabled_and_deleted_keys(gw: FakeGateway, connect: ClientFactory) -> None:
    anon = connect(gw)
    assert err(anon.post("/chat/completions", json=chat_body())) == (401, "API_KEY_REQUIRED")
    r = anon.post("/chat/completions", json=chat_body(), headers={"Authorization": "Basic x"})
    assert err(r) == (401, "API_KEY_REQUIRED")
    assert err(connect(gw, "sk-nope").get("/models")) == (401, "INVALID_API_KEY")
    k = gw.add_key(enabled=False)
    assert err(connect(gw, k).get("/models")) == (401, "API_KEY_DISABLED")
    gw.update_key(k, enabled=True)
    assert connect(gw, k).get("/models").status_code == 200
    gw.delete_key(k)
    assert err(connect(gw, k).get("/models")) == (401, "INVALID_API_KEY")


@pytest.mark.parametrize("param", ["key", "api_key"])
def test_key_in_query_is_rejected(
    gw: FakeGateway, key: str, connect: ClientFactory, param: str
) -> None:
    r = connect(gw).get("/models", params={param: key})
    assert err(r) == (400, "api_key_in_query_deprecated")
    # even alongside a valid header
    r = connect(gw, key).get("/models", params={param: key})
    assert r.status_code == 400


def test_expiry_in_days_and_as_datetime(
    gw: FakeGateway, clock: FakeClock, connect: ClientFactory
) -> None:
    in_days = gw.add_key(expires_at=30)
    never = gw.add_key(expires_at=0)
    at = gw.add_key(expires_at=datetime.fromtimestamp(clock() + 3600, tz=timezone.utc))
    naive = gw.add_key(
        expires_at=datetime.fromtimestamp(clock() + 7200, tz=timezone.utc).replace(tzinfo=None)
    )
    for k in (in_days, never, at, naive):
        assert connect(gw, k).get("/models").status_code == 200
    clock.advance(3600)
    assert err(connect(gw, at).get("/models")) == (403, "API_KEY_EXPIRED")
    assert connect(gw, naive).get("/models").status_code == 200
    clock.advance(3600)
    assert connect(gw, naive).get("/models").status_code == 403
    clock.advance(30 * 86400)
    assert err(connect(gw, in_days).get("/models")) == (403, "API_KEY_EXPIRED")
    assert connect(gw, never).get("/models").status_code == 200


def test_expiry_status_in_limits_dialect(clock: FakeClock, connect: ClientFactory) -> None:
    gw = FakeGateway(clock=clock, dialect="limits")
    k = gw.add_key(expires_at=1)
    clock.advance(timedelta(days=2).total_seconds())
    assert err(connect(gw, k).get("/models")) == (401, "API_KEY_EXPIRED")


def test_user_states(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key(user="ann")
    c = connect(gw, k)
    gw.set_user_state("ann", "inactive")
    assert err(c.get("/models")) == (401, "USER_INACTIVE")
    gw.set_user_state("ann", "missing")
    assert err(c.get("/models")) == (401, "USER_NOT_FOUND")
    gw.set_user_state("ann", "active")
    assert c.get("/models").status_code == 200


CIDR_CASES = [
    # allow, block, client ip, allowed?
    ((), (), "203.0.113.9", True),
    (("10.0.0.0/24",), (), "10.0.0.77", True),
    (("10.0.0.0/24",), (), "10.0.1.1", False),
    (("10.0.0.5/32",), (), "10.0.0.5", True),
    (("10.0.0.5",), (), "10.0.0.6", False),
    ((), ("192.168.0.0/16",), "192.168.3.4", False),
    ((), ("192.168.0.0/16",), "8.8.8.8", True),
    (("10.0.0.0/8",), ("10.1.0.0/16",), "10.2.0.1", True),
    (("10.0.0.0/8",), ("10.1.0.0/16",), "10.1.0.1", False),
    (("10.0.0.0/8",), ("10.1.0.0/16",), "11.0.0.1", False),
    (("2001:db8::/32",), (), "2001:db8::1", True),
    (("2001:db8::/32",), (), "2001:db9::1", False),
    (("2001:db8::1/128",), (), "2001:db8::2", False),
    ((), ("2001:db8::/48",), "2001:db8:0:1::1", False),
    ((), ("2001:db8::/48",), "2001:db8:1::1", True),
    (("2001:db8::/32",), ("2001:db8:dead::/48",), "2001:db8:dead::9", False),
    (("10.0.0.0/8",), (), "2001:db8::1", False),  # v6 client, v4-only allowlist
    (("10.0.0.0/8",), (), "::ffff:10.0.0.1", True),  # IPv4-mapped IPv6
    (("10.0.0.0/8",), (), "not-an-ip", False),
]


@pytest.mark.parametrize(("allow", "block", "ip", "ok"), CIDR_CASES)
def test_ip_rules(
    gw: FakeGateway,
    connect: ClientFactory,
    allow: tuple[str, ...],
    block: tuple[str, ...],
    ip: str,
    ok: bool,
) -> None:
    k = gw.add_key(ip_allow=allow, ip_block=block)
    r = connect(gw, k, client_ip=ip).post("/chat/completions", json=chat_body())
    if ok:
        assert r.status_code == 200
    else:
        assert r.status_code == 403
        assert r.json() == {"error": {"type": "ACCESS_DENIED", "message": "ip not allowed"}}
        assert gw.requests[-1].cost_usd == 0


def test_ip_rules_from_string_and_limits_dialect(connect: ClientFactory) -> None:
    gw = FakeGateway(dialect="limits", client_ip="198.51.100.7")
    k = gw.add_key(ip_allow="10.0.0.0/8\n 2001:db8::/32 ,192.0.2.1")
    r = connect(gw, k).get("/models")
    assert r.status_code == 401
    assert r.json() == {"error": {"type": "ACCESS_DENIED", "message": "ip not allowed"}}
    assert connect(gw, k, client_ip="192.0.2.1").get("/models").status_code == 200
    assert connect(gw, k, client_ip="2001:db8::5").get("/models").status_code == 200


def test_forwarded_for_is_ignored_unless_trusted(connect: ClientFactory) -> None:
    spoof = {"X-Forwarded-For": "10.0.0.1, 172.16.0.1"}
    untrusted = FakeGateway()
    k = untrusted.add_key(ip_allow=["10.0.0.0/8"])
    assert connect(untrusted, k).get("/models", headers=spoof).status_code == 403
    trusted = FakeGateway(trust_forwarded_for=True)
    k = trusted.add_key(ip_allow=["10.0.0.0/8"])
    assert connect(trusted, k).get("/models", headers=spoof).status_code == 200
    assert trusted.requests[-1].client_ip == "10.0.0.1"


@pytest.mark.parametrize(
    ("whitelist", "model", "ok"),
    [
        ("", "claude-opus-4-7", True),
        ("gpt-5", "gpt-5", True),
        ("gpt-5", "gpt-5-thinking", True),
        ("gpt-5", "gpt-5-mini", False),
        ("gpt-5-thinking", "gpt-5", False),
        ("gpt-5-thinking", "gpt-5-thinking", True),
        (" gpt-5 , claude-opus-4-7 ", "claude-opus-4-7", True),
        ("gpt-5,,", "o3", False),
        ("openai/gpt-5", "gpt-5", False),
        ("gpt-5", "openai/gpt-5", False),
        ("openai/gpt-5", "openai/gpt-5", True),
    ],
)
def test_model_whitelist(
    gw: FakeGateway, connect: ClientFactory, whitelist: str, model: str, ok: bool
) -> None:
    k = gw.add_key(models=whitelist)
    r = connect(gw, k).post("/chat/completions", json=chat_body(model))
    if ok:
        assert r.status_code == 200
        assert gw.account().balance_usd < 100
    else:
        assert err(r) == (403, "ACCESS_DENIED")
        assert gw.key_info(k).spent_usd == 0
        assert gw.account().balance_usd == 100


def test_model_whitelist_limits_dialect(connect: ClientFactory) -> None:
    gw = FakeGateway(dialect="limits")
    k = gw.add_key(models=["gpt-5"])
    r = connect(gw, k).post("/chat/completions", json=chat_body("o3"))
    assert err(r) == (403, "model_not_allowed")
    assert "o3" in r.json()["error"]["message"]


def test_models_list_is_filtered_by_whitelist(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key(models="gpt-5, text-embedding-3-large")
    ids = [m["id"] for m in connect(gw, k).get("/models").json()["data"]]
    assert ids == ["gpt-5", "text-embedding-3-large"]


def test_spend_cap_is_charged_per_request(gw: FakeGateway, connect: ClientFactory) -> None:
    gw.catalog["gpt-5"].price_usd = 0.25
    k = gw.add_key(quota_usd=1)
    c = connect(gw, k)
    for _ in range(4):
        assert c.post("/chat/completions", json=chat_body()).status_code == 200
    assert gw.key_info(k).spent_usd == pytest.approx(1.0)
    assert [r.cost_usd for r in gw.requests] == [0.25] * 4
    r = c.post("/chat/completions", json=chat_body())
    assert err(r) == (429, "API_KEY_QUOTA_EXHAUSTED")
    assert gw.key_info(k).spent_usd == pytest.approx(1.0)  # blocked: not billed
    assert gw.account().balance_usd == pytest.approx(99.0)
    gw.update_key(k, quota_usd=2)  # raising the cap unblocks
    assert c.post("/chat/completions", json=chat_body()).status_code == 200


def test_spend_cap_status_in_limits_dialect(connect: ClientFactory) -> None:
    gw = FakeGateway(dialect="limits")
    gw.add_model("pricey", price_usd=5)
    k = gw.add_key(quota_usd=5)
    c = connect(gw, k)
    assert c.post("/chat/completions", json=chat_body("pricey")).status_code == 200
    assert err(c.post("/chat/completions", json=chat_body("pricey"))) == (
        402,
        "API_KEY_QUOTA_EXHAUSTED",
    )


@pytest.mark.parametrize(("dialect", "status"), [("reference", 403), ("limits", 402)])
def test_insufficient_balance(connect: ClientFactory, dialect: str, status: int) -> None:
    gw = FakeGateway(dialect=dialect)  # type: ignore[arg-type]
    gw.add_model("pricey", price_usd=60)
    k = gw.add_key(user="bob")
    c = connect(gw, k)
    assert c.post("/chat/completions", json=chat_body("pricey")).status_code == 200
    assert c.post("/chat/completions", json=chat_body("pricey")).status_code == 200
    assert gw.account("bob").balance_usd == pytest.approx(-20)
    assert err(c.post("/chat/completions", json=chat_body("pricey"))) == (
        status,
        "INSUFFICIENT_BALANCE",
    )
    gw.set_balance("bob", 0)
    assert c.post("/chat/completions", json=chat_body()).status_code == status
    gw.set_balance("bob", 1)
    assert c.post("/chat/completions", json=chat_body()).status_code == 200


def test_subscription_states(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key(user="sub", requires_subscription=True)
    gw.set_balance("sub", 0)  # a subscription key ignores the pay-per-token balance
    c = connect(gw, k)
    assert err(c.post("/chat/completions", json=chat_body())) == (403, "SUBSCRIPTION_NOT_FOUND")
    for state in ("paused", "cancelled"):
        gw.set_subscription("sub", state)
        assert err(c.post("/chat/completions", json=chat_body())) == (403, "SUBSCRIPTION_INVALID")
    gw.set_subscription("sub", "active")
    assert c.post("/chat/completions", json=chat_body()).status_code == 200
    assert gw.account("sub").balance_usd == 0  # not charged to the balance
    assert gw.key_info(k).spent_usd > 0


def test_usage_window_exhausted(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key(user="u")
    c = connect(gw, k)
    gw.exhaust_usage_window("u", "weekly")
    r = c.post("/chat/completions", json=chat_body())
    assert err(r) == (429, "USAGE_LIMIT_EXCEEDED")
    assert "weekly" in r.json()["error"]["message"]
    gw.exhaust_usage_window("u", "weekly", exhausted=False)
    assert c.post("/chat/completions", json=chat_body()).status_code == 200


def test_sliding_windows(gw: FakeGateway, clock: FakeClock, connect: ClientFactory) -> None:
    k = gw.add_key(windows=(2, 3, 4))
    c = connect(gw, k)

    def call() -> int:
        return c.post("/chat/completions", json=chat_body()).status_code

    assert [call(), call()] == [200, 200]
    r = c.post("/chat/completions", json=chat_body())
    assert r.status_code == 429 and r.json() == {"error": "rate limit exceeded"}
    assert "retry-after" not in r.headers
    clock.advance(5 * 3600)  # the ~5 h window slides; 24 h has room for one more
    assert [call(), call()] == [200, 429]
    clock.advance(24 * 3600)  # 7 d window: 3 used, room for one
    assert [call(), call()] == [200, 429]
    clock.advance(7 * 86400)
    assert call() == 200
    assert gw.key_info(k).spent_usd == pytest.approx(0.01 * 5)  # rejected calls not billed


def test_windows_zero_means_disabled(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key(windows=(0, 1, 0))
    c = connect(gw, k)
    assert c.post("/chat/completions", json=chat_body()).status_code == 200
    assert c.post("/chat/completions", json=chat_body()).status_code == 429


def test_per_ip_rate_limit(clock: FakeClock, connect: ClientFactory) -> None:
    gw = FakeGateway(clock=clock, ip_rate_limit=(2, 60), retry_after=7)
    k = gw.add_key()
    c = connect(gw, k)
    assert [c.get("/models").status_code for _ in range(3)] == [200, 200, 429]
    r = c.get("/models")
    assert r.json() == {"error": "rate limit exceeded"} and r.headers["retry-after"] == "7"
    assert connect(gw, k, client_ip="10.9.9.9").get("/models").status_code == 200
    clock.advance(60)
    assert c.get("/models").status_code == 200


def test_keys_are_masked_everywhere(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key()
    assert k.startswith("sk-fake-") and len(k) == 8 + 32
    connect(gw, k).get("/models")
    connect(gw, "sk-wrong-key-1234").get("/models")
    masked = f"sk-…{k[-4:]}"
    assert gw.requests[0].key == masked
    assert gw.requests[1].key == "sk-…1234"
    for text in (repr(gw), repr(gw.key_info(k)), repr(gw.requests), str(gw.requests[0])):
        assert k not in text
    assert masked in repr(gw)


def test_key_generation_is_deterministic() -> None:
    a, b = FakeGateway(seed=3), FakeGateway(seed=3)
    assert [a.add_key() for _ in range(3)] == [b.add_key() for _ in range(3)]
    assert FakeGateway(seed=4).add_key() != FakeGateway(seed=3).add_key()
    gw = FakeGateway()
    assert gw.add_key(key="sk-mine-0001") == "sk-mine-0001"


def test_bearer_only_on_openai_shape(connect: ClientFactory) -> None:
    gw = FakeGateway()
    k = gw.add_key()
    assert connect(gw).get("/models", headers={"x-api-key": k}).status_code == 401
    assert connect(gw).get("/models", headers=bearer(k)).status_code == 200
    anth = FakeGateway(error_shape="anthropic")
    k = anth.add_key()
    assert connect(anth).get("/models", headers={"x-api-key": k}).status_code == 200
    gem = FakeGateway(error_shape="gemini")
    k = gem.add_key()
    assert connect(gem).get("/models", headers={"x-goog-api-key": k}).status_code == 200


def test_update_key_rejects_unknown_fields(gw: FakeGateway, key: str) -> None:
    with pytest.raises(TypeError):
        gw.update_key(key, colour="red")
    with pytest.raises(KeyError) as info:
        gw.update_key("sk-fake-doesnotexist-9999")
    assert "9999" in str(info.value) and "doesnotexist" not in str(info.value)


def test_request_log_keeps_masked_headers_and_the_body(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    c = connect(gw, key)
    c.post("/chat/completions", json=chat_body(stream=False), headers={"x-trace": "t1"})
    c.post("/chat/completions", content=b"{oops")
    first, second = gw.requests
    assert first.headers["authorization"] == f"Bearer sk-…{key[-4:]}"
    assert first.headers["x-trace"] == "t1"
    assert first.body == chat_body(stream=False)
    assert second.body is None and second.status == 400
    assert key not in repr(first.headers)


def test_invalid_bodies_do_not_use_up_window_slots(gw: FakeGateway, connect: ClientFactory) -> None:
    k = gw.add_key(windows=(1, 0, 0))
    c = connect(gw, k)
    bad = {"model": "gpt-5", "messages": "not a list"}
    assert [c.post("/chat/completions", json=bad).status_code for _ in range(3)] == [400] * 3
    assert c.post("/chat/completions", json=chat_body("unknown-model")).status_code == 404
    assert c.post("/chat/completions", json=chat_body()).status_code == 200
    assert c.post("/chat/completions", json=chat_body()).status_code == 429
