"""``python -m torouter.testing`` flags: each puts the gateway in the state its help text says.

(The docs' console examples run the real command; these check every flag in-process, quickly.)
"""

from __future__ import annotations

import argparse

import httpx
import pytest

from torouter.testing.__main__ import build_parser, configure


def test_every_flag_has_help_text() -> None:
    for action in build_parser()._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help and len(action.help) > 10, action.option_strings


def _call(argv: list[str], model: str = "gpt-5-mini", path: str = "/v1/chat/completions",
          stream: bool = False) -> httpx.Response:
    gateway, keys = configure(build_parser().parse_args(argv))
    with httpx.Client(transport=gateway.transport(), base_url="http://gateway") as http:
        headers = {"authorization": f"Bearer {keys[0]}"}
        if path.endswith("/models"):
            return http.get(path, headers=headers)
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
        return http.post(path, json=body, headers=headers)


@pytest.mark.parametrize(("argv", "status", "code"), [
    (["--key-expired"], 403, "API_KEY_EXPIRED"),
    (["--key-expired", "--dialect", "limits"], 401, "API_KEY_EXPIRED"),
    (["--key-disabled"], 401, "API_KEY_DISABLED"),
    (["--over-quota"], 429, "API_KEY_QUOTA_EXHAUSTED"),
    (["--zero-balance"], 403, "INSUFFICIENT_BALANCE"),
    (["--user-inactive"], 401, "USER_INACTIVE"),
    (["--key-models", "gpt-5"], 403, "ACCESS_DENIED"),
    (["--model-down", "gpt-5-mini"], 502, "upstream_unavailable"),
    (["--model-down", "gpt-5-mini=503"], 503, "upstream_unavailable"),
    (["--model-down", "gpt-5-mini=504"], 504, None),
    (["--rate-limit", "0"], 429, "rate limit exceeded"),
])
def test_each_state_flag_gives_its_documented_error(argv: list[str], status: int,
                                                   code: str | None) -> None:
    response = _call(argv)
    assert response.status_code == status
    if code is not None:
        assert code in response.text


def test_a_model_down_leaves_the_others_up_and_unknown_models_join_the_catalog() -> None:
    argv = ["--model-down", "gemini-2.5-flash=502"]
    assert _call(argv, model="gemini-2.5-flash").status_code == 502
    assert _call(argv, model="gpt-5-mini").status_code == 200


def test_rate_limit_n_admits_n_requests_per_window() -> None:
    gateway, keys = configure(build_parser().parse_args(["--rate-limit", "1"]))
    with httpx.Client(transport=gateway.transport(), base_url="http://gateway") as http:
        body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
        headers = {"authorization": f"Bearer {keys[0]}"}
        assert http.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
        assert http.post("/v1/chat/completions", json=body, headers=headers).status_code == 429


def test_drop_stream_after_cuts_streams() -> None:
    gateway, keys = configure(build_parser().parse_args(["--drop-stream-after", "2"]))
    with httpx.Client(transport=gateway.transport(), base_url="http://gateway") as http:
        body = {"model": "gpt-5-mini", "stream": True,
                "messages": [{"role": "user", "content": "one two three"}]}
        with pytest.raises(httpx.HTTPError):  # noqa: SIM117 - the stream must be read to fail
            with http.stream("POST", "/v1/chat/completions", json=body,
                             headers={"authorization": f"Bearer {keys[0]}"}) as response:
                response.read()


@pytest.mark.parametrize("bad", [["--model-down", "gpt-5=500"], ["--model-down", "=502"],
                                 ["--rate-limit", "-1"], ["--latency", "x"]])
def test_bad_values_are_usage_errors(bad: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(bad)
    assert info.value.code == 2


def test_access_log_line_has_method_path_status_code_id_and_masked_key() -> None:
    gateway, keys = configure(build_parser().parse_args(["--key-disabled"]))
    lines: list[str] = []
    gateway.on_request = lambda record: lines.append(record.log_line())
    with httpx.Client(transport=gateway.transport(), base_url="http://gateway") as http:
        http.get("/v1/models", headers={"authorization": f"Bearer {keys[0]}"})
    (line,) = lines
    assert line.startswith("GET /v1/models 401 API_KEY_DISABLED req_")
    assert f"key=sk-…{keys[0][-4:]}" in line and keys[0] not in line
