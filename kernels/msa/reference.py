"""Plain fp32 PyTorch reference of the MSA contract (MSA.md §3-§6).

Every Triton kernel in this package is tested against these functions. They favour being
obviously right over being fast: block scores come from a full token-level score matrix,
top-k from a stable sort, and sparse attention from a dense mask built out of the selection.
Inputs use the same paged layout as the kernels (see `layout.py`); outputs are fp32.
"""

from __future__ import annotations

import math

import torch

from .layout import token_positions


def gather_pages(cache: torch.Tensor, block_table_row: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """The first `n_tokens` tokens of one sequence from a paged cache, in token order.

    `cache` is `[P, B, ...]` (index-K cache) and the result `[n_tokens, ...]`.
    """
    block = cache.shape[1]
    n_blocks = -(-n_tokens // block)
    pages = block_table_row[:n_blocks].long()
    return cache[pages].flatten(0, 1)[:n_tokens]


def block_scores(
    iq: torch.Tensor,
    index_k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
) -> torch.Tensor:
    """`Bscore[h, t, b] = max_{j in block b, j <= pos(t)} iq[t, h] . ik[j] / sqrt(Di)`.

    Returns fp32 `[Hi, T, NB]` with NB = the most blocks any sequence has; blocks that hold no
    visible key for the query are -inf. A NaN token score counts as -inf (as in the kernels).
    An fp8 (e4m3) cache is upcast to fp32, which is exact: the contract on an fp8 cache is this
    function on the stored fp8 values.
    """
    total_q, n_heads, dim = iq.shape
    block = index_k_cache.shape[1]
    n_blocks = int(-(-int(seq_lens.max()) // block))
    out = torch.full((n_heads, total_q, n_blocks), -math.inf, dtype=torch.float32, device=iq.device)
    for s in range(seq_lens.numel()):
        q0, q1, seq_len = int(cu_seqlens_q[s]), int(cu_seqlens_q[s + 1]), int(seq_lens[s])
        if q1 == q0:
            continue
        keys = gather_pages(index_k_cache, block_table[s], seq_len).float()  # [N, Di]
        pos = torch.arange(seq_len - (q1 - q0), seq_len, device=iq.device)  # [q]
        scores = torch.einsum("qhd,nd->hqn", iq[q0:q1].float(), keys) / math.sqrt(dim)
        causal = torch.arange(seq_len, device=iq.device)[None, :] <= pos[:, None]  # [q, N]
        scores = scores.masked_fill(~causal | scores.isnan(), -math.inf)
        pad = (-seq_len) % block
        scores = torch.nn.functional.pad(scores, (0, pad), value=-math.inf)
        pooled = scores.unflatten(-1, (-1, block)).amax(-1)  # [Hi, q, nb]
        out[:, q0:q1, : pooled.shape[-1]] = pooled
    return out


def topk_blocks(
    scores: torch.Tensor,
    positions: torch.Tensor,
    *,
    topk: int,
    block_size: int,
    init_blocks: int = 0,
    local_blocks: int = 1,
) -> torch.Tensor:
    """The official selection rule (MSA.md §4) applied to `scores` `[Hi, T, NB]`.

    `positions` `[T]` are absolute query positions. Rows with `L + 1 <= topk` visible blocks
    select `0 .. L`. Other rows: blocks `0 .. init-1`, then the best `topk - init - local` of
    the remaining blocks ranked by score (descending, ties to the lower id), then the local
    blocks `L-local+1 .. L` (so `L` is always last). Padding is -1. Returns int32 `[Hi, T, topk]`.
    A NaN score ranks as -inf: after every finite score, ties to the lower id (as in the kernels).
    """
    n_heads, total_q, n_blocks = scores.shape
    device = scores.device
    last = (positions.long() // block_size)[None, :, None]  # [1, T, 1]
    ids = torch.arange(n_blocks, device=device)[None, None, :]  # [1, 1, NB]
    rankable = (ids >= init_blocks) & (ids <= last - local_blocks)
    keyed = scores.float().masked_fill(~rankable | scores.isnan(), -math.inf)
    order = torch.sort(keyed, dim=-1, descending=True, stable=True).indices  # ties keep lower id
    # then every rankable block before every other one (a rankable block may score -inf)
    first = rankable.expand_as(keyed).gather(-1, order).to(torch.int8)
    order = order.gather(-1, torch.sort(first, dim=-1, descending=True, stable=True).indices)
    n_rank = topk - init_blocks - local_blocks
    ranked = (
        order[..., :n_rank] if n_rank <= n_blocks else torch.nn.functional.pad(order, (0, n_rank - n_blocks), value=-1)
    )
    init = torch.arange(init_blocks, device=device).expand(n_heads, total_q, init_blocks)
    local = last - local_blocks + 1 + torch.arange(local_blocks, device=device)
    sparse_rows = torch.cat([init, ranked, local.expand(n_heads, total_q, local_blocks)], dim=-1)
    slots = torch.arange(topk, device=device)[None, None, :]
    dense_rows = torch.where(slots <= last, slots, -1)
    dense = (last + 1 <= topk).expand(n_heads, total_q, topk)
    return torch.where(dense, dense_rows, sparse_rows).to(torch.int32)


def sparse_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    selection: torch.Tensor,
    *,
    softmax_scale: float | None = None,
) -> torch.Tensor:
    """Exact softmax attention of each query over the keys of its KV group's selected blocks.

    A key j is attended by query t of KV group g when block `j // B` is in `selection[g, t]`
    and `j <= pos(t)`. Built as a dense boolean mask per sequence. Returns fp32 `[T, H, D]`.
    """
    total_q, n_heads, dim = q.shape
    n_kv, block = k_cache.shape[1], k_cache.shape[2]
    group = n_heads // n_kv
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(dim)
    out = torch.empty(total_q, n_heads, dim, dtype=torch.float32, device=q.device)
    for s in range(seq_lens.numel()):
        q0, q1, seq_len = int(cu_seqlens_q[s]), int(cu_seqlens_q[s + 1]), int(seq_lens[s])
        if q1 == q0:
            continue
        keys = gather_pages(k_cache.transpose(1, 2), block_table[s], seq_len).float()  # [N, Hkv, D]
        values = gather_pages(v_cache.transpose(1, 2), block_table[s], seq_len).float()
        pos = torch.arange(seq_len - (q1 - q0), seq_len, device=q.device)  # [q]
        key_block = torch.arange(seq_len, device=q.device) // block  # [N]
        sel = selection[:, q0:q1].long()  # [Hkv, q, k]
        chosen = (sel[..., None] == key_block).any(dim=2)  # [Hkv, q, N]
        allowed = chosen & (torch.arange(seq_len, device=q.device)[None, :] <= pos[:, None])
        allowed = allowed.repeat_interleave(group, dim=0)  # [H, q, N]
        scores = torch.einsum("qhd,nhd->hqn", q[q0:q1].float(), keys.repeat_interleave(group, dim=1))
        probs = torch.softmax((scores * scale).masked_fill(~allowed, -math.inf), dim=-1)
        out[q0:q1] = torch.einsum("hqn,nhd->qhd", probs, values.repeat_interleave(group, dim=1))
    return out


def msa_attention(
    q: torch.Tensor,
    iq: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    index_k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    *,
    topk: int = 16,
    init_blocks: int = 0,
    local_blocks: int = 1,
    softmax_scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole contract: block scores, selection, sparse attention. Returns (out, selection)."""
    _, positions = token_positions(cu_seqlens_q, seq_lens, q.shape[0])
    scores = block_scores(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens)
    selection = topk_blocks(
        scores,
        positions,
        topk=topk,
        block_size=k_cache.shape[2],
        init_blocks=init_blocks,
        local_blocks=local_blocks,
    )
    out = sparse_attention(
        q, k_cache, v_cache, block_table, cu_seqlens_q, seq_lens, selection, softmax_scale=softmax_scale
    )
    return out, selection
