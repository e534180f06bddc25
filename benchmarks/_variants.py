"""The clients ``run.py`` compares, all driven through one small interface.

* ``httpx``     raw ``httpx.Client``/``AsyncClient`` + ``json.loads`` and a minimal hand-written SSE
                line loop: the baseline every ratio is taken against.
* ``torouter``  this SDK, typed pydantic results, ``max_retries=0`` for the error scenario.
* ``openai``    the official SDK, when it is installed.
* ``httpx+aiohttp`` (async only): the raw httpx code on the ``httpx-aiohttp`` transport (raw
                aiohttp speed behind the httpx API), when installed; the baseline of the fan-outs.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

KEY = "sk-bench-0000000000000000000000000000"
MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is asyncio good for?"},
]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


class Variant:
    name: str
    version: str
    sync = True
    streams = True

    def sync_client(self, base: str) -> Any:
        raise NotImplementedError

    def close(self, client: Any) -> None:
        client.close()

    def create(self, client: Any) -> str | None:
        raise NotImplementedError

    def stream(self, client: Any, on_first: Callable[[], None],
               hold: list[Any] | None = None) -> int:
        """Read one stream to its end; ``hold`` receives the stream object (kept alive)."""
        raise NotImplementedError

    def async_client(self, base: str) -> Any:
        raise NotImplementedError

    async def aclose(self, client: Any) -> None:
        await client.aclose()

    async def acreate(self, client: Any) -> str | None:
        raise NotImplementedError


class RawHttpx(Variant):
    """What a careful user writes by hand on httpx."""

    def __init__(self, name: str = "httpx", async_factory: Callable[..., Any] | None = None):
        import httpx

        self.httpx = httpx
        self.name = name
        self.version = httpx.__version__
        self.headers = {"Authorization": f"Bearer {KEY}"}
        self.body = {"model": MODEL, "messages": MESSAGES}
        self.stream_body = {"model": MODEL, "messages": MESSAGES, "stream": True}
        self._async_factory = async_factory or httpx.AsyncClient
        if async_factory is not None:
            self.sync = self.streams = False

    def sync_client(self, base: str) -> Any:
        client = self.httpx.Client(headers=self.headers, timeout=60.0)
        client.url = base + "/chat/completions"
        return client

    def create(self, client: Any) -> str | None:
        r = client.post(client.url, json=self.body)
        if r.status_code >= 400:
            raise RuntimeError(f"HTTP {r.status_code}: {json.loads(r.content)['error']['message']}")
        content: str | None = json.loads(r.content)["choices"][0]["message"]["content"]
        return content

    def stream(self, client: Any, on_first: Callable[[], None],
               hold: list[Any] | None = None) -> int:
        n = 0
        with client.stream("POST", client.url, json=self.stream_body) as r:
            if hold is not None:
                hold.append(r)
            if r.status_code >= 400:
                r.read()
                raise RuntimeError(f"HTTP {r.status_code}")
            done = False
            for line in r.iter_lines():  # read to the end: the connection goes back to the pool
                if done or not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    continue
                choices = json.loads(data)["choices"]
                if choices:
                    choices[0]["delta"].get("content")
                n += 1
                if n == 1:
                    on_first()
        return n

    def async_client(self, base: str) -> Any:
        client = self._async_factory(headers=self.headers, timeout=60.0)
        client.url = base + "/chat/completions"
        return client

    async def acreate(self, client: Any) -> str | None:
        r = await client.post(client.url, json=self.body)
        if r.status_code >= 400:
            raise RuntimeError(f"HTTP {r.status_code}")
        content: str | None = json.loads(r.content)["choices"][0]["message"]["content"]
        return content


class SDK(Variant):
    """An OpenAI-shaped SDK: ``Client(api_key=, base_url=, max_retries=)``."""

    def __init__(self, name: str, module: str, sync_cls: str, async_cls: str,
                 async_http: Callable[[], Any] | None = None):
        self.name = name
        self.mod = importlib.import_module(module)
        self.version = _version(module)
        self.sync_cls = getattr(self.mod, sync_cls)
        self.async_cls = getattr(self.mod, async_cls)
        self.async_http = async_http
        if async_http is not None:
            self.sync = self.streams = False

    def sync_client(self, base: str) -> Any:
        client = self.sync_cls(api_key=KEY, base_url=base, max_retries=0)
        client.create = client.chat.completions.create
        return client

    def create(self, client: Any) -> str | None:
        reply = client.create(model=MODEL, messages=MESSAGES)
        content: str | None = reply.choices[0].message.content
        return content

    def stream(self, client: Any, on_first: Callable[[], None],
               hold: list[Any] | None = None) -> int:
        n = 0
        stream = client.create(model=MODEL, messages=MESSAGES, stream=True)
        if hold is not None:
            hold.append(stream)
        for chunk in stream:
            if chunk.choices:
                _ = chunk.choices[0].delta.content
            n += 1
            if n == 1:
                on_first()
        return n

    def async_client(self, base: str) -> Any:
        extra = {} if self.async_http is None else {"http_client": self.async_http()}
        client = self.async_cls(api_key=KEY, base_url=base, max_retries=0, **extra)
        client.create = client.chat.completions.create
        client.owned_http = extra.get("http_client")
        return client

    async def aclose(self, client: Any) -> None:
        await client.close()
        if client.owned_http is not None:
            await client.owned_http.aclose()

    async def acreate(self, client: Any) -> str | None:
        reply = await client.create(model=MODEL, messages=MESSAGES)
        content: str | None = reply.choices[0].message.content
        return content


def load(names: list[str], aiohttp: bool) -> tuple[list[Variant], dict[str, str]]:
    """The variants asked for that can be imported, and why the others were skipped."""
    out: list[Variant] = [RawHttpx()]
    skipped: dict[str, str] = {}
    for name in names:
        try:
            if name == "torouter":
                out.append(SDK("torouter", "torouter", "ToRouter", "AsyncToRouter"))
            elif name == "openai":
                out.append(SDK("openai", "openai", "OpenAI", "AsyncOpenAI"))
            elif name != "httpx":
                raise SystemExit(f"unknown variant {name!r} (httpx, torouter, openai)")
        except ImportError as exc:
            skipped[name] = f"not installed ({exc})"
    if aiohttp:  # the raw baseline on aiohttp (torouter's default async transport is aiohttp)
        try:
            from httpx_aiohttp import HttpxAiohttpClient
        except ImportError as exc:
            skipped["httpx+aiohttp"] = f"not installed ({exc}); pip install httpx-aiohttp"
        else:
            out.append(RawHttpx("httpx+aiohttp", HttpxAiohttpClient))
    return out, skipped


#: Cold start (``run.py --scenarios coldstart``): what a fresh interpreter runs, as three
#: statements (import / build the client / one chat call read to its text).  ``{base}`` is the
#: server's base URL.  ``httpx+pydantic`` is raw httpx whose answer is validated by one small
#: pydantic model: the floor for any SDK returning pydantic models.
COLD = {
    "httpx": (
        "import json\nimport httpx",
        f"c = httpx.Client(headers={{'Authorization': 'Bearer {KEY}'}}, timeout=60.0)",
        f"r = c.post('{{base}}/chat/completions', json={{'model': {MODEL!r}, "
        f"'messages': {MESSAGES!r}}})\ntext = json.loads(r.content)['choices'][0]['message']"
        "['content']",
    ),
    "httpx+pydantic": (
        "import httpx\nimport pydantic\n"
        "class Message(pydantic.BaseModel):\n    content: str | None = None\n"
        "class Choice(pydantic.BaseModel):\n    message: Message\n"
        "class Completion(pydantic.BaseModel):\n    choices: list[Choice]",
        f"c = httpx.Client(headers={{'Authorization': 'Bearer {KEY}'}}, timeout=60.0)",
        f"r = c.post('{{base}}/chat/completions', json={{'model': {MODEL!r}, "
        f"'messages': {MESSAGES!r}}})\n"
        "text = Completion.model_validate_json(r.content).choices[0].message.content",
    ),
    "torouter": (
        "import torouter",
        f"c = torouter.ToRouter(api_key='{KEY}', base_url='{{base}}')",
        f"text = c.chat.completions.create(model={MODEL!r}, messages={MESSAGES!r})"
        ".choices[0].message.content",
    ),
    "openai": (
        "import openai",
        f"c = openai.OpenAI(api_key='{KEY}', base_url='{{base}}')",
        f"text = c.chat.completions.create(model={MODEL!r}, messages={MESSAGES!r})"
        ".choices[0].message.content",
    ),
}
