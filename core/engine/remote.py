"""A model on an OpenAI-compatible server (vLLM, SGLang, llama-cpp-python, another Spyglass),
behind the Engine protocol, through the maintained `openai` client: it parses the SSE stream and
retries, with backoff, connect errors and 5xx answers that come before the stream begins
(`remote.retries`); once tokens have arrived nothing is sent again, and a failure is
`Finished("error", …)` naming the server. `cancel` shuts the live socket down, so a reply ends at
once even while the server is silent. Images and video frames travel as PNG data URIs in message
order, each frame after its time stamp. Reasoning comes as `reasoning_content` (vLLM, SGLang) or
inside `<think>`/`<mm:think>` in the text; tool calls come as streamed deltas (joined, and
`MalformedToolCall` when the arguments are not a JSON object) or as tags in the text. The server
resizes media itself, so the media plan is an estimate (`ServerPlan`), as is `count_tokens` and,
when the server sends none, the usage: each says so in the log. The API key comes from
core/secrets.py and is handed to the client only.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openai

from core.events import Event, Finished, LoadProgress, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall, Usage
from core.messages import ImagePart, Message, TextPart, VideoPart
from core.model.stream import HERMES_FORMAT, M3_FORMAT, StreamParser
from core.secrets import get_api_key
from core.settings import RemoteSettings, Settings
from core.vision.sizes import check_input_size

from .gguf_media import stamp
from .options import GenerateOptions
from .protocol import EngineBase, EngineError, EngineInfo

log = logging.getLogger(__name__)
NO_KEY = "EMPTY"  # what servers started without a key expect (vLLM's convention); the client needs one
CHARS_PER_TOKEN = 4  # the local estimate for text when the server cannot count
MESSAGE_TOKENS = 4  # role and turn markers of one message, estimated
PATCH = 28  # the estimate's patch: one token per 28x28 pixels (M3's and Qwen-VL's merged patch)
MAX_IMAGE_TOKENS = 16_384  # servers downscale bigger images; the estimate stops there too
MAX_INPUT_PIXELS = 200_000_000
FINISH = {"stop": "stop", "eos": "stop", "tool_calls": "stop", "function_call": "stop", "length": "length"}


def from_settings(settings: Settings) -> RemoteEngine:
    """The registry's factory: `remote.base_url`, else a model location that is a URL."""
    url = settings.remote.base_url or settings.model_dir
    return RemoteEngine(settings.remote, base_url=url, context_tokens=settings.context_tokens)


def is_url(text: str | None) -> bool:
    return bool(text) and str(text).lower().startswith(("http://", "https://"))


class ServerPlan:
    """The server resizes media with its own processor, so this estimates: one token per 28x28
    patch (rounded up), at most `MAX_IMAGE_TOKENS` an image; a video costs its frames alike."""

    min_video_frames = 1

    def image_tokens(self, height: int, width: int) -> int:
        check_input_size(height, width, MAX_INPUT_PIXELS)
        return max(1, min(MAX_IMAGE_TOKENS, math.ceil(height / PATCH) * math.ceil(width / PATCH)))

    def video_tokens(self, frames: int, height: int, width: int) -> int:
        if frames < 1:
            raise ValueError("the video has no frames")
        return frames * self.image_tokens(height, width)


