"""The Engine protocol: one interface for every backend (our MSA runtime, GGUF, remote).

An engine loads with progress, describes itself once loaded (`info`: its context and its
media plan), counts the tokens of a prompt, streams a reply as events (`core.events`), can be
cancelled from another thread between tokens, and is closed when done. Its `state` is
observable: idle -> loading -> ready, or failed (with `error`), or closed. No torch here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, Self

from core.events import Event, LoadProgress
from core.messages import Message

from .media import MediaPlan
from .options import GenerateOptions

STATES = ("idle", "loading", "ready", "failed", "closed")


class EngineError(RuntimeError):
    """The engine cannot do what was asked in its current state; the message says why."""


class ContextTooLongError(ValueError):
    """The prompt does not fit the engine's context; raised before any work, never cut silently."""


def require_ready(state: str, error: str | None) -> None:
    """Raise `EngineError` saying why an engine in `state` cannot serve a request yet."""
    if state != "ready":
        detail = f": {error}" if error else ""
        raise EngineError(f"the engine is {state}{detail}; it must be loaded first")


class EngineBase:
    """What every engine class repeats: the readiness check and closing at the end of a `with`."""

    state: str
    error: str | None

    def close(self) -> None:
        raise NotImplementedError

    def _require_ready(self) -> None:
        require_ready(self.state, self.error)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class EngineInfo:
    """What a loaded engine tells its callers (the planner, the window, the CLI)."""

    backend: str  # the registry name
    model: str  # what to call the model for the user
    context_tokens: int  # prompt plus reply must fit in this
    media: MediaPlan | None  # how images and videos cost tokens; None: the model reads none


class Engine(Protocol):
    state: str
    error: str | None

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None: ...

    def info(self) -> EngineInfo: ...

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int: ...

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator[Event]: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...
