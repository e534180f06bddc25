"""``client.models``: the models the key's group may call."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from typing_extensions import Unpack

from .._response import RawResponse
from ..types.model import ModelList
from ._common import RequestOptions, build_spec

if TYPE_CHECKING:
    from .._client import AsyncToRouter, ToRouter

__all__ = ["AsyncModels", "Models"]

_NONE: frozenset[str] = frozenset()


class Models:
    """``client.models`` (sync)."""

    def __init__(self, client: ToRouter) -> None:
        self._client = client

    def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        """``GET /models``: iterate it for ``Model`` objects (``.id``), or use ``.data``."""
        spec = build_spec("GET", "/models", ModelList, options, allowed=_NONE, required=())
        result: ModelList = self._client._request(spec)
        return result

    @property
    def with_raw_response(self) -> ModelsWithRawResponse:
        return ModelsWithRawResponse(self._client)


class ModelsWithRawResponse:
    def __init__(self, client: ToRouter) -> None:
        self._client = client

    def list(self, **options: Unpack[RequestOptions]) -> RawResponse[ModelList]:
        spec = build_spec("GET", "/models", ModelList, options, allowed=_NONE, required=(),
                          raw=True)
        result: RawResponse[ModelList] = self._client._request(spec)
        return result


class AsyncModels:
    """``client.models`` (async)."""

    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    async def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        """``GET /models``."""
        spec = build_spec("GET", "/models", ModelList, options, allowed=_NONE, required=())
        result: ModelList = await self._client._request(spec)
        return result

    @property
    def with_raw_response(self) -> AsyncModelsWithRawResponse:
        return AsyncModelsWithRawResponse(self._client)


class AsyncModelsWithRawResponse:
    def __init__(self, client: AsyncToRouter) -> None:
        self._client = client

    def list(self, **options: Unpack[RequestOptions]) -> Awaitable[RawResponse[ModelList]]:
        spec = build_spec("GET", "/models", ModelList, options, allowed=_NONE, required=(),
                          raw=True)
        result: Awaitable[RawResponse[ModelList]] = self._client._request(spec)
        return result
