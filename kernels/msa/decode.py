"""Sparse attention for decode (MSA.md §5) in Triton: split over the selected blocks.

With one to a few new tokens per sequence there are too few queries to fill a GPU, so a
program owns one query token, one KV head (its G query heads are the rows of the tiles) and
one split: a contiguous group of the token's k selected pages, streamed with an exact online
softmax in fp32. Each split writes its normalised partial output and base-2 log-sum-exp; a
merge kernel combines the splits. Slots holding -1 contribute nothing; the causal mask only
bites inside the local block.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import layout
from .attention import check_attention_call
from .layout import LOG2E, fail, interpreting, token_positions
from .scoring import dot_precision


@triton.jit
def _decode_attn_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bt_ptr,
    sel_ptr,
    seq_ptr,
    pos_ptr,
    len_ptr,
    o_ptr,
    lse_ptr,
    stride_qt,
    stride_qh,
    stride_kp,
    stride_kh,
    stride_kb,
    stride_vp,
    stride_vh,
    stride_vb,
    stride_bs,
    stride_sg,
    stride_st,
    stride_ot,
    stride_oh,
    stride_os,
    stride_lt,
    stride_lh,
    scale_log2,
    G: tl.constexpr,
    G_P: tl.constexpr,
    D: tl.constexpr,
    BLOCK: tl.constexpr,
    SLOTS: tl.constexpr,
    TOPK: tl.constexpr,
    SLOTS_PER_SPLIT: tl.constexpr,
    NUM_SPLITS: tl.constexpr,
    DOT_PREC: tl.constexpr,
    PREFIX: tl.constexpr,
):
    tok = tl.program_id(0).to(tl.int64)
    kv = tl.program_id(1)
    split = tl.program_id(2)
    seq = tl.load(seq_ptr + tok).to(tl.int64)
    pos = tl.load(pos_ptr + tok)
    rows = tl.arange(0, G_P)
    row_ok = rows < G
    head = kv * G + rows  # [G_P] query heads of this KV group
    d = tl.arange(0, D)
    # [G_P, D]
    q = tl.load(q_ptr + tok * stride_qt + head[:, None] * stride_qh + d[None, :], mask=row_ok[:, None], other=0.0)

    m_i = tl.full([G_P], float("-inf"), tl.float32)
    l_i = tl.zeros([G_P], tl.float32)
    acc = tl.zeros([G_P, D], tl.float32)
    n = tl.arange(0, SLOTS * BLOCK)
    off = n % BLOCK
    sel_row = sel_ptr + kv.to(tl.int64) * stride_sg + tok * stride_st
    bt_row = bt_ptr + seq * stride_bs
    lo = split * SLOTS_PER_SPLIT
    hi = tl.minimum(lo + SLOTS_PER_SPLIT, TOPK)
    if PREFIX:  # valid entries are a prefix of at most L + 1: slots past it hold -1, skip them
        hi = tl.minimum(hi, pos // BLOCK + 1)
    for s0 in range(lo, hi, SLOTS):
        slot = s0 + n // BLOCK
        blk = tl.load(sel_row + slot, mask=slot < hi, other=-1)  # [N]
        j = blk * BLOCK + off
        valid = (blk >= 0) & (j <= pos)
        page = tl.load(bt_row + blk, mask=valid, other=0).to(tl.int64)
        # [N, D]
        k = tl.load(
            k_ptr + page[:, None] * stride_kp + kv * stride_kh + off[:, None] * stride_kb + d[None, :],
            mask=valid[:, None],
            other=0.0,
        )
        # [G_P, N]
        s = tl.dot(q, tl.trans(k), input_precision=DOT_PREC) * scale_log2
        s = tl.where(valid[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)  # no key yet: keep exp2 finite
        alpha = tl.exp2(m_i - m_use)
        p = tl.exp2(s - m_use[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        # [N, D]
        v = tl.load(
            v_ptr + page[:, None] * stride_vp + kv * stride_vh + off[:, None] * stride_vb + d[None, :],
            mask=valid[:, None],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PREC)
        m_i = m_new

    out = o_ptr + tok * stride_ot + head[:, None] * stride_oh + split * stride_os + d[None, :]
    if NUM_SPLITS == 1:
        tl.store(out, (acc / l_i[:, None]).to(o_ptr.dtype.element_ty), mask=row_ok[:, None])
    else:
        empty = l_i == 0.0
        tl.store(out, acc / tl.where(empty, 1.0, l_i)[:, None], mask=row_ok[:, None])
        lse = tl.where(empty, float("-inf"), m_i + tl.log2(tl.where(empty, 1.0, l_i)))
        tl.store(lse_ptr + tok * stride_lt + head * stride_lh + split, lse, mask=row_ok)


@triton.jit
def _merge_splits_kernel(
    part_ptr,
    lse_ptr,
    o_ptr,
    n_heads,
    stride_pt,
    stride_ph,
    stride_ps,
    stride_lt,
    stride_lh,
    stride_ot,
    stride_oh,
    NUM_SPLITS: tl.constexpr,
    S_P: tl.constexpr,
    D: tl.constexpr,
    HB: tl.constexpr,
):
    tok = tl.program_id(0).to(tl.int64)
    head = tl.program_id(1) * HB + tl.arange(0, HB)  # [HB]
    ok = head < n_heads
    sp = tl.arange(0, S_P)
    d = tl.arange(0, D)
    live = ok[:, None] & (sp[None, :] < NUM_SPLITS)
    # [HB, S_P]
    lse = tl.load(lse_ptr + tok * stride_lt + head[:, None] * stride_lh + sp[None, :], mask=live, other=float("-inf"))
    w = tl.exp2(lse - tl.max(lse, axis=1)[:, None])
    w = w / tl.sum(w, axis=1)[:, None]
    # [HB, S_P, D]
    part_off = tok * stride_pt + head[:, None, None] * stride_ph + sp[None, :, None] * stride_ps + d[None, None, :]
    part = tl.load(part_ptr + part_off, mask=live[:, :, None], other=0.0)
    o = tl.sum(w[:, :, None] * part, axis=1)  # [HB, D]
    tl.store(
        o_ptr + tok * stride_ot + head[:, None] * stride_oh + d[None, :], o.to(o_ptr.dtype.element_ty), mask=ok[:, None]
    )


MAX_SPLITS = 128
GPU_TILE = (1, 4, 2)  # selected pages per loop step, warps (head_dim > 64), pipeline stages; docs/benchmarks.md


def decode_splits(width: int) -> int:
    """How many programs share one query's selection of `width` blocks: 16 for MSA's top-16 (one
    block each), one per 8 blocks for the wide selection of a full-attention layer (at 128K its
    1,024 blocks would otherwise run as 16 programs of 64 blocks a KV head, a tenth of an H200's
    SMs), at most MAX_SPLITS so the merge stays small."""
    return min(MAX_SPLITS, max(16, width // 8))


def slots_per_iteration() -> int:
    """Selected pages per loop step: one on the GPU, four under the CPU interpreter (fewer,
    larger interpreted steps)."""
    return 4 if interpreting() else GPU_TILE[0]


def launch_decode_attention(
    q,
    k_cache,
    v_cache,
    block_table,
    selection,
    seq_ids,
    positions,
    seq_lens,
    out,
    *,
    softmax_scale,
    num_splits,
    visible_prefix=False,
):
    """Fill `out` `[T, H, D]`. Arguments are trusted. `visible_prefix`: the caller promises each
    row's valid entries are its first `pos // B + 1` slots at most, -1 after (MSA.md §4 rows, and
    a full-attention layer's every visible block in order), so slots past them are not visited: a
    selection as wide as the whole block table costs what the visible blocks cost."""
    total_q, n_heads, dim = q.shape
    n_kv, block = k_cache.shape[1], k_cache.shape[2]
    topk = selection.shape[2]
    if total_q == 0:
        return out
    group = n_heads // n_kv
    slots = min(slots_per_iteration(), triton.next_power_of_2(topk))  # a power of two: the arange; slot < hi masks
    per_split = triton.cdiv(triton.cdiv(topk, num_splits), slots) * slots  # whole loop steps
    num_splits = -(-topk // per_split)
    if num_splits == 1:
        target, lse = out, out
    else:
        target = layout.new_buffer((total_q, n_heads, num_splits, dim), torch.float32, q.device)
        lse = layout.new_buffer((total_q, n_heads, num_splits), torch.float32, q.device)
    stride_split = target.stride(2) if num_splits > 1 else 0
    _decode_attn_kernel[(total_q, n_kv, num_splits)](
        q,
        k_cache,
        v_cache,
        block_table,
        selection,
        seq_ids,
        positions,
        seq_lens,
        target,
        lse,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        k_cache.stride(2),
        v_cache.stride(0),
        v_cache.stride(1),
        v_cache.stride(2),
        block_table.stride(0),
        selection.stride(0),
        selection.stride(1),
        target.stride(0),
        target.stride(1),
        stride_split,
        lse.stride(0),
        lse.stride(1),
        softmax_scale * LOG2E,
        G=group,
        G_P=max(16, triton.next_power_of_2(group)),
        D=dim,
        BLOCK=block,
        SLOTS=slots,
        TOPK=topk,
        SLOTS_PER_SPLIT=per_split,
        NUM_SPLITS=num_splits,
        DOT_PREC=dot_precision(q.dtype),
        PREFIX=visible_prefix,
        num_warps=4 if dim <= 64 else GPU_TILE[1],
        num_stages=GPU_TILE[2],
    )
    if num_splits > 1:
        # the merge holds [heads, splits, D] at once: fewer heads a program when there are many splits
        heads_per_program = min(16, triton.next_power_of_2(n_heads), max(1, 256 // triton.next_power_of_2(num_splits)))
        _merge_splits_kernel[(total_q, triton.cdiv(n_heads, heads_per_program))](
            target,
            lse,
            out,
            n_heads,
            target.stride(0),
            target.stride(1),
            target.stride(2),
            lse.stride(0),
            lse.stride(1),
            out.stride(0),
            out.stride(1),
            NUM_SPLITS=num_splits,
            S_P=triton.next_power_of_2(num_splits),
            D=dim,
            HB=heads_per_program,
        )
    return out


def msa_decode_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    selection: torch.Tensor,
    *,
    softmax_scale: float | None = None,
    num_splits: int = 16,
    block_size: int | None = None,
) -> torch.Tensor:
    """Sparse attention for decode, split over each token's selected blocks.

    Same arguments and result as `msa_sparse_attention`; `num_splits` groups of selected
    blocks per (token, KV head) run in parallel and merge by log-sum-exp. Any number of tokens
    per sequence works; it pays off for a few tokens over long contexts.
    """
    check_attention_call(q, k_cache, v_cache, block_table, cu_seqlens_q, seq_lens, selection, block_size)
    if num_splits < 1:
        fail(f"num_splits={num_splits}; it must be >= 1")
    scale = layout.softmax_scale_or_default(softmax_scale, q.shape[2])
    seq_ids, positions = token_positions(cu_seqlens_q, seq_lens, q.shape[0])
    out = layout.new_buffer(q.shape, q.dtype, q.device)
    return launch_decode_attention(
        q,
        k_cache,
        v_cache,
        block_table,
        selection,
        seq_ids,
        positions,
        seq_lens,
        out,
        softmax_scale=scale,
        num_splits=num_splits,
    )
