"""Where one forward's new tokens go: positions, paging and cache slots, computed once per call.

Its own module because both the ordinary forward (`m3.py`) and the sync-free decode step
(`decode_graph.py`) build one and hand it to `M3TextModel.run`; keeping it here lets the model
import the decode step without the decode step importing the model back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .attention import AttentionBackend, Paging


@dataclass
class Step:
    """Where one forward's new tokens go, computed once for all layers."""

    positions: torch.Tensor  # int64 [n], absolute
    paging: Paging
    pages: torch.Tensor  # int64 [n]: the cache page of each new token
    slots: torch.Tensor  # int64 [n]: its slot in that page
    dense: torch.Tensor  # int32 [Hkv, n, k]: every visible block, the selection of dense layers
    attention: AttentionBackend  # the backend (select / attend)
    gathered_experts: bool = False  # MoE through layers.mix_gathered_experts: no host sync
