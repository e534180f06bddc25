"""Response models of ``GET /models``."""

import builtins
from collections.abc import Iterator
from typing import overload

from ._base import BaseModel

__all__ = ["Model", "ModelList"]


class Model(BaseModel):
    """A model the gateway can route to."""

    id: str
    """Model id to pass as ``model=`` (e.g. ``"openai/gpt-4o"``)."""
    object: str | None = None
    """Always ``"model"`` in the OpenAI shape."""
    created: int | None = None
    """Unix time (seconds) the model was created or added, when known."""
    owned_by: str | None = None
    """Organisation or provider that owns the model."""
    shutdown_date: str | None = None
    """Announced retirement date (ISO ``YYYY-MM-DD``), when the provider publishes one."""


class ModelList(BaseModel):
    """The list of models, usable as a sequence of :class:`Model`.

    ``for m in models``, ``len(models)``, ``models[0]``, ``models[1:3]`` and
    ``"gpt-4o" in models`` (by id, or by :class:`Model`) all work on ``data``.

    Note: iteration deliberately overrides pydantic's ``BaseModel.__iter__`` (which yields
    ``(field_name, value)`` pairs), so ``dict(model_list)`` no longer works; use
    :meth:`model_dump` or :meth:`to_dict` for the raw shape. Because of ``__len__``, an empty
    list is falsy.
    """

    object: str | None = None
    """Always ``"list"`` in the OpenAI shape."""
    data: list[Model]
    """The models."""

    def __iter__(self) -> Iterator[Model]:  # type: ignore[override]
        """Iterate over the models (not over pydantic fields, see the class docstring)."""
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @overload
    def __getitem__(self, index: int) -> Model: ...

    @overload
    def __getitem__(self, index: slice) -> list[Model]: ...

    def __getitem__(self, index: int | slice) -> Model | list[Model]:
        return self.data[index]

    def __contains__(self, item: builtins.object) -> bool:  # `object` is a field here
        """``True`` if a model with this id (``str``) or this :class:`Model` is in the list."""
        if isinstance(item, str):
            return any(m.id == item for m in self.data)
        return item in self.data

    def ids(self) -> list[str]:
        """The ids of all models, in list order."""
        return [m.id for m in self.data]
