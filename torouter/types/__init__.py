"""Typed shapes of the ToRouter API (OpenAI-compatible).

Response models (pydantic, lenient, unknown fields kept; all subclass :class:`BaseModel`):

* chat completions: ``ChatCompletion``, ``Choice``, ``ChatCompletionMessage``,
  ``ChatCompletionMessageToolCall``, ``Function``, ``ChoiceLogprobs``,
  ``ChatCompletionTokenLogprob``, ``TopLogprob``
* usage: ``CompletionUsage``, ``CompletionTokensDetails``, ``PromptTokensDetails``
* streaming: ``ChatCompletionChunk``, ``ChunkChoice``, ``ChoiceDelta``, ``ChoiceDeltaToolCall``,
  ``ChoiceDeltaToolCallFunction``
* stream helper events (frozen dataclasses with a literal ``type``): ``ChunkEvent``,
  ``ContentDeltaEvent``, ``ContentDoneEvent``, ``ReasoningDeltaEvent``, ``RefusalDeltaEvent``,
  ``RefusalDoneEvent``, ``ToolCallArgumentsDeltaEvent``, ``ToolCallArgumentsDoneEvent``; their
  union ``ChatCompletionStreamEvent``
* models: ``Model``, ``ModelList``
* embeddings: ``CreateEmbeddingResponse``, ``Embedding``, ``EmbeddingUsage``

Request parameters (``TypedDict``\\ s and aliases, plain dicts at runtime):

* ``CompletionCreateParams``, ``EmbeddingCreateParams`` and their key sets
  ``COMPLETION_CREATE_PARAM_NAMES``, ``EMBEDDING_CREATE_PARAM_NAMES``
* messages: ``ChatCompletionMessageParam`` = ``ChatCompletionSystemMessageParam`` |
  ``ChatCompletionDeveloperMessageParam`` | ``ChatCompletionUserMessageParam`` |
  ``ChatCompletionAssistantMessageParam`` | ``ChatCompletionToolMessageParam``;
  ``ChatCompletionMessageToolCallParam``, ``FunctionCallParam``
* content parts: ``ChatCompletionContentPartParam`` (``...TextParam``, ``...ImageParam`` with
  ``ImageURLParam``, ``...InputAudioParam`` with ``InputAudioParam``, ``...FileParam`` with
  ``FileContentParam``), ``ChatCompletionContentPartRefusalParam``,
  ``ChatCompletionAssistantContentPartParam``
* tools: ``ChatCompletionToolParam``, ``FunctionDefinition``, ``FunctionParameters``,
  ``ChatCompletionToolChoiceOptionParam``, ``ChatCompletionNamedToolChoiceParam``,
  ``ChatCompletionNamedToolChoiceFunctionParam``, ``ChatCompletionAllowedToolChoiceParam``,
  ``ChatCompletionAllowedToolsParam``
* output: ``ResponseFormat`` (``ResponseFormatText`` | ``ResponseFormatJSONObject`` |
  ``ResponseFormatJSONSchema`` with ``JSONSchema``), ``ChatCompletionAudioParam``,
  ``ChatCompletionPredictionContentParam``
* other: ``ChatCompletionStreamOptionsParam``, ``ReasoningEffort``, ``WebSearchOptionsParam``,
  ``WebSearchUserLocationParam``, ``WebSearchLocationParam``
"""

