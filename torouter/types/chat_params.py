"""Request parameters of ``POST /chat/completions`` and ``POST /embeddings`` as ``TypedDict``\\ s.

These are for type checkers and editors only: at runtime they are plain ``dict``\\ s and are sent
as JSON unchanged. ``COMPLETION_CREATE_PARAM_NAMES`` / ``EMBEDDING_CREATE_PARAM_NAMES`` hold the
accepted keys so the resource layer can reject a misspelt keyword argument before sending.

Deliberately absent from :class:`CompletionCreateParams`: ``stream`` (the resource method has
its own argument) and request options (``extra_headers``, ``extra_body``, ``timeout``...).
Deprecated OpenAI parameters (``functions``, ``function_call``) are not typed; send them through
``extra_body`` if an upstream still needs them.
"""

# No ``from __future__ import annotations`` here: string annotations would hide ``Required`` /
# ``NotRequired`` from ``TypedDict`` and make ``__required_keys__`` wrong.

from collections.abc import Iterable
from typing import Literal, TypeAlias

from typing_extensions import NotRequired, Required, TypedDict

__all__ = [
    "COMPLETION_CREATE_PARAM_NAMES",
    "EMBEDDING_CREATE_PARAM_NAMES",
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
]

# --------------------------------------------------------------------------- content parts


class ChatCompletionContentPartTextParam(TypedDict):
    """A text content part: ``{"type": "text", "text": "..."}``."""

    type: Literal["text"]
    """Always ``"text"``."""
    text: str
    """The text."""


class ImageURLParam(TypedDict):
    """The image of an ``image_url`` content part."""

    url: str
    """An ``https://`` URL or a ``data:image/...;base64,...`` URL."""
    detail: NotRequired[Literal["auto", "low", "high"]]
    """Resolution the model looks at the image with (default ``"auto"``)."""


class ChatCompletionContentPartImageParam(TypedDict):
    """An image content part: ``{"type": "image_url", "image_url": {"url": ...}}``."""

    type: Literal["image_url"]
    """Always ``"image_url"``."""
    image_url: ImageURLParam
    """The image."""


class InputAudioParam(TypedDict):
    """The audio of an ``input_audio`` content part."""

    data: str
    """Base64-encoded audio bytes."""
    format: Literal["wav", "mp3"]
    """Encoding of ``data``."""


class ChatCompletionContentPartInputAudioParam(TypedDict):
    """An audio content part: ``{"type": "input_audio", "input_audio": {...}}``."""

    type: Literal["input_audio"]
    """Always ``"input_audio"``."""
    input_audio: InputAudioParam
    """The audio."""


class FileContentParam(TypedDict, total=False):
    """The file of a ``file`` content part: give either ``file_data`` or ``file_id``."""

    file_data: str
    """Base64-encoded file content (a ``data:`` URL for PDFs, as OpenAI expects)."""
    file_id: str
    """Id of a file uploaded to the provider."""
    filename: str
    """File name shown to the model."""


class ChatCompletionContentPartFileParam(TypedDict):
    """A file content part (e.g. a PDF): ``{"type": "file", "file": {...}}``."""

    type: Literal["file"]
    """Always ``"file"``."""
    file: FileContentParam
    """The file."""


class ChatCompletionContentPartRefusalParam(TypedDict):
    """A refusal content part of an assistant message."""

    type: Literal["refusal"]
    """Always ``"refusal"``."""
    refusal: str
    """The refusal message."""


ChatCompletionContentPartParam: TypeAlias = (
    ChatCompletionContentPartTextParam
    | ChatCompletionContentPartImageParam
    | ChatCompletionContentPartInputAudioParam
    | ChatCompletionContentPartFileParam
)
"""Any content part of a user message."""

# --------------------------------------------------------------------------- messages


class ChatCompletionSystemMessageParam(TypedDict, total=False):
    """A system message: instructions for the model."""

    role: Required[Literal["system"]]
    """Always ``"system"``."""
    content: Required[str | Iterable[ChatCompletionContentPartTextParam]]
    """The instructions, as text or text parts."""
    name: str
    """Optional name distinguishing participants of the same role."""


class ChatCompletionDeveloperMessageParam(TypedDict, total=False):
    """A developer message: instructions for the model (replaces system for OpenAI o1+)."""

    role: Required[Literal["developer"]]
    """Always ``"developer"``."""
    content: Required[str | Iterable[ChatCompletionContentPartTextParam]]
    """The instructions, as text or text parts."""
    name: str
    """Optional name distinguishing participants of the same role."""


