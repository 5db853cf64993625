"""Decode-time block candidates (MSA.md §3-§4): scoring, pooling and a running top list fused.

A few new tokens per sequence cannot fill a scoring tile, so the blocks of each sequence are
split across programs. Each program pools its blocks' scores with `scoring._pool_page_group`
and keeps each (token, index head) row's best blocks in registers (`_insert_group`), writing
only those candidates; `topk.py` merges the splits. With `tokens_per_tile` set and one split
the same kernel serves prefill selection without writing a block-score tensor.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from . import layout
from .layout import interpreting
from .scoring import _fp8_cache_queries, _load_query_rows, _pool_page_group, blocks_per_iteration, dot_precision

FP8_AS_F16 = True  # an fp8 cache is scored in fp16 (exact, cheaper to widen than bf16); A/B knob
# decode splits of up to this many blocks keep their block maxima and rank them once (`_rank_split`)
# instead of offering each group to a running top list; A/B knob (RANK_AT_END False: the list)
RANK_AT_END = True
MAX_RANKED_SPLIT = 64
# pool with a dot and a max per page (`_pool_page_group` BY_PAGE) or one reshape per group: on an
# H200 at 1M by page is faster on a bf16 cache (0.0805 vs 0.0822 ms a selection) and slower on an
# fp8 one (0.0571 vs 0.0560); A/B knobs
POOL_BY_PAGE = True
POOL_BY_PAGE_FP8 = False
GPU_DECODE_TILE = (
    2,
    4,
    2,
)  # blocks per loop step, warps, stages for decode tiles (few rows) on the GPU; docs/benchmarks.md


@triton.jit
def _insert_group(
    top_s,
    top_i,
    pooled,
    b0,
    row_ok,
    last,
    blk_hi,
    slot,
    BPI: tl.constexpr,
    NR_P: tl.constexpr,
    INIT: tl.constexpr,
    LOCAL: tl.constexpr,
):
    """Offer `BPI` blocks from `b0` (scores `pooled [R, BPI]`) to each row's running top list.
    Blocks arrive in ascending id, so a tie never evicts; the evicted entry is an empty slot
    (id -1, score -inf) if any, else the worst score with the highest id. A -inf block fills
    an empty slot, so every rankable block can reach the merge."""
    c = tl.arange(0, BPI)[None, :]
    for i in tl.static_range(BPI):
        b = b0 + i
        v = tl.max(tl.where(c == i, pooled, float("-inf")), axis=1)  # [R]
        worst = tl.min(top_s, axis=1)
        evict_key = tl.where(top_i < 0, 2**30 + slot, top_i * NR_P + slot)  # empty slots first
        evict_key = tl.where(top_s == worst[:, None], evict_key, -(2**30))
        evict_max = tl.max(evict_key, axis=1)
        evict = evict_key == evict_max[:, None]
        better = (v > worst) | ((v == worst) & (evict_max >= 2**30))
        take = row_ok & (b >= INIT) & (b <= last - LOCAL) & (b < blk_hi) & better
        top_s = tl.where(evict & take[:, None], v[:, None], top_s)
        top_i = tl.where(evict & take[:, None], b, top_i)
    return top_s, top_i


@triton.jit
def _rank_split(buf, blk_lo, blk_hi, last, row_ok, SB: tl.constexpr, INIT: tl.constexpr, LOCAL: tl.constexpr):
    """Each of a split's `SB` block maxima `buf [R, SB]` (block `blk_lo + column`) with its rank
    in its row: by score, ties to the lower id, the blocks a row may rank before all others (which
    come back as (-inf, -1)). Returns (scores, ids, ranks), each `[R, SB]`; ranks are a
    permutation of 0 .. SB-1 in every row."""
    col = tl.arange(0, SB)[None, :]
    b = blk_lo + col
    ok = row_ok[:, None] & (b >= INIT) & (b <= last[:, None] - LOCAL) & (b < blk_hi)
    s = tl.where(ok, buf, float("-inf"))
    ids = tl.where(ok, b, -1)
    # j outranks i: a rankable j before a non-rankable i, then the higher score, then the lower id
    si, sj = s[:, :, None], s[:, None, :]
    oi, oj = ok[:, :, None], ok[:, None, :]
    ci, cj = col[:, :, None], col[:, None, :]
    ahead = (oj & ~oi) | ((oj == oi) & ((sj > si) | ((sj == si) & (cj < ci))))
    return s, ids, tl.sum(ahead.to(tl.int32), axis=2)


@triton.jit
def _candidates_kernel(
    iq_ptr,
    ik_ptr,
    bt_ptr,
    cu_ptr,
    len_ptr,
    cand_s_ptr,
    cand_i_ptr,
    stride_qt,
    stride_qh,
    stride_kp,
    stride_kb,
    stride_bs,
    stride_ch,
    stride_ct,
    blocks_per_split,
    sm_scale,
    HI: tl.constexpr,
    HI_P: tl.constexpr,
    BQ: tl.constexpr,
    DI: tl.constexpr,
    BLOCK: tl.constexpr,
    BPI: tl.constexpr,
    NRANK: tl.constexpr,
    NR_P: tl.constexpr,
    INIT: tl.constexpr,
    LOCAL: tl.constexpr,
    DOT_PREC: tl.constexpr,
    FP8_F16: tl.constexpr,
    SB: tl.constexpr,
    BY_PAGE: tl.constexpr,
):
    """With `SB` > 0 (decode: a split of at most SB blocks, SB >= NR_P) the block maxima stay in
    registers and are ranked once at the end (`_rank_split`); else a running top list takes
    each group of blocks as it comes (`_insert_group`)."""
    split = tl.program_id(0)
    seq = tl.program_id(1)
    tile = tl.num_programs(2) - 1 - tl.program_id(2)  # the longest rows first
    q0 = tl.load(cu_ptr + seq)
    q_len = tl.load(cu_ptr + seq + 1) - q0
    seq_len = tl.load(len_ptr + seq)
    if tile * BQ >= tl.maximum(q_len, 1):
        return
    r = tl.arange(0, BQ * HI_P)
    tok = tile * BQ + r // HI_P  # rows are (token, index head) pairs
    head = r % HI_P
    row_ok = (tok < q_len) & (head < HI)
    pos = seq_len - q_len + tok
    last = pos // BLOCK  # [R] each row's local block
    q = _load_query_rows(iq_ptr, q0, tok, head, row_ok, stride_qt, stride_qh, DI)
    scale = sm_scale
    if FP8_F16:
        q, factor = _fp8_cache_queries(q)
        scale = sm_scale * factor[:, None]  # [R, 1]: undoes each row's power-of-two scale, exactly
    blk_lo = split * blocks_per_split
    tile_last = (seq_len - q_len + tl.minimum(tile * BQ + BQ, q_len) - 1) // BLOCK
    blk_hi = tl.minimum(blk_lo + blocks_per_split, tile_last + 1)
    last_blk = blk_hi - 1
    bt_row = bt_ptr + seq.to(tl.int64) * stride_bs
    # groups wholly before the tile's first token need no causal mask
    full_end = tl.maximum(tl.minimum((seq_len - q_len + tile * BQ) // BLOCK, blk_hi) - blk_lo, 0) // BPI * BPI + blk_lo

    out = head.to(tl.int64)[:, None] * stride_ch + (q0 + tok).to(tl.int64)[:, None] * stride_ct + split * NRANK
    if SB > 0:  # the split's block maxima, grouped as pooled, ranked after the loops
        group = tl.arange(0, SB // BPI)[None, :, None]
        buf = tl.zeros([BQ * HI_P, SB // BPI, BPI], tl.float32)
    else:  # a running list: padding slots hold +inf, never evicted
        slot = tl.arange(0, NR_P)[None, :]
        top_s = tl.zeros([BQ * HI_P, NR_P], tl.float32) + tl.where(slot < NRANK, float("-inf"), float("inf"))
        top_i = tl.zeros([BQ * HI_P, NR_P], tl.int32) - 1
    for b0 in range(blk_lo, full_end, BPI):
        pooled = _pool_page_group(
            q,
            pos,
            ik_ptr,
            bt_row,
            b0,
            last_blk,
            seq_len,
            stride_kp,
            stride_kb,
            scale,
            BQ * HI_P,
            DI,
            BLOCK,
            BPI,
            DOT_PREC,
            BY_PAGE=BY_PAGE,
            CAUSAL=False,
        )
        if SB > 0:
            buf = tl.where(group == (b0 - blk_lo) // BPI, pooled[:, None, :], buf)
        else:
            top_s, top_i = _insert_group(top_s, top_i, pooled, b0, row_ok, last, blk_hi, slot, BPI, NR_P, INIT, LOCAL)
    for b0 in range(full_end, blk_hi, BPI):
        pooled = _pool_page_group(
            q,
            pos,
            ik_ptr,
            bt_row,
            b0,
            last_blk,
            seq_len,
            stride_kp,
            stride_kb,
            scale,
            BQ * HI_P,
            DI,
            BLOCK,
            BPI,
            DOT_PREC,
            BY_PAGE=BY_PAGE,
        )
        if SB > 0:
            buf = tl.where(group == (b0 - blk_lo) // BPI, pooled[:, None, :], buf)
        else:
            top_s, top_i = _insert_group(top_s, top_i, pooled, b0, row_ok, last, blk_hi, slot, BPI, NR_P, INIT, LOCAL)
    if SB > 0:
        s, ids, rank = _rank_split(tl.reshape(buf, (BQ * HI_P, SB)), blk_lo, blk_hi, last, row_ok, SB, INIT, LOCAL)
        keep = row_ok[:, None] & (rank < NRANK)
        tl.store(cand_s_ptr + out + rank, s, mask=keep)
        tl.store(cand_i_ptr + out + rank, ids, mask=keep)
    else:
        ok = row_ok[:, None] & (slot < NRANK)
        tl.store(cand_s_ptr + out + slot, top_s, mask=ok)
        tl.store(cand_i_ptr + out + slot, top_i, mask=ok)


def launch_candidates(
    iq,
    index_k_cache,
    block_table,
    cu_seqlens_q,
    seq_lens,
    *,
    max_q_len,
    max_blocks,
    blocks_per_split,
    topk,
    init_blocks,
    local_blocks,
    tokens_per_tile=None,
):
    """Per-split candidate lists `(scores fp32, ids int32)`, each `[Hi, T, n_splits * n_rank]`.

    Decode: one tile holds a sequence's few new tokens and its blocks are split over programs.
    Prefill (`tokens_per_tile` set, one split): tiles of query tokens walk all their blocks,
    keeping the best blocks on chip, so no block-score tensor is written."""
    total_q, n_heads, dim = iq.shape
    block = index_k_cache.shape[1]
    n_rank = topk - init_blocks - local_blocks
    decode = tokens_per_tile is None and not interpreting()
    bpi = GPU_DECODE_TILE[0] if decode else blocks_per_iteration(block)
    per_split = max(bpi, -(-blocks_per_split // bpi) * bpi)
    n_splits = max(1, triton.cdiv(max_blocks, per_split))
    cand_s = layout.new_buffer((n_heads, total_q, n_splits * n_rank), torch.float32, iq.device)
    cand_i = layout.new_buffer((n_heads, total_q, n_splits * n_rank), torch.int32, iq.device)
    if n_rank == 0 or total_q == 0:
        return cand_s, cand_i
    heads_p = triton.next_power_of_2(n_heads)
    split_p = triton.next_power_of_2(per_split)
    n_rank_p = triton.next_power_of_2(n_rank)
    rank_at_end = RANK_AT_END and tokens_per_tile is None and n_rank_p <= split_p <= MAX_RANKED_SPLIT
    bq = tokens_per_tile or triton.next_power_of_2(max_q_len)
    bq = max(bq, 16 // min(heads_p, 16))  # tl.dot needs 16 rows
    _candidates_kernel[(n_splits, seq_lens.numel(), triton.cdiv(max(max_q_len, 1), bq))](
        iq,
        index_k_cache,
        block_table,
        cu_seqlens_q,
        seq_lens,
        cand_s,
        cand_i,
        iq.stride(0),
        iq.stride(1),
        index_k_cache.stride(0),
        index_k_cache.stride(1),
        block_table.stride(0),
        cand_s.stride(0),
        cand_s.stride(1),
        per_split,
        1.0 / math.sqrt(dim),
        HI=n_heads,
        HI_P=heads_p,
        BQ=bq,
        DI=dim,
        BLOCK=block,
        BPI=bpi,
        NRANK=n_rank,
        NR_P=n_rank_p,
        INIT=init_blocks,
        LOCAL=local_blocks,
        DOT_PREC=dot_precision(iq.dtype),
        FP8_F16=FP8_AS_F16 and index_k_cache.dtype == torch.float8_e4m3fn and iq.dtype != torch.float32,
        SB=split_p if rank_at_end else 0,
        BY_PAGE=POOL_BY_PAGE_FP8 if index_k_cache.dtype == torch.float8_e4m3fn else POOL_BY_PAGE,
        num_warps=GPU_DECODE_TILE[1] if decode and bq * heads_p <= 128 else 4 if bq * heads_p <= 128 else 8,
        num_stages=GPU_DECODE_TILE[2] if decode else 3,
    )
    return cand_s, cand_i
