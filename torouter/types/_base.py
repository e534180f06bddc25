"""The base of every response model: pydantic v2, keeps unknown fields, carries the request id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic

__all__ = ["BaseModel"]


class BaseModel(pydantic.BaseModel):
    """Base of all torouter response models.

    * Unknown fields sent by the gateway are kept (``extra="allow"``) and reachable as
      attributes and through ``model_extra``, so a newer gateway never breaks an older SDK.
    * ``request_id`` is the ``x-request-id`` header of the HTTP response the object came from
      (``None`` for objects built by hand); ``retries_taken`` is how many retries it took;
      ``served_model`` is the model the successful attempt asked for.
    """

    model_config = pydantic.ConfigDict(
        extra="allow",
        populate_by_name=True,
        protected_namespaces=(),
        defer_build=True,
    )

    # ``request_id`` and ``retries_taken`` live in pydantic's private-state slot, set by the
    # client after validation (``set_response_info``).  They are deliberately not declared as
    # ``PrivateAttr``s: a model with private attributes makes pydantic-core call back into Python
    # for every nested object it builds, which more than doubles the cost of parsing a response.

    @property
    def request_id(self) -> str | None:
        """The gateway's ``x-request-id`` for the response this object was parsed from."""
        info = self.__pydantic_private__
        request_id: str | None = None if info is None else info.get("_request_id")
        return request_id

    @property
    def retries_taken(self) -> int:
        """How many retries the SDK made before this response arrived (0 = first attempt)."""
        info = self.__pydantic_private__
        retries: int = 0 if info is None else info.get("_retries_taken", 0)
        return retries

    @property
    def served_model(self) -> str | None:
        """The model the SDK asked for in the attempt that produced this response: the
        requested one, or the fallback model the call moved to (``model`` is what the gateway
        reported).  ``None`` for objects built by hand."""
        info = self.__pydantic_private__
        served: str | None = None if info is None else info.get("_served_model")
        return served

    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON-compatible data, unknown fields included, ``None`` omitted."""
        return self.model_dump(mode="json", exclude_none=True)


def new_list() -> list[Any]:
    """``default_factory`` for an empty list.  Not ``list`` itself: pydantic inspects a
    factory's signature, and for a builtin type that parses its text signature (~8 ms of a cold
    start, once per process)."""
    return []


def new_dict() -> dict[str, Any]:
    """``default_factory`` for an empty dict (see :func:`new_list`)."""
    return {}


#: ``set_response_info(model, {"_request_id": ..., "_retries_taken": ...})``: store where a
#: parsed response came from.  Writes pydantic's ``__pydantic_private__`` slot directly, without
#: going through ``BaseModel.__setattr__`` (a third of the cost).
set_response_info: Callable[[pydantic.BaseModel, dict[str, Any]], None] = (
    pydantic.BaseModel.__dict__["__pydantic_private__"].__set__
)
