"""The log filter: a client's key is masked in every record of the SDK's and its transport's
loggers, whether the record shows it as text or inside a bytes repr (httpcore's header tuples).

The filter remembers keys for the life of the process, so every test here builds its client with
a key of its own.  The keys contain a backslash on purpose: in a bytes repr a backslash is
doubled, so a key shown as text and the same key shown inside ``b'...'`` differ, and each of the
filter's two masking rules is checked on its own.
"""

from __future__ import annotations

import logging
import threading

import pytest

import torouter
from torouter._errors import mask_key


def _client(key: str) -> torouter.ToRouter:
    return torouter.ToRouter(api_key=key, base_url="http://127.0.0.1:9/v1")


def _emit(logger: str, caplog: pytest.LogCaptureFixture, msg: str, *args: object) -> str:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=logger):
        logging.getLogger(logger).debug(msg, *args)
    (record,) = [r for r in caplog.records if r.name == logger]
    return record.getMessage()


def test_a_key_in_plain_text_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-plain\\text-1f2e3d4c5b"
    _client(key).close()
    shown = _emit("httpx", caplog, "sent header Authorization: Bearer %s", key)
    assert key not in shown
    assert shown == f"sent header Authorization: Bearer {mask_key(key)}"


def test_a_key_inside_a_bytes_repr_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-bytes\\repr-9a8b7c6d5e"
    _client(key).close()
    headers = [(b"Authorization", b"Bearer " + key.encode())]
    shown = _emit("httpcore.http11", caplog, "receive_response_headers.complete return_value=%r",
                  headers)
    assert repr(key.encode())[2:-1] not in shown and key not in shown
    assert shown.endswith(f"(b'Authorization', b'Bearer {mask_key(key)}')]")


def test_both_forms_in_one_record_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-both\\forms-0a1b2c3d4e"
    _client(key).close()
    shown = _emit("torouter", caplog, "%s %r", key, key.encode())
    assert shown == f"{mask_key(key)} b'{mask_key(key)}'"


@pytest.mark.parametrize("logger", ["torouter", "httpx", "httpcore", "httpcore.connection",
                                    "httpcore.http11", "httpcore.http2", "httpcore.proxy"])
def test_every_logger_of_the_stack_is_covered(logger: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-every-logger-77aa88bb99"
    _client(key).close()
    assert key not in _emit(logger, caplog, "key=%s", key)


def test_a_record_without_a_key_is_left_as_it_was(caplog: pytest.LogCaptureFixture) -> None:
    _client("sk-untouched-5e6f7a8b9c").close()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="httpx"):
        logging.getLogger("httpx").debug("status=%d", 200)
    (record,) = caplog.records
    assert (record.msg, record.args) == ("status=%d", (200,))


def test_a_record_that_cannot_render_is_left_to_logging(caplog: pytest.LogCaptureFixture) -> None:
    _client("sk-unrenderable-1a2b3c4d5e").close()
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "%d", ("not a number",), None)
    for flt in logging.getLogger("httpx").filters:
        assert flt.filter(record) is True  # kept (logging reports the bad format itself)
    assert record.args == ("not a number",)


def test_before_any_client_exists_records_pass_untouched() -> None:
    # This process has built clients already (the filter remembers their keys for good): look
    # at a fresh interpreter instead.
    import os
    import subprocess
    import sys

    script = (
        "import logging, io\n"
        "import torouter._redact\n"
        "out = io.StringIO()\n"
        "logging.basicConfig(stream=out, level=logging.DEBUG, format='%(name)s %(message)s')\n"
        "logging.getLogger('httpx').debug('status=%d', 200)\n"
        "logging.getLogger('torouter').info('hello %s', 'there')\n"
        "print(out.getvalue(), end='')\n"
    )
    # the torouter this test imported, not whichever one the interpreter would find
    root = os.path.dirname(os.path.dirname(os.path.abspath(torouter.__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env=env, timeout=120)  # the timeout only guards a hang
    assert done.stdout == "httpx status=200\ntorouter hello there\n"


# How long the paused thread waits for its rival.  A locked update keeps the rival out, so the
# wait always runs to its end there; this only bounds that wait (no timing is asserted).
RIVAL_WAIT = 0.5


class _PausingKey(str):
    """A key whose second hash, in the thread named "first", waits for a rival to finish.

    The second hash is the one inside the update of the remembered set: the rival's whole
    update then falls between the first thread's read of the set and its write.
    """

    rival_done: threading.Event
    hashes: int

    def __hash__(self) -> int:
        self.hashes += 1
        if self.hashes == 2 and threading.current_thread().name == "first":
            self.rival_done.wait(RIVAL_WAIT)
        return str.__hash__(self)


def test_two_clients_built_at_once_both_get_their_keys_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from torouter._redact import remember_secret

    first = _PausingKey("sk-first-racer-aa11bb22cc")
    first.hashes = 0
    first.rival_done = threading.Event()
    rival = "sk-rival-racer-dd33ee44ff"

    def remember_rival() -> None:
        try:
            remember_secret(rival)
        finally:
            first.rival_done.set()

    a = threading.Thread(target=remember_secret, args=(first,), name="first")
    b = threading.Thread(target=remember_rival, name="rival")
    a.start()
    while first.hashes < 2 and a.is_alive():  # the first thread is inside: send the rival
        threading.Event().wait(0.001)
    b.start()
    a.join()
    b.join()
    shown = _emit("torouter", caplog, "%s and %s", str(first), rival)
    assert shown == f"{mask_key(first)} and {mask_key(rival)}", "a key was forgotten"
