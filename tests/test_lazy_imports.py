"""``import torouter`` is cheap and every public name still resolves; response models keep their
request id without pydantic private attributes (the two performance changes that could break a
user if done wrong)."""

from __future__ import annotations

import importlib
import json
import pickle
import subprocess
import sys

import pytest

import torouter
from torouter.types import ChatCompletion, ChatCompletionChunk
from torouter.types._base import set_response_info


def _fresh(code: str) -> list[str]:
    """Run ``code`` in a new interpreter; it prints a JSON list."""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    result: list[str] = json.loads(out)
    return result


HEAVY = ("httpx", "pydantic", "tenacity", "anyio", "asyncio")


def test_import_torouter_loads_no_dependency() -> None:
    loaded = _fresh(
        "import json, sys, torouter\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_exceptions_import_without_the_http_and_model_stacks() -> None:
    loaded = _fresh(
        "import json, sys\n"
        "from torouter import ToRouterError, RateLimited, APIStatusError\n"
        "assert issubclass(RateLimited, APIStatusError)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_a_sync_only_program_never_loads_asyncio() -> None:
    loaded = _fresh(
        "import json, sys, torouter\n"
        "torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1').close()\n"
        "print(json.dumps([m for m in ('asyncio',) if m in sys.modules]))"
    )
    assert loaded == []


def test_star_import_gives_every_public_name_in_a_fresh_interpreter() -> None:
    names = _fresh(
        "import json\n"
        "ns = {}\n"
        "exec('from torouter import *', ns)\n"
        "print(json.dumps(sorted(k for k in ns if k != '__builtins__')))"
    )
    assert names == sorted(torouter.__all__)


@pytest.mark.parametrize("name", sorted(torouter.__all__))
def test_every_public_name_resolves_to_its_defining_object(name: str) -> None:
    value = getattr(torouter, name)
    assert value is not None
    assert name in dir(torouter)
    module = getattr(value, "__module__", None)
    if isinstance(value, type) and module and module.startswith("torouter."):
        assert getattr(importlib.import_module(module), name) is value


def test_types_is_the_types_package() -> None:
    assert torouter.types is importlib.import_module("torouter.types")
    assert torouter.types.ChatCompletion is ChatCompletion


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        torouter.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(ImportError):
        exec("from torouter import NoSuchThing", {})


BODY = json.dumps({
    "id": "c1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2,
              "prompt_tokens_details": {"cached_tokens": 0}},
    "brand_new_field": {"x": 1},
})


def _parsed(request_id: str | None = "req-1", retries: int = 2) -> ChatCompletion:
    obj = ChatCompletion.model_validate_json(BODY)
    set_response_info(obj, {"_request_id": request_id, "_retries_taken": retries})
    return obj


def test_parsed_response_carries_request_id_and_retries() -> None:
    obj = _parsed()
    assert (obj.request_id, obj.retries_taken) == ("req-1", 2)
    assert obj.brand_new_field == {"x": 1}  # unknown fields still kept
    assert "request_id" not in obj.model_dump() and "_request_id" not in obj.model_dump()
    assert obj.choices[0].message.request_id is None  # nested objects are not stamped


def test_hand_built_models_have_no_request_id() -> None:
    obj = ChatCompletion(id="x", choices=[])
    assert (obj.request_id, obj.retries_taken) == (None, 0)
    chunk = ChatCompletionChunk.model_construct(id="x", choices=[])
    assert (chunk.request_id, chunk.retries_taken) == (None, 0)


def test_request_id_survives_copy_and_pickle() -> None:
    obj = _parsed()
    for clone in (obj.model_copy(), obj.model_copy(deep=True), pickle.loads(pickle.dumps(obj))):
        assert (clone.request_id, clone.retries_taken) == ("req-1", 2)
        assert clone == obj


def test_equal_bodies_from_different_responses_compare_as_before() -> None:
    # pydantic compares the private state too, as it did when these were PrivateAttrs.
    assert _parsed("req-1") == _parsed("req-1")
    assert _parsed("req-1") != _parsed("req-2")


def test_a_call_that_succeeds_at_once_never_loads_tenacity() -> None:
    """tenacity (~10 ms of a cold start) loads on a call's first failure only."""
    loaded = _fresh(
        "import json, sys, httpx, torouter\n"
        "body = {'id': 'c', 'choices': [{'index': 0, 'message': {'content': 'hi'}}]}\n"
        "answers = [httpx.Response(200, json=body), httpx.Response(503, json={}),\n"
        "           httpx.Response(200, json=body)]\n"
        "http = httpx.Client(transport=httpx.MockTransport(lambda r: answers.pop(0)))\n"
        "c = torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1',\n"
        "                      http_client=http)\n"
        "c._sleep = lambda s: None\n"
        "msgs = [{'role': 'user', 'content': 'hi'}]\n"
        "c.chat.completions.create(model='m', messages=msgs)\n"
        "first = 'tenacity' in sys.modules\n"
        "r = c.chat.completions.create(model='m', messages=msgs)\n"
        "print(json.dumps([first, 'tenacity' in sys.modules, r.retries_taken]))"
    )
    assert loaded == [False, True, 1]


def test_redis_loads_only_when_a_coordinator_is_made() -> None:
    loaded = _fresh(
        "import json, sys, torouter\n"
        "torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1').close()\n"
        "torouter.AsyncToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1')\n"
        "cls = torouter.RedisCoordinator\n"  # the name resolves without importing redis
        "before = 'redis' in sys.modules\n"
        "cls('redis://127.0.0.1:9/0')\n"
        "print(json.dumps([before, 'redis' in sys.modules]))"
    )
    assert loaded == [False, True]


def test_without_opentelemetry_a_client_has_no_layer_and_imports_none_of_it() -> None:
    result = _fresh(
        "import json, sys\n"
        "sys.modules['opentelemetry'] = None  # as if it were not installed\n"
        "import torouter\n"
        "c = torouter.ToRouter(api_key='sk-x', base_url='http://127.0.0.1:9/v1')\n"
        "try:\n"
        "    torouter.ToRouter(api_key='sk-x', telemetry=True)\n"
        "    asked = 'no error'\n"
        "except torouter.InvalidArgumentError as e:\n"
        "    asked = str(e)\n"
        "layers = [type(x).__name__ for x in (c._seam.layers if c._seam else ())]\n"
        "print(json.dumps([layers == ['CircuitBreaker'], asked,\n"
        "    [m for m in sys.modules if m.startswith('opentelemetry.')]]))"
    )
    assert result[0] is True  # no telemetry layer; only the default circuit breaker
    assert "pip install 'torouter[otel]'" in result[1]
    assert result[2] == []


def test_telemetry_false_imports_no_opentelemetry_even_when_installed() -> None:
    loaded = _fresh(
        "import json, sys, torouter\n"
        "torouter.ToRouter(api_key='sk-x', telemetry=False).close()\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('opentelemetry')]))"
    )
    assert loaded == []


_OK_BODY = ('{"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-5-mini", '
            '"choices": [{"index": 0, "finish_reason": "stop", '
            '"message": {"role": "assistant", "content": "hi"}}]}')


def test_installed_opentelemetry_is_not_imported_until_the_application_loads_it() -> None:
    """Telemetry on by default costs a program that never uses OpenTelemetry nothing, even with
    the package installed; once the application loads it and sets a provider, the next call of
    the same client is traced."""
    result = _fresh(
        "import json, sys, httpx, torouter\n"
        f"body = {_OK_BODY!r}\n"
        "ok = lambda request: httpx.Response(200, content=body.encode(),\n"
        "                                     headers={'content-type': 'application/json'})\n"
        "client = torouter.ToRouter(api_key='sk-x', base_url='http://gw.test/v1',\n"
        "    http_client=httpx.Client(transport=httpx.MockTransport(ok)))\n"
        "msgs = [{'role': 'user', 'content': 'hi'}]\n"
        "client.chat.completions.create(model='gpt-5-mini', messages=msgs)\n"
        "before = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import "
        "InMemorySpanExporter\n"
        "exporter = InMemorySpanExporter()\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(exporter))\n"
        "trace.set_tracer_provider(provider)\n"
        "client.chat.completions.create(model='gpt-5-mini', messages=msgs)\n"
        "print(json.dumps([before, sorted(s.name for s in exporter.get_finished_spans())]))"
    )
    assert result[0] == []
    assert result[1] == ["POST", "chat gpt-5-mini"]
