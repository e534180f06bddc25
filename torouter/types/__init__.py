"""Typed shapes of the ToRouter API (OpenAI-compatible).

Response models (pydantic, lenient, unknown fields kept; all subclass :class:`BaseModel`):

* chat completions: ``ChatCompletion``, ``Choice``, ``ChatCompletionMessage``,
  ``ChoiceLogprobs``, ``ChatCompletionTokenLogprob``, ``TopLogprob``, ``ChatCompletionAudio``,
  ``FunctionCall``, ``ChatCompletionModeration`` (``ModerationOutcome`` = ``ModerationResults``
  | ``ModerationError`` | ``UnknownModeration``; ``ModerationResultBody``)
* tool calls: ``ChatCompletionMessageToolCallUnion`` = ``ChatCompletionMessageFunctionToolCall``
  (alias ``ChatCompletionMessageToolCall``, with ``Function``) |
  ``ChatCompletionMessageCustomToolCall`` (with ``Custom``) |
  ``ChatCompletionMessageUnknownToolCall`` (a type newer than this SDK, fields kept)
* annotations: ``Annotation`` = ``AnnotationURLCitation`` (with ``URLCitation``) |
  ``UnknownAnnotation``
* usage: ``CompletionUsage``, ``CompletionTokensDetails``, ``PromptTokensDetails``
* streaming: ``ChatCompletionChunk``, ``ChunkChoice``, ``ChoiceDelta``, ``ChoiceDeltaToolCall``,
  ``ChoiceDeltaToolCallFunction``, ``ChoiceDeltaFunctionCall``
* structured outputs (``chat.completions.parse``): ``ParsedChatCompletion[T]``,
  ``ParsedChoice[T]``, ``ParsedChatCompletionMessage[T]`` (``.parsed: T | None``),
  ``ParsedToolCallUnion``, ``ParsedFunctionToolCall``, ``ParsedFunction`` (``.parsed_arguments``)
* stream helper events (frozen dataclasses with a literal ``type``): ``ChunkEvent``,
  ``ContentDeltaEvent``, ``ContentDoneEvent``, ``ReasoningDeltaEvent``, ``RefusalDeltaEvent``,
  ``RefusalDoneEvent``, ``ToolCallArgumentsDeltaEvent``, ``ToolCallArgumentsDoneEvent``; their
  union ``ChatCompletionStreamEvent``
* models: ``Model``, ``ModelList``
* embeddings: ``CreateEmbeddingResponse``, ``Embedding``, ``EmbeddingUsage``

Request parameters (``TypedDict``\\ s and aliases, plain dicts at runtime):

* ``CompletionCreateParams`` (``CompletionParseParams``: the same without
  ``response_format``), ``EmbeddingCreateParams`` and their key sets
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
    Annotation,
    AnnotationURLCitation,
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionMessageCustomToolCall,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageToolCall,
    ChatCompletionMessageToolCallUnion,
    ChatCompletionMessageUnknownToolCall,
    ChatCompletionModeration,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaFunctionCall,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
    ChoiceLogprobs,
    ChunkChoice,
    CompletionTokensDetails,
    CompletionUsage,
    Custom,
    Function,
    FunctionCall,
    ModerationError,
    ModerationOutcome,
    ModerationResultBody,
    ModerationResults,
    PromptTokensDetails,
    TopLogprob,
    UnknownAnnotation,
    UnknownModeration,
    URLCitation,
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
    CompletionParseParams,
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
from .parsed import (
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    ParsedFunction,
    ParsedFunctionToolCall,
    ParsedToolCallUnion,
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
    "CompletionParseParams",
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
    "Annotation",
    "AnnotationURLCitation",
    "ChatCompletionAudio",
    "ChatCompletionMessageCustomToolCall",
    "ChatCompletionMessageFunctionToolCall",
    "ChatCompletionMessageToolCallUnion",
    "ChatCompletionMessageUnknownToolCall",
    "ChatCompletionModeration",
    "ChoiceDeltaFunctionCall",
    "Custom",
    "FunctionCall",
    "ModerationError",
    "ModerationOutcome",
    "ModerationResultBody",
    "ModerationResults",
    "URLCitation",
    "UnknownAnnotation",
    "UnknownModeration",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
    "ParsedToolCallUnion",
]


from .._public import publish_package as _publish_package

_publish_package(__name__)
