"""Engine events turned into OpenAI chat-completion chunks (streaming) or one completion (not).

`ReplyBuilder` takes the events of one reply in order. Streaming, each `TextDelta` is a
`content` delta, each `ReasoningDelta` a `reasoning_content` delta (the field vLLM and DeepSeek
use), each `ToolCall` a `tool_calls` delta carrying its index, a fresh `call_` id, the function
name and its arguments as a JSON string; a `MalformedToolCall` is shown as the text the model
wrote, never as a call. The finish reason maps stop and stop_string to "stop", length to
"length", and a reply that made tool calls and then stopped to "tool_calls"; a cancelled or
failed reply is an error (`ApiError`), never a normal finish. `Usage` becomes OpenAI's usage
object, with cached prompt tokens under `prompt_tokens_details`. Pure: no I/O, no clock but the
creation time given.
"""

from __future__ import annotations

import json
import secrets
import time

from core.events import Event, Finished, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall, Usage

from .errors import ApiError


def finish_reason(finished: Finished, *, called_tools: bool) -> str:
    """The OpenAI finish reason for how the engine's reply ended; a cancel or failure raises."""
    if finished.reason in ("stop", "stop_string"):
        return "tool_calls" if called_tools and finished.reason == "stop" else "stop"
    if finished.reason == "length":
        return "length"
    if finished.reason == "cancelled":
        raise ApiError(500, "the generation was cancelled before it finished", "cancelled")
    raise ApiError(500, f"the generation failed: {finished.error or 'no reason given'}", "engine_error")


def usage_body(usage: Usage | None) -> dict:
    u = usage or Usage(0, 0)
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


class ReplyBuilder:
    """The OpenAI view of one reply, fed its events in order (module docstring)."""

    def __init__(self, model: str, *, created: int | None = None) -> None:
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.model = model
        self.created = int(time.time()) if created is None else created
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict] = []
        self.usage: Usage | None = None
        self.finished: Finished | None = None

    def add(self, event: Event) -> dict | None:
        """Record `event`; returns the delta it makes in a stream, or None (usage, the finish)."""
        if isinstance(event, TextDelta | MalformedToolCall):
            text = event.text if isinstance(event, TextDelta) else event.raw
            self.text.append(text)
            return {"content": text}
        if isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
            return {"reasoning_content": event.text}
        if isinstance(event, ToolCall):
            call = {
                "id": "call_" + secrets.token_hex(12),
                "type": "function",
                "function": {"name": event.name, "arguments": json.dumps(event.arguments, ensure_ascii=False)},
            }
            self.tool_calls.append(call)
            return {"tool_calls": [{"index": len(self.tool_calls) - 1, **call}]}
        if isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finished):
            self.finished = event
        return None

    def _chunk(self, choices: list[dict], **extra: object) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def chunk(self, delta: dict, finish: str | None = None) -> dict:
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def first_chunk(self) -> dict:
        return self.chunk({"role": "assistant", "content": ""})

    def final_chunk(self) -> dict:
        """The chunk carrying the finish reason; raises ApiError when the reply did not finish well."""
        return self.chunk({}, self._finish_reason())

    def usage_chunk(self) -> dict:
        return self._chunk([], usage=usage_body(self.usage))

    def completion(self) -> dict:
        """The non-streaming response; raises ApiError when the reply did not finish well."""
        message: dict[str, object] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish_reason()}
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": usage_body(self.usage),
        }

    def _finish_reason(self) -> str:
        finished = self.finished or Finished("error", "the engine ended the reply without saying why")
        return finish_reason(finished, called_tools=bool(self.tool_calls))
