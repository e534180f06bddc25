"""torouter: the typed Python client for the ToRouter LLM gateway.

    import torouter
    client = torouter.ToRouter()            # key from TOROUTER_API_KEY
    reply = client.chat.completions.create(model="gpt-5-mini",
                                           messages=[{"role": "user", "content": "Hi"}])
    print(reply.choices[0].message.content, reply.request_id)

Every failure is a :class:`ToRouterError`; the whole tree is in the docs (docs/errors.md).
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time names load on first use
    from . import types as types
    from ._base_client import (
        DEFAULT_BASE_URL,
        DEFAULT_DEADLINE,
        DEFAULT_MAX_RETRIES,
        DEFAULT_STREAM_IDLE_TIMEOUT,
        DEFAULT_TIMEOUT,
        ClientOptions,
    )
    from ._budget import RetryBudget
    from ._client import AsyncToRouter, ToRouter
    from ._coordinator import RedisCoordinator
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
        ContentFilterFinishReasonError,
        InsufficientBalance,
        InternalServerError,
        InvalidApiKey,
        InvalidArgumentError,
        KeyDisabled,
        KeyExpired,
        LengthFinishReasonError,
        NoEligibleChannel,
        NotFoundError,
        OutputError,
        OutputValidationError,
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
    from ._parsing import pydantic_function_tool
    from ._response import RawResponse
    from ._retry import DEFAULT_RETRY_POLICY, Backoff, RetryPolicy, RetryRule
    from ._retrying import Attempt
    from ._stream_helper import (
        AsyncChatCompletionStream,
        AsyncChatCompletionStreamManager,
        ChatCompletionStream,
        ChatCompletionStreamManager,
    )
    from ._streaming import AsyncStream, Stream

# ``import torouter`` stays cheap (no httpx, pydantic or tenacity): each public name is imported
# from its module on first access (PEP 562 ``__getattr__`` below), then kept in this module.
_MODULES = {
    "._base_client": "DEFAULT_BASE_URL DEFAULT_DEADLINE DEFAULT_MAX_RETRIES "
                     "DEFAULT_STREAM_IDLE_TIMEOUT DEFAULT_TIMEOUT ClientOptions",
    "._budget": "RetryBudget",
    "._client": "AsyncToRouter ToRouter",
    "._coordinator": "RedisCoordinator",
    "._errors": "ERROR_CATALOG AccessDenied APIConnectionError ApiKeyInQueryDeprecated "
                "ApiKeyRequired APIResponseValidationError APIStatusError APITimeoutError "
                "AuthenticationError BadRequestError BillingError CatalogEntry "
                "InsufficientBalance InternalServerError InvalidApiKey InvalidArgumentError "
                "KeyDisabled KeyExpired LengthFinishReasonError ContentFilterFinishReasonError "
                "OutputError OutputValidationError NoEligibleChannel NotFoundError "
                "PermissionDeniedError "
                "QuotaExhausted RateLimited RateLimitError StreamDecodeError StreamIdleTimeout "
                "StreamInterrupted SubscriptionInvalid SubscriptionNotFound ToRouterError "
                "UpstreamTimeout UpstreamUnavailable UsageLimitExceeded UserInactive UserNotFound",
    "._parsing": "pydantic_function_tool",
    "._response": "RawResponse",
    "._retry": "DEFAULT_RETRY_POLICY Backoff RetryPolicy RetryRule",
    "._retrying": "Attempt",
    "._stream_helper": "AsyncChatCompletionStream AsyncChatCompletionStreamManager "
                       "ChatCompletionStream ChatCompletionStreamManager",
    "._streaming": "AsyncStream Stream",
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names.split()}
# Public subpackages reachable as attributes (``torouter.types``, ``torouter.testing``) without
# importing them first; imported on first access.
_SUBMODULES = frozenset({"types", "testing", "resources"})

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
    "AsyncChatCompletionStream",
    "AsyncChatCompletionStreamManager",
    "AsyncStream",
    "AsyncToRouter",
    "Attempt",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "BillingError",
    "CatalogEntry",
    "ClientOptions",
    "ChatCompletionStream",
    "ChatCompletionStreamManager",
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
    "RawResponse",
    "RedisCoordinator",
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
    "pydantic_function_tool",
    "types",
]


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name stays an error

    def __getattr__(name: str) -> Any:
        """Import a public name on first use (``torouter.ToRouter``, ``from torouter import X``)."""
        from importlib import import_module

        if name in _SUBMODULES:
            # import_module, not ``from . import types``: that statement looks the name up on
            # this package first, which calls this function again (RecursionError).
            return import_module(f"{__name__}.{name}")  # the import binds it in globals()
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'torouter' has no attribute {name!r}")
        value = getattr(import_module(module, __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
