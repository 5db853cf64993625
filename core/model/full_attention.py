"""Full-attention layers on the GPU: dense causal attention over the paged cache through SDPA.

A full-attention layer is MSA with every visible block selected, and the sparse kernel computes
it exactly, but at 128K tokens each query pairs with up to 1,024 blocks through a gather-per-block
kernel (~100 useful TFLOP/s on an H200) where a dense flash-class kernel does the same work at
330-560 (`benchmarks/dense_attention.py`, docs/benchmarks.md). So a prefill chunk copies its
sequence's pages into contiguous K and V (0.5 ms at 128K) and calls PyTorch's SDPA with GQA:
- no cached prefix (a prompt in one chunk): square causal, where cuDNN's kernel is the fastest;
- after a prefix (the next chunk, the next turn), where PyTorch's cuDNN path has no bottom-right
  causal mask: two cuDNN calls merged by their log-sum-exp, the prefix without a mask (so each
  KV head's 16 query heads fold into one long query sequence, GQA without copying K and V) and
  the chunk square-causal (its few keys repeated per query head); cuDNN's log-sum-exp comes only
  from its ATen op, used when PyTorch says cuDNN can run the call. Otherwise `causal_lower_right`
  on PyTorch's public SDPA (its flash kernel on a GPU, the math one on a CPU).
All accumulate in fp32 with an exact softmax, as MSA.md §5 asks. Decode steps keep the split
decode kernels (a few queries: SDPA would launch for nothing), so CUDA-graph capture is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.backends.cuda import SDPAParams, can_use_cudnn_attention
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
    if start > 0 and cudnn_can_split(q):
        return _prefix_then_chunk(q, k, v, start)
    q4 = q.transpose(0, 1)[None]  # [1, H, n, D]
    with sdpa_kernel(BACKENDS, set_priority=True):
        if start == 0:
            out = F.scaled_dot_product_attention(q4, k, v, is_causal=True, enable_gqa=True)
        else:
            mask = causal_lower_right(n, total)
            out = F.scaled_dot_product_attention(q4, k, v, attn_mask=mask, enable_gqa=True)
    return out[0].transpose(0, 1)  # [n, H, D]


def cudnn_can_split(q: torch.Tensor, *, debug: bool = False) -> bool:
    """Whether PyTorch's cuDNN attention takes the split's calls for queries `q` (their dtype,
    head dim, layout); `debug` makes PyTorch say why not."""
    if not q.is_cuda or not hasattr(torch.ops.aten, "_scaled_dot_product_cudnn_attention"):
        return False
    q4 = q.transpose(0, 1)[None]  # [1, H, n, D]: the chunk's call, whose keys have its shape
    return bool(can_use_cudnn_attention(SDPAParams(q4, q4, q4, None, 0.0, True, False), debug))


def _cudnn(q4: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool):
    """cuDNN attention `[1, h, m, D]` and its log-sum-exp `[1, h, m]` (fp32, natural log)."""
    out, lse = torch.ops.aten._scaled_dot_product_cudnn_attention(q4, k, v, None, True, 0.0, causal, False)[:2]
    return out, lse.reshape(lse.shape[:3]).float()  # some versions keep a trailing 1


def _prefix_then_chunk(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int) -> torch.Tensor:
    """Attention of the chunk `q [n, H, D]` to the prefix `k[:, :, :start]` (no mask) and to its own
    keys (square causal), merged exactly by log-sum-exp. `k`, `v`: `[1, Hkv, start + n, D]`."""
    n, h, d = q.shape
    hkv = k.shape[1]
    g = h // hkv
    qf = q.view(n, hkv, g, d).permute(1, 2, 0, 3).reshape(1, hkv, g * n, d)  # [1, Hkv, G*n, D]
    o1, l1 = _cudnn(qf, k[:, :, :start], v[:, :, :start], causal=False)
    o1 = o1[0].view(hkv, g, n, d).permute(2, 0, 1, 3).reshape(n, h, d)  # [n, H, D]
    l1 = l1[0].view(hkv, g, n).permute(2, 0, 1).reshape(n, h)  # [n, H]
    own_k, own_v = (t[:, :, start:].repeat_interleave(g, 1) for t in (k, v))  # [1, H, n, D]
    o2, l2 = _cudnn(q.transpose(0, 1)[None], own_k, own_v, causal=True)
    o2, l2 = o2[0].transpose(0, 1), l2[0].transpose(0, 1)  # [n, H, D], [n, H]
    lse = torch.logaddexp(l1, l2)
    out = o1.float() * (l1 - lse).exp()[..., None] + o2.float() * (l2 - lse).exp()[..., None]
    return out.to(q.dtype)
