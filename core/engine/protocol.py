"""The Engine protocol: one interface for every backend (our MSA runtime, GGUF, remote).

An engine loads with progress, counts the tokens of a prompt, streams a reply as events
(`core.events`), can be cancelled from another thread between tokens, and is closed when done.
Its `state` is observable: idle -> loading -> ready, or failed (with `error`), or closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from core.events import LoadProgress
from core.messages import Message
from core.model.sampling import SamplingParams

STATES = ("idle", "loading", "ready", "failed", "closed")


class EngineError(RuntimeError):
    """The engine cannot do what was asked in its current state; the message says why."""


@dataclass(frozen=True)
class GenerateOptions:
    sampling: SamplingParams | None = None  # None: the model folder's generation defaults
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    tools: tuple[dict, ...] = ()  # JSON-schema tool definitions, passed to the chat template
    template_options: dict = field(default_factory=dict)  # e.g. {"enable_thinking": True}

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}; it must be at least 1")


class Engine(Protocol):
    state: str
    error: str | None

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None: ...

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int: ...

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...
