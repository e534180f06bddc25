"""``client.embeddings``: vector embeddings (OpenAI- or OpenRouter-platform groups only)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from .._base_client import RequestSpec
from .._response import RawResponse
from ..types.chat_params import EMBEDDING_CREATE_PARAM_NAMES, EmbeddingCreateParams
from ..types.embedding import CreateEmbeddingResponse
from ._common import RequestOptions, build_spec

if TYPE_CHECKING:
    from .._client import AsyncToRouter, ToRouter

__all__ = ["AsyncEmbeddings", "EmbeddingCreateArgs", "Embeddings"]


class EmbeddingCreateArgs(EmbeddingCreateParams, RequestOptions, total=False):
    """Keyword arguments of ``embeddings.create``."""


def _spec(params: Any, raw: bool) -> RequestSpec[CreateEmbeddingResponse]:
    return build_spec("POST", "/embeddings", CreateEmbeddingResponse, params,
                      allowed=EMBEDDING_CREATE_PARAM_NAMES, required=("model", "input"), raw=raw)


class Embeddings:
    """``client.embeddings`` (sync)."""

    def __init__(self, client: ToRouter) -> None:
        self._client = client

    def create(self, **params: Unpack[EmbeddingCreateArgs]) -> CreateEmbeddingResponse:
        """``POST /embeddings`` with ``model`` (full catalog id) and ``input``."""
        result: CreateEmbeddingResponse = self._client._request(_spec(params, raw=False))
        return result

    @property
    def with_raw_response(self) -> EmbeddingsWithRawResponse:
        return EmbeddingsWithRawResponse(self._client)


class EmbeddingsWithRawResponse:
    def __init__(self, client: ToRouter) -> None:
        self._client = client

    def create(self, **params: Unpack[EmbeddingCreateArgs]) -> RawResponse[CreateEmbeddingResponse]:
        result: RawResponse[CreateEmbeddingResponse] = self._client._request(_spec(params, True))
        return result


class AsyncEmbeddings:
    """``client.embeddings`` (async)."""

    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    async def create(self, **params: Unpack[EmbeddingCreateArgs]) -> CreateEmbeddingResponse:
        """``POST /embeddings``."""
        result: CreateEmbeddingResponse = await self._client._request(_spec(params, raw=False))
        return result

    @property
    def with_raw_response(self) -> AsyncEmbeddingsWithRawResponse:
        return AsyncEmbeddingsWithRawResponse(self._client)


class AsyncEmbeddingsWithRawResponse:
    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    def create(self, **params: Unpack[EmbeddingCreateArgs]
               ) -> Awaitable[RawResponse[CreateEmbeddingResponse]]:
        result: Awaitable[RawResponse[CreateEmbeddingResponse]] = self._client._request(
            _spec(params, True))
        return result