class ChatCompletionUserMessageParam(TypedDict, total=False):
    """A user message."""

    role: Required[Literal["user"]]
    """Always ``"user"``."""
    content: Required[str | Iterable[ChatCompletionContentPartParam]]
    """Text, or a list of text / image_url / input_audio / file parts."""
    name: str
    """Optional name distinguishing participants of the same role."""


class FunctionCallParam(TypedDict):
    """The function of a tool call in an assistant message sent back to the model."""

    name: str
    """Name of the called function."""
    arguments: str
    """Arguments as the JSON text the model produced."""


class ChatCompletionMessageToolCallParam(TypedDict):
    """A tool call of an earlier assistant message, sent back as conversation history."""

    id: str
    """Id of the tool call (the tool message answers it with ``tool_call_id``)."""
    type: Literal["function"]
    """Always ``"function"``."""
    function: FunctionCallParam
    """The called function."""


ChatCompletionAssistantContentPartParam: TypeAlias = (
    ChatCompletionContentPartTextParam | ChatCompletionContentPartRefusalParam
)
"""A content part of an assistant message: text or refusal."""


class ChatCompletionAssistantMessageParam(TypedDict, total=False):
    """An assistant message: an earlier model reply sent back as conversation history."""

    role: Required[Literal["assistant"]]
    """Always ``"assistant"``."""
    content: str | Iterable[ChatCompletionAssistantContentPartParam] | None
    """The reply text (or text / refusal parts); may be ``None`` when ``tool_calls`` is set."""
    refusal: str | None
    """The refusal message of the reply, if it was one."""
    tool_calls: Iterable[ChatCompletionMessageToolCallParam]
    """The tool calls the model made in that reply."""
    name: str
    """Optional name distinguishing participants of the same role."""


class ChatCompletionToolMessageParam(TypedDict, total=False):
    """A tool message: the result of one tool call."""

    role: Required[Literal["tool"]]
    """Always ``"tool"``."""
    content: Required[str | Iterable[ChatCompletionContentPartTextParam]]
    """The tool's result, as text or text parts."""
    tool_call_id: Required[str]
    """Id of the tool call this answers."""


ChatCompletionMessageParam: TypeAlias = (
    ChatCompletionDeveloperMessageParam
    | ChatCompletionSystemMessageParam
    | ChatCompletionUserMessageParam
    | ChatCompletionAssistantMessageParam
    | ChatCompletionToolMessageParam
)
"""Any message of the ``messages`` list, told apart by ``role``."""

# --------------------------------------------------------------------------- tools

FunctionParameters: TypeAlias = dict[str, object]
"""A JSON Schema object describing a function's parameters."""


class FunctionDefinition(TypedDict):
    """A function the model may call."""

    name: str
    """Function name: a-z, A-Z, 0-9, ``_`` and ``-``, at most 64 characters."""
    description: NotRequired[str]
    """What the function does; the model uses it to decide when and how to call it."""
    parameters: NotRequired[FunctionParameters]
    """JSON Schema of the arguments; omit for a function without parameters."""
    strict: NotRequired[bool | None]
    """Require the arguments to follow ``parameters`` exactly (structured outputs)."""


class ChatCompletionToolParam(TypedDict):
    """A function tool: ``{"type": "function", "function": {...}}``."""

    type: Literal["function"]
    """Always ``"function"``."""
    function: FunctionDefinition
    """The function."""


class ChatCompletionNamedToolChoiceFunctionParam(TypedDict):
    """The function a named tool choice forces."""

    name: str
    """Name of the function to call."""


class ChatCompletionNamedToolChoiceParam(TypedDict):
    """Force one function: ``{"type": "function", "function": {"name": ...}}``."""

    type: Literal["function"]
    """Always ``"function"``."""
    function: ChatCompletionNamedToolChoiceFunctionParam
    """The function to call."""


class ChatCompletionAllowedToolsParam(TypedDict):
    """The subset of ``tools`` the model may use."""

    mode: Literal["auto", "required"]
    """``"auto"``: may call one of them or none; ``"required"``: must call one."""
    tools: Iterable[dict[str, object]]
    """Tool references, e.g. ``{"type": "function", "function": {"name": "get_weather"}}``."""


class ChatCompletionAllowedToolChoiceParam(TypedDict):
    """Restrict the model to some tools: ``{"type": "allowed_tools", "allowed_tools": {...}}``."""

    type: Literal["allowed_tools"]
    """Always ``"allowed_tools"``."""
    allowed_tools: ChatCompletionAllowedToolsParam
    """The allowed tools."""


