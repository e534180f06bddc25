"""The torouter error taxonomy: one exception class per meaning.

Every failure the SDK reports is a :class:`ToRouterError`.  The tree::

    ToRouterError
    ├── InvalidArgumentError          bad arguments, caught before any request
    ├── APIConnectionError            no usable HTTP response: refused, reset, DNS, TLS, protocol
    │   ├── APITimeoutError           connect / read / write / pool timeout, or the deadline ran out
    │   └── StreamInterrupted         a stream stopped before it was complete (.partial)
    │       └── StreamIdleTimeout     ... the gateway went silent too long (an APITimeoutError too)
    ├── APIResponseValidationError    a 2xx whose body is not what the endpoint returns
    │   └── StreamDecodeError         a malformed or oversized server-sent event
    ├── OutputError                   a valid completion that is not the structured output asked
    │   ├── LengthFinishReasonError   finish_reason "length": cut off before the JSON was whole
    │   ├── ContentFilterFinishReasonError  finish_reason "content_filter"
    │   └── OutputValidationError     the content / tool arguments do not fit the pydantic model
    └── APIStatusError                any non-2xx response (and error events inside a stream)
        ├── BadRequestError           400, 413, 422
        │   └── ApiKeyInQueryDeprecated   api_key_in_query_deprecated
        ├── AuthenticationError       401
        │   ├── ApiKeyRequired        API_KEY_REQUIRED, or no key configured (raised locally)
        │   ├── InvalidApiKey         INVALID_API_KEY
        │   ├── KeyDisabled           API_KEY_DISABLED
        │   ├── KeyExpired            API_KEY_EXPIRED (403 or 401)
        │   ├── UserNotFound          USER_NOT_FOUND
        │   └── UserInactive          USER_INACTIVE
        ├── PermissionDeniedError     403
        │   └── AccessDenied          ACCESS_DENIED, model_not_allowed, 401 "ip not allowed"
        ├── BillingError              402, and the money/plan conditions whatever their status
        │   ├── InsufficientBalance   INSUFFICIENT_BALANCE (403 or 402)
        │   ├── QuotaExhausted        API_KEY_QUOTA_EXHAUSTED (429 or 402)
        │   ├── UsageLimitExceeded    USAGE_LIMIT_EXCEEDED (429)
        │   ├── SubscriptionNotFound  SUBSCRIPTION_NOT_FOUND (403)
        │   └── SubscriptionInvalid   SUBSCRIPTION_INVALID (403)
        ├── NotFoundError             404
        ├── RateLimitError            429 with an unrecognised body
        │   └── RateLimited           the code-less "rate limit exceeded" (request-rate limit)
        └── InternalServerError       500 and any other 5xx
            ├── UpstreamUnavailable   upstream_unavailable; a code-less 502 (every channel failed)
            │   └── NoEligibleChannel a code-less 503 (no eligible channel right now)
            └── UpstreamTimeout       a code-less 504 (the upstream timed out)

A class belongs to its *meaning*, not to the status it arrived with: the gateway's docs give an
expired key as 403 and as 401, so ``KeyExpired`` comes out either way and ``status_code`` says
what was received.  Classification reads the error body's type code first and the HTTP status
second (:func:`classify`).  Each class carries its remediation (``hint``, ``doc_url``) in the
:data:`ERROR_CATALOG`, the one table that also feeds the README and the ``torouter explain``
command.  Whether the default retry policy retries a class is ``err.retryable``.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx

    from ._retrying import Attempt
    from .types.chat import ChatCompletion, ChatCompletionChunk, CompletionUsage

__all__ = [
    "ERROR_CATALOG",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AccessDenied",
    "ApiKeyInQueryDeprecated",
    "ApiKeyRequired",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "CatalogEntry",
    "InsufficientBalance",
    "InternalServerError",
    "InvalidApiKey",
    "InvalidArgumentError",
    "KeyDisabled",
    "KeyExpired",
    "LengthFinishReasonError",
    "ContentFilterFinishReasonError",
    "OutputError",
    "OutputValidationError",
    "NoEligibleChannel",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExhausted",
    "RateLimitError",
    "RateLimited",
    "StreamDecodeError",
    "StreamIdleTimeout",
    "StreamInterrupted",
    "SubscriptionInvalid",
    "SubscriptionNotFound",
    "ToRouterError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "UsageLimitExceeded",
    "UserInactive",
    "UserNotFound",
    "classify",
    "lookup",
]

DOCS = "https://www.torouter.ai/docs"
_MAX_MESSAGE = 300
_MAX_CODE = 100


class ToRouterError(Exception):
    """Base of every exception raised by torouter.

    The attributes exist on every error so that one ``except ToRouterError as e`` can log
    ``e.request_id`` and ``e.hint`` without ``getattr``; those that do not apply are ``None``.
    """

    #: What this kind of failure means and what to do (class defaults, from ERROR_CATALOG).
    #: Every class has one, so ``err.hint`` is always a ``str``.
    default_hint: ClassVar[str] = (
        "Read the message; `torouter explain <ErrorClass>` describes every error class."
    )
    default_doc_url: ClassVar[str | None] = None

    message: str
    status_code: int | None
    code: str | None
    request_id: str | None
    response: httpx.Response | None
    body: object | None
    retry_after: float | None
    attempts: tuple[Attempt, ...]
    #: ``True`` when nothing was sent: the fleet's coordinator (``RedisCoordinator``) knew the
    #: outcome already (another process received this error, or the key is paused fleet-wide).
    from_coordinator: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        response: httpx.Response | None = None,
        body: object | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
        doc_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.response = response
        self.body = body
        self.retry_after = retry_after
        self.attempts = ()
        self._hint = hint
        self._doc_url = doc_url

    @property
    def hint(self) -> str:
        """What the user should do about this error (never empty)."""
        return self._hint if self._hint is not None else self.default_hint

    @property
    def doc_url(self) -> str | None:
        """The gateway documentation page for this error."""
        return self._doc_url if self._doc_url is not None else self.default_doc_url

    @property
    def retryable(self) -> bool:
        """Whether the *default* :class:`~torouter.RetryPolicy` retries this class."""
        from ._retry import DEFAULT_RETRY_POLICY

        return DEFAULT_RETRY_POLICY.rule_for(type(self)).retry

    @property
    def retries_taken(self) -> int:
        """How many retries were made before this error was raised."""
        return max(len(self.attempts) - 1, 0)

    def __str__(self) -> str:
        head = type(self).__name__
        detail = [str(self.status_code)] if self.status_code is not None else []
        if self.code:
            detail.append(self.code)
        if detail:
            head += " (" + ", ".join(detail) + ")"
        text = f"{head}: {self.message}"
        if self.request_id:
            text += f" [request_id={self.request_id}]"
        if self.retry_after is not None:
            text += f" [retry_after={self.retry_after:g}s]"
        if self.hint:
            text += f" Hint: {self.hint}"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code!r}, code={self.code!r}, "
            f"request_id={self.request_id!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle without the live httpx.Response: it holds the request, whose headers hold the key.
        state = {k: v for k, v in self.__dict__.items() if k != "response"}
        state["response"] = None
        return (_rebuild, (type(self), self.message), state)


def _rebuild(cls: type[ToRouterError], message: str) -> ToRouterError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err


class InvalidArgumentError(ToRouterError, TypeError, ValueError):
    """An argument was missing, misspelt or of the wrong type; no request was sent."""

    default_hint = "Fix the argument named in the message; nothing was sent."


# --- transport -----------------------------------------------------------------------------


class APIConnectionError(ToRouterError):
    """No usable HTTP response arrived: connection refused or reset, DNS, TLS or protocol error."""

    default_hint = "Check network access to the base URL; the request is retried by default."
    default_doc_url = f"{DOCS}/troubleshooting/errors"


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout, or the total deadline ran out."""

    default_hint = (
        "Raise timeout= or deadline=, stream the response, or use a smaller model / shorter prompt."
    )


