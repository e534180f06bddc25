"""torouter: the typed Python client for the ToRouter LLM gateway.

    import torouter
    client = torouter.ToRouter()            # key from TOROUTER_API_KEY
    reply = client.chat.completions.create(model="gpt-5-mini",
                                           messages=[{"role": "user", "content": "Hi"}])
    print(reply.choices[0].message.content, reply.request_id)

Every failure is a :class:`ToRouterError`; see ``torouter._errors`` for the whole tree.
"""

from . import types
from ._base_client import (
    DEFAULT_BASE_URL,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_TIMEOUT,
)
from ._budget import RetryBudget
from ._client import AsyncToRouter, ToRouter
from ._errors import (
    ERROR_CATALOG,
    AccessDenied,
    APIConnectionError,
    ApiKeyInQueryDeprecated,
    ApiKeyRequired,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    CatalogEntry,
    InsufficientBalance,
    InternalServerError,
    InvalidApiKey,
    InvalidArgumentError,
    KeyDisabled,
    KeyExpired,
    NoEligibleChannel,
    NotFoundError,
    PermissionDeniedError,
    QuotaExhausted,
    RateLimited,
    RateLimitError,
    StreamDecodeError,
    StreamIdleTimeout,
    StreamInterrupted,
    SubscriptionInvalid,
    SubscriptionNotFound,
    ToRouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UsageLimitExceeded,
    UserInactive,
    UserNotFound,
)
from ._response import RawResponse
from ._retry import DEFAULT_RETRY_POLICY, Backoff, RetryPolicy, RetryRule
from ._retrying import Attempt
from ._streaming import AsyncStream, Stream
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_STREAM_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ERROR_CATALOG",
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AccessDenied",
    "ApiKeyInQueryDeprecated",
    "ApiKeyRequired",
    "AsyncStream",
    "AsyncToRouter",
    "Attempt",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "BillingError",
    "CatalogEntry",
    "InsufficientBalance",
    "InternalServerError",
    "InvalidApiKey",
    "InvalidArgumentError",
    "KeyDisabled",
    "KeyExpired",
    "NoEligibleChannel",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExhausted",
    "RateLimitError",
    "RateLimited",
    "RawResponse",
    "RetryBudget",
    "RetryPolicy",
    "RetryRule",
    "Stream",
    "StreamDecodeError",
    "StreamIdleTimeout",
    "StreamInterrupted",
    "SubscriptionInvalid",
    "SubscriptionNotFound",
    "ToRouter",
    "ToRouterError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "UsageLimitExceeded",
    "UserInactive",
    "UserNotFound",
    "__version__",
    "types",
]
