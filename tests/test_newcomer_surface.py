"""What a newcomer sees: public names, reprs, hints written for where they are shown, and
``torouter explain`` covering every class, code and status family (issue 15)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import traceback

import httpx
import pytest

import torouter
import torouter.testing
import torouter.types
from torouter import DEFAULT_RETRY_POLICY, ERROR_CATALOG
from torouter._errors import mask_key
from torouter._retry import retry_summary
from torouter.cli import main
from torouter.cli._explain import all_entries, explain
from torouter.cli._output import cli_hint
from torouter.testing import FakeGateway

# --------------------------------------------------------------------------- public names


def _public(package: object) -> list[tuple[str, object]]:
    return [(n, getattr(package, n)) for n in package.__all__  # type: ignore[attr-defined]
            if isinstance(getattr(package, n), type) or callable(getattr(package, n))]


@pytest.mark.parametrize(("name", "obj"), _public(torouter), ids=lambda v: str(v)[:40])
def test_every_public_name_of_torouter_reports_module_torouter(name: str, obj: object) -> None:
    if name == "types":
        return
    assert obj.__module__ == "torouter", name  # type: ignore[attr-defined]


@pytest.mark.parametrize("package", [torouter.types, torouter.testing], ids=["types", "testing"])
def test_public_subpackages_name_themselves(package: object) -> None:
    for name, obj in _public(package):
        module = getattr(obj, "__module__", None)
        if isinstance(obj, type) or hasattr(obj, "__code__"):
            assert module == package.__name__, name  # type: ignore[attr-defined]


def test_a_class_reached_through_a_private_module_is_still_named_publicly() -> None:
    # import torouter is lazy: an error may be raised before torouter.KeyExpired was touched.
    code = ("import traceback\nfrom torouter._errors import KeyExpired\n"
            "try:\n    raise KeyExpired('x', status_code=403)\n"
            "except KeyExpired:\n    print(traceback.format_exc().splitlines()[-1])\n"
            "print(repr(KeyExpired))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines() == ["torouter.KeyExpired: KeyExpired (403): x Hint: Lengthen the "
                                "key's expiry in /keys, or replace the key.",
                                "<class 'torouter.KeyExpired'>"]


def test_torouter_types_loads_on_first_attribute_access_in_a_fresh_interpreter() -> None:
    # ``from . import types`` inside the lazy hook recursed forever before.
    out = subprocess.run([sys.executable, "-c", "import torouter; print(torouter.types.Model)"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.strip() == "<class 'torouter.types.Model'>"


@pytest.mark.parametrize("entry", ERROR_CATALOG, ids=lambda e: e.name)
def test_errors_pickle_and_print_with_their_public_path(entry: torouter.CatalogEntry) -> None:
    err = entry.cls("boom")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is entry.cls and clone.message == "boom"
    assert f"torouter.{entry.name}: " in traceback.format_exception_only(type(err), err)[-1]


def test_reprs_name_no_private_module() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(torouter.UpstreamUnavailable, max_retries=5)
    text = repr(policy)
    assert "torouter._" not in text and "<class" not in text
    assert "UpstreamUnavailable: RetryRule(retry=True, max_retries=5" in text
    assert "torouter._" not in repr(torouter.KeyExpired) + repr(torouter.ToRouter)


def test_rule_for_a_class_that_is_not_retried_shows_no_retries() -> None:
    rule = DEFAULT_RETRY_POLICY.rule_for(torouter.KeyExpired)
    assert rule.retry is False
    assert repr(rule) == "ResolvedRule(retry=False, source=APIStatusError)"
    retried = DEFAULT_RETRY_POLICY.rule_for(torouter.UpstreamUnavailable)
    assert repr(retried).startswith("ResolvedRule(retry=True, max_retries=2, backoff=Backoff(")
    assert retry_summary(torouter.KeyExpired) == "no"


# --------------------------------------------------------------------------- small lies


def test_empty_api_key_with_the_variable_set_does_not_claim_the_variable_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOROUTER_API_KEY", "sk-from-the-environment-0000")
    with pytest.raises(torouter.ApiKeyRequired) as info:
        torouter.ToRouter(api_key="")
    assert "api_key= is empty" in info.value.message
    assert "TOROUTER_API_KEY is not read" in info.value.message
    monkeypatch.delenv("TOROUTER_API_KEY")
    with pytest.raises(torouter.ApiKeyRequired, match="TOROUTER_API_KEY is unset or empty"):
        torouter.ToRouter()


@pytest.mark.parametrize(("key", "shown"), [
    ("sk-fake-9e9c553580bd99b3256835518b0550c6", "sk-…50c6"),
    ("sk-abc", "sk-… (a short key: 6 characters)"),
    ("abcd", "… (a short key: 4 characters)"),
])
def test_mask_key_never_shows_much_of_a_short_key(key: str, shown: str) -> None:
    assert mask_key(key) == shown


def test_short_keys_are_masked_with_their_prefix_in_the_fake_gateway() -> None:
    gw = FakeGateway()
    key = gw.add_key(key="sk-short")
    assert key not in repr(gw) and "keys=[sk-…]" in repr(gw)


# --------------------------------------------------------------------------- argument hints


@pytest.mark.parametrize("make", [
    lambda: torouter.RetryRule(max_retries=-1),
    lambda: torouter.ToRouter(api_key="sk-x", base_url="not a url"),
    lambda: torouter.ToRouter(api_key="sk-x").with_options(max_retrys=3),
], ids=["RetryRule", "base_url", "with_options"])
def test_argument_errors_name_the_argument_and_what_is_allowed(make: object) -> None:
    with pytest.raises(torouter.InvalidArgumentError) as info:
        make()  # type: ignore[operator]
    err = info.value
    assert "signature" not in str(err) and "extra_body" not in str(err)
    text = str(err)
    assert any(arg in text for arg in ("max_retries", "base_url", "max_retrys"))


def test_with_options_suggests_the_right_spelling_and_lists_the_options() -> None:
    with torouter.ToRouter(api_key="sk-x") as client, \
            pytest.raises(torouter.InvalidArgumentError) as info:
        client.with_options(max_retrys=3)
    assert "did you mean 'max_retries'?" in info.value.message
    assert "timeout" in (info.value.hint or "")


def test_base_url_hint_says_what_a_base_url_looks_like() -> None:
    with pytest.raises(torouter.InvalidArgumentError) as info:
        torouter.ToRouter(api_key="sk-x", base_url="not a url")
    assert "https://portal.torouter.ai/v1" in (info.value.hint or "")


def test_a_404_on_a_base_url_without_v1_says_so() -> None:
    gw = FakeGateway()
    key = gw.add_key()
    http = httpx.Client(transport=gw.transport())
    with torouter.ToRouter(api_key=key, base_url="http://gateway", http_client=http) as client, \
            pytest.raises(torouter.NotFoundError) as info:
        client.models.list()
    http.close()
    assert "does not end in /v1" in (info.value.hint or "")
    http = httpx.Client(transport=gw.transport())
    with torouter.ToRouter(api_key=key, base_url="http://gateway/v1", http_client=http) as client, \
            pytest.raises(torouter.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    http.close()
    assert "/v1" not in (info.value.hint or "").replace(".../v1", "")


def test_misspelt_create_argument_still_points_at_extra_body() -> None:
    with torouter.ToRouter(api_key="sk-x") as client, \
            pytest.raises(torouter.InvalidArgumentError) as info:
        client.chat.completions.create(model="m", messages=[], temprature=1)  # type: ignore[call-overload]
    assert "did you mean 'temperature'" in info.value.message
    assert "extra_body" in (info.value.hint or "")


# --------------------------------------------------------------------------- CLI wording


def test_cli_hints_name_flags_and_commands_not_python() -> None:
    assert cli_hint(torouter.ApiKeyRequired) is not None
    assert "--api-key" in cli_hint(torouter.ApiKeyRequired)  # type: ignore[operator]
    assert "torouter models" in cli_hint(torouter.NotFoundError)  # type: ignore[operator]
    assert "torouter doctor" in cli_hint(torouter.KeyExpired)  # type: ignore[operator]
    # OutputError and its family come from the Python parsing API (err.completion is the
    # point of their hints); no command raises them.
    python_only = getattr(torouter, "OutputError", ())
    for entry in all_entries():
        if python_only and issubclass(entry.cls, python_only):
            continue
        hint = cli_hint(entry.cls) or ""
        for python in ("api_key=", "client.", "err.", "timeout=", "extra_body"):
            assert python not in hint, (entry.name, hint)


def test_cli_base_url_error_uses_flag_wording(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOROUTER_API_KEY", "sk-test-0000000000000000")
    monkeypatch.delenv("TOROUTER_BASE_URL", raising=False)
    code = main(["--base-url", "not a url", "ping"])
    err = capsys.readouterr().err
    assert code == 2
    assert "method's signature" not in err and "--base-url" in err


# --------------------------------------------------------------------------- explain


def test_explain_knows_every_public_error_class() -> None:
    for name in torouter.__all__:
        obj = getattr(torouter, name)
        if isinstance(obj, type) and issubclass(obj, torouter.ToRouterError):
            entry, _ = explain(name)
            assert entry is not None and entry.cls is obj, name


@pytest.mark.parametrize(("status", "cls"), [
    (418, torouter.APIStatusError), (409, torouter.APIStatusError),
    (599, torouter.InternalServerError), (429, torouter.RateLimitError),
    (402, torouter.BillingError), (504, torouter.UpstreamTimeout),
])
def test_explain_covers_every_status_family(status: int, cls: type) -> None:
    entry, _ = explain(str(status))
    assert entry is not None and entry.cls is cls


def test_explain_418_says_any_other_4xx_and_rejects_non_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "418"]) == 0
    out = capsys.readouterr().out
    assert "any other 4xx" in out and "exit code:   9" in out
    assert main(["explain", "200"]) == 2


def test_explain_stream_interrupted_agrees_with_the_docs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "StreamInterrupted"]) == 0
    out = capsys.readouterr().out
    assert retry_summary(torouter.StreamInterrupted) in out
    assert "before the stream's first event" in out


def test_cli_retry_lines_never_print_none(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TOROUTER_API_KEY", "sk-test-0000000000000000")
    monkeypatch.setenv("TOROUTER_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setattr("time.sleep", lambda s: None)
    code = main(["--max-retries", "1", "models"])
    err = capsys.readouterr().err
    assert code == 8
    assert "attempt 1 failed: APIConnectionError; retrying" in err
    assert "(None)" not in err
