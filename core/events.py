"""The events every engine streams (SPEC: the spine), plain frozen dataclasses with no torch.

A reply is a sequence of `TextDelta`, `ReasoningDelta` (inside `<mm:think>`), `ToolCall` or
`MalformedToolCall` (shown, never executed), then `Usage` and exactly one `Finished`, whose
reason says why it ended; a failure after the stream began is `Finished("error", message)`.
Model loading reports `LoadProgress`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FINISH_REASONS = ("stop", "stop_string", "length", "cancelled", "error")


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MalformedToolCall:
    raw: str  # shown to the user as it came; never executed


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int  # tokens of the whole prompt
    completion_tokens: int
    cached_tokens: int = 0  # prompt tokens reused from the cache of an earlier turn


@dataclass(frozen=True)
class Finished:
    reason: str  # one of FINISH_REASONS: end token, stop string, max tokens, cancel, failure
    error: str | None = None


@dataclass(frozen=True)
class LoadProgress:
    step: int  # parts loaded so far (embeddings, each layer, the head)
    total: int
    bytes_done: int
    bytes_total: int


Event = TextDelta | ReasoningDelta | ToolCall | MalformedToolCall | Usage | Finished  # what `generate` yields
