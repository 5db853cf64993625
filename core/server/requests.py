"""An OpenAI chat-completion request, validated, and turned into Spyglass messages and options.

The request is a pydantic model that ignores fields we do not read (clients send many), but
refuses what we would otherwise get wrong quietly: more than one choice (`n`), log
probabilities, a forced tool choice. Roles map one to one (`developer`, OpenAI's newer name
for the system role, is a system message); content is a string or a list of text and
`image_url` parts; an assistant's `tool_calls` carry their arguments as a JSON string, parsed
here. Images are decoded elsewhere (`images.py`): this module only collects their URLs, in
order, so the caller can fetch and decode them off the event loop. Sampling left out of the
request stays as the user's settings have it (`options_from_settings`). `top_k` and
`chat_template_kwargs` are extensions vLLM clients already send.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.engine.options import GenerateOptions, SamplingParams
from core.events import ToolCall
from core.messages import Message, TextPart
from core.setting_rules import MAX_SEED

from .errors import ApiError, bad_request

MAX_STOPS = 16


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextContent(_Model):
    type: Literal["text"]
    text: str


class ImageUrl(_Model):
    url: str
    detail: str | None = None


class ImageContent(_Model):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextContent | ImageContent, Field(discriminator="type")]


class FunctionCall(_Model):
    name: str
    arguments: str = "{}"


class ToolCallIn(_Model):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Model):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ToolCallIn] | None = None
    reasoning_content: str | None = None


class StreamOptions(_Model):
    include_usage: bool = False


class Tool(_Model):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: dict[str, Any]


class ChatRequest(_Model):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    stop: str | list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict | None = None
    n: int = 1
    logprobs: bool | None = None
    chat_template_kwargs: dict[str, Any] | None = None

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


def parse_request(body: bytes) -> ChatRequest:
    """The request in `body`, or a 400 naming the first field at fault."""
    try:
        request = ChatRequest.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise bad_request(f"{param or 'the body'}: {first['msg']}", param=param) from None
    _refuse_unsupported(request)
    return request


def _refuse_unsupported(request: ChatRequest) -> None:
    if request.n != 1:
        raise bad_request("n must be 1: this server makes one choice per request", param="n")
    if request.logprobs:
        raise bad_request("log probabilities are not available from this server", param="logprobs")
    if request.tool_choice not in (None, "auto", "none"):
        raise bad_request("tool_choice may be auto or none; a forced tool call is not supported", param="tool_choice")
    stops = [request.stop] if isinstance(request.stop, str) else request.stop or []
    if len(stops) > MAX_STOPS or any(not s for s in stops):
        raise bad_request(f"stop takes 1 to {MAX_STOPS} non-empty strings", param="stop")


def image_urls(request: ChatRequest) -> list[str]:
    """Every image URL in the request, in message order (the order `to_messages` consumes them)."""
    return [
        part.image_url.url
        for m in request.messages
        if isinstance(m.content, list)
        for part in m.content
        if isinstance(part, ImageContent)
    ]


def to_messages(request: ChatRequest, images: list) -> list[Message]:
    """Spyglass messages; `images` holds the decoded `ImagePart` of each of `image_urls(request)`."""
    pending = iter(images)
    out = []
    for i, m in enumerate(request.messages):
        if isinstance(m.content, list):
            parts = tuple(TextPart(p.text) if isinstance(p, TextContent) else next(pending) for p in m.content)
        else:
            parts = (TextPart(m.content),) if m.content else ()
        calls = tuple(_tool_call(c, f"messages.{i}.tool_calls.{j}") for j, c in enumerate(m.tool_calls or []))
        role = "system" if m.role == "developer" else m.role
        out.append(Message(role, parts, tool_calls=calls, reasoning=m.reasoning_content or ""))
    return out


def _tool_call(call: ToolCallIn, where: str) -> ToolCall:
    try:
        arguments = json.loads(call.function.arguments or "{}")
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        raise bad_request("a tool call's arguments must be a JSON object", param=f"{where}.function.arguments")
    return ToolCall(call.function.name, arguments)


def to_options(request: ChatRequest, base: GenerateOptions) -> GenerateOptions:
    """`base` (the user's settings) with what the request sets."""
    s = base.sampling
    sampling = SamplingParams(
        temperature=_given(request.temperature, s.temperature),
        top_k=_given(request.top_k, s.top_k),
        top_p=_given(request.top_p, s.top_p),
        seed=_given(request.seed, s.seed),
    )
    stops = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or base.stop)
    tools = () if request.tool_choice == "none" else tuple(t.model_dump() for t in request.tools or ())
    template = {**base.template_options, **(request.chat_template_kwargs or {})}
    max_tokens = request.max_completion_tokens or request.max_tokens or base.max_tokens
    try:
        return replace(
            base, sampling=sampling, max_tokens=max_tokens, stop=stops, tools=tools, template_options=template
        )
    except ValueError as err:
        raise ApiError(400, str(err), "invalid_request") from None


def _given(mine: Any, base: Any) -> Any:
    return base if mine is None else mine