class StreamInterrupted(APIConnectionError):
    """A stream ended before it was complete: the connection broke or the body ended before
    ``data: [DONE]`` while a choice still lacked its finish reason.

    ``partial`` is the completion received so far (a ``ChatCompletion`` joined from every
    chunk delivered before the interruption), ``text`` its content, so partial output is not
    lost.  ``chunks`` holds the chunk objects themselves only for a stream opened with
    ``keep_chunks=True`` (otherwise it is empty).  The SDK never retries a stream after its
    first event reached the caller.
    """

    default_hint = (
        "The partial output is in err.partial / err.text; resend the request to get a "
        "complete answer."
    )

    chunks: list[ChatCompletionChunk]
    partial: Any

    def __init__(self, message: str, *, chunks: Sequence[Any] = (), partial: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.chunks = list(chunks)
        self.partial = partial

    @property
    def text(self) -> str:
        """The content of the first choice received before the interruption."""
        partial = getattr(self, "partial", None)
        if partial is None or not partial.choices:
            return ""
        return str(partial.choices[0].message.content or "")


class StreamIdleTimeout(StreamInterrupted, APITimeoutError):
    """The stream went silent for longer than the idle timeout between two events."""

    default_hint = (
        "The gateway sent nothing for too long; raise stream_idle_timeout= or resend the request."
    )


class APIResponseValidationError(ToRouterError):
    """A successful (2xx) response whose body is not what the endpoint returns."""

    default_hint = "The gateway answered in an unexpected shape; report the request id."
    default_doc_url = f"{DOCS}/troubleshooting/errors"


class StreamDecodeError(APIResponseValidationError):
    """A server-sent event that is malformed, not JSON, or larger than the decoder's limit."""


# --- structured outputs --------------------------------------------------------------------


class OutputError(ToRouterError):
    """The call succeeded, but its completion is not the structured output that was asked for.

    ``completion`` is the whole :class:`~torouter.types.ChatCompletion` (nothing is lost) and
    ``usage`` its token usage (billed all the same).  Raised by ``chat.completions.parse``;
    never retried by the default policy (resending the same request usually fails the same way).
    """

    default_hint = (
        "The completion is in err.completion and its usage in err.usage; adjust the prompt, "
        "the model or max_completion_tokens and resend."
    )
    default_doc_url = f"{DOCS}/troubleshooting/errors"

    completion: ChatCompletion | None
    usage: CompletionUsage | None

    def __init__(self, message: str, *, completion: ChatCompletion | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.completion = completion
        self.usage = None if completion is None else completion.usage
        if self.request_id is None:
            self.request_id = getattr(completion, "request_id", None)


class LengthFinishReasonError(OutputError):
    """Generation stopped at the token limit (``finish_reason == "length"``), so the JSON is
    incomplete."""

    default_hint = (
        "Raise max_completion_tokens (reasoning models spend tokens before answering) or ask "
        "for a smaller object; err.completion and err.usage hold what came back."
    )


class ContentFilterFinishReasonError(OutputError):
    """The provider's content filter stopped generation (``finish_reason == "content_filter"``)."""

    default_hint = "Rephrase the request; the provider's content filter stopped the answer."


class OutputValidationError(OutputError):
    """The content (or a tool call's arguments) is not valid JSON for the requested model.

    ``raw`` is the text that failed (the API key masked, should a model echo it); the pydantic
    ``ValidationError`` is the ``__cause__``.
    """

    default_hint = (
        "Use a model that supports strict structured outputs, or loosen the pydantic model; the "
        "text is in err.raw and the pydantic error in err.__cause__."
    )

    raw: str

    def __init__(self, message: str, *, raw: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw = raw


# --- status errors -------------------------------------------------------------------------


class APIStatusError(ToRouterError):
    """The gateway answered with a non-2xx status (or sent an error event inside a stream).

    ``status_code`` is the status received, ``code`` the gateway's type code (or ``None``),
    ``body`` the decoded error body (or the raw text), ``retry_after`` the seconds the gateway
    asked to wait (``Retry-After`` / ``retry-after-ms``).
    """

    #: Status used for this class when none was received (an error event inside a stream).
    canonical_status: ClassVar[int | None] = None


class BadRequestError(APIStatusError):
    """400: the request was malformed or names a model/parameter the upstream does not accept."""

    canonical_status = 400
    default_hint = "Fix the request; check the model id against client.models.list()."
    default_doc_url = f"{DOCS}/troubleshooting/errors"


class ApiKeyInQueryDeprecated(BadRequestError):
    """400 ``api_key_in_query_deprecated``: the key was sent as ``?key=`` or ``?api_key=``."""

    default_hint = "Send the key in the Authorization header, never in the URL."
    default_doc_url = f"{DOCS}/reference/error-codes"


class AuthenticationError(APIStatusError):
    """401: the key was not accepted."""

    canonical_status = 401
    default_hint = "Check the API key in use (TOROUTER_API_KEY or api_key=)."
    default_doc_url = f"{DOCS}/troubleshooting/blocked-key"


class ApiKeyRequired(AuthenticationError):
    """No key: none configured (raised locally, before any request) or none reached the gateway."""

    default_hint = "Pass api_key=... or set the TOROUTER_API_KEY environment variable."
    default_doc_url = f"{DOCS}/keys/create"


class InvalidApiKey(AuthenticationError):
    """401 ``INVALID_API_KEY``: the key is unknown (a typo, or it was deleted)."""

    default_hint = "Check the key for typos; if it was deleted, create a new key in /keys."
    default_doc_url = f"{DOCS}/keys/rotate"


class KeyDisabled(AuthenticationError):
    """401 ``API_KEY_DISABLED``: the key was switched off in the console."""

    default_hint = "Re-enable the key in /keys, or create a new one."
    default_doc_url = f"{DOCS}/troubleshooting/blocked-key"


class KeyExpired(AuthenticationError):
    """``API_KEY_EXPIRED`` (403 on the error-codes page, 401 on the key-limits page)."""

    default_hint = "Lengthen the key's expiry in /keys, or replace the key."
    default_doc_url = f"{DOCS}/keys/limits"


class UserNotFound(AuthenticationError):
    """401 ``USER_NOT_FOUND``: the user owning the key no longer exists."""

    default_hint = "The key's owner account is gone: contact ToRouter support."
    default_doc_url = f"{DOCS}/reference/error-codes"


class UserInactive(AuthenticationError):
    """401 ``USER_INACTIVE``: the owning account is suspended or its e-mail is unverified."""

    default_hint = "Verify the account's e-mail address or check the account's status."
    default_doc_url = f"{DOCS}/account/signup"


class PermissionDeniedError(APIStatusError):
    """403: the key may not make this request."""

    canonical_status = 403
    default_hint = "Check the key's limits in /keys."
    default_doc_url = f"{DOCS}/keys/limits"


class AccessDenied(PermissionDeniedError):
    """``ACCESS_DENIED`` / ``model_not_allowed`` / 401 ``ip not allowed``: a key rule blocked it.

    The source IP is outside the key's allowlist or inside its blocklist, or the model is not in
    the key's model whitelist.  Blocked requests are not billed.
    """

    default_hint = (
        "Add this machine's egress IP to the key's IP allowlist (or remove it from the "
        "blocklist), or add the model to the key's model whitelist."
    )
    default_doc_url = f"{DOCS}/keys/ip-restrictions"


class BillingError(APIStatusError):
    """402 and every money or plan condition: balance, spend cap, usage window, subscription."""

    canonical_status = 402
    default_hint = "Check the balance, the key's spend cap and the subscription in the console."
    default_doc_url = f"{DOCS}/billing/topup"


class InsufficientBalance(BillingError):
    """``INSUFFICIENT_BALANCE`` (403 or 402): the pay-per-token balance is zero or below."""

    canonical_status = 403
    default_hint = "Top up the account balance at /billing/topup."
    default_doc_url = f"{DOCS}/billing/topup"


class QuotaExhausted(BillingError):
    """``API_KEY_QUOTA_EXHAUSTED`` (429 or 402): the key reached its spend cap. Not retried."""

    canonical_status = 429
    default_hint = "Raise the key's spend cap (Quota) in /keys, or use another key."
    default_doc_url = f"{DOCS}/troubleshooting/rate-limited"


class UsageLimitExceeded(BillingError):
    """429 ``USAGE_LIMIT_EXCEEDED``: the plan's daily/weekly/monthly usage window is used up."""

    canonical_status = 429
    default_hint = "Wait for the usage window to roll over, or upgrade the plan."
    default_doc_url = f"{DOCS}/troubleshooting/rate-limited"


class SubscriptionNotFound(BillingError):
    """403 ``SUBSCRIPTION_NOT_FOUND``: the key needs an active subscription and there is none."""

    canonical_status = 403
    default_hint = "Subscribe to a plan in /subscriptions."
    default_doc_url = f"{DOCS}/reference/error-codes"


class SubscriptionInvalid(BillingError):
    """403 ``SUBSCRIPTION_INVALID``: the subscription is paused, cancelled or otherwise invalid."""

    canonical_status = 403
    default_hint = "Renew or reactivate the subscription in /subscriptions."
    default_doc_url = f"{DOCS}/reference/error-codes"


class NotFoundError(APIStatusError):
    """404: unknown model for the key's group, or a wrong path / protocol surface."""

    canonical_status = 404
    default_hint = "Check the model id against client.models.list() and the base URL (.../v1)."
    default_doc_url = f"{DOCS}/troubleshooting/errors"


class RateLimitError(APIStatusError):
    """429 whose body names no known cause. Retried, with few attempts."""

    canonical_status = 429
    default_hint = "Back off and retry later; see err.retry_after."
    default_doc_url = f"{DOCS}/troubleshooting/rate-limited"


class RateLimited(RateLimitError):
    """429 ``rate limit exceeded``: the per-IP or per-key request-rate limit. Retried."""

    default_hint = (
        "Retried with backoff by default; if it persists, raise the key's request-rate windows "
        "in /keys or spread the load."
    )


class InternalServerError(APIStatusError):
    """500 or any other 5xx: a failure on the gateway's side. Retried."""

    canonical_status = 500
    default_hint = "Retried by default; if it persists, report the request id to ToRouter support."
    default_doc_url = f"{DOCS}/troubleshooting/errors"


class UpstreamUnavailable(InternalServerError):
    """``upstream_unavailable`` or a code-less 502: every upstream channel failed. Retried."""

    canonical_status = 502
    default_hint = (
        "Retried by default; if it persists, fall back to another model in your group "
        "(e.g. gpt-5 -> claude-opus-4-7)."
    )
    default_doc_url = f"{DOCS}/troubleshooting/upstream"


class NoEligibleChannel(UpstreamUnavailable):
    """A code-less 503: no upstream channel is eligible right now. Retried."""

    canonical_status = 503
    default_hint = "Retried by default; check /dashboard, or try another model in your group."


class UpstreamTimeout(InternalServerError):
    """A code-less 504: the upstream provider timed out. Retried."""

    canonical_status = 504
    default_hint = "Retried by default; use a smaller model, a shorter prompt, or stream."
    default_doc_url = f"{DOCS}/troubleshooting/errors"


# --- the catalog: one table for classification, hints, README and CLI ----------------------


@dataclass(frozen=True)
class CatalogEntry:
    """One row of the error catalog: a class, the codes and statuses that select it, its meaning."""

    cls: type[ToRouterError]
    codes: tuple[str, ...]
    statuses: tuple[int, ...]
    meaning: str

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def hint(self) -> str:
        return self.cls.default_hint

    @property
    def doc_url(self) -> str | None:
        return self.cls.default_doc_url

    @property
    def retried(self) -> bool:
        """Whether the default retry policy retries this class."""
        from ._retry import DEFAULT_RETRY_POLICY

        return DEFAULT_RETRY_POLICY.rule_for(self.cls).retry


def _e(
    cls: type[ToRouterError], codes: Iterable[str], statuses: Iterable[int], meaning: str
) -> CatalogEntry:
    return CatalogEntry(cls, tuple(codes), tuple(statuses), meaning)


#: Every class with the codes and statuses that select it. The README table is built from it.
ERROR_CATALOG: tuple[CatalogEntry, ...] = (
    _e(ApiKeyRequired, ["API_KEY_REQUIRED"], [401], "no key in the request (or none configured)"),
    _e(InvalidApiKey, ["INVALID_API_KEY"], [401], "key unknown: a typo, or deleted"),
    _e(KeyDisabled, ["API_KEY_DISABLED"], [401], "key switched off in /keys"),
    _e(KeyExpired, ["API_KEY_EXPIRED"], [403, 401], "key's expiry date has passed"),
    _e(UserNotFound, ["USER_NOT_FOUND"], [401], "the key's owner no longer exists"),
    _e(UserInactive, ["USER_INACTIVE"], [401], "owner suspended or e-mail unverified"),
    _e(AccessDenied, ["ACCESS_DENIED", "model_not_allowed", "ip not allowed"], [403, 401],
       "source IP or model blocked by the key's rules"),
    _e(SubscriptionNotFound, ["SUBSCRIPTION_NOT_FOUND"], [403], "key needs a subscription; none"),
    _e(SubscriptionInvalid, ["SUBSCRIPTION_INVALID"], [403], "subscription paused or cancelled"),
    _e(InsufficientBalance, ["INSUFFICIENT_BALANCE"], [403, 402], "pay-per-token balance <= 0"),
    _e(QuotaExhausted, ["API_KEY_QUOTA_EXHAUSTED"], [429, 402], "key reached its spend cap"),
    _e(UsageLimitExceeded, ["USAGE_LIMIT_EXCEEDED"], [429], "plan usage window used up"),
    _e(RateLimited, ["rate limit exceeded"], [429], "per-IP / per-key request-rate limit"),
    _e(ApiKeyInQueryDeprecated, ["api_key_in_query_deprecated"], [400], "key sent in the URL"),
    _e(UpstreamUnavailable, ["upstream_unavailable"], [502, 503], "every upstream channel failed"),
    _e(NoEligibleChannel, [], [503], "no eligible upstream channel right now"),
    _e(UpstreamTimeout, [], [504], "the upstream timed out"),
    _e(BadRequestError, ["invalid_request_error"], [400, 413, 422], "malformed request"),
    _e(AuthenticationError, [], [401], "key not accepted (unrecognised code)"),
    _e(PermissionDeniedError, [], [403], "forbidden (unrecognised code)"),
    _e(BillingError, [], [402], "payment required (unrecognised code)"),
    _e(NotFoundError, [], [404], "unknown model or path"),
    _e(RateLimitError, [], [429], "too many requests (unrecognised body)"),
    _e(InternalServerError, [], [500], "internal gateway error, or another 5xx"),
    _e(APIConnectionError, [], [], "no response: refused, reset, DNS, TLS"),
    _e(APITimeoutError, [], [], "a timeout, or the deadline ran out"),
    _e(StreamInterrupted, [], [], "a stream stopped before [DONE]"),
    _e(StreamIdleTimeout, [], [], "a stream went silent too long"),
    _e(APIResponseValidationError, [], [], "a 2xx with an unexpected body"),
    _e(OutputError, [], [], "parse(): the answer is not the structured output asked for"),
    _e(LengthFinishReasonError, [], [], "parse(): the answer hit the token limit"),
    _e(ContentFilterFinishReasonError, [], [], "parse(): the content filter stopped the answer"),
    _e(OutputValidationError, [], [], "parse(): the answer does not fit the pydantic model"),
)

# Codes are matched case-insensitively; gateway codes win over generic upstream ones.
_GATEWAY_CODES: dict[str, type[APIStatusError]] = {
    code.lower(): entry.cls  # type: ignore[misc, unused-ignore]
    for entry in ERROR_CATALOG
    for code in entry.codes
    if issubclass(entry.cls, APIStatusError) and entry.cls is not BadRequestError
}
# Provider codes relayed unchanged (OpenAI error.type/code, Anthropic error.type, Gemini status).
# Specific ones decide before the HTTP status does ...
_UPSTREAM_CODES: dict[str, type[APIStatusError]] = {
    "invalid_api_key": InvalidApiKey,
    "model_not_found": NotFoundError,
    "request_too_large": BadRequestError,
    "context_length_exceeded": BadRequestError,
    "rate_limit_error": RateLimited,
    "rate_limit_exceeded": RateLimited,
    "resource_exhausted": RateLimitError,
    "insufficient_quota": QuotaExhausted,
    "overloaded_error": UpstreamUnavailable,
    "unavailable": UpstreamUnavailable,
    "deadline_exceeded": UpstreamTimeout,
}
# ... generic categories only when the status says nothing more precise.
_CATEGORY_CODES: dict[str, type[APIStatusError]] = {
    "invalid_request_error": BadRequestError,
    "invalid_argument": BadRequestError,
    "failed_precondition": BadRequestError,
    "authentication_error": AuthenticationError,
    "unauthenticated": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "permission_denied": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "not_found": NotFoundError,
    "api_error": InternalServerError,
    "server_error": InternalServerError,
    "internal": InternalServerError,
}
_STATUS_FAMILY: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
    500: InternalServerError,
    502: UpstreamUnavailable,
    503: NoEligibleChannel,
    504: UpstreamTimeout,
}


def lookup(code_or_status: str | int) -> CatalogEntry | None:
    """The catalog row for a type code (any case), a class name, or an HTTP status."""
    if isinstance(code_or_status, int) or str(code_or_status).isdigit():
        status = int(code_or_status)
        cls: type[ToRouterError] = _status_class(status)
    else:
        key = str(code_or_status).strip()
        by_name = {e.name.lower(): e for e in ERROR_CATALOG}
        if key.lower() in by_name:
            return by_name[key.lower()]
        k = key.lower()
        found = _GATEWAY_CODES.get(k) or _UPSTREAM_CODES.get(k) or _CATEGORY_CODES.get(k)
        if found is None:
            return None
        cls = found
    for entry in ERROR_CATALOG:
        if entry.cls is cls:
            return entry
    return None


def _status_class(status: int | None) -> type[APIStatusError]:
    if status is None:
        return InternalServerError
    family = _STATUS_FAMILY.get(status)
    if family is not None:
        return family
    if status >= 500:
        return InternalServerError
    return APIStatusError


def classify(
    codes: Sequence[str], status: int | None, message: str = ""
) -> tuple[type[APIStatusError], str | None]:
    """Choose the class for an error: by type code first, HTTP status second.

    ``codes`` are the candidate codes in body order.  In turn: the first ToRouter gateway code;
    a message that is itself a gateway phrase ("ip not allowed"); the first specific upstream
    code (``insufficient_quota``, ``overloaded_error`` ...); the status family; a generic upstream
    category (``invalid_request_error`` ...).  Returns the class and the code to report: the
    chosen code, else the first candidate that is not a generic category (an unknown code is
    kept, not dropped, even beside a generic ``error.type`` such as ``invalid_request_error``).
    """
    keys = [c.strip().lower() for c in codes]
    first = next((c for c, k in zip(codes, keys, strict=True) if k not in _CATEGORY_CODES),
                 codes[0] if codes else None)
    for candidate, key in zip(codes, keys, strict=True):
        cls = _GATEWAY_CODES.get(key)
        if cls is not None:
            return cls, candidate
    phrase = message.strip().lower()
    if phrase in _GATEWAY_CODES:  # message-only bodies such as "ip not allowed"
        return _GATEWAY_CODES[phrase], first
    for candidate, key in zip(codes, keys, strict=True):
        cls = _UPSTREAM_CODES.get(key)
        if cls is not None:
            return cls, candidate
    if status is not None and (status in _STATUS_FAMILY or status >= 500):
        return _status_class(status), first
    for key in keys:
        cls = _CATEGORY_CODES.get(key)
        if cls is not None:
            return cls, first
    return _status_class(status), first


# --- body parsing --------------------------------------------------------------------------

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_WS = re.compile(r"\s+")


def _one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = _WS.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class ParsedError:
    """What the body of an error said: candidate codes, a message, the decoded body."""

    codes: list[str]
    message: str
    body: object | None
    status_in_body: int | None = None


def parse_error_body(content: bytes, content_type: str = "") -> ParsedError:
    """Read any error body the gateway or a proxy may send. Never raises.

    Handles OpenAI (``error.type`` / ``error.code``), Anthropic (``{"type":"error","error":{}}``),
    Gemini (``error.status`` + numeric ``error.code``), a top-level string ``error``, message-only,
    HTML, empty, truncated JSON and bytes that are not UTF-8.
    """
    if not content.strip():
        return ParsedError([], "empty response body", None)
    try:
        try:
            data = json.loads(content)
        except UnicodeDecodeError:  # JSON with a stray non-UTF-8 byte: keep its code
            data = json.loads(content.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return _parse_non_json(content, content_type)
    return parse_error_object(data)


def parse_error_object(data: object) -> ParsedError:
    """Extract codes and message from a decoded error body (also used for stream error events)."""
    codes: list[str] = []
    message = ""
    status_in_body: int | None = None
    if not isinstance(data, dict):
        if isinstance(data, str):
            text = data
        else:  # a list, number, bool or null: say what it was
            text = f"unexpected JSON error body ({type(data).__name__}): {_dump(data)}"
        return ParsedError([], _one_line(text) or "error body without a message", data)
    err = data.get("error")
    if isinstance(err, str):
        # Codes go into str(err) too: one line, bounded, like the message.
        if _one_line(err, _MAX_CODE):
            codes.append(_one_line(err, _MAX_CODE))
        message = err
    elif isinstance(err, dict):
        for key in ("type", "code", "status"):
            value = err.get(key)
            if isinstance(value, str) and _one_line(value, _MAX_CODE):
                codes.append(_one_line(value, _MAX_CODE))
            elif isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
                status_in_body = value
        msg = err.get("message")
        if isinstance(msg, str):
            message = msg
    top_type = data.get("type")
    if isinstance(top_type, str) and _one_line(top_type, _MAX_CODE) not in ("", "error"):
        codes.append(_one_line(top_type, _MAX_CODE))
    message = _one_line(message)  # a blank message is no message
    if not message:
        for key in ("message", "detail", "error_description"):
            value = data.get(key)
            if isinstance(value, str) and _one_line(value):
                message = _one_line(value)
                break
    if not message:
        message = codes[0] if codes else "error body without a message"
    return ParsedError(codes, message, data, status_in_body)


def _parse_non_json(content: bytes, content_type: str) -> ParsedError:
    head = content[:4096]
    lowered = head.lower()
    if b"<html" in lowered or b"<!doctype" in lowered or "html" in content_type:
        match = _TITLE.search(head)
        title = match.group(1).decode("utf-8", "replace") if match else ""
        text = f"non-JSON (HTML) error body from a proxy or load balancer: {title}".rstrip(": ")
        return ParsedError([], _one_line(text), content.decode("utf-8", "replace"))
    text = content.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return ParsedError([], _one_line(f"truncated or invalid JSON error body: {text}"), text)
    if "\ufffd" in text and "\ufffd".encode() not in content:
        return ParsedError([], _one_line(f"error body is not UTF-8 text: {text}"), text)
    return ParsedError([], _one_line(text) or "error body without a message", text)


def _dump(data: object) -> str:
    """A short JSON rendering of ``data`` that cannot fail (deep nesting, NaN ...)."""
    try:
        return json.dumps(data)[:_MAX_MESSAGE]
    except (RecursionError, ValueError, TypeError):
        return f"<{type(data).__name__} too deeply nested to show>"


def _redact(parsed: ParsedError, secret: str) -> ParsedError:
    """``parsed`` with ``secret`` masked everywhere: a gateway may echo the key in its body.

    The mask is applied to the whole body and the result parsed again, so that a message or
    code cut short at its length limit cannot keep part of the key.
    """
    masked = mask_key(secret)
    body = parsed.body
    if isinstance(body, str):
        if secret in body:
            return _parse_non_json(body.replace(secret, masked).encode(), "")
        return parsed
    if not isinstance(body, (dict, list)):
        return parsed
    try:
        text = json.dumps(body)
        needle = json.dumps(secret)[1:-1]  # the key as JSON writes it (a `"` or `\` is escaped)
        if needle not in text:
            return parsed
        return parse_error_object(json.loads(text.replace(needle, json.dumps(masked)[1:-1])))
    except (RecursionError, ValueError, TypeError):  # cannot be checked: do not keep the body
        return ParsedError([c.replace(secret, masked) for c in parsed.codes],
                           parsed.message.replace(secret, masked), None, parsed.status_in_body)


# --- Retry-After ---------------------------------------------------------------------------


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, else ``Retry-After`` (secs or date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = -1.0
        if ms >= 0 and ms == ms and ms != float("inf"):
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if parsed is None:
            return None
        now = time.time() if now is None else now
        return max(parsed.timestamp() - now, 0.0)
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return None
    return seconds


# --- building errors -----------------------------------------------------------------------


def make_status_error(
    *,
    status: int | None,
    parsed: ParsedError,
    request_id: str | None,
    response: httpx.Response | None,
    retry_after: float | None,
    redact: Sequence[str] = (),
) -> APIStatusError:
    """Build the exception for an error response or an error event inside a stream."""
    for secret in redact:
        if secret:
            parsed = _redact(parsed, secret)
    cls, code = classify(parsed.codes, status if status is not None else parsed.status_in_body,
                         parsed.message)
    message = parsed.message
    if status is None:
        status = parsed.status_in_body
        if status is None:
            status = cls.canonical_status
    return cls(
        message,
        status_code=status,
        code=code,
        request_id=request_id,
        response=response,
        body=parsed.body,
        retry_after=retry_after,
    )


def mask_key(key: str) -> str:
    """Show a key as ``sk-…abcd``: the prefix and the last four characters at most."""
    if not key:
        return ""
    prefix = key[:3] if key.startswith("sk-") else ""
    if len(key) < 12:  # too short to show any of it; say so rather than print a bare "…"
        return f"{prefix}… (a short key: {len(key)} characters)"
    return f"{prefix}…{key[-4:]}"


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
