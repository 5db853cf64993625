"""Random paged MSA batches for the kernel tests, built the way the runtime will hold them.

Pages are shuffled across sequences, the block table's unused columns hold -1, and every
cache slot past a sequence's length (and every spare page) holds NaN, so a kernel that reads
outside the contract turns its output into NaN instead of passing by luck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    q: torch.Tensor  # [T, H, D]
    iq: torch.Tensor  # [T, Hkv, Di]
    k_cache: torch.Tensor  # [P, Hkv, B, D]
    v_cache: torch.Tensor
    index_k_cache: torch.Tensor  # [P, B, Di]
    block_table: torch.Tensor  # int32 [S, max_blocks + 1]
    cu_seqlens_q: torch.Tensor  # int32 [S + 1]
    seq_lens: torch.Tensor  # int32 [S]

    @property
    def paging(self) -> tuple:
        return self.block_table, self.cu_seqlens_q, self.seq_lens


def make_batch(
    seq_lens: list[int],
    q_lens: list[int] | None = None,
    *,
    heads: int = 16,
    kv_heads: int = 1,
    head_dim: int = 64,
    index_dim: int = 64,
    block: int = 128,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
    shuffle: bool = True,
) -> Batch:
    """`q_lens[s]` new tokens at the end of each sequence (default: the whole sequence)."""
    q_lens = list(seq_lens) if q_lens is None else q_lens
    blocks = [math.ceil(n / block) for n in seq_lens]
    n_pages = sum(blocks) + 2  # two spare pages nobody owns
    order = torch.randperm(n_pages) if shuffle else torch.arange(n_pages)
    table = torch.full((len(seq_lens), max(blocks, default=0) + 1), -1, dtype=torch.int32)
    used = torch.zeros(n_pages, block, dtype=torch.bool)
    taken = 0
    for s, (n, nb) in enumerate(zip(seq_lens, blocks)):
        pages = order[taken : taken + nb]
        taken += nb
        table[s, :nb] = pages.to(torch.int32)
        flat = torch.zeros(nb * block, dtype=torch.bool)
        flat[:n] = True
        used[pages] = flat.view(nb, block)

    def cache(*shape_after_block: int) -> torch.Tensor:
        c = torch.randn(n_pages, block, *shape_after_block)
        return c.masked_fill(~used.view(n_pages, block, *([1] * len(shape_after_block))), math.nan)

    total_q = sum(q_lens)
    cu = torch.tensor([0] + list(torch.tensor(q_lens).cumsum(0).tolist()), dtype=torch.int32)
    to = dict(device=device)
    return Batch(
        q=torch.randn(total_q, heads, head_dim).to(dtype).to(**to),
        iq=torch.randn(total_q, kv_heads, index_dim).to(dtype).to(**to),
        k_cache=cache(kv_heads, head_dim).transpose(1, 2).contiguous().to(dtype).to(**to),
        v_cache=cache(kv_heads, head_dim).transpose(1, 2).contiguous().to(dtype).to(**to),
        index_k_cache=cache(index_dim).to(dtype).to(**to),
        block_table=table.to(**to),
        cu_seqlens_q=cu.to(**to),
        seq_lens=torch.tensor(seq_lens, dtype=torch.int32, device=device),
    )
