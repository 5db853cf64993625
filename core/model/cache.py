"""The paged cache of one model: K and V of every layer, index keys of every sparse layer.

Pages hold exactly one MSA block of tokens (MSA.md §6), so a selected block is one page. A
`Sequence` owns a list of pages (its block table) and its length; a conversation's next turn
appends to the same sequence, so only the new tokens are prefilled; `truncate` drops a tail
that the next prompt does not share (an edited message, a stop string held back). The cache allocates exactly
the layout: `bytes_per_token` equals `M3Config.cache_bytes_per_token` for its dtypes. The index keys may be
kept in fp8 e4m3 (`index_dtype`), half of bf16's bytes: decode selection reads all of them every token, and
the selection is then exactly the reference's on the stored fp8 values (kernels/msa/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .config import SPARSE, M3Config


class CacheFullError(RuntimeError):
    """No free page is left for the tokens asked for."""


@dataclass
class Sequence:
    pages: list[int] = field(default_factory=list)
    length: int = 0
    ids: list[int] = field(default_factory=list)  # the token ids held, for prefix reuse across turns


class PagedCache:
    def __init__(
        self,
        cfg: M3Config,
        *,
        num_pages: int,
        dtype: torch.dtype = torch.bfloat16,
        device="cpu",
        index_dtype: torch.dtype | None = None,
    ):
        """`index_dtype`: the index keys' dtype, `dtype` by default; torch.float8_e4m3fn stores them
        clamped to ±448 (`kernels.msa.index_keys_for_cache`); other fp8 kinds raise ValueError."""
        from kernels.msa import check_index_cache_dtype

        index_dtype = index_dtype or dtype
        check_index_cache_dtype("index_dtype", index_dtype)
        self.cfg, self.block = cfg, cfg.index_block_size
        shape = (num_pages, cfg.num_kv_heads, self.block, cfg.head_dim)  # [P, Hkv, B, D]
        self.k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.num_layers)]
        self.v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(cfg.num_layers)]
        self.index_k = {
            i: torch.zeros(num_pages, self.block, cfg.index_head_dim, dtype=index_dtype, device=device)
            for i, t in enumerate(cfg.layer_types)
            if t == SPARSE
        }  # [P, B, Di]
        self.free = list(range(num_pages - 1, -1, -1))

    @property
    def bytes_per_token(self) -> int:
        tensors = [*self.k, *self.v, *self.index_k.values()]
        return sum(t.numel() * t.element_size() for t in tensors) // (self.k[0].shape[0] * self.block)

    def reserve(self, seq: Sequence, n_new: int) -> None:
        """Give `seq` pages for `n_new` more tokens (its length grows when they are written)."""
        needed = -(-(seq.length + n_new) // self.block) - len(seq.pages)
        if needed > len(self.free):
            raise CacheFullError(
                f"{n_new} more tokens need {needed} pages of {self.block} tokens; {len(self.free)} are free"
            )
        seq.pages.extend(self.free.pop() for _ in range(needed))

    def release(self, seq: Sequence) -> None:
        self.truncate(seq, 0)

    def truncate(self, seq: Sequence, length: int) -> None:
        """Keep only the first `length` tokens of `seq` (its cached K, V and index keys stay valid)."""
        if not 0 <= length <= seq.length:
            raise ValueError(f"cannot truncate a {seq.length}-token sequence to {length} tokens")
        keep = -(-length // self.block)
        self.free.extend(reversed(seq.pages[keep:]))
        del seq.pages[keep:], seq.ids[length:]
        seq.length = length

    def slots(self, seq: Sequence, n_new: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(page, slot in page) of the next `n_new` tokens of `seq`, int64 `[n_new]` each."""
        pos = torch.arange(seq.length, seq.length + n_new, device=device)
        return torch.tensor(seq.pages, device=device)[pos // self.block], pos % self.block

    def write(
        self,
        layer: int,
        pages: torch.Tensor,
        slots: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        index_k: torch.Tensor | None,
    ) -> None:
        """Store new tokens' `k`, `v` `[n, Hkv, D]` (and `index_k` `[n, Di]`) at device `pages`/`slots`
        `[n]` (no host sync, so a captured decode step can write too). On CUDA one Triton launch
        writes all three (`kernels.msa.launch_cache_write`); elsewhere tensor indexing does."""
        index_cache = self.index_k.get(layer) if index_k is not None else None
        same = k.dtype == v.dtype == self.k[layer].dtype
        if index_k is not None and index_cache is not None:
            same &= index_cache.dtype in (index_k.dtype, torch.float8_e4m3fn)
        if k.is_cuda and same:
            from kernels.msa import launch_cache_write

            launch_cache_write(k, v, index_k, pages, slots, self.k[layer], self.v[layer], index_cache)
            return
        self.k[layer][pages, :, slots] = k.to(self.k[layer].dtype)
        self.v[layer][pages, :, slots] = v.to(self.v[layer].dtype)
        if index_k is not None:
            from kernels.msa import index_keys_for_cache

            self.index_k[layer][pages, slots] = index_keys_for_cache(index_k, self.index_k[layer].dtype)

    def block_table(self, seq: Sequence, device) -> torch.Tensor:
        return torch.tensor([seq.pages], dtype=torch.int32, device=device)
