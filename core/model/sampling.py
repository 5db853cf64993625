"""Choosing the next token from logits: greedy, temperature, top-k, top-p, seeded.

A free function over one row of logits; the engine keeps a `torch.Generator` per request so a
seed reproduces a reply exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0  # 0 = greedy
    top_k: int = 0  # 0 = no limit
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}; use 0 for greedy or a positive value")
        if self.top_k < 0:
            raise ValueError(f"top_k={self.top_k}; use 0 for no limit or a positive count")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p={self.top_p}; it must be in (0, 1]")


def sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None = None) -> int:
    """One token id from `logits` `[vocab]` (on any device; sampled on the CPU, where the
    generator lives, so a seed gives the same reply on every device)."""
    if params.temperature == 0.0:
        return int(logits.argmax())
    scores = logits.float().cpu() / params.temperature
    if params.top_k:
        kth = torch.topk(scores, min(params.top_k, scores.numel())).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=True)
        probs = torch.softmax(sorted_scores, dim=-1)
        beyond = probs.cumsum(-1) - probs >= params.top_p  # tokens after the nucleus is full
        scores = scores.scatter(0, order[beyond], float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def generation_defaults(folder: str | Path) -> tuple[SamplingParams, tuple[int, ...]]:
    """The checkpoint's `generation_config.json`: default sampling and end-token ids (both optional)."""
    path = Path(folder) / "generation_config.json"
    if not path.is_file():
        return SamplingParams(), ()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        eos = data.get("eos_token_id")
        eos_ids = tuple(int(i) for i in (eos if isinstance(eos, list) else [] if eos is None else [eos]))
        sampled = data.get("do_sample", True)
        params = SamplingParams(temperature=float(data.get("temperature", 1.0)) if sampled else 0.0,
                                top_k=int(data.get("top_k") or 0), top_p=float(data.get("top_p") or 1.0))
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} cannot be used: {err}") from err
    return params, eos_ids
