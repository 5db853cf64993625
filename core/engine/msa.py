"""Our own MiniMax-M3 runtime behind the Engine protocol.

`load` reads config, tokenizer, chat template and generation defaults, then the weights layer
by layer onto the device with progress, and sizes one paged cache for `context_tokens`. One
conversation's tokens stay in that cache: `generate` renders the whole conversation with the
checkpoint's own template, keeps the longest cached prefix it shares with the new prompt and
prefills only the rest (the next turn of a chat costs its new tokens only). A prompt that does
not fit is refused before any work. `cancel` may be called from any thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from core.events import Finished, LoadProgress
from core.messages import Message, template_messages
from core.model.cache import PagedCache, Sequence
from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.model.generate import ContextTooLongError, generate
from core.model.m3 import M3TextModel
from core.model.prompt import load_template, load_tokenizer
from core.model.sampling import generation_defaults
from core.model.stream import THINK_OPEN

from .protocol import EngineError, GenerateOptions

log = logging.getLogger(__name__)
END_OF_TURN = "[e~["  # the M3 end-of-message marker, an end token when the folder names none
DEFAULT_CONTEXT = 32768


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class MsaEngine:
    def __init__(self, folder: str | Path, *, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, context_tokens: int | None = None, attention: str | None = None,
                 prefill_chunk: int = 8192):
        self.folder = Path(folder)
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.context_tokens, self.attention, self.prefill_chunk = context_tokens, attention, prefill_chunk
        self.state, self.error = "idle", None
        self._cancel = threading.Event()
        self.model = self.cache = self.seq = None

    def load(self, on_progress: Callable[[LoadProgress], None] | None = None) -> None:
        if self.state != "idle":
            raise EngineError(f"the engine is {self.state}; load it once, from idle")
        self.state = "loading"
        try:
            cfg = load_config(self.folder)
            ckpt = Checkpoint(self.folder, cfg)
            self.tokenizer, self.template = load_tokenizer(self.folder), load_template(self.folder)
            self.sampling, eos = generation_defaults(self.folder)
            end = self.tokenizer.token_to_id(END_OF_TURN)
            self.eos_ids = eos or ((end,) if end is not None else ())
            self.model = M3TextModel(cfg, ckpt, dtype=self.dtype, device=self.device, attention=self.attention,
                                     on_progress=on_progress)
            self.context = min(self.context_tokens or DEFAULT_CONTEXT, cfg.max_position_embeddings)
            self.cache = PagedCache(cfg, num_pages=-(-self.context // cfg.index_block_size), dtype=self.dtype,
                                    device=self.device)
            self.seq = Sequence()
        except Exception as err:
            self.state, self.error = "failed", str(err)
            self.model = self.cache = None
            raise
        self.state = "ready"
        log.info("loaded %s on %s (%s), context %d tokens", self.folder, self.device, self.dtype, self.context)

    def _prompt(self, messages: list[Message], options: GenerateOptions) -> tuple[list[int], str]:
        text = self.template.render(template_messages(messages), tools=list(options.tools) or None,
                                    **options.template_options)
        return self.tokenizer.encode(text, add_special_tokens=False).ids, text

    def count_tokens(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> int:
        self._require_ready()
        return len(self._prompt(messages, options)[0])

    def generate(self, messages: list[Message], options: GenerateOptions = GenerateOptions()) -> Iterator:
        """Events of the reply; `ContextTooLongError` (before any work) when the prompt does not fit."""
        self._require_ready()
        self._cancel.clear()
        ids, text = self._prompt(messages, options)
        if len(ids) >= self.context:
            raise ContextTooLongError(f"the conversation needs {len(ids)} tokens of the {self.context}-token "
                                      "context and leaves none for the reply; shorten it or raise the context")
        self._reuse_prefix(ids)
        return self._stream(ids, text, options)

    def _reuse_prefix(self, ids: list[int]) -> None:
        """Keep the cached tokens the new prompt starts with (at least one prompt token stays new)."""
        same = 0
        for a, b in zip(self.seq.ids, ids[:-1]):
            if a != b:
                break
            same += 1
        self.cache.truncate(self.seq, same)

    def _stream(self, ids: list[int], text: str, options: GenerateOptions) -> Iterator:
        decode = lambda tokens: self.tokenizer.decode(tokens, skip_special_tokens=False)  # noqa: E731
        new = torch.tensor(ids[self.seq.length:], device=self.device)
        try:
            yield from generate(self.model, self.cache, self.seq, new, decode,
                                params=options.sampling or self.sampling, max_tokens=options.max_tokens,
                                stop=options.stop, eos_ids=self.eos_ids, cancel=self._cancel,
                                context_length=self.context, prefill_chunk=self.prefill_chunk,
                                reasoning=text.rstrip().endswith(THINK_OPEN))
        except (RuntimeError, ValueError) as err:  # e.g. device out of memory: the cache may be partial
            log.exception("generation failed")
            self.cache.truncate(self.seq, 0)
            yield Finished("error", f"{type(err).__name__}: {err}")

    def cancel(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        self.model = self.cache = self.seq = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self.state = "closed"

    def _require_ready(self) -> None:
        if self.state != "ready":
            detail = f": {self.error}" if self.error else ""
            raise EngineError(f"the engine is {self.state}{detail}; it must be loaded first")

    def __enter__(self) -> MsaEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
