"""Where one forward's new tokens go: positions, paging and cache slots, computed once per call.

Its own module because both the ordinary forward (`m3.py`) and the sync-free decode step
(`decode_graph.py`) build one and hand it to `M3TextModel.run`; keeping it here lets the model
import the decode step without the decode step importing the model back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .attention import AttentionBackend, Paging, dense_selection


@dataclass
class Step:
    """Where one forward's new tokens go, computed once for all layers."""

    positions: torch.Tensor  # int64 [n], absolute
    paging: Paging
    pages: torch.Tensor  # int64 [n]: the cache page of each new token
    slots: torch.Tensor  # int64 [n]: its slot in that page
    attention: AttentionBackend  # the backend (select / attend / full)
    n_kv: int  # KV heads
    block: int  # tokens per page (= MSA block)
    dense_width: int | None = None  # the dense selection's width; None: found from the positions (a host sync)
    gathered_experts: bool = False  # MoE through layers.mix_gathered_experts: no host sync
    start: int | None = None  # the first new token's position, when known on the host (not in a graph)
    _dense: torch.Tensor | None = field(default=None, repr=False)

    @property
    def dense(self) -> torch.Tensor:
        """int32 `[Hkv, n, k]`: every visible block, the selection of a full-attention layer run as
        MSA. Built on first use: a prefill chunk whose full layers run on SDPA never needs it (at
        128K tokens it would take 2 GB)."""
        if self._dense is None:
            self._dense = dense_selection(self.positions, self.n_kv, self.block, self.dense_width)
        return self._dense