ChatCompletionToolChoiceOptionParam: TypeAlias = (
    Literal["none", "auto", "required"]
    | ChatCompletionNamedToolChoiceParam
    | ChatCompletionAllowedToolChoiceParam
)
"""``"none"`` (no tools), ``"auto"`` (model decides), ``"required"`` (must call a tool), a named
function, or an allowed-tools subset."""

# --------------------------------------------------------------------------- response format


class ResponseFormatText(TypedDict):
    """Plain text output (the default)."""

    type: Literal["text"]
    """Always ``"text"``."""


class ResponseFormatJSONObject(TypedDict):
    """JSON mode: the output is some valid JSON object (also ask for JSON in the prompt)."""

    type: Literal["json_object"]
    """Always ``"json_object"``."""


class JSONSchema(TypedDict):
    """The schema of a ``json_schema`` response format."""

    name: str
    """Name of the format: a-z, A-Z, 0-9, ``_`` and ``-``, at most 64 characters."""
    description: NotRequired[str]
    """What the format is for."""
    schema: NotRequired[dict[str, object]]
    """The JSON Schema the output must follow."""
    strict: NotRequired[bool | None]
    """Enforce the schema exactly (structured outputs)."""


class ResponseFormatJSONSchema(TypedDict):
    """Structured outputs: the output follows the given JSON Schema."""

    type: Literal["json_schema"]
    """Always ``"json_schema"``."""
    json_schema: JSONSchema
    """The schema."""


ResponseFormat: TypeAlias = ResponseFormatText | ResponseFormatJSONObject | ResponseFormatJSONSchema
"""``{"type": "text"}``, ``{"type": "json_object"}`` or ``{"type": "json_schema", ...}``."""

# --------------------------------------------------------------------------- other parameters


class ChatCompletionStreamOptionsParam(TypedDict, total=False):
    """Options of a streamed completion."""

    include_usage: bool
    """Send a last chunk with ``usage`` and empty ``choices`` before ``[DONE]``."""
    include_obfuscation: bool
    """Pad chunks with an ``obfuscation`` field against side-channel attacks (OpenAI)."""


class ChatCompletionAudioParam(TypedDict):
    """Audio output settings (with ``modalities=["text", "audio"]``)."""

    voice: str
    """Voice id, e.g. ``"alloy"``."""
    format: Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]
    """Output audio encoding."""


class ChatCompletionPredictionContentParam(TypedDict):
    """Predicted output (e.g. a file being edited) that speeds up regeneration."""

    type: Literal["content"]
    """Always ``"content"``."""
    content: str | Iterable[ChatCompletionContentPartTextParam]
    """The predicted text."""


class WebSearchLocationParam(TypedDict, total=False):
    """Approximate user location for web search."""

    city: str
    """Free-text city, e.g. ``"San Francisco"``."""
    country: str
    """Two-letter ISO country code, e.g. ``"US"``."""
    region: str
    """Free-text region, e.g. ``"California"``."""
    timezone: str
    """IANA time zone, e.g. ``"America/Los_Angeles"``."""


class WebSearchUserLocationParam(TypedDict):
    """``{"type": "approximate", "approximate": {...}}``."""

    type: Literal["approximate"]
    """Always ``"approximate"``."""
    approximate: WebSearchLocationParam
    """The location."""


class WebSearchOptionsParam(TypedDict, total=False):
    """Web search settings (for search-enabled models)."""

    search_context_size: Literal["low", "medium", "high"]
    """How much search context to retrieve (default ``"medium"``)."""
    user_location: WebSearchUserLocationParam | None
    """Approximate user location to localise results."""


ReasoningEffort: TypeAlias = Literal["minimal", "low", "medium", "high"] | str
"""Reasoning effort: ``"minimal"``, ``"low"``, ``"medium"``, ``"high"`` are the common values;
any string is accepted and passed through (OpenAI also knows ``"none"`` and ``"xhigh"``, other
upstreams may differ)."""

# --------------------------------------------------------------------------- create params


