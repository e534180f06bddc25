"""Must FAIL type checking: a misspelt with_options keyword (tests/test_typing.py)."""

import torouter


def configure(client: torouter.ToRouter) -> torouter.ToRouter:
    return client.with_options(max_retrys=3)
