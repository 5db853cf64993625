"""Full-attention layers on the GPU: dense causal attention over the paged cache through SDPA.

A full-attention layer is MSA with every visible block selected, and the sparse kernel computes
it exactly, but at 128K tokens each query pairs with up to 1,024 blocks through a gather-per-block
kernel (~100 useful TFLOP/s on an H200) where a dense flash-class kernel does the same work at
330-560 (`benchmarks/dense_attention.py`, docs/benchmarks.md). So a prefill chunk copies its
sequence's pages into contiguous K and V (0.5 ms at 128K) and calls PyTorch's SDPA with GQA:
- no cached prefix (a prompt in one chunk): square causal, where cuDNN's kernel is the fastest;
- after a prefix (the next chunk, the next turn): `causal_lower_right`, the mask anchored at the
  last key, which PyTorch runs on its flash kernel (cuDNN has no bottom-right causal there).
Both accumulate in fp32 with an exact softmax, as MSA.md §5 asks. Decode steps keep the split
decode kernels (a few queries: SDPA would launch for nothing), so CUDA-graph capture is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right

# In this order of preference; PyTorch skips any that cannot run the call (dtype, mask, device).
BACKENDS = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def gather_pages(cache: torch.Tensor, block_table: torch.Tensor, total: int) -> torch.Tensor:
    """The first `total` tokens of a sequence: pages `[P, Hkv, B, D]` -> `[1, Hkv, total, D]`."""
    block = cache.shape[2]
    pages = block_table[0, : -(-total // block)].long()
    kv = cache[pages].transpose(0, 1)  # [Hkv, pages, B, D]
    return kv.reshape(1, cache.shape[1], -1, cache.shape[3])[:, :, :total]


def paged_causal_attention(
    q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_table: torch.Tensor, start: int
) -> torch.Tensor:
    """Causal attention of new queries `q [n, H, D]` at positions `start … start+n-1` to every key
    of the sequence (`start + n` tokens, already written to the pages of `block_table [1, >=P]`).

    Returns `[n, H, D]` in q's dtype."""
    n = q.shape[0]
    total = start + n
    k, v = gather_pages(k_cache, block_table, total), gather_pages(v_cache, block_table, total)
    q4 = q.transpose(0, 1)[None]  # [1, H, n, D]
    with sdpa_kernel(BACKENDS, set_priority=True):
        if start == 0:
            out = F.scaled_dot_product_attention(q4, k, v, is_causal=True, enable_gqa=True)
        else:
            mask = causal_lower_right(n, total)
            out = F.scaled_dot_product_attention(q4, k, v, attn_mask=mask, enable_gqa=True)
    return out[0].transpose(0, 1)  # [n, H, D]
