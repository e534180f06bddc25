"""The key stays secret under every fault: errors, logs, pickles, tracebacks, redirects.

``tests/test_secrets.py`` covers the basics on mocked transports; here every fault of
``test_faults.FAULTS`` runs against the real socket server, for both clients, with the
``torouter``, ``httpx`` and ``httpcore`` loggers at DEBUG, and the error each one ends in is
rendered every way a user (or an error tracker) might: str, repr, pickle, a traceback with the
locals of every frame.  ``KEY`` is a module global, never a local, so the test's own frames do
not put it in the rendered tracebacks.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import torouter

from . import faultserver as fs
from .faultserver import FaultServer
from .helpers import _SSL, KEY, KEY_PARTS, chat_async, chat_sync, make_async, make_sync
from .test_faults import FAULTS, Fault, _prepare

LOGGERS = ("torouter", "httpx", "httpcore", "aiohttp")


def assert_no_key(*things: object) -> None:
    for thing in things:
        text = thing if isinstance(thing, str) else repr(thing)
        assert KEY not in text
        for part in KEY_PARTS:
            assert part not in text, f"{part!r} in {text[:300]!r}"


def rendered(err: BaseException) -> str:
    exc = traceback.TracebackException.from_exception(err, capture_locals=True)
    return "".join(exc.format())


def check_error(err: torouter.ToRouterError) -> None:
    pickled = pickle.dumps(err)
    assert KEY.encode() not in pickled and b"SECRET" not in pickled
    again = pickle.loads(pickled)
    assert type(again) is type(err) and again.message == err.message
    assert_no_key(str(err), repr(err), err.message, err.body, err.attempts, rendered(err),
                  err.response, getattr(err, "chunks", None))
    if err.response is not None:  # what a user may log from the error
        assert_no_key(err.response.headers, err.response.request, err.response.request.headers)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def check_logs(caplog: pytest.LogCaptureFixture, expect_records: bool = True) -> None:
    if expect_records:
        assert caplog.records, "nothing was logged: the capture is not working"
    assert_no_key(caplog.text)
    for record in caplog.records:
        assert_no_key(record.getMessage(), record.args, record.__dict__)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_keeps_the_key_secret_sync(fault: Fault, server: FaultServer,
                                         monkeypatch: pytest.MonkeyPatch,
                                         debug_logs: pytest.LogCaptureFixture) -> None:
    with make_sync(_prepare(fault, server, monkeypatch), **fault.client) as client:
        assert isinstance(client.api_key, SecretStr)
        try:
            outcome: Any = chat_sync(client, stream=fault.stream)
        except torouter.ToRouterError as err:
            check_error(err)
        else:
            assert_no_key(outcome, str(outcome))
        assert_no_key(client, str(client))
    check_logs(debug_logs)


@pytest.mark.anyio
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_fault_keeps_the_key_secret_async(fault: Fault, server: FaultServer,
                                                monkeypatch: pytest.MonkeyPatch,
                                                debug_logs: pytest.LogCaptureFixture,
                                                async_backend: str) -> None:
    async with make_async(_prepare(fault, server, monkeypatch), **fault.client) as client:
        try:
            outcome: Any = await chat_async(client, stream=fault.stream)
        except torouter.ToRouterError as err:
            check_error(err)
        else:
            assert_no_key(outcome, str(outcome))
        assert_no_key(client, str(client))
    # aiohttp logs nothing when no response comes (httpcore logs each step at DEBUG, which shows
    # the capture works); whatever is logged is checked on both
    check_logs(debug_logs, expect_records=async_backend == "httpx")


def test_retries_streams_and_successes_log_no_key(server: FaultServer,
                                                  debug_logs: pytest.LogCaptureFixture) -> None:
    """A retried call, a good stream, a good call and a stream that breaks, all at DEBUG."""
    server.push(fs.status(503, b""), fs.reset_before_headers, fs.ok(), fs.stream_ok(),
                fs.reset_mid_stream(1))
    with make_sync(server.base_url, max_retries=2) as client:
        reply = chat_sync(client)
        assert reply.retries_taken == 2
        chunks = chat_sync(client, stream=True)
        assert len(chunks) == 4
        with pytest.raises(torouter.StreamInterrupted) as info:
            chat_sync(client, stream=True)
        check_error(info.value)
        assert_no_key(reply, chunks, client.with_options(timeout=1.0))
    assert any(r.name == "torouter" and "retrying" in r.getMessage() for r in debug_logs.records)
    assert any(r.name.startswith("httpcore") for r in debug_logs.records)
    check_logs(debug_logs)


def test_the_key_is_sent_only_as_authorization_to_the_base_url(server: FaultServer) -> None:
    server.handler = fs.ok()
    with make_sync(server.base_url) as client:
        chat_sync(client)
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in request.path and KEY.encode() not in request.body
    others = {k: v for k, v in request.headers.items() if k != "authorization"}
    assert_no_key(others)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_followed_by_the_users_own_client_drops_the_key(
    code: int, server: FaultServer, other_server: FaultServer,
) -> None:
    """Even a user's httpx client that follows redirects never takes the key to another host."""
    server.handler = fs.redirect(other_server.base_url + "/chat/completions", code)
    other_server.handler = fs.record_only
    http = httpx.Client(verify=_SSL, follow_redirects=True)
    with make_sync(server.base_url, http_client=http) as client:
        reply = chat_sync(client)
    http.close()
    assert reply.choices[0].message.content == "redirected"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    (moved,) = other_server.requests
    assert "authorization" not in moved.headers
    assert_no_key(moved.headers, moved.path, moved.body)


@pytest.mark.anyio
async def test_a_redirect_is_not_followed_by_the_async_client_either(
    server: FaultServer, other_server: FaultServer,
) -> None:
    server.handler = fs.redirect(other_server.base_url + "/chat/completions", 308)
    other_server.handler = fs.record_only
    async with make_async(server.base_url, max_retries=2) as client:
        with pytest.raises(torouter.APIStatusError) as info:
            await chat_async(client)
    assert info.value.status_code == 308 and "not followed" in info.value.message
    assert other_server.requests == []
    check_error(info.value)


def test_the_checks_above_can_fail() -> None:
    """A traceback whose frames hold the key, or a log line with it, is caught."""

    def leaky(secret: str) -> None:
        raise RuntimeError("boom")

    try:
        leaky(KEY)
    except RuntimeError as exc:
        with pytest.raises(AssertionError):
            assert_no_key(rendered(exc))
    with pytest.raises(AssertionError):
        assert_no_key({"headers": [("authorization", f"Bearer {KEY[:-3]}")]})
