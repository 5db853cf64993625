"""Choosing the next token from logits: greedy, temperature, top-k, top-p, seeded.

A free function over one row of logits; the engine keeps a `torch.Generator` per request so a
seed reproduces a reply exactly. The parameters' type lives in `core.engine.options` (torch-free,
shared by every backend); the model layer only reads its fields, so it never imports the engine.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Sampling(Protocol):
    """What `sample` reads (core.engine.options.SamplingParams, resolved: every field set)."""

    @property
    def temperature(self) -> float | None: ...
    @property
    def top_k(self) -> int | None: ...
    @property
    def top_p(self) -> float | None: ...
    @property
    def seed(self) -> int | None: ...


def sample(logits: torch.Tensor, params: Sampling | None, generator: torch.Generator | None = None) -> int:
    """One token id from `logits` `[vocab]` (on any device; sampled on the CPU, where the
    generator lives, so a seed gives the same reply on every device)."""
    if params is None or not params.temperature:  # 0 or unset: greedy
        return int(logits.argmax())
    scores = logits.float().cpu() / params.temperature
    if params.top_k:
        kth = torch.topk(scores, min(params.top_k, scores.numel())).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p is not None and params.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        beyond = probs.cumsum(-1) - probs >= params.top_p  # tokens after the nucleus is full
        scores = scores.scatter(0, order[beyond], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))
