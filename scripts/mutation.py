"""Mutation testing of torouter's core: does the suite notice when the code changes?

Each mutant is one small change to one module (a flipped comparison, a dropped branch or
statement, a changed constant or default, ``and``/``or`` swapped, ``min``/``max`` swapped, a lock
removed ...).  The module's tests run against it; a failing test "kills" the mutant, a green run
means the change went unnoticed ("survived").  Survivors are either missing tests or *equivalent*
mutants (the change cannot alter behaviour); the accepted equivalents are listed in
:data:`EQUIVALENTS`, each with its reason.

    python scripts/mutation.py                          # every module, one mutant at a time
    python scripts/mutation.py --module _sse --module _budget
    python scripts/mutation.py --fast                   # one mutant per source line
    python scripts/mutation.py --changed-since main     # only lines changed since a git ref
    python scripts/mutation.py --max-mutants 20 --jobs 2 --markdown

Every mutant runs in a fresh ``python -m pytest`` subprocess (``-x -q``, a per-mutant timeout)
inside a private copy of the work tree.  Never fork or run mutants in-process: the log filter
(``torouter/_redact.py``) remembers every key a client was built with for the life of the
process, so a process that already ran the tests masks keys even when the mutant removed the
masking, and redaction mutants would falsely survive.  Mutant runs set ``CI=1`` so hypothesis is
derandomized (the same examples every run: a mutant's fate does not depend on luck).

Exit status: 0 when every module reaches ``--target`` (95% of non-equivalent mutants killed by
default), 1 otherwise.  See docs/contributing-mutation.md.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import functools
import hashlib
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def runs_for(*files: str) -> tuple[str, ...]:
    """The pytest runs for a module: each file's example tests, then all property tests.

    Most mutants die in the quick example tests of the first file; the hypothesis tests (marked
    ``hypothesis`` by its pytest plugin) are slower and only run for mutants that get that far.
    """
    return (*(f"{f} -m 'not hypothesis and not soak'" for f in files),
            " ".join(files) + " -m 'hypothesis and not soak'")


# Module -> the pytest runs that pin it, most decisive first (each run uses -x, and the first
# failing run ends the mutant's test).  Adding a module is one line here.
MODULES: dict[str, tuple[str, ...]] = {
    "torouter/_errors.py": runs_for("tests/test_error_parsing.py", "tests/test_errors.py",
                                    "tests/test_structured_outputs.py",
                                    "tests/test_stream_core.py", "tests/test_breaker_pins.py"),
    "torouter/_retry.py": runs_for("tests/test_retry_policy.py", "tests/test_retry_engine.py"),
    "torouter/_retrying.py": runs_for("tests/test_retrying_pins.py", "tests/test_retry_engine.py",
                                      "tests/test_seam.py",
                                      "tests/test_seam_records.py", "tests/test_fallbacks.py",
                                      "tests/test_streaming.py"),
    "torouter/_budget.py": runs_for("tests/test_retry_budget.py", "tests/test_retry_engine.py"),
    "torouter/_sse.py": runs_for("tests/test_sse.py"),
    "torouter/_redact.py": runs_for("tests/test_log_redaction.py", "tests/test_secrets.py"),
    "torouter/_seam.py": runs_for("tests/test_seam.py", "tests/test_seam_records.py"),
    # The modules of the 0.2 round (streams, fallbacks/breakers, fleet, telemetry):
    "torouter/_breaker.py": runs_for("tests/test_breaker_pins.py", "tests/test_fallbacks.py"),
    "torouter/_accumulate.py": runs_for("tests/test_accumulate_pins.py",
                                        "tests/test_stream_core.py",
                                        "tests/test_stream_helper.py"),
    "torouter/_streaming.py": runs_for("tests/test_stream_pins.py", "tests/test_stream_core.py",
                                       "tests/test_streaming.py", "tests/test_seam.py",
                                       "tests/test_stream_helper.py",
                                       "tests/reliability/test_stream_bounds.py"),
    "torouter/_telemetry.py": runs_for("tests/test_telemetry_pins.py", "tests/test_telemetry.py"),
    "torouter/_coordinator.py": runs_for("tests/coordination/test_coordinator.py",
                                         "tests/coordination/test_real_breaker.py"),
    "torouter/_redis_link.py": runs_for("tests/coordination/test_redis_link.py",
                                        "tests/coordination/test_coordinator.py"),
}

# Mutants accepted as equivalent: (module, a snippet of the original source line -- or, to tell
# identical lines apart, "previous\\nline" or "previous\\nline\\nnext" -- the change, why no
# test can tell the mutant from the original).  Matched by text, not by line number, so
# unrelated edits do not invalidate the list.  Keep each reason honest: if a user could ever see
# the difference, it is not equivalent -- write a test instead.
_FAST = ("the one-event fast path is only a shortcut: when it is not taken, the general parser "
         "returns the same events")
_COMMENT = ("a comment line (`:...`) is a field with an empty name, which the general rule "
            "ignores anyway")
_REFUSED = ("the size counter of an event refused for its size: after a StreamDecodeError the "
            "stream is over and its decoder is never fed again (torouter/_streaming.py)")
_NO_SECRETS = ("an early exit: with no key remembered, the loop below finds nothing and the "
               "record is returned unchanged all the same")
_NEEDLE = ("the test for a key inside a bytes repr with a shorter needle: it can only add a "
           "rewrite of a record that holds no whole key, and that rewrite renders the same text")
_FIVE_HUNDRED = ("500 itself is in the status table, which is consulted first: only 501 and up "
                 "reach this test")
_SUCCESS_NOT_ASKED = ("the clients return a successful attempt themselves, inside tenacity's "
                      "loop: the retry strategy is only ever asked about failures")
_REPLACE = ("dataclasses.replace copies the rules from the policy when they are not given, "
            "exactly as this line does")
_NOT_JSON = ("a body that is neither text nor a JSON object or array (None, a number) cannot "
             "hold the key: the JSON check below finds nothing and returns it unchanged too")
_DATE = ("email.utils.parsedate_to_datetime never returns None for a bad date: it raises "
         "(TypeError on 3.10, ValueError from 3.11), which is handled just above")
_ONE_PIECE = ("a shortcut for a text already in one piece: without it, `\"\".join` of the "
              "one-element list returns that very string (CPython returns an exact str item "
              "itself, and deltas are exact str, parsed from JSON) and `_parts` becomes an "
              "equal list holding the same string")
_PY310 = ("the Python 3.10 path (asyncio.timeout is 3.11+): asyncio.wait_for bounds the same "
          "round trip by the same timeout and cancels it the same way; only its cost differs "
          "(a task per round trip)")
_WHOLE_BOM = ("only a head that is exactly the 3-byte BOM is held one read longer: the next read "
              "strips it all the same, and a stream that ends there has nothing pending either "
              "way (pending looks at the line buffer, which is empty in both cases)")
_FAST_IF = 'if (chunk.find(b"\\n") == end and end >= 5 and chunk[end + 1] == 10'
_TEL = "torouter/_telemetry.py"
_SPEC = ("a seam runs only in a client call, and every client call has a RequestSpec "
         "(`_new_call`): the `spec is None` case is never taken")
_BEFORE = ("before_attempt sets it for every attempt, before on_send reads it: the seam runs "
           "every layer's before_attempt (telemetry first, and it never raises) before any "
           "send")
_TRACED = ("start_call sets it right after building the note of a call it traces; the note of a "
           "call under an outer GenAI span (span None) is never asked (on_send reads it only "
           "when span is not None)")
_STREAM_READ = ("a stream's call ends through the stream's end hook, which sets "
                "call.stream_outcome first: _end reads the snapshot then, never a stream result")
_NO_USAGE = ("a shortcut: `_fields(None)` is `{}`, so a missing usage sets no token count "
             "either way")
_ST = "torouter/_streaming.py"
_BARE = "context manager removed (body runs bare)"
_NO_EMPTY_KEY = ("a client refuses an empty key (ApiKeyRequired), so every secret here is "
                 "non-empty, and replacing a secret that is not in the text changes nothing")
_NONE_CAUGHT = ("without the early return, the None is used anyway and the AttributeError it "
                "raises is caught just below, with the same result")
_SAME_SOCKET = ("the watch's socket is the one _socket_of(response) returns (the watch got it "
                "there), so the other branch cuts the same socket")
_TAKE = ("state.take folds the chunk into the accumulator and keeps it only if chunks are kept: "
         "calling it instead of acc.add is the same (the bound method is a per-chunk shortcut)")
_STARTED = ("create() always reads the first chunk, so the generator has started and closing it "
            "runs its finally, which closes the response (or it has ended and did so already)")
_ONCE = ("finish() is only called from the stream generator's finally, which runs once: the "
         "guard against a second report is never needed (set_on_end checks _ended itself)")
_LATE_LOOK = ("a timer of a cancelled async watch left to fire: _fire asks check(), which "
              "returns None for a cancelled watch; nothing is cut or scheduled")
_TIMING = ("timing only: when the watchdog looks at a watch again; each look asks the state, "
           "which decides the same cut, only a moment earlier or later (tests must not assert "
           "wall-clock times)")
_RACE = ("only a race between threads (or a watch looked at while its stream is being closed) "
         "that no deterministic test can provoke; the state's own checks decide the same cut")
_FIRST_LOOK = ("the sync watchdog rechecks a watch whose bound has not passed and schedules it "
               "again: an earlier first look only adds a look (timing only)")
EQUIVALENTS: list[tuple[str, str, str, str]] = [
    ("torouter/_sse.py", "if len(head) < 3 and _BOM.startswith(head):", "`<` -> `<=`", _WHOLE_BOM),
    ("torouter/_sse.py", "if len(head) < 3 and _BOM.startswith(head):", "`3` -> `4`", _WHOLE_BOM),
    ("torouter/_retrying.py", "if spec is not None and spec.stream:", "`and` -> `or`",
     "every call the seam runs has a spec; for one that is not a stream the mutant only looks "
     "for an end hook on a completion (or its parsed raw response), finds none (getattr's "
     "default) and ends the call at once, as the original does"),
    ("torouter/_budget.py", "if amount > 0:", "`>` -> `>=`",
     "refunding 0 tokens (success_refund=0) adds nothing either way; only the lock is taken"),
    ("torouter/_sse.py", "_shortcut: ClassVar[bool] = True", "`True` -> `False`", _FAST),
    ("torouter/_sse.py", "if self._shortcut and not held and not self._data",
     "branch never taken (`if False:`)", _FAST),
    ("torouter/_sse.py", "end = len(chunk) - 2", "`-` -> `+`",
     _FAST + " (a first newline past the end: never taken)"),
    ("torouter/_sse.py", _FAST_IF, "branch never taken (`if False:`)", _FAST),
    ("torouter/_sse.py", _FAST_IF, "`>=` -> `>`",
     _FAST + " (`data:` with an empty value goes to the general parser)"),
    ("torouter/_sse.py", _FAST_IF, "`5` -> `6`",
     _FAST + " (`data:` with an empty value goes to the general parser)"),
    ("torouter/_sse.py", _FAST_IF, "`+` -> `-`",
     _FAST + " (the byte before the first newline is never a newline: never taken)"),
    ("torouter/_sse.py", _FAST_IF, "`10` -> `11`", _FAST + " (never taken)"),
    ("torouter/_sse.py", "13 not in chunk and end <= self.max_line):", "`<=` -> `<`",
     _FAST + " (a line of exactly max_line goes to the general parser, which accepts it too)"),
    ("torouter/_sse.py", "if len(value) < self.max_event:", "branch never taken (`if False:`)",
     _FAST),
    ("torouter/_sse.py", "return [(None, value)]", "statement removed",
     _FAST + " (falls through to the general parser)"),
    ("torouter/_sse.py", "if line[0] == 58:", "branch never taken (`if False:`)", _COMMENT),
    ("torouter/_sse.py", "if line[0] == 58:", "`58` -> `59`",
     _COMMENT + " (and a line starting with `;` is an unknown field: ignored too)"),
    ("torouter/_sse.py", "keep-alive\ncontinue", "statement removed", _COMMENT),
    ("torouter/_sse.py", "self._data = []\nself._size = 0\nraise StreamDecodeError(",
     "statement removed", _REFUSED),
    ("torouter/_sse.py", "self._data = []\nself._size = 0\nraise StreamDecodeError(", "`0` -> `1`",
     _REFUSED),
    ("torouter/_sse.py", "buf = bytes(held) + chunk if held else chunk",
     "conditional expression always takes its `if` value",
     "with nothing held, `bytes(held) + chunk` is `chunk` all the same (only a copy is saved)"),
    ("torouter/_errors.py", "zip(codes, keys, strict=True)", "`True` -> `False`",
     "`keys` is built from `codes` one for one: the two never differ in length"),
    ("torouter/_errors.py", "500: InternalServerError,", "`500` -> `501`",
     "500 then falls to the any-other-5xx rule, which gives InternalServerError too, and 501 "
     "was an InternalServerError already"),
    ("torouter/_errors.py", "if found is None:", "branch never taken (`if False:`)",
     "without the early return, no catalog row has class None: the loop below returns None"),
    ("torouter/_errors.py", "if found is None:\nreturn None", "statement removed",
     "without the early return, no catalog row has class None: the loop below returns None"),
    ("torouter/_errors.py", "return family\nif status >= 500:", "`>=` -> `>`", _FIVE_HUNDRED),
    ("torouter/_errors.py", "return family\nif status >= 500:", "`500` -> `501`", _FIVE_HUNDRED),
    ("torouter/_errors.py", "(status in _STATUS_FAMILY or status >= 500):", "`>=` -> `>`",
     _FIVE_HUNDRED),
    ("torouter/_errors.py", "(status in _STATUS_FAMILY or status >= 500):", "`500` -> `501`",
     _FIVE_HUNDRED),
    ("torouter/_errors.py", '.encode(), "")\nreturn parsed', "statement removed",
     "a text body without the key falls through to the next test, which returns it unchanged"),
    ("torouter/_retrying.py", "self._attempt_start = self.start", "statement removed",
     "begin() (or refused()) sets it before any attempt is recorded"),
    ("torouter/_retrying.py", "if self.attempts and self.stop_reason and self.attempts[-1]",
     "`and` -> `or`", "finish() runs once per call, when the last attempt has no stop reason "
     "yet: the mutant can only write the call's stop reason there, or None over None"),
    ("torouter/_retrying.py", "if not rs.outcome.failed:", "branch never taken (`if False:`)",
     _SUCCESS_NOT_ASKED),
    ("torouter/_retrying.py", "if not rs.outcome.failed:\nreturn False", "statement removed",
     _SUCCESS_NOT_ASKED),
    ("torouter/_retrying.py", "if not rs.outcome.failed:\nreturn False", "`False` -> `True`",
     _SUCCESS_NOT_ASKED),
    ("torouter/_errors.py", "if needle not in text:\nreturn parsed", "statement removed",
     "a shortcut: a body without the key, written as JSON and read back, parses to the same "
     "codes, message and body"),
    ("torouter/_errors.py", "if needle not in text:", "branch never taken (`if False:`)",
     "a shortcut: a body without the key, written as JSON and read back, parses to the same "
     "codes, message and body"),
    ("torouter/_errors.py", "if not isinstance(body, (dict, list)):",
     "branch never taken (`if False:`)", _NOT_JSON),
    ("torouter/_errors.py", "if not isinstance(body, (dict, list)):\nreturn parsed",
     "statement removed", _NOT_JSON),
    ("torouter/_errors.py", "ms = -1.0", "`1.0` -> `2.0`", "any negative value marks it invalid"),
    ("torouter/_errors.py", "if parsed is None:", "branch never taken (`if False:`)", _DATE),
    ("torouter/_errors.py", "if parsed is None:\nreturn None", "statement removed", _DATE),
    ("torouter/_retry.py", "cache[cls] = resolved", "statement removed",
     "only the cache of resolved rules: each lookup resolves the same rule again"),
    ("torouter/_retry.py", 'if "rules" not in changes:', "branch never taken (`if False:`)",
     _REPLACE),
    ("torouter/_retry.py", 'if "rules" not in changes:', "`not in` -> `in`", _REPLACE),
    ("torouter/_retry.py", 'changes["rules"] = self.rules', "statement removed", _REPLACE),
    ("torouter/_redact.py", "if not secrets:", "branch never taken (`if False:`)", _NO_SECRETS),
    ("torouter/_redact.py", "if not secrets:\nreturn True", "statement removed", _NO_SECRETS),
    ("torouter/_redact.py", "if repr(raw)[2:-1] in text:", "`2` -> `3`", _NEEDLE),
    ("torouter/_redact.py", "if repr(raw)[2:-1] in text:", "`1` -> `2`", _NEEDLE),
    ("torouter/_redact.py", "if secret in _secrets:", "branch never taken (`if False:`)",
     "a shortcut: adding a key that is already remembered leaves the set as it was"),
    ("torouter/_redact.py", "if secret in _secrets:\nreturn", "statement removed",
     "a shortcut: adding a key that is already remembered leaves the set as it was"),
    ("torouter/_breaker.py", ')."""\nwith self._lock:\nst = self._states.get(model, _CLOSED)',
     "context manager removed (body runs bare)",
     "state() holds the lock for one dict.get of an immutable CircuitState, which is atomic "
     "without it (_enter makes the same read lock-free); the clock is read after the lock "
     "either way: it returns the same state, with or without the lock"),
    ("torouter/_breaker.py", 'return "send", 0.0', "`0.0` -> `1.0`",
     "before_attempt, the only caller of _enter, reads the seconds only for a refusal"),
    ("torouter/_breaker.py", "bool(call.notes.pop(self, False))", "`False` -> `True`",
     "after_attempt only follows the breaker's own before_attempt for the same attempt (a "
     "refused attempt gets none; a call without a model returns before both), which always "
     "writes the note: the default is never used"),
    ("torouter/_accumulate.py", "if len(parts) == 1:", "branch never taken (`if False:`)",
     _ONE_PIECE),
    ("torouter/_accumulate.py", "if len(parts) == 1:\nreturn parts[0]", "statement removed",
     _ONE_PIECE),
    ("torouter/_redis_link.py", "check_health=False)", "`False` -> `True`",
     "the coordinator makes its connections with health_check_interval=0, and redis-py's "
     "check_health does nothing without an interval: no PING is sent either way"),
    ("torouter/_redis_link.py", "if _timeout is not None:", "branch never taken (`if False:`)",
     _PY310),
    ("torouter/_redis_link.py", "if _timeout is not None:", "else branch never taken (`if True:`)",
     _PY310),
    ("torouter/_redis_link.py", "if _timeout is not None:", "`is not` -> `is`", _PY310),
    ("torouter/_redis_link.py", "await _quietly(conn.disconnect(nowait=True))", "`True` -> `False`",
     "nowait only skips waiting for the failed connection's writer to finish closing: the "
     "socket is closed and the connection dropped either way, and the error raised is the same"),
    (_TEL, "self.before = self.start", "statement removed", _BEFORE),
    (_TEL, "self.caller_traced = False", "statement removed", _TRACED),
    (_TEL, "self.caller_traced = False", "`False` -> `True`", _TRACED),
    (_TEL, 'operation = spec.operation if spec is not None else "chat"',
     "conditional expression always takes its `if` value", _SPEC),
    (_TEL, 'method = spec.method if spec is not None else "POST"',
     "conditional expression always takes its `if` value", _SPEC),
    (_TEL, '"url.full": self._url + (spec.path if spec is not None else ""),',
     "conditional expression always takes its `if` value", _SPEC),
    (_TEL, "if recording and spec is not None and spec.params:", "`and` -> `or`",
     _SPEC + "; and params is always a dict: the mutant only also sets the attributes on a "
     "span that records nothing (a no-op) or sets none from an empty body (listing models)"),
    (_TEL, "return\nnote.attempt = None\ntry:", "statement removed",
     "_close_attempt runs only from end_call and abandon_call, after the note was popped from "
     "call.notes: nothing reads note.attempt again"),
    (_TEL, "if isinstance(result, _StreamBase):", "branch never taken (`if False:`)",
     _STREAM_READ),
    (_TEL, "snapshot instead\nreturn", "statement removed", _STREAM_READ),
    (_TEL, "if usage is None:", "branch never taken (`if False:`)", _NO_USAGE),
    (_TEL, "if usage is None:\nreturn", "statement removed", _NO_USAGE),
    (_TEL, "return fields if isinstance(fields, dict) else {}",
     "conditional expression always takes its `if` value",
     "every object read is a pydantic model (a result, its choices, message and usage, a "
     "stream's snapshot built with model_construct, a message passed back), whose __dict__ is "
     "a dict; any other non-Mapping in messages= that reaches it is a JSON value without a "
     "__dict__ (the body is encoded before the call starts, so nothing else is sent), and the "
     "mutant's None is skipped like {}"),
    (_TEL, "return value if isinstance(value, str) else None",
     "conditional expression always takes its `if` value",
     "the values read (id, model, finish_reason) are fields typed `str` or `Optional[str]` of "
     "validated response models, or copied from validated chunks into a stream's snapshot: "
     "already a str or None"),
    (_ST, "(at is None or deadline < at):",
     "`<` -> `<=`", "when the deadline equals the idle bound, taking either gives the same time"),
    (_ST, "check_time=False) if self._decoder.pending else []",
     "conditional expression always takes its `if` value",
     "two blank lines fed to a decoder that holds nothing complete no event: feed returns []"),
    (_ST, "self._drain_at = self._clock() + _DRAIN_GRACE\nself.waiting = True",
     "statement removed", "the stream sets waiting after handing over each read's chunks, "
     "before it looks for [DONE]: it is already True whenever the drain begins"),
    (_ST, "return self._idle or 0.05", "`0.05` -> `1.05`",
     "never reached: the caller holds a chunk (waiting False) only after the first chunk, when "
     "the deadline no longer bounds, so with no idle timeout (0 is refused) there is no bound "
     "at all, and the drain sets waiting first"),
    (_ST, "if secret and secret in detail:", "`and` -> `or`", _NO_EMPTY_KEY),
    (_ST, "if secret and secret.encode() in data:", "`and` -> `or`", _NO_EMPTY_KEY),
    (_ST, "if stream is None:", "branch never taken (`if False:`)", _NONE_CAUGHT),
    (_ST, "if stream is None:\nreturn None", "statement removed", _NONE_CAUGHT),
    (_ST, 'closed."""\nif sock is None:\nreturn', "branch never taken (`if False:`)",
     _NONE_CAUGHT),
    (_ST, "if sock is None:\nreturn\ntry:", "statement removed", _NONE_CAUGHT),
    (_ST, 'tell ``on_end``, once."""\nif self._ended:\nreturn', "branch never taken (`if False:`)",
     _ONCE),
    (_ST, "if self._ended:\nreturn\nself._ended = True", "statement removed", _ONCE),
    (_ST, "if self.cancelled or state is None:", "`or` -> `and`",
     "cancel() sets cancelled and clears state together: the two are never apart"),
    (_ST, "self._stale = max(0, self._stale - 1)\ncontinue\ncond.release()",
     "statement removed", "check() on a cancelled watch returns None at once: nothing is cut "
     "and nothing pushed back, as with the continue"),
    (_ST, "cut_socket(self.sock)\nreturn None", "statement removed",
     "only more looks (CPU): each cuts the socket that is already cut, until the stream ends"),
    (_ST, "not None:\nself._handle.cancel()\nself._handle = self._loop", "statement removed",
     _TIMING + "; a timer left running only adds a look, which asks the state again"),
    (_ST, "def _fire(self) -> None:\nself._handle = None", "statement removed",
     "a fired timer handle: cancelling it later (schedule, cancel) does nothing"),
    (_ST, "super().cancel()\nif self._handle is not None:", "branch never taken (`if False:`)",
     _LATE_LOOK),
    (_ST, "super().cancel()\nif self._handle is not None:", "`is not` -> `is`", _LATE_LOOK),
    (_ST, "if self._handle is not None:\nself._handle.cancel()\nself._handle = None",
     "statement removed", _LATE_LOOK),
    (_ST, "self._handle.cancel()\nself._handle = None", "statement removed", _LATE_LOOK),
    (_ST, "raise NotImplementedError", "statement removed",
     "both watch classes override schedule(): the base one is never called"),
    (_ST, "cut_socket(watch.sock if watch is not None and",
     "conditional expression always takes its `else` value", _SAME_SOCKET),
    (_ST, "take = state.take if state.chunks is not None",
     "conditional expression always takes its `if` value", _TAKE),
    (_ST, "except StopAsyncIteration:\nself._first = _MISSING", "statement removed",
     "_first is _MISSING already: set so in __init__, and _prefetch runs once"),
    (_ST, "self.response.close()", "statement removed", _STARTED),
    (_ST, "await self.response.aclose()", "statement removed", _STARTED),
    (_ST, "if at > now:", "`>` -> `>=`",
     "at == now on the monotonic clock: waiting 0 s and looking again is the same as looking now"),
    (_ST, "schedule(self, max(delay, 0.0))", "`max(` -> `min(`", _FIRST_LOOK),
    (_ST, "schedule(self, max(delay, 0.0))", "`0.0` -> `1.0`", _TIMING),
    (_ST, "call_later(max(delay, 0.0), self._fire)", "`max(` -> `min(`",
     _FIRST_LOOK.replace("sync watchdog", "async watch")),
    (_ST, "call_later(max(delay, 0.0), self._fire)", "`0.0` -> `1.0`",
     _TIMING),
    (_ST, "at = time.monotonic() + delay", "`+` -> `-`", _FIRST_LOOK),
    (_ST, "(self._heap, (time.monotonic() + delay, next(",
     "`+` -> `-`", _TIMING),
    (_ST, "def check(self) -> float | None:\nwith self._lock:", _BARE,
     _RACE),
    (_ST, "if not self.cancelled:\nwith self._lock:", _BARE,
     _RACE),
    (_ST, "_Watch.cancel(watch)\nwith self._cond:", _BARE,
     _RACE),
]


