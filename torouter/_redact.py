"""A logging filter that masks every API key a client was built with.

httpcore logs response headers at DEBUG, so a gateway (or a proxy) echoing the key in a header
would put it in the logs.  The filter sits on the ``torouter``, ``httpx`` and ``httpcore.*``
loggers; filters only run for records that are emitted, so it costs nothing while DEBUG is off.
"""

from __future__ import annotations

import logging
import threading

from ._errors import mask_key

__all__ = ["known_secrets", "remember_secret"]

# Logger filters are not inherited by child loggers: name every logger the stack writes to.
_LOGGERS = ("torouter", "httpx", "httpcore", "httpcore.connection", "httpcore.http11",
            "httpcore.http2", "httpcore.proxy", "httpcore.socks", "aiohttp.client",
            "aiohttp.internal")
_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


class _MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot render is left to logging's own handling
            return True
        hit = False
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, mask_key(secret))
                hit = True
            raw = secret.encode()
            if repr(raw)[2:-1] in text:  # bytes rendered inside a repr (httpcore header tuples)
                text = text.replace(repr(raw)[2:-1], mask_key(secret))
                hit = True
        if hit:
            record.msg, record.args = text, None
        return True


_FILTER = _MaskSecrets()
for _name in _LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


def remember_secret(secret: str) -> None:
    """Mask ``secret`` in every record of the SDK's and its transport's loggers from now on."""
    global _secrets
    if secret in _secrets:
        return
    with _lock:
        _secrets = _secrets | {secret}


def known_secrets() -> frozenset[str]:
    """Every key remembered so far (what telemetry masks in the text it exports)."""
    return _secrets
