"""Top-k block selection (MSA.md §4) in Triton.

One kernel serves two callers. In prefill it reads a row of block scores per (index head,
query) and ranks the block ids themselves; in decode it merges the per-split candidate lists
(score, block id) that the split scoring kernel wrote. Ranking is an unrolled k-step
arg-max: each step takes the best score and, among equal scores, the lowest block id, so ties
go to the lower id whatever order the candidates arrive in. Forced blocks (`init_blocks` sinks
and `local_blocks` ending with the query's own block L) are placed around the ranked ones.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import layout
from .layout import check_tensor, fail, interpreting


@triton.jit
def _topk_kernel(
    score_ptr,
    id_ptr,
    pos_ptr,
    out_ptr,
    total_q,
    n_rows,
    n_cand,
    stride_sh,
    stride_st,
    stride_oh,
    stride_ot,
    BLOCK: tl.constexpr,
    TOPK: tl.constexpr,
    INIT: tl.constexpr,
    LOCAL: tl.constexpr,
    HAS_IDS: tl.constexpr,
    ROWS: tl.constexpr,
    N_P: tl.constexpr,
    K_P: tl.constexpr,
):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)  # [R]; row = head * T + token
    row_ok = rows < n_rows
    head = rows // total_q
    tok = rows % total_q
    last = tl.load(pos_ptr + tok, mask=row_ok, other=0) // BLOCK  # [R] local block L
    cols = tl.arange(0, N_P)
    in_row = row_ok[:, None] & (cols[None, :] < n_cand)
    base = head.to(tl.int64) * stride_sh + tok.to(tl.int64) * stride_st
    # [R, N_P]
    score = tl.load(score_ptr + base[:, None] + cols[None, :], mask=in_row, other=float("-inf"))
    if HAS_IDS:
        ids = tl.load(id_ptr + base[:, None] + cols[None, :], mask=in_row, other=-1)
    else:
        ids = tl.zeros([ROWS, N_P], dtype=tl.int32) + cols[None, :]
    rankable = in_row & (ids >= INIT) & (ids <= last[:, None] - LOCAL)
    key = tl.where(rankable & (score == score), score, float("-inf"))  # NaN ranks as -inf
    ids = tl.where(rankable, ids, 2**30)

    slots = tl.arange(0, K_P)[None, :]  # [1, K_P]
    out = tl.zeros([ROWS, K_P], dtype=tl.int32) + tl.where(slots < INIT, slots, -1)
    for i in tl.static_range(TOPK - INIT - LOCAL):
        best = tl.max(key, axis=1)  # [R]
        pick = tl.min(tl.where(key == best[:, None], ids, 2**30), axis=1)  # lowest id among ties
        out = tl.where(slots == INIT + i, pick[:, None], out)
        taken = ids == pick[:, None]
        key = tl.where(taken, float("-inf"), key)
        ids = tl.where(taken, 2**30, ids)
    local = last[:, None] - (TOPK - 1 - slots)  # slot TOPK-1 holds L
    out = tl.where(slots >= TOPK - LOCAL, local, out)
    dense = (last + 1 <= TOPK)[:, None]  # every visible block fits: 0 .. L, then -1
    out = tl.where(dense, tl.where(slots <= last[:, None], slots, -1), out)
    out_off = head.to(tl.int64)[:, None] * stride_oh + tok.to(tl.int64)[:, None] * stride_ot + slots
    tl.store(out_ptr + out_off, out, mask=row_ok[:, None] & (slots < TOPK))


def launch_topk(
    scores: torch.Tensor,
    ids: torch.Tensor | None,
    positions: torch.Tensor,
    out: torch.Tensor,
    *,
    block_size: int,
    topk: int,
    init_blocks: int,
    local_blocks: int,
) -> torch.Tensor:
    """Rank `scores` `[Hi, T, N]` (with candidate `ids` of the same shape, or the column index
    when `ids` is None) into `out` int32 `[Hi, T, topk]`. Arguments are trusted."""
    n_heads, total_q, n_cand = scores.shape
    n_rows = n_heads * total_q
    if n_rows == 0:
        return out
    n_pad = triton.next_power_of_2(max(n_cand, 1))
    rows = max(1, min(64, (4096 if interpreting() else 2048) // n_pad))  # long rows: one per program
    grid = (triton.cdiv(n_rows, rows),)
    _topk_kernel[grid](
        scores,
        ids if ids is not None else scores,
        positions,
        out,
        total_q,
        n_rows,
        n_cand,
        scores.stride(0),
        scores.stride(1),
        out.stride(0),
        out.stride(1),
        BLOCK=block_size,
        TOPK=topk,
        INIT=init_blocks,
        LOCAL=local_blocks,
        HAS_IDS=ids is not None,
        ROWS=rows,
        N_P=n_pad,
        K_P=triton.next_power_of_2(topk),
        num_warps=4 if rows * n_pad <= 4096 else 8,
    )
    return out


def check_selection_params(topk: int, init_blocks: int, local_blocks: int) -> None:
    if topk < 1:
        fail(f"topk={topk}; it must be at least 1 (M3 uses 16)")
    if local_blocks < 1:
        fail(f"local_blocks={local_blocks}; the query's own block is always selected, so it must be >= 1")
    if init_blocks < 0:
        fail(f"init_blocks={init_blocks}; it must be >= 0 (M3 uses 0)")
    if init_blocks + local_blocks > topk:
        fail(f"init_blocks + local_blocks = {init_blocks + local_blocks} exceeds topk={topk}; lower them or raise topk")


def msa_topk(
    block_scores: torch.Tensor,
    positions: torch.Tensor,
    *,
    block_size: int,
    topk: int = 16,
    init_blocks: int = 0,
    local_blocks: int = 1,
) -> torch.Tensor:
    """Select the attended blocks of every (index head, query) row.

    block_scores  float `[Hi, T, NB]`, as `msa_block_scores` returns (-inf where not visible).
    positions     int32 `[T]`, absolute position of each query (local block L = pos // B).
    Returns int32 `[Hi, T, topk]`: rows with `L + 1 <= topk` hold `0 .. L` then -1; other rows
    hold `0 .. init_blocks-1`, the best `topk - init_blocks - local_blocks` other blocks by
    score (descending, ties to the lower id), then `L - local_blocks + 1 .. L`, so the last
    valid entry is always L. NaN or +inf in block_scores raises ValueError; a -inf block
    (nothing visible) ranks after every finite one, ties to the lower id.
    """
    check_tensor("block_scores", block_scores, rank=3, dtypes=(torch.float32,), device=block_scores.device)
    check_tensor("positions", positions, rank=1, dtypes=(torch.int32,), device=block_scores.device)
    check_selection_params(topk, init_blocks, local_blocks)
    if positions.shape[0] != block_scores.shape[1]:
        fail(f"positions has {positions.shape[0]} entries but block_scores has {block_scores.shape[1]} queries")
    if block_size < 1 or block_size & (block_size - 1):
        fail(f"block_size={block_size}; it must be a power of two")
    n_heads, total_q, n_blocks = block_scores.shape
    undefined = block_scores.isnan() | (block_scores == float("inf"))
    if bool(undefined.any()):
        h, t, b = (int(i) for i in undefined.nonzero()[0])
        fail(
            f"block_scores[{h}, {t}, {b}] is {float(block_scores[h, t, b])}; block scores must be finite, "
            "or -inf where the block holds no visible key (non-finite index scores have no order)"
        )
    if total_q and int(positions.max()) // block_size >= n_blocks:
        fail(
            f"a query at position {int(positions.max())} needs block {int(positions.max()) // block_size}, "
            f"but block_scores has only {n_blocks} blocks"
        )
    out = layout.new_buffer((n_heads, total_q, topk), torch.int32, block_scores.device)
    return launch_topk(
        block_scores,
        None,
        positions,
        out,
        block_size=block_size,
        topk=topk,
        init_blocks=init_blocks,
        local_blocks=local_blocks,
    )