from ._base import BaseModel
from .chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionTokensDetails,
    CompletionUsage,
    Function,
    PromptTokensDetails,
    TopLogprob,
)
from .chat_params import (
    COMPLETION_CREATE_PARAM_NAMES,
    EMBEDDING_CREATE_PARAM_NAMES,
    ChatCompletionAllowedToolChoiceParam,
    ChatCompletionAllowedToolsParam,
    ChatCompletionAssistantContentPartParam,
    ChatCompletionAssistantMessageParam,
    ChatCompletionAudioParam,
    ChatCompletionContentPartFileParam,
    ChatCompletionContentPartImageParam,
    ChatCompletionContentPartInputAudioParam,
    ChatCompletionContentPartParam,
    ChatCompletionContentPartRefusalParam,
    ChatCompletionContentPartTextParam,
    ChatCompletionDeveloperMessageParam,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallParam,
    ChatCompletionNamedToolChoiceFunctionParam,
    ChatCompletionNamedToolChoiceParam,
    ChatCompletionPredictionContentParam,
    ChatCompletionStreamOptionsParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionToolChoiceOptionParam,
    ChatCompletionToolMessageParam,
    ChatCompletionToolParam,
    ChatCompletionUserMessageParam,
    CompletionCreateParams,
    EmbeddingCreateParams,
    FileContentParam,
    FunctionCallParam,
    FunctionDefinition,
    FunctionParameters,
    ImageURLParam,
    InputAudioParam,
    JSONSchema,
    ReasoningEffort,
    ResponseFormat,
    ResponseFormatJSONObject,
    ResponseFormatJSONSchema,
    ResponseFormatText,
    WebSearchLocationParam,
    WebSearchOptionsParam,
    WebSearchUserLocationParam,
)
from .embedding import (
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingUsage,
)
from .model import (
    Model,
    ModelList,
)
from .stream_events import (
    ChatCompletionStreamEvent,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    ReasoningDeltaEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
    ToolCallArgumentsDeltaEvent,
    ToolCallArgumentsDoneEvent,
)

__all__ = [
    "BaseModel",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "ChatCompletionTokenLogprob",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "ChunkChoice",
    "CompletionTokensDetails",
    "CompletionUsage",
    "Function",
    "PromptTokensDetails",
    "TopLogprob",
    "COMPLETION_CREATE_PARAM_NAMES",
    "ChatCompletionAllowedToolChoiceParam",
    "ChatCompletionAllowedToolsParam",
    "ChatCompletionAssistantContentPartParam",
    "ChatCompletionAssistantMessageParam",
    "ChatCompletionAudioParam",
    "ChatCompletionContentPartFileParam",
    "ChatCompletionContentPartImageParam",
    "ChatCompletionContentPartInputAudioParam",
    "ChatCompletionContentPartParam",
    "ChatCompletionContentPartRefusalParam",
    "ChatCompletionContentPartTextParam",
    "ChatCompletionDeveloperMessageParam",
    "ChatCompletionMessageParam",
    "ChatCompletionMessageToolCallParam",
    "ChatCompletionNamedToolChoiceFunctionParam",
    "ChatCompletionNamedToolChoiceParam",
    "ChatCompletionPredictionContentParam",
    "ChatCompletionStreamOptionsParam",
    "ChatCompletionSystemMessageParam",
    "ChatCompletionToolChoiceOptionParam",
    "ChatCompletionToolMessageParam",
    "ChatCompletionToolParam",
    "ChatCompletionUserMessageParam",
    "CompletionCreateParams",
    "EMBEDDING_CREATE_PARAM_NAMES",
    "EmbeddingCreateParams",
    "FileContentParam",
    "FunctionCallParam",
    "FunctionDefinition",
    "FunctionParameters",
    "ImageURLParam",
    "InputAudioParam",
    "JSONSchema",
    "ReasoningEffort",
    "ResponseFormat",
    "ResponseFormatJSONObject",
    "ResponseFormatJSONSchema",
    "ResponseFormatText",
    "WebSearchLocationParam",
    "WebSearchOptionsParam",
    "WebSearchUserLocationParam",
    "ChatCompletionStreamEvent",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "ReasoningDeltaEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "ToolCallArgumentsDeltaEvent",
    "ToolCallArgumentsDoneEvent",
    "Model",
    "ModelList",
    "CreateEmbeddingResponse",
    "Embedding",
    "EmbeddingUsage",
]