class CompletionParseParams(TypedDict, total=False):
    """Body parameters of ``chat.completions.parse``: those of :class:`CompletionCreateParams`
    except ``response_format``, which ``parse`` takes as a pydantic model class."""

    model: Required[str]
    """Model id, e.g. ``"openai/gpt-4o"`` or a gateway alias."""
    messages: Required[Iterable[ChatCompletionMessageParam]]
    """The conversation so far."""
    audio: ChatCompletionAudioParam | None
    """Audio output settings; required with ``modalities=["text", "audio"]``."""
    frequency_penalty: float | None
    """-2.0 to 2.0; positive values penalise tokens by how often they already appeared."""
    logit_bias: dict[str, int] | None
    """Token id (as a string) to a bias from -100 to 100 added to its logit."""
    logprobs: bool | None
    """Return log probabilities of the output tokens."""
    max_completion_tokens: int | None
    """Upper bound on generated tokens, reasoning tokens included."""
    max_tokens: int | None
    """Maximum generated tokens (older name; reasoning models want ``max_completion_tokens``)."""
    metadata: dict[str, str] | None
    """Up to 16 string key/value pairs stored with the completion."""
    modalities: list[Literal["text", "audio"]] | None
    """Output types to generate, e.g. ``["text"]`` or ``["text", "audio"]``."""
    n: int | None
    """Number of choices to generate (billed for all of them)."""
    parallel_tool_calls: bool
    """Allow several tool calls in one reply (default true)."""
    prediction: ChatCompletionPredictionContentParam | None
    """Predicted output that speeds up regenerating mostly-known text."""
    presence_penalty: float | None
    """-2.0 to 2.0; positive values penalise tokens that already appeared at all."""
    prompt_cache_key: str | None
    """Key grouping similar requests for better prompt-cache hit rates."""
    reasoning_effort: ReasoningEffort | None
    """How hard a reasoning model thinks: ``"minimal"``, ``"low"``, ``"medium"``, ``"high"``
    (any string is passed through)."""
    safety_identifier: str | None
    """Stable, hashed end-user id for abuse detection (successor of ``user``)."""
    seed: int | None
    """Best-effort deterministic sampling seed."""
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | str | None
    """Processing tier to request (provider specific; any string is passed through)."""
    stop: str | list[str] | None
    """Up to 4 sequences at which generation stops."""
    store: bool | None
    """Store the completion with the provider (OpenAI distillation / evals)."""
    stream_options: ChatCompletionStreamOptionsParam | None
    """Streaming options (only with ``stream=True``), e.g. ``{"include_usage": True}``."""
    temperature: float | None
    """Sampling temperature, 0 to 2; higher is more random."""
    tool_choice: ChatCompletionToolChoiceOptionParam
    """Which tool, if any, the model must call."""
    tools: Iterable[ChatCompletionToolParam]
    """Functions the model may call."""
    top_logprobs: int | None
    """0 to 20 most likely alternatives per token to return (needs ``logprobs=True``)."""
    top_p: float | None
    """Nucleus sampling: consider only tokens in the top ``top_p`` probability mass."""
    user: str
    """End-user id (deprecated upstream in favour of ``safety_identifier``)."""
    verbosity: Literal["low", "medium", "high"] | None
    """How verbose the answer should be."""
    web_search_options: WebSearchOptionsParam
    """Web search settings for search-enabled models."""


class CompletionCreateParams(CompletionParseParams, total=False):
    """Body parameters of ``POST /chat/completions`` (without ``stream``)."""

    response_format: ResponseFormat
    """Output format: text, JSON mode or a JSON Schema (structured outputs; see also
    ``chat.completions.parse``, which builds it from a pydantic model)."""


class EmbeddingCreateParams(TypedDict, total=False):
    """Body parameters of ``POST /embeddings``."""

    input: Required[str | list[str] | list[int] | list[list[int]]]
    """Text, list of texts, token ids, or list of token-id lists to embed."""
    model: Required[str]
    """Embedding model id."""
    dimensions: int
    """Number of output dimensions (models that support shortening only)."""
    encoding_format: Literal["float", "base64"]
    """``"float"`` (default) or ``"base64"`` (little-endian float32, see
    :meth:`~torouter.types.Embedding.as_floats`)."""
    user: str
    """End-user id for abuse detection."""


COMPLETION_CREATE_PARAM_NAMES: frozenset[str] = frozenset(
    CompletionCreateParams.__required_keys__ | CompletionCreateParams.__optional_keys__
)
"""Every key :class:`CompletionCreateParams` accepts."""

EMBEDDING_CREATE_PARAM_NAMES: frozenset[str] = frozenset(
    EmbeddingCreateParams.__required_keys__ | EmbeddingCreateParams.__optional_keys__
)
"""Every key :class:`EmbeddingCreateParams` accepts."""
