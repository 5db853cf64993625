"""Rotary position embedding as `transformers` 5.24 computes it for MiniMax-M3 (MSA.md §7).

What transformers does, and so what we do:
- the parameters come from `rope_scaling` when it is set (it REPLACES `rope_parameters`), else
  from `rope_parameters`; `rope_theta` and `partial_rotary_factor` missing there are taken from
  the text config's top level; the type is `rope_type` (or the older `type`), default "default";
- `int(head_dim * partial_rotary_factor)` dims rotate (factor 1.0 when absent: every dim);
  the config's `rotary_dim` is never read (the caller logs when it disagrees);
- "default": `theta ** (-2i / dim)`; "linear": the same divided by `factor`; "yarn": a blend of
  the two by a linear ramp over the dims, and cos/sin multiplied by an attention factor.
Any other type ("dynamic", "longrope", "llama3", ...) is refused by `config.py`, which reads the
fields into a `Rope`; this module is the math.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SUPPORTED = ("default", "linear", "yarn")


@dataclass(frozen=True)
class Rope:
    """The rotary embedding of a config: `dims` rotated dims, base `theta`, optional scaling."""

    theta: float
    dims: int
    kind: str = "default"
    factor: float = 1.0  # linear and yarn
    original_max_position_embeddings: int = 0  # yarn
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    truncate: bool = True
    attention_factor: float = 1.0  # cos and sin are multiplied by it (yarn)


def inv_freq(rope: Rope) -> torch.Tensor:
    """fp32 `[dims / 2]` inverse frequencies, bit for bit as transformers computes them (CPU)."""
    dim = rope.dims
    base = rope.theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)  # [dim / 2]
    if rope.kind == "default":
        return 1.0 / base
    if rope.kind == "linear":
        return 1.0 / base / rope.factor
    low, high = _correction_range(rope)
    ramp = (torch.arange(dim // 2, dtype=torch.float32) - low) / ((high + 0.001 if low == high else high) - low)
    extrapolation = 1 - ramp.clamp(0, 1)  # 1: keep the original frequency, 0: interpolate by factor
    return (1.0 / (rope.factor * base)) * (1 - extrapolation) + (1.0 / base) * extrapolation


def _correction_range(rope: Rope) -> tuple[float, float]:
    """The dims between `beta_fast` and `beta_slow` rotations over the original context (YaRN)."""

    def dim_of(rotations: float) -> float:
        return (
            rope.dims
            * math.log(rope.original_max_position_embeddings / (rotations * 2 * math.pi))
            / (2 * math.log(rope.theta))
        )

    low, high = dim_of(rope.beta_fast), dim_of(rope.beta_slow)
    if rope.truncate:
        low, high = math.floor(low), math.ceil(high)
    return max(low, 0), min(high, rope.dims - 1)
