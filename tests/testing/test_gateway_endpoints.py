"""Success payloads: chat JSON, SSE streams, embeddings, the model list (§1.7, §1.8)."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import pytest

from torouter.testing import CatalogModel, FakeClock, FakeGateway, Outcome

from .conftest import ClientFactory, chat_body


def sse_events(resp: httpx.Response) -> list[str]:
    """The ``data:`` payloads of a streamed response, checking the blank-line framing."""
    text = resp.read().decode() if not resp.is_stream_consumed else resp.text
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    assert all(b.startswith("data: ") for b in blocks)
    return [b[len("data: ") :] for b in blocks]


def test_chat_completion_shape(
    gw: FakeGateway, key: str, clock: FakeClock, frontend: ClientFactory
) -> None:
    r = frontend(gw, key).post("/chat/completions", json=chat_body(text="hi you there"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["created"] == int(clock())
    assert body["model"] == "gpt-5"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi you there"},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_echo_uses_the_last_user_message_and_text_parts(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "http://x"}},
                {"type": "text", "text": "here"},
            ],
        },
    ]
    r = connect(gw, key).post("/chat/completions", json={"model": "gpt-5", "messages": msgs})
    assert r.json()["choices"][0]["message"]["content"] == "look here"


def test_scripted_reply_text(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    c = connect(gw, key)
    gw.reply = "fixed answer"
    assert (
        c.post("/chat/completions", json=chat_body()).json()["choices"][0]["message"]["content"]
        == "fixed answer"
    )
    gw.reply = lambda messages: f"{len(messages)} message(s)"
    assert (
        c.post("/chat/completions", json=chat_body()).json()["choices"][0]["message"]["content"]
        == "1 message(s)"
    )
    gw.script(Outcome.ok("one-off"))
    assert (
        c.post("/chat/completions", json=chat_body()).json()["choices"][0]["message"]["content"]
        == "one-off"
    )


def test_thinking_model_has_reasoning(gw: FakeGateway, key: str, connect: ClientFactory) -> None:
    body = (
        connect(gw, key)
        .post("/chat/completions", json=chat_body("claude-opus-4-7-thinking"))
        .json()
    )
    msg = body["choices"][0]["message"]
    assert msg["reasoning_content"] and msg["content"] == "hello there"
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert body["model"] == "claude-opus-4-7-thinking"


def test_stream_format(gw: FakeGateway, key: str, frontend: ClientFactory) -> None:
    c = frontend(gw, key)
    with c.stream(
        "POST", "/chat/completions", json=chat_body(text="one two three", stream=True)
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert pieces == ["one ", "two ", "three"]
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert all("usage" not in c for c in chunks)


def test_stream_include_usage_and_chunk_count(clock: FakeClock, connect: ClientFactory) -> None:
    gw = FakeGateway(clock=clock, stream_chunks=3, reply="abcdefghi")
    c = connect(gw, gw.add_key())
    body = chat_body(stream=True, stream_options={"include_usage": True})
    with c.stream("POST", "/chat/completions", json=body) as r:
        events = sse_events(r)
    chunks = [json.loads(e) for e in events[:-1]]
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:4]] == ["abc", "def", "ghi"]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    assert all(c["usage"] is None for c in chunks[:-1])


def test_thinking_stream_sends_reasoning_first(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    with connect(gw, key).stream(
        "POST", "/chat/completions", json=chat_body("gpt-5-thinking", stream=True)
    ) as r:
        deltas = [json.loads(e)["choices"][0]["delta"] for e in sse_events(r)[1:-2]]
    kinds = ["reasoning_content" if "reasoning_content" in d else "content" for d in deltas]
    assert kinds[0] == "reasoning_content" and kinds[-1] == "content"
    assert kinds == sorted(kinds, key=lambda k: k == "content")
    assert "".join(d.get("reasoning_content", "") for d in deltas) == gw.reasoning_text


def test_embeddings_are_deterministic_unit_vectors(key: str, connect: ClientFactory) -> None:
    def embed(gw: FakeGateway, k: str, **extra: Any) -> dict[str, Any]:
        body = {"model": "text-embedding-3-large", "input": ["a", "b", "a"], **extra}
        r = connect(gw, k).post("/embeddings", json=body)
        assert r.status_code == 200
        data: dict[str, Any] = r.json()
        return data

    gw1, gw2 = FakeGateway(seed=1), FakeGateway(seed=1)
    one, two = embed(gw1, gw1.add_key()), embed(gw2, gw2.add_key())
    assert one == two
    assert one["object"] == "list" and one["model"] == "text-embedding-3-large"
    vecs = [d["embedding"] for d in one["data"]]
    assert [d["index"] for d in one["data"]] == [0, 1, 2]
    assert vecs[0] == vecs[2] != vecs[1] and len(vecs[0]) == 8
    assert sum(v * v for v in vecs[0]) == pytest.approx(1.0, abs=1e-4)
    assert one["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    gw3 = FakeGateway(seed=2)
    assert embed(gw3, gw3.add_key())["data"][0]["embedding"] != vecs[0]
    sized = embed(gw1, gw1.add_key(), dimensions=5, encoding_format="base64")
    raw = base64.b64decode(sized["data"][0]["embedding"])
    assert len(struct.unpack("<5f", raw)) == 5


def test_embeddings_validation_and_billing(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    c = connect(gw, key)
    assert c.post("/embeddings", json={"model": "gpt-5", "input": "x"}).status_code == 400
    assert (
        c.post("/embeddings", json={"model": "text-embedding-3-large", "input": []}).status_code
        == 400
    )
    assert (
        c.post(
            "/embeddings", json={"model": "openai/text-embedding-3-small", "input": "x"}
        ).status_code
        == 200
    )
    assert gw.key_info(key).spent_usd == pytest.approx(0.00002)
    assert (
        gw.requests[-1].path == "/v1/embeddings"
        and gw.requests[-1].model == "openai/text-embedding-3-small"
    )


def test_models_list_shape_and_editable_catalog(key: str, connect: ClientFactory) -> None:
    gw = FakeGateway(catalog=[CatalogModel("m-1", owned_by="acme", created=5)])
    k = gw.add_key()
    c = connect(gw, k)
    assert c.get("/models").json() == {
        "object": "list",
        "data": [{"id": "m-1", "object": "model", "created": 5, "owned_by": "acme"}],
    }
    gw.add_model("m-2")
    del gw.catalog["m-1"]
    assert [m["id"] for m in c.get("/models").json()["data"]] == ["m-2"]
    assert c.post("/chat/completions", json=chat_body("m-1")).status_code == 404
    assert c.post("/chat/completions", json=chat_body("m-2-thinking")).status_code == 200


def test_default_catalog_has_the_documented_ids(
    gw: FakeGateway, key: str, connect: ClientFactory
) -> None:
    ids = {m["id"] for m in connect(gw, key).get("/models").json()["data"]}
    assert {
        "gpt-5",
        "claude-opus-4-7",
        "gemini-2.5-pro",
        "text-embedding-3-large",
        "openai/text-embedding-3-small",
        "anthropic/claude-opus-4-7",
    } <= ids
    assert not any(i.endswith("-thinking") for i in ids)