# --- mutants -------------------------------------------------------------------------------

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult, ast.Mod: ast.Mult, ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
}
_OP_TEXT: dict[type[ast.AST], str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&", ast.And: "and", ast.Or: "or",
}


@dataclass(frozen=True)
class Mutant:
    module: str  # "torouter/_sse.py"
    index: int  # position of the node in the traversal
    kind: str  # which mutation of that node
    line: int
    change: str  # human-readable: "`<` -> `<=`"
    source_line: str

    @property
    def where(self) -> str:
        return f"{self.module}:{self.line}"


def _is_docstring(node: ast.stmt, parent_body: list[ast.stmt]) -> bool:
    return (parent_body and parent_body[0] is node and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))


def _skipped(node: ast.AST) -> bool:
    """Code that is not behaviour: ``if TYPE_CHECKING``, ``__all__``, asserts (type narrowing)."""
    if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
            and node.test.id == "TYPE_CHECKING":
        return True
    if isinstance(node, ast.Assert):
        return True
    return isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
        isinstance(t, ast.Name) and t.id == "__all__"
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
    )


def _mutations(node: ast.AST, parent_body: list[ast.stmt] | None,
               in_if_body: bool) -> Iterator[tuple[str, str]]:
    """(kind, description) for each way ``node`` can be mutated."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            new = _CMP_SWAP.get(type(op))
            if new is not None:
                yield f"cmp{i}", f"`{_OP_TEXT[type(op)]}` -> `{_OP_TEXT[new]}`"
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield "boolop", f"`{_OP_TEXT[type(node.op)]}` -> `{_OP_TEXT[other]}`"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "notnot", "`not x` -> `x`"
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BIN_SWAP:
        eq = "=" if isinstance(node, ast.AugAssign) else ""
        yield "binop", (f"`{_OP_TEXT[type(node.op)]}{eq}` -> "
                        f"`{_OP_TEXT[_BIN_SWAP[type(node.op)]]}{eq}`")
    elif isinstance(node, ast.IfExp):
        yield "ifexp_body", "conditional expression always takes its `if` value"
        yield "ifexp_else", "conditional expression always takes its `else` value"
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield "const", f"`{value}` -> `{not value}`"
        elif isinstance(value, (int, float)):
            yield "const", f"`{value!r}` -> `{_bump(value)!r}`"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in ("min", "max"):
        yield "minmax", f"`{node.func.id}(` -> `{'max' if node.func.id == 'min' else 'min'}(`"
    if isinstance(node, ast.If):
        yield "if_false", "branch never taken (`if False:`)"
        if node.orelse:
            yield "if_true", "else branch never taken (`if True:`)"
    if isinstance(node, ast.With):
        yield "with_drop", "context manager removed (body runs bare)"
    if isinstance(node, ast.stmt) and parent_body is not None:
        droppable = (
            (isinstance(node, ast.Expr) and not _is_docstring(node, parent_body))
            or isinstance(node, (ast.AugAssign, ast.Raise, ast.Continue, ast.Break))
            or (isinstance(node, ast.Assign)
                and all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets))
            or (isinstance(node, ast.Return) and in_if_body)
        )
        if droppable:
            yield "drop", "statement removed"


def _bump(value: int | float) -> int | float:
    if value == 0:
        return type(value)(1)
    return value + 1


def _apply(node: ast.AST, kind: str) -> ast.AST | list[ast.stmt] | None:
    """Mutate ``node`` (in place where possible); return its replacement."""
    if kind.startswith("cmp"):
        assert isinstance(node, ast.Compare)
        i = int(kind[3:])
        node.ops[i] = _CMP_SWAP[type(node.ops[i])]()
        return node
    if kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        return node
    if kind == "notnot":
        assert isinstance(node, ast.UnaryOp)
        return node.operand
    if kind == "binop":
        assert isinstance(node, (ast.BinOp, ast.AugAssign))
        node.op = _BIN_SWAP[type(node.op)]()
        return node
    if kind in ("ifexp_body", "ifexp_else"):
        assert isinstance(node, ast.IfExp)
        return node.body if kind == "ifexp_body" else node.orelse
    if kind == "const":
        assert isinstance(node, ast.Constant)
        node.value = (not node.value) if isinstance(node.value, bool) else _bump(node.value)
        return node
    if kind == "minmax":
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        node.func.id = "max" if node.func.id == "min" else "min"
        return node
    if kind in ("if_false", "if_true"):
        assert isinstance(node, ast.If)
        node.test = ast.Constant(kind == "if_true")
        return node
    if kind == "with_drop":
        assert isinstance(node, ast.With)
        return node.body
    if kind == "drop":
        return ast.Pass()
    raise ValueError(kind)


class _Walker:
    """Visits every node in a fixed order; ``target`` set = mutate that node and stop."""

    def __init__(self, target: tuple[int, str] | None = None) -> None:
        self.target = target
        self.count = 0
        self.found: list[tuple[int, str, str, int]] = []  # index, kind, change, line

    def visit(self, node: ast.AST, parent_body: list[ast.stmt] | None = None,
              in_if_body: bool = False) -> ast.AST | list[ast.stmt] | None:
        if _skipped(node) or isinstance(node, ast.arg) or _is_annotation_host(node):
            return node
        index = self.count
        self.count += 1
        if self.target is None:
            for kind, change in _mutations(node, parent_body, in_if_body):
                self.found.append((index, kind, change, getattr(node, "lineno", 0)))
        elif self.target[0] == index:
            return _apply(node, self.target[1])
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "type_comment"):
                continue
            if isinstance(value, list):
                new_list: list[object] = []
                is_body = bool(value) and isinstance(value[0], ast.stmt)
                for item in value:
                    if isinstance(item, ast.AST):
                        res = self.visit(item, value if is_body else None,
                                         isinstance(node, ast.If) and name == "body")
                        if isinstance(res, list):
                            new_list.extend(res)
                        elif res is not None:
                            new_list.append(res)
                    else:
                        new_list.append(item)
                value[:] = new_list
            elif isinstance(value, ast.AST):
                res = self.visit(value)
                if isinstance(res, ast.AST):
                    setattr(node, name, res)
        return node


def _is_annotation_host(node: ast.AST) -> bool:
    # Class-level annotations without a value (``message: str``) are declarations only.
    return isinstance(node, ast.AnnAssign) and node.value is None


@functools.cache
def _source(module: str) -> str:
    """The module as it was when this run first read it (edits during a run do not leak in)."""
    return (ROOT / module).read_text()


def _sha1(module: str) -> str:
    return hashlib.sha1(_source(module).encode()).hexdigest()


def enumerate_mutants(module: str) -> list[Mutant]:
    source = _source(module)
    lines = source.splitlines()
    walker = _Walker()
    walker.visit(ast.parse(source))
    return [Mutant(module, index, kind, line, change, lines[line - 1].strip() if line else "")
            for index, kind, change, line in walker.found]


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse(_source(mutant.module))
    walker = _Walker((mutant.index, mutant.kind))
    walker.visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


@functools.cache
def _source_lines(module: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in _source(module).splitlines())


def equivalent_reason(mutant: Mutant) -> str | None:
    lines = _source_lines(mutant.module)
    i = mutant.line - 1
    # A snippet of two lines ends with the mutated line; one of three has it in the middle.
    around = {2: "\n".join(lines[max(i - 1, 0): i + 1]),
              3: "\n".join(lines[max(i - 1, 0): i + 2])}
    for module, snippet, change, reason in EQUIVALENTS:
        if module != mutant.module or change != mutant.change:
            continue
        n = snippet.count("\n") + 1
        if (snippet in mutant.source_line) if n == 1 else (snippet in around.get(n, "")):
            return reason
    return None


# --- running -------------------------------------------------------------------------------


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # "killed", "timeout", "survived", "equivalent", "equivalent-killed"
    seconds: float
    reason: str = ""
    raw: str = ""  # what the tests did: "killed", "timeout" or "survived"


def judged(mutant: Mutant, raw: str, seconds: float) -> Result:
    """The result of a test run (``raw``: killed, timeout or survived), with EQUIVALENTS applied."""
    reason = equivalent_reason(mutant)
    outcome = raw
    if reason is not None:
        # An "equivalent" mutant that a test kills was listed wrongly: report it.
        outcome = "equivalent" if raw == "survived" else "equivalent-killed"
    return Result(mutant, outcome, seconds, reason or "", raw)


@dataclass
class ModuleReport:
    module: str
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the runs behind these results

    def count(self, *outcomes: str) -> int:
        return sum(r.outcome in outcomes for r in self.results)

    @property
    def score(self) -> float:
        judged = self.count("killed", "timeout", "survived")
        return 100.0 if judged == 0 else 100.0 * self.count("killed", "timeout") / judged


def _copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "__pycache__", ".hypothesis", ".mypy_cache",
                                    ".ruff_cache", ".pytest_cache", "site", "*.pyc")
    work = dest / "tree"
    shutil.copytree(ROOT, work, ignore=ignore)
    return work


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(work), CI="1")  # CI=1: hypothesis derandomized
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cache bytecode in the private copy: faster
    env.pop("PYTEST_ADDOPTS", None)
    return env


# What a test server imports once, before it forks a child per pytest run.  Never anything of
# torouter's that holds state: only its pydantic types (slow to build, stateless).
_PRELOAD = ("pytest", "_pytest.python", "_pytest.assertion.rewrite", "hypothesis", "httpx",
            "respx", "anyio", "pydantic", "tenacity", "torouter.types")


def _stateless(name: str) -> bool:
    return (name in ("torouter", "torouter._version", "torouter._public")
            or name.startswith("torouter.types"))


def serve() -> None:
    """The test server (``--serve``): one fresh child per pytest run, forked from a clean parent.

    Reads one JSON list of pytest arguments per line, forks, and writes the child's pid, then its
    exit code.  The parent never imports torouter's core, so every child imports the (mutated)
    core afresh -- in particular ``torouter/_redact.py`` starts with no remembered key -- and
    the interpreter, pytest, httpx, pydantic and the response types are not paid again.
    """
    import importlib

    sys.path.insert(0, os.getcwd())
    for name in _PRELOAD:
        importlib.import_module(name)
    import pytest

    for line in sys.stdin:
        leaked = [m for m in sys.modules if m.startswith("torouter") and not _stateless(m)]
        if leaked:  # never fork a parent holding core state (see the module docstring)
            raise SystemExit(f"the test server imported {leaked}")
        args = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: its own process group, so a timeout can kill all of it
            os.setsid()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                code = int(pytest.main(args))
            except BaseException:
                code = 3
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


class Worker:
    """A private copy of the work tree where one mutant at a time is written and tested."""

    def __init__(self, fork: bool = True) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="torouter-mutation-"))
        self.work = _copy_tree(self.tmp)
        self.server: subprocess.Popen[str] | None = None
        if fork:
            self.server = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve"], cwd=self.work,
                env=_env(self.work), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def write(self, module: str, text: str) -> None:
        """Put ``text`` in place of ``module``, dropping its cached bytecode.

        A .pyc is trusted when the source's size and mtime (in whole seconds) match, which two
        mutants written within one second can share: delete it rather than risk a stale run.
        """
        path = self.work / module
        path.write_text(text)
        for pyc in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
            pyc.unlink()

    def pytest(self, args: list[str], timeout: float) -> int | None:
        """Exit code of one pytest run in a fresh process, or None after ``timeout``."""
        if self.server is None:
            try:
                return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=self.work,
                                      env=_env(self.work), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, timeout=timeout,
                                      check=False).returncode
            except subprocess.TimeoutExpired:  # subprocess.run kills the child
                return None
        assert self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps(args) + "\n")
        self.server.stdin.flush()
        pid = int(self.server.stdout.readline())
        ready, _, _ = select.select([self.server.stdout], [], [], timeout)
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self.server.stdout.readline()  # the killed child's status
            return None
        return int(self.server.stdout.readline())

    def run_tests(self, runs: tuple[str, ...], timeout: float) -> tuple[str, float]:
        """Run the pytest runs in order, stopping at the first failure (``timeout``: all of it).

        The first runs are the small, targeted ones: most mutants die there, without paying for
        the larger ones.
        """
        started = time.monotonic()
        for run in runs:
            args = ["-x", "-q", "--no-header", "-p", "no:cacheprovider", *shlex.split(run)]
            code = self.pytest(args, max(timeout - (time.monotonic() - started), 1.0))
            if code is None:
                return "timeout", time.monotonic() - started
            if code not in (0, 5):  # 5: this run selected no tests
                return "killed", time.monotonic() - started
        return "survived", time.monotonic() - started

    def run(self, mutant: Mutant, runs: tuple[str, ...], timeout: float) -> Result:
        original = (self.work / mutant.module).read_text()
        self.write(mutant.module, mutated_source(mutant))
        try:
            outcome, seconds = self.run_tests(runs, timeout)
        finally:
            self.write(mutant.module, original)
        return judged(mutant, outcome, seconds)

    def close(self) -> None:
        if self.server is not None:
            if self.server.stdin is not None:
                self.server.stdin.close()
            self.server.wait(timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _changed_lines(module: str, ref: str) -> set[int]:
    diff = subprocess.run(["git", "diff", "-U0", ref, "--", module], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    changed: set[int] = set()
    for line in diff.splitlines():
        if line.startswith("@@"):
            new = line.split("+", 1)[1].split(" ", 1)[0]
            start, _, count = new.partition(",")
            n = int(count) if count else 1
            changed.update(range(int(start), int(start) + n))
    return changed


def chosen_mutants(module: str, args: argparse.Namespace) -> list[Mutant]:
    mutants = enumerate_mutants(module)
    if args.changed_since:
        lines = _changed_lines(module, args.changed_since)
        mutants = [m for m in mutants if m.line in lines]
    if args.fast:
        seen: set[int] = set()
        mutants = [m for m in mutants if not (m.line in seen or seen.add(m.line))]  # type: ignore[func-returns-value]
    if args.max_mutants is not None:
        mutants = mutants[: args.max_mutants]
    return mutants


def _resolve(names: list[str]) -> list[str]:
    if not names:
        return list(MODULES)
    chosen = []
    for name in names:
        matches = [m for m in MODULES if m == name or Path(m).stem == name
                   or Path(m).stem == "_" + name.lstrip("_")]
        if not matches:
            raise SystemExit(f"unknown module {name!r}; known: {', '.join(MODULES)}")
        chosen.extend(matches)
    return chosen


def run_module(module: str, args: argparse.Namespace, workers: list[Worker],
               log: Callable[[str], None]) -> ModuleReport:
    tests = MODULES[module]
    report = ModuleReport(module)
    # The unmutated module must pass its tests -- through the same unparse as the mutants.
    baseline_started = time.monotonic()
    original = _source(module)
    for worker in workers:  # the same snapshot everywhere, even if the file was edited since
        worker.write(module, original)
    workers[0].write(module, ast.unparse(ast.parse(original)))
    try:
        outcome, _ = workers[0].run_tests(tests, timeout=600)
    finally:
        workers[0].write(module, original)
    if outcome != "survived":
        raise SystemExit(f"{module}: its tests fail without any mutation: {' '.join(tests)}")
    baseline = time.monotonic() - baseline_started
    timeout = args.timeout or max(30.0, 4 * baseline)
    mutants = chosen_mutants(module, args)
    previous = load(Path(args.survivors_from), module) if args.survivors_from else None
    if previous is not None:
        # Re-test only the survivors not listed as equivalent; keep the other results.
        again = {(r.mutant.index, r.mutant.kind) for r in previous.results
                 if r.outcome == "survived"}
        mutants = [m for m in mutants if (m.index, m.kind) in again]
        report.results = [r for r in previous.results
                          if (r.mutant.index, r.mutant.kind) not in again]
        report.seconds = previous.seconds
    log(f"{module}: {len(mutants)} mutants, runs {' | '.join(tests)} "
        f"(baseline {baseline:.1f}s, timeout {timeout:.0f}s)")
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(workers)) as pool:
        free = list(workers)
        futures = {}
        pending = list(mutants)

        def submit() -> None:
            while free and pending:
                worker, mutant = free.pop(), pending.pop(0)
                fut = pool.submit(worker.run, mutant, tests, timeout)
                futures[fut] = worker

        submit()
        done_n = 0
        while futures:
            done, _ = concurrent.futures.wait(futures, return_when="FIRST_COMPLETED")
            for fut in done:
                free.append(futures.pop(fut))
                result = fut.result()
                report.results.append(result)
                done_n += 1
                if done_n % 25 == 0:
                    log(f"  ... {done_n}/{len(mutants)} done")
                if result.outcome in ("survived", "equivalent-killed") or args.verbose:
                    m = result.mutant
                    log(f"  [{done_n}/{len(mutants)}] {result.outcome.upper()} {m.where} "
                        f"{m.change}: {m.source_line}")
            submit()
    report.results.sort(key=lambda r: (r.mutant.line, r.mutant.index, r.mutant.kind))
    report.seconds += time.monotonic() - baseline_started
    return report


def save(path: Path, reports: list[ModuleReport]) -> None:
    """Write the results to ``path`` (JSON), keeping the other modules already in it."""
    data = json.loads(path.read_text()) if path.exists() else {}
    for rep in reports:
        data[rep.module] = {
            "seconds": round(rep.seconds, 1),
            "source_sha1": _sha1(rep.module),
            "mutants": [{**asdict(r.mutant), "raw": r.raw, "seconds": round(r.seconds, 2)}
                        for r in rep.results],
        }
    path.write_text(json.dumps(data, indent=1) + "\n")


def load(path: Path, module: str) -> ModuleReport | None:
    data = json.loads(path.read_text()).get(module) if path.exists() else None
    if data is None:
        return None
    if data["source_sha1"] != _sha1(module):
        raise SystemExit(f"{path}: {module} changed since those results; run it again")
    report = ModuleReport(module, seconds=data["seconds"])
    for m in data["mutants"]:
        raw, seconds = m.pop("raw"), m.pop("seconds")
        m.pop("previous_line", None)  # written by an earlier version
        report.results.append(judged(Mutant(**m), raw, seconds))
    return report


def print_report(reports: list[ModuleReport], target: float, seconds: float,
                 markdown: bool) -> bool:
    ok = True
    print()
    print("| module | mutants | killed | survived | equivalent | score | run time |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for rep in reports:
        killed = rep.count("killed", "timeout")
        print(f"| `{rep.module}` | {len(rep.results)} | {killed} | {rep.count('survived')} | "
              f"{rep.count('equivalent')} | {rep.score:.1f}% | {rep.seconds / 60:.1f} min |")
        ok = ok and rep.score >= target and rep.count("equivalent-killed") == 0
    print(f"\nwall time {seconds / 60:.1f} min; target {target:g}% of non-equivalent mutants "
          "killed per module")
    for rep in reports:
        survivors = [r for r in rep.results if r.outcome == "survived"]
        wrong = [r for r in rep.results if r.outcome == "equivalent-killed"]
        equivalents = [r for r in rep.results if r.outcome == "equivalent"]
        if survivors:
            print(f"\nsurvivors in {rep.module}:")
            for r in survivors:
                print(f"  {r.mutant.where}  {r.mutant.change}  | {r.mutant.source_line}")
        if wrong:
            print(f"\nlisted as equivalent but killed (remove from EQUIVALENTS) in {rep.module}:")
            for r in wrong:
                print(f"  {r.mutant.where}  {r.mutant.change}  | {r.mutant.source_line}")
        if equivalents and markdown:
            print(f"\nequivalent mutants in {rep.module}:\n")
            print("| line | source | change | why it is equivalent |")
            print("|---:|---|---|---|")
            for r in equivalents:
                source = r.mutant.source_line.split("  #")[0].replace("|", "\\|")
                print(f"| {r.mutant.line} | `{source}` | {r.mutant.change} | {r.reason} |")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--module", action="append", default=[],
                        help="module to mutate (path or name such as _sse); repeatable")
    parser.add_argument("--max-mutants", type=int, default=None,
                        help="at most this many mutants per module (the first ones)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="mutants tested in parallel (default 1: the machine is shared)")
    parser.add_argument("--fast", action="store_true",
                        help="one mutant per source line (a quick sample)")
    parser.add_argument("--changed-since", metavar="REF",
                        help="only mutate lines changed since this git ref (e.g. main)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant (default: 4 x the baseline run, at least 30)")
    parser.add_argument("--target", type=float, default=95.0,
                        help="required score per module in percent (default 95)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the equivalent mutants as Markdown tables")
    parser.add_argument("--save", metavar="FILE",
                        help="write the results to FILE (JSON; other modules in it are kept)")
    parser.add_argument("--survivors-from", metavar="FILE",
                        help="re-test only the mutants that survived in FILE (saved by --save); "
                             "the other results are taken from FILE")
    parser.add_argument("--report", metavar="FILE",
                        help="print the report of the results saved in FILE, run nothing")
    parser.add_argument("--no-fork", action="store_true",
                        help="start a new interpreter for every pytest run (slower) instead of "
                             "forking it from a clean test server")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    modules = _resolve(args.module)
    if args.report:
        saved = [load(Path(args.report), module) for module in modules]
        reports = [r for r in saved if r is not None]
        return 0 if print_report(reports, args.target, sum(r.seconds for r in reports),
                                 args.markdown) else 1
    if args.list:
        for module in modules:
            for m in chosen_mutants(module, args):
                reason = equivalent_reason(m)
                print(f"{m.where}  {m.change}  | {m.source_line}"
                      + (f"  [equivalent: {reason}]" if reason else ""))
        return 0
    started = time.monotonic()
    # SIGTERM (a stopped run) still removes the private copies of the tree.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    workers = [Worker(fork=not args.no_fork) for _ in range(max(1, args.jobs))]
    try:
        reports = []
        for module in modules:
            reports.append(run_module(module, args, workers, lambda s: print(s, flush=True)))
            if args.save:
                save(Path(args.save), reports[-1:])
    finally:
        for worker in workers:
            worker.close()
    return 0 if print_report(reports, args.target, time.monotonic() - started,
                             args.markdown) else 1


if __name__ == "__main__":
    sys.exit(main())
