"""Generation as a stream of events (STYLE: the engine is a generator).

`generate` prefills the prompt's new tokens on the sequence's cache, then samples one token at a
time, yielding text, reasoning and tool-call events as the text decodes, then `Usage` and
`Finished`. A prompt that does not fit the context is refused before any work; a threading
`Event` set from another thread cancels between tokens; stop strings end the reply without
showing them, even when one arrives across several tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from collections.abc import Sequence as Seq

import torch

from core.events import Finished, Usage

from .cache import PagedCache, Sequence
from .sampling import Sampling, sample
from .stream import StreamParser, partial_prefix_len


class ContextTooLongError(ValueError):
    """The prompt leaves no room to generate; nothing was computed."""


def prefill(
    model,
    cache: PagedCache,
    seq: Sequence,
    ids: torch.Tensor,
    *,
    chunk: int,
    cancel: threading.Event | None = None,
    embeds: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Run `ids` through the model `chunk` tokens at a time; the last token's logits, or None if
    cancelled between chunks. `embeds`: vision embeddings of the placeholders among `ids`."""
    logits, used = None, 0
    for start in range(0, len(ids), chunk):
        if cancel is not None and cancel.is_set():
            return None
        part, rows = ids[start : start + chunk], None
        if embeds is not None:
            n = int(model.media_mask(part).sum())
            rows, used = embeds[used : used + n], used + n
        logits = model.forward(part, cache, seq, last_only=True, embeds=rows)[-1]
    return logits


def generate(
    model,
    cache: PagedCache,
    seq: Sequence,
    prompt_ids: torch.Tensor,
    decode: Callable[[list[int]], str],
    *,
    params: Sampling | None = None,
    max_tokens: int = 256,
    stop: Seq[str] = (),
    eos_ids: Seq[int] = (),
    cancel: threading.Event | None = None,
    context_length: int | None = None,
    prefill_chunk: int = 8192,
    reasoning: bool = False,
    embeds: torch.Tensor | None = None,
) -> Iterator:
    """Events of one reply to `prompt_ids`, the new tokens after what `seq` already holds.

    `reasoning`: the prompt opened `<mm:think>`, so the reply starts as reasoning.
    """
    limit = context_length or model.cfg.max_position_embeddings
    if seq.length + len(prompt_ids) >= limit:
        raise ContextTooLongError(
            f"the conversation needs {seq.length + len(prompt_ids)} tokens of the "
            f"{limit}-token context and leaves none for the reply; shorten it"
        )
    if len(prompt_ids) == 0:
        raise ValueError("the prompt adds no token to the cached conversation; there is nothing to answer")
    seed = params.seed if params is not None else None
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    cached = seq.length
    logits = prefill(model, cache, seq, prompt_ids, chunk=prefill_chunk, cancel=cancel, embeds=embeds)
    parser, tokens, shown, reason = StreamParser(reasoning=reasoning), [], 0, "length"
    for _ in range(max_tokens if logits is not None else 0):
        if cancel is not None and cancel.is_set():
            reason = "cancelled"
            break
        assert logits is not None  # the loop runs only when the prefill returned logits
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
        logits = model.decode(token, cache, seq)
        if seq.length >= limit:
            break
    if reason != "stop_string":
        yield from parser.feed(decode(tokens)[shown:])  # text held back for a stop string that never came
    yield from parser.feed("", final=True)
    if logits is None:
        reason = "cancelled"
    yield Usage(cached + len(prompt_ids), len(tokens), cached)
    yield Finished(reason)
