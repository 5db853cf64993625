"""Splitting a model's streamed text into events: answer text, reasoning, tool calls.

Pure and incremental, with no torch (the GGUF engine's child uses it too): `StreamParser.feed(text)`
takes whatever the tokenizer decoded since the last call and returns the events that are certain
so far; a possible tag cut across two chunks is held back until it is complete. A `ReplyFormat`
names a model family's tags. M3 (MSA.md §7): reasoning inside `<mm:think>…</mm:think>`; a tool
call is `]<]minimax[>[<tool_call>` … `]<]minimax[>[</tool_call>` holding `<invoke name="NAME">`
blocks of `<param>value</param>` pairs, every tag carrying the `]<]minimax[>[` prefix. Qwen and
Hermes-style models: `<think>…</think>` and `<tool_call>{"name": …, "arguments": {…}}</tool_call>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.events import MalformedToolCall, ReasoningDelta, TextDelta, ToolCall

PREFIX = "]<]minimax[>["
THINK_OPEN, THINK_CLOSE = "<mm:think>", "</mm:think>"
CALL_OPEN, CALL_CLOSE = PREFIX + "<tool_call>", PREFIX + "</tool_call>"
_P = "(?:" + re.escape(PREFIX) + ")?"  # inside a call, the prefix is tolerated missing on any tag
_INVOKE = re.compile(_P + r'<invoke name="([^"]+)">(.*?)' + _P + r"</invoke>", re.S)
_PARAM = re.compile(_P + r"<([A-Za-z_][\w.-]*)>(.*?)" + _P + r"</\1>", re.S)


def partial_prefix_len(text: str, markers) -> int:
    """Length of the longest suffix of `text` that could be the start of one of `markers`:
    text a streaming consumer must hold back until the next chunk decides."""
    return max((n for m in markers for n in range(1, len(m)) if text.endswith(m[:n])), default=0)


def parse_tool_calls(body: str) -> list[ToolCall] | None:
    calls = [ToolCall(name, {k: v.strip() for k, v in _PARAM.findall(inner)}) for name, inner in _INVOKE.findall(body)]
    return calls or None


def parse_json_tool_call(body: str) -> list[ToolCall] | None:
    """A Hermes/Qwen call body: one JSON object with a string `name` and an object `arguments`."""
    try:
        call = json.loads(body)
    except ValueError:
        return None
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    arguments = call.get("arguments", {})
    return [ToolCall(call["name"], arguments)] if isinstance(arguments, dict) else None


@dataclass(frozen=True)
class ReplyFormat:
    think_open: str
    think_close: str
    call_open: str
    call_close: str
    parse_call: Callable[[str], list[ToolCall] | None]


M3_FORMAT = ReplyFormat(THINK_OPEN, THINK_CLOSE, CALL_OPEN, CALL_CLOSE, parse_tool_calls)
HERMES_FORMAT = ReplyFormat("<think>", "</think>", "<tool_call>", "</tool_call>", parse_json_tool_call)


def reply_format(chat_template: str) -> ReplyFormat:
    """The format a chat template speaks: M3's when it uses the `]<]minimax[>[` tags."""
    return M3_FORMAT if PREFIX in chat_template else HERMES_FORMAT


class StreamParser:
    def __init__(self, *, reasoning: bool = False, fmt: ReplyFormat = M3_FORMAT) -> None:
        """`reasoning`: the prompt already opened the think tag, so the reply starts as reasoning."""
        self._buf = ""
        self._mode = "think" if reasoning else "text"  # text | think | call
        self.fmt = fmt
        self._closers = {"think": fmt.think_close, "call": fmt.call_close}

    def feed(self, text: str, *, final: bool = False) -> list:
        self._buf += text
        events = []
        while True:
            f = self.fmt
            openers = [f.think_open, f.call_open] if self._mode == "text" else [self._closers[self._mode]]
            hits = [(self._buf.find(t), t) for t in openers if t in self._buf]
            if not hits:
                keep = 0 if final else self._partial_tag_len(openers)
                events += self._emit(self._buf[: len(self._buf) - keep], final=final)
                self._buf = self._buf[len(self._buf) - keep :]
                return events
            at, tag = min(hits)
            events += self._emit(self._buf[:at], final=True)
            self._buf = self._buf[at + len(tag) :]
            self._mode = {f.think_open: "think", f.call_open: "call"}.get(tag, "text")

    def _partial_tag_len(self, tags: list[str]) -> int:
        """Length of the longest buffer suffix that could begin one of `tags`."""
        if self._mode == "call":
            return len(self._buf)  # a call is reported only once it is closed
        return partial_prefix_len(self._buf, tags)

    def _emit(self, text: str, *, final: bool) -> list:
        if not text:
            return []
        if self._mode == "think":
            return [ReasoningDelta(text)]
        if self._mode == "call":
            if not final:
                return []
            calls = self.fmt.parse_call(text.strip())
            return list(calls) if calls else [MalformedToolCall(text)]
        return [TextDelta(text)]
