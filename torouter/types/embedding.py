"""Response models of ``POST /embeddings``."""

import base64
import sys
from array import array

from ._base import BaseModel

__all__ = ["CreateEmbeddingResponse", "Embedding", "EmbeddingUsage"]


class Embedding(BaseModel):
    """One embedding vector."""

    embedding: list[float] | str
    """The vector: a list of floats, or a base64 string of little-endian float32 values when the
    request used ``encoding_format="base64"`` (decode it with :meth:`as_floats`)."""
    index: int = 0
    """Position of the corresponding input in the request."""
    object: str | None = None
    """Always ``"embedding"`` in the OpenAI shape."""

    def as_floats(self) -> list[float]:
        """The vector as floats, decoding the base64 form if needed."""
        if not isinstance(self.embedding, str):
            return list(self.embedding)
        values = array("f")
        values.frombytes(base64.b64decode(self.embedding))
        if sys.byteorder != "little":  # pragma: no cover - big-endian hosts only
            values.byteswap()
        return values.tolist()


class EmbeddingUsage(BaseModel):
    """Token usage of an embeddings request. Missing counts read as ``0``."""

    prompt_tokens: int = 0
    """Tokens in the input."""
    total_tokens: int = 0
    """Total tokens billed."""


class CreateEmbeddingResponse(BaseModel):
    """Response of ``POST /embeddings``: one :class:`Embedding` per input, in input order."""

    data: list[Embedding]
    """The embeddings."""
    model: str | None = None
    """The model that produced the embeddings."""
    object: str | None = None
    """Always ``"list"`` in the OpenAI shape."""
    usage: EmbeddingUsage | None = None
    """Token usage, when reported."""
