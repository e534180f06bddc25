"""The API's endpoints, grouped as on the client: ``chat.completions``, ``models``, ``embeddings``.

Each module holds the sync class, its async twin and their ``with_raw_response`` views; the
argument checking and request description they share live in ``_common``.
"""

from .chat import AsyncChat, AsyncCompletions, Chat, Completions
from .embeddings import AsyncEmbeddings, Embeddings
from .models import AsyncModels, Models

__all__ = [
    "AsyncChat",
    "AsyncCompletions",
    "AsyncEmbeddings",
    "AsyncModels",
    "Chat",
    "Completions",
    "Embeddings",
    "Models",
]