def png_data_uri(pixels: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _content(parts: tuple) -> str | list[dict]:
    """A message's parts as OpenAI content: a plain string when it is all text (what every
    server's template reads), else text and `image_url` parts in order."""
    out: list[dict] = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": "text", "text": p.text})
        elif isinstance(p, ImagePart):
            out.append({"type": "image_url", "image_url": {"url": png_data_uri(p.pixels)}})
        elif isinstance(p, VideoPart):
            for frame, seconds in zip(p.frames, p.timestamps, strict=True):
                out.append({"type": "text", "text": stamp(seconds)})
                out.append({"type": "image_url", "image_url": {"url": png_data_uri(frame)}})
        else:
            raise ValueError(f"a {type(p).__name__} cannot be sent to a server")
    if all(c["type"] == "text" for c in out):
        return "".join(c["text"] for c in out)
    return out


def chat_messages(messages: list[Message]) -> list[dict]:
    """Messages in the Chat Completions shape; tool results answer the calls before them by id."""
    out: list[dict] = []
    pending: list[str] = []  # ids of the last assistant turn's calls not yet answered
    for i, m in enumerate(messages):
        entry: dict[str, Any] = {"role": m.role, "content": _content(m.parts)}
        if m.tool_calls:
            pending = [f"call_{i}_{n}" for n in range(len(m.tool_calls))]
            entry["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for cid, c in zip(pending, m.tool_calls, strict=True)
            ]
        if m.role == "tool":
            entry["tool_call_id"] = pending.pop(0) if pending else f"call_{i}"
        out.append(entry)
    return out


def request_body(model: str, messages: list[Message], options: GenerateOptions) -> dict:
    """The `chat.completions.create` arguments for one reply (sampling left unset: the server's)."""
    s = options.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": chat_messages(messages),
        "max_tokens": options.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    extra: dict[str, Any] = {}
    for name, value in (("temperature", s.temperature), ("top_p", s.top_p), ("seed", s.seed)):
        if value is not None:
            body[name] = value
    if s.top_k is not None:
        extra["top_k"] = s.top_k  # not OpenAI's, but vLLM, SGLang and llama.cpp read it
    if options.stop:
        body["stop"] = list(options.stop)
    if options.tools:
        body["tools"] = [t if "type" in t else {"type": "function", "function": t} for t in options.tools]
    if options.template_options:
        extra["chat_template_kwargs"] = dict(options.template_options)  # vLLM's and SGLang's name
    if extra:
        body["extra_body"] = extra
    return body


def estimate_tokens(messages: list[Message], plan: ServerPlan) -> int:
    """A local estimate: ~4 characters a token, the plan's count for media, a few per message."""
    total = 0
    for m in messages:
        total += MESSAGE_TOKENS
        for p in m.parts:
            if isinstance(p, TextPart):
                total += math.ceil(len(p.text) / CHARS_PER_TOKEN)
            elif isinstance(p, ImagePart):
                total += plan.image_tokens(*p.pixels.shape[:2])
            elif isinstance(p, VideoPart):
                total += plan.video_tokens(*p.frames.shape[:3]) + 4 * len(p.timestamps)
    return total


class ContentParser:
    """Reasoning and tool-call tags in streamed text: M3's `<mm:think>` and calls first, then the
    text left over through Qwen/Hermes' `<think>` and `<tool_call>`. Text the second parser holds
    back (a possible tag) is flushed before any event of the first, so order is kept."""

    def __init__(self) -> None:
        self._m3, self._hermes = StreamParser(fmt=M3_FORMAT), StreamParser(fmt=HERMES_FORMAT)

    def feed(self, text: str, *, final: bool = False) -> list:
        out: list = []
        for event in self._m3.feed(text, final=final):
            if isinstance(event, TextDelta):
                out += self._hermes.feed(event.text)
            else:
                out += self._hermes.feed("", final=True) + [event]
        return out + (self._hermes.feed("", final=True) if final else [])


@dataclass
class _Call:
    name: str = ""
    arguments: str = ""

    def event(self) -> ToolCall | MalformedToolCall:
        try:
            arguments = json.loads(self.arguments or "{}")
        except ValueError:
            arguments = None
        if not self.name or not isinstance(arguments, dict):
            return MalformedToolCall(f"{self.name or '(no name)'} {self.arguments}")
        return ToolCall(self.name, arguments)


@dataclass
class _Reply:
    """What one streamed reply has told so far: chunks become events here."""

    content: ContentParser = field(default_factory=ContentParser)
    calls: dict[int, _Call] = field(default_factory=dict)
    usage: Usage | None = None
    finish: str | None = None
    stop_string: bool = False
    pieces: int = 0  # chunks that carried text: the completion estimate when no usage comes

    def chunk(self, chunk: Any) -> list:
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        events: list = []
        for choice in chunk.choices[:1]:
            delta = choice.delta
            extra = delta.model_extra or {}
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                self.pieces += 1
                events += self.content.feed("", final=True) + [ReasoningDelta(reasoning)]
            if delta.content:
                self.pieces += 1
                events += self.content.feed(delta.content)
            for call in delta.tool_calls or ():
                entry = self.calls.setdefault(call.index, _Call())
                if call.function is not None:
                    entry.name += call.function.name or ""
                    entry.arguments += call.function.arguments or ""
            if choice.finish_reason:
                self.finish = choice.finish_reason
                self.stop_string = isinstance((choice.model_extra or {}).get("stop_reason"), str)
        return events

    def flush(self) -> list:
        """The text held back and the calls assembled, at the end of the stream."""
        events = self.content.feed("", final=True)
        return events + [self.calls[i].event() for i in sorted(self.calls)]


def _usage(u: Any) -> Usage:
    details = getattr(u, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(int(u.prompt_tokens or 0), int(u.completion_tokens or 0), int(cached))


class RemoteEngine(EngineBase):
    def __init__(
        self,
        settings: RemoteSettings = RemoteSettings(),
        *,
        base_url: str | None = None,
        context_tokens: int = 32768,
        api_key: str | None = None,
    ) -> None:
        self.settings, self.context_tokens = settings, context_tokens
        self.base_url = (base_url or settings.base_url or "").rstrip("/")
        self._api_key = api_key  # None: looked up in core/secrets at load
        self.state: str = "idle"
        self.error: str | None = None
        self.model: str | None = None
        self.models: list[str] = []
        self.plan = ServerPlan()
        self._client: openai.OpenAI | None = None
        self._cancel = threading.Event()
        self._live: Any = None  # the response streaming now, for `cancel`
        self._live_lock = threading.Lock()
        self._estimate_said = False

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None:
        if self.state != "idle":
            raise EngineError(f"the engine is {self.state}; load it once, from idle")
        self.state = "loading"
        try:
            if not is_url(self.base_url):
                raise EngineError(
                    f"the server URL {self.base_url!r} is not http(s)://…; set remote.base_url in Settings"
                    if self.base_url
                    else "no server is set; enter its URL in Settings (remote.base_url), e.g. http://host:8000/v1"
                )
            key = self._api_key or get_api_key(self.base_url)
            self._client = client(self.settings, self.base_url, key)
            self.models = list_models_with(self._client, self.settings, self.base_url)
            self.model = pick_model(self.settings.model, self.models, self.base_url)
        except EngineError as err:
            self._close_client()
            self.state, self.error = "failed", str(err)
            raise
        if on_progress:
            on_progress(LoadProgress(1, 1, 0, 0))
        self.state = "ready"
        log.info("using %s on %s", self.model, self.base_url)

    def info(self) -> EngineInfo:
        self._require_ready()
        assert self.model is not None
        return EngineInfo("remote", self.model, self.context_tokens, self.plan)

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int:
        """An estimate (the Chat Completions API has no way to count): `estimate_tokens`."""
        self._require_ready()
        if not self._estimate_said:
            log.info("%s cannot count tokens; estimating ~%d characters a token", self.base_url, CHARS_PER_TOKEN)
            self._estimate_said = True
        return estimate_tokens(messages, self.plan)

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator[Event]:
        """Events of the reply. Media that cannot be encoded raise ValueError here, before any
        request; everything the server does wrong is the stream's `Finished("error", …)`."""
        self._require_ready()
        assert self.model is not None
        body = request_body(self.model, messages, options)
        self._cancel.clear()
        return self._stream(body, messages)

    def _stream(self, body: dict, messages: list[Message]) -> Iterator[Event]:
        assert self._client is not None
        reply = _Reply()
        try:
            stream = self._client.chat.completions.create(**body)
        except openai.APIError as err:
            yield Finished("error", describe(err, self.settings, self.base_url, started=False))
            return
        with self._live_lock:
            self._live = stream.response
        try:
            for chunk in stream:
                if self._cancel.is_set():
                    break
                yield from reply.chunk(chunk)
        except openai.APIError as err:
            if not self._cancel.is_set():
                yield from reply.flush()
                yield Finished("error", describe(err, self.settings, self.base_url, started=True))
                return
        finally:
            with self._live_lock:
                self._live = None
            stream.close()
        yield from reply.flush()
        yield reply.usage or self._estimated_usage(messages, reply.pieces)
        yield self._finished(reply)

    def _finished(self, reply: _Reply) -> Finished:
        if self._cancel.is_set():
            return Finished("cancelled")
        if reply.finish is None:
            return Finished("error", f"the stream from {self.base_url} ended before the reply finished")
        if reply.finish == "stop" and reply.stop_string:
            return Finished("stop_string")
        if reply.finish in FINISH:
            return Finished(FINISH[reply.finish])
        return Finished("error", f"{self.base_url} ended the reply with {reply.finish!r}")

    def _estimated_usage(self, messages: list[Message], pieces: int) -> Usage:
        prompt = estimate_tokens(messages, self.plan)
        log.info("%s sent no usage; estimated %d prompt and %d reply tokens", self.base_url, prompt, pieces)
        return Usage(prompt, pieces)

    def cancel(self) -> None:
        """End the reply now: the flag, and the live socket shut down so a blocked read returns."""
        self._cancel.set()
        with self._live_lock:
            response = self._live
        if response is not None:
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):  # already closed by the other side: the read ends anyway
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.cancel()
        self._close_client()
        self.state = "closed"

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def client(settings: RemoteSettings, base_url: str, api_key: str | None) -> openai.OpenAI:
    """An `openai` client with the settings' timeouts and retries (its own backoff)."""
    timeout = openai.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    return openai.OpenAI(base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout, max_retries=settings.retries)


def list_models_with(api: openai.OpenAI, settings: RemoteSettings, base_url: str) -> list[str]:
    try:
        return sorted(m.id for m in api.models.list())
    except openai.APIError as err:
        raise EngineError(describe(err, settings, base_url, started=False)) from None


def list_models(settings: RemoteSettings, api_key: str | None, base_url: str | None = None) -> list[str]:
    """The models the server lists (`/v1/models`), for Settings' Test connection; EngineError
    naming the server and the problem otherwise."""
    url = (base_url or settings.base_url or "").rstrip("/")
    if not is_url(url):
        raise EngineError(f"{url!r} is not a server URL; it must start with http:// or https://")
    with client(settings, url, api_key) as api:
        return list_models_with(api, settings, url)


def pick_model(wanted: str | None, models: list[str], base_url: str) -> str:
    if wanted:
        if wanted in models:
            return wanted
        raise EngineError(f"{base_url} has no model {wanted!r}; it lists {', '.join(models) or 'none'}")
    if len(models) == 1:
        return models[0]
    if not models:
        raise EngineError(f"{base_url} lists no models")
    raise EngineError(f"{base_url} lists {len(models)} models ({', '.join(models)}); choose one (remote.model)")


def describe(err: openai.APIError, settings: RemoteSettings, base_url: str, *, started: bool) -> str:
    """What went wrong, for the user: the server, and which timeout or status."""
    cause = err.__cause__
    if isinstance(err, openai.APITimeoutError):
        if type(cause).__name__ in ("ConnectTimeout", "PoolTimeout"):
            return (
                f"{base_url} did not accept a connection within {settings.connect_timeout:g} s (remote.connect_timeout)"
            )
        return f"{base_url} sent nothing for {settings.read_timeout:g} s (remote.read_timeout)"
    if isinstance(err, openai.APIConnectionError):
        why = f": {cause}" if cause else ""
        where = "the connection broke mid-reply" if started else "cannot reach the server"
        return f"{base_url}: {where}{why}"
    if isinstance(err, openai.AuthenticationError):
        return f"{base_url} refused the API key (401); set the right one in Settings"
    if isinstance(err, openai.APIStatusError):
        return f"{base_url} answered {err.status_code}: {err.message}"
    return f"{base_url} reported an error mid-reply: {err.message}"
