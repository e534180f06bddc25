"""The base of every response model: pydantic v2, keeps unknown fields, carries the request id."""

from __future__ import annotations

from typing import Any

import pydantic

__all__ = ["BaseModel"]


class BaseModel(pydantic.BaseModel):
    """Base of all torouter response models.

    * Unknown fields sent by the gateway are kept (``extra="allow"``) and reachable as
      attributes and through ``model_extra``, so a newer gateway never breaks an older SDK.
    * ``request_id`` is the ``x-request-id`` header of the HTTP response the object came from
      (``None`` for objects built by hand); ``retries_taken`` is how many retries it took.
    """

    model_config = pydantic.ConfigDict(
        extra="allow",
        populate_by_name=True,
        protected_namespaces=(),
        defer_build=True,
    )

    _request_id: str | None = pydantic.PrivateAttr(default=None)
    _retries_taken: int = pydantic.PrivateAttr(default=0)

    @property
    def request_id(self) -> str | None:
        """The gateway's ``x-request-id`` for the response this object was parsed from."""
        return self._request_id

    @property
    def retries_taken(self) -> int:
        """How many retries the SDK made before this response arrived (0 = first attempt)."""
        return self._retries_taken

    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON-compatible data, unknown fields included, ``None`` omitted."""
        return self.model_dump(mode="json", exclude_none=True)
