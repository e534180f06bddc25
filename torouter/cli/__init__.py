"""The ``torouter`` command: check a key, talk to a model, explain an error, diagnose a setup.

Commands::

    torouter ping [--model M]              one models list + one minimal chat: latency, request ids
    torouter chat "prompt" | chat < file   stream the answer (--no-stream, --model, --system)
    torouter models                        the models this key may call
    torouter explain CODE_OR_STATUS        what an error code, HTTP status or class means (offline)
    torouter doctor                        walk the checklist: key, URL, DNS, TCP, TLS, key
                                           accepted, model allowed, quota and balance, rate
                                           limits, upstream

Global flags, accepted before or after the command: ``--api-key`` (else ``TOROUTER_API_KEY``),
``--base-url`` (else ``TOROUTER_BASE_URL``, else https://portal.torouter.ai/v1), ``--timeout``
(seconds per attempt; default 30 s, or the SDK's 600 s read timeout for ``chat``),
``--max-retries`` (default: the SDK's policy, 2 retries for retried errors; 0 turns retries off)
and ``--json`` (print exactly one JSON document on stdout, errors included).  ``--model``
defaults to :data:`DEFAULT_MODEL` (``gpt-5-mini``).  The key is never printed, only masked
(``sk-…abcd``); prefer the environment variable to ``--api-key``, which other users of the machine
can see in the process list.

Exit codes (one per failure family, from the class of the SDK error; ``torouter explain`` shows
the code for any error):

    0    success (doctor: no check failed)
    1    unexpected error (a bug: please report it)
    2    usage or configuration: bad arguments, an invalid base URL, an unknown explain query
    3    authentication: no key, invalid, disabled or expired key, owner gone (AuthenticationError)
    4    permission: the key's IP or model rules block the request (PermissionDeniedError)
    5    billing: spend cap reached, balance empty, plan window used up, subscription
         (BillingError: QuotaExhausted, InsufficientBalance, UsageLimitExceeded, Subscription*)
    6    rate limited after the retries (RateLimitError, RateLimited)
    7    the gateway or its upstream failed: 5xx after the retries, or a malformed answer
         (InternalServerError, UpstreamUnavailable, UpstreamTimeout, APIResponseValidationError,
         CircuitOpen)
    8    no usable connection: DNS, refused, reset, TLS, timeout, a stream cut short
         (APIConnectionError, APITimeoutError, StreamInterrupted)
    9    the request was rejected: unknown model or path, bad request (NotFoundError,
         BadRequestError, any other 4xx)
    130  interrupted (Ctrl-C)

``doctor`` exits with the code of its first failed check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any, NoReturn

__all__ = ["DEFAULT_MODEL", "main"]

#: Model used by ``ping``, ``chat`` and ``doctor`` unless ``--model`` is given.
DEFAULT_MODEL = "gpt-5-mini"

_COMMANDS = {
    "ping": "_ping",
    "chat": "_chat",
    "models": "_models",
    "explain": "_explain",
    "doctor": "_doctor",
}


class UsageError(Exception):
    """A command line argparse rejected (exit code 2)."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}", self.format_usage().strip())


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _global_flags() -> _Parser:
    # SUPPRESS defaults: a flag given before the command is not overwritten by the subparser.
    p = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    g = p.add_argument_group("global options")
    g.add_argument("--api-key", metavar="KEY",
                   help="API key (default: $TOROUTER_API_KEY; visible in `ps`, prefer the env)")
    g.add_argument("--base-url", metavar="URL",
                   help="gateway URL (default: $TOROUTER_BASE_URL or https://portal.torouter.ai/v1)")
    g.add_argument("--timeout", metavar="SECONDS", type=_positive_float,
                   help="seconds per attempt (default 30; chat: the SDK's 600 s read timeout)")
    g.add_argument("--max-retries", metavar="N", type=_non_negative_int,
                   help="retries for retried errors (default: the SDK policy; 0 = none)")
    g.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``torouter`` (every command shares the global flags)."""
    common = _global_flags()
    parser = _Parser(
        prog="torouter",
        description="Command line for the ToRouter LLM gateway.",
        epilog="Exit codes: 0 ok, 1 unexpected, 2 usage, 3 auth, 4 permission, 5 billing, "
               "6 rate limited, 7 gateway/upstream, 8 connection, 9 request rejected. "
               "`torouter explain CODE` explains any error.",
        parents=[common],
    )
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"torouter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    model_help = f"model id (default: {DEFAULT_MODEL})"
    p = sub.add_parser("ping", parents=[common], help="list models and send one minimal chat",
                       description="One-request smoke test: GET /models, then a minimal chat.")
    p.add_argument("--model", "-m", default=DEFAULT_MODEL, help=model_help)

    p = sub.add_parser("chat", parents=[common], help="send a prompt, stream the answer",
                       description="Send a prompt (argument, or stdin when omitted or '-') "
                                   "and stream the answer to stdout.")
    p.add_argument("prompt", nargs="?", default=None, help="the prompt; '-' or omitted: stdin")
    p.add_argument("--model", "-m", default=DEFAULT_MODEL, help=model_help)
    p.add_argument("--system", "-s", default=None, help="a system message")
    p.add_argument("--no-stream", dest="stream", action="store_false",
                   help="wait for the whole answer instead of streaming it")

    sub.add_parser("models", parents=[common], help="list the models this key may call",
                   description="List the models this key may call (GET /models).")

    p = sub.add_parser("explain", parents=[common], help="explain an error code or HTTP status",
                       description="Explain an error type code (API_KEY_EXPIRED), an HTTP status "
                                   "(429) or an SDK class name (QuotaExhausted). Offline.")
    p.add_argument("query", metavar="CODE_OR_STATUS", help="type code, HTTP status or class name")

    p = sub.add_parser("doctor", parents=[common], help="diagnose the key and the connection",
                       description="Walk the checklist and say what to fix.")
    p.add_argument("--model", "-m", default=DEFAULT_MODEL, help=model_help)
    return parser


def _wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``torouter`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from ._output import Exit, Output

    argv = list(sys.argv[1:] if argv is None else argv)
    out = Output(json_mode=_wants_json(argv))
    args: argparse.Namespace | None = None
    try:
        try:
            args = build_parser().parse_args(argv)
        except UsageError as exc:
            return _usage_error(out, str(exc), exc.usage)
        if args.command is None:
            return _usage_error(out, "torouter: error: a command is required "
                                     "(ping, chat, models, explain, doctor)",
                                build_parser().format_usage().strip())
        out.json_mode = bool(getattr(args, "json", False))
        module: Any = import_module(f"{__name__}.{_COMMANDS[args.command]}")
        return int(module.run(args, out))
    except KeyboardInterrupt:
        out.note("torouter: interrupted")
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        return int(Exit.OK)
    except Exception as exc:  # a bug: report it without a traceback full of locals
        from .._errors import ToRouterError

        if isinstance(exc, ToRouterError):
            return int(out.report_error(exc, command=str(getattr(args, "command", "torouter"))))
        message = f"{type(exc).__name__}: {exc}"
        if out.json_mode:
            out.emit({"ok": False, "error": {"class": type(exc).__name__, "message": message},
                      "exit_code": int(Exit.UNEXPECTED)})
        else:
            out.note(f"torouter: unexpected error: {message} (please report this)")
        return int(Exit.UNEXPECTED)


def _usage_error(out: Any, message: str, usage: str) -> int:
    from ._output import Exit

    if out.json_mode:
        out.emit({"ok": False, "error": {"class": "UsageError", "message": message},
                  "exit_code": int(Exit.USAGE)})
    else:
        out.note(usage)
        out.note(message)
    return int(Exit.USAGE)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
