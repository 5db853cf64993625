"""Generation as a stream of events (STYLE: the engine is a generator).

`generate` prefills the prompt's new tokens on the sequence's cache, then samples one token at a
time, yielding text, reasoning and tool-call events as the text decodes, then `Usage` and
`Finished`. A prompt that does not fit the context is refused before any work; a threading
`Event` set from another thread cancels between tokens; stop strings end the reply without
showing them, even when one arrives across several tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence as Seq
from dataclasses import dataclass

import torch

from .cache import PagedCache, Sequence
from .sampling import SamplingParams, sample
from .stream import StreamParser, partial_prefix_len


class ContextTooLongError(ValueError):
    """The prompt leaves no room to generate; nothing was computed."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Finished:
    reason: str  # "stop" (end token), "stop_string", "length", "cancelled"


def generate(
    model, cache: PagedCache, seq: Sequence, prompt_ids: torch.Tensor, decode: Callable[[list[int]], str], *,
    params: SamplingParams = SamplingParams(), max_tokens: int = 256, stop: Seq[str] = (),
    eos_ids: Seq[int] = (), cancel: threading.Event | None = None, context_length: int | None = None,
) -> Iterator:
    limit = context_length or model.cfg.max_position_embeddings
    if seq.length + len(prompt_ids) >= limit:
        raise ContextTooLongError(f"the conversation needs {seq.length + len(prompt_ids)} tokens of the "
                                  f"{limit}-token context and leaves none for the reply; shorten it")
    generator = torch.Generator().manual_seed(params.seed) if params.seed is not None else None
    logits = model.forward(prompt_ids, cache, seq)[-1]
    parser, tokens, shown, reason = StreamParser(), [], 0, "length"
    for _ in range(max_tokens):
        if cancel is not None and cancel.is_set():
            reason = "cancelled"
            break
        token = sample(logits, params, generator)
        if token in eos_ids:
            reason = "stop"
            break
        tokens.append(token)
        text = decode(tokens)
        cut = min((text.find(s) for s in stop if s in text), default=-1)
        if cut >= 0:
            yield from parser.feed(text[shown:cut])
            reason = "stop_string"
            break
        ready = len(text) - partial_prefix_len(text, stop)
        yield from parser.feed(text[shown:ready])
        shown = ready
        # the cache keeps every reply token, so the next turn prefills only what follows
        logits = model.forward(torch.tensor([token], device=prompt_ids.device), cache, seq)[-1]
        if seq.length >= limit:
            break
    if reason != "stop_string":
        yield from parser.feed(decode(tokens)[shown:])  # text held back for a stop string that never came
    yield from parser.feed("", final=True)
    yield Usage(len(prompt_ids), len(tokens))
    yield Finished(reason)
