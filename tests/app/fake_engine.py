"""A fake engine that implements the Engine protocol exactly, for UI tests without a model.

It goes idle -> loading -> ready (or failed), reports `steps` LoadProgress events, counts one
token per word, and streams a scripted reply (optional reasoning first) one word per token,
sleeping `token_delay` seconds per token so tests can cancel or measure latency mid-stream.
`cancel` is thread-safe (an Event checked between tokens), as the protocol asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from core.engine import EngineError, EngineInfo, GenerateOptions
from core.events import Finished, LoadProgress, ReasoningDelta, TextDelta, Usage
from core.messages import Message, TextPart


class FlatMedia:
    """The fake model's media plan: 256 tokens an image or a video, whatever its size."""

    min_video_frames = 4

    def image_tokens(self, height: int, width: int) -> int:
        return 256

    def video_tokens(self, frames: int, height: int, width: int) -> int:
        return 256


class FakeEngine:
    def __init__(self, *, reply: str = "Hello there, see page 2 and the clip at 0:03.", reasoning: str = "",
                 tokens: int | None = None, token_delay: float = 0.0, steps: int = 4, load_delay: float = 0.0,
                 fail_load: str | None = None, refuse_images: bool = False, context_tokens: int = 32768,
                 reads_media: bool = True):
        self.reply, self.reasoning, self.tokens = reply, reasoning, tokens
        self.token_delay, self.steps, self.load_delay = token_delay, steps, load_delay
        self.fail_load, self.refuse_images = fail_load, refuse_images
        self.state, self.error = "idle", None
        self._cancel = threading.Event()
        self.received: list[list[Message]] = []
        self.options: list[GenerateOptions] = []  # what each generate was asked with
        self.closed = False
        self.context_tokens, self.reads_media = context_tokens, reads_media

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None:
        if self.state != "idle":
            raise EngineError(f"the engine is {self.state}; load it once, from idle")
        self.state = "loading"
        for step in range(1, self.steps + 1):
            time.sleep(self.load_delay)
            if on_progress:
                on_progress(LoadProgress(step, self.steps, step * 100, self.steps * 100))
        if self.fail_load:
            self.state, self.error = "failed", self.fail_load
            raise EngineError(self.fail_load)
        self.state = "ready"

    def info(self) -> EngineInfo:
        self._require_ready()
        return EngineInfo("fake", "fake", self.context_tokens, FlatMedia() if self.reads_media else None)

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int:
        self._require_ready()
        return sum(len(p.text.split()) if isinstance(p, TextPart) else 256 for m in messages for p in m.parts)

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator:
        self._require_ready()
        self._cancel.clear()
        if self.refuse_images:
            for i, m in enumerate(messages):
                for p in m.parts:
                    if not isinstance(p, TextPart):
                        raise ValueError(f"message {i} ({m.role}) has a {type(p).__name__}, which this engine "
                                         "cannot read")
        self.received.append(list(messages))
        self.options.append(options)
        return self._stream(messages, options)

    def _words(self) -> list[str]:
        words = [w + " " for w in self.reply.split(" ")]
        if self.tokens is not None:
            words = [f"w{i} " for i in range(self.tokens)]
        return words

    def _stream(self, messages, options) -> Iterator:
        prompt = self.count_tokens(messages)
        made = 0
        pieces = [ReasoningDelta(w + " ") for w in self.reasoning.split()] + [TextDelta(w) for w in self._words()]
        for piece in pieces[:options.max_tokens + len(self.reasoning.split())]:
            if self._cancel.is_set():
                yield Usage(prompt, made)
                yield Finished("cancelled")
                return
            time.sleep(self.token_delay)
            made += 1
            yield piece
        yield Usage(prompt, made)
        yield Finished("stop")

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.state, self.closed = "closed", True

    def _require_ready(self) -> None:
        if self.state != "ready":
            raise EngineError(f"the engine is {self.state}; it must be loaded first")
