"""Block-sparse GQA attention for prefill (MSA.md §5) in Triton.

A program owns a tile of BT consecutive query tokens of one sequence and one KV head; the rows
of its tiles are the (token, query head) pairs, BT x G of them, so one page of K/V loaded from
the cache serves every token of the tile that selected it. It walks the blocks up to the
tile's last visible one and skips a block no token of the tile selected; rows whose token did
not select it are masked, and the causal mask bites only inside the local block. Softmax is
exact and online, in fp32. When tokens near each other select similar blocks (real text, and
every query with at most k visible blocks, where MSA is dense causal attention) nearly every
loaded page is used by every row.
"""

from __future__ import annotations

import logging

import torch
import triton
import triton.language as tl

from . import layout
from .layout import (
    FLOAT_DTYPES,
    LOG2E,
    BatchInfo,
    check_batch,
    check_block_size,
    check_head_dim,
    check_tensor,
    fail,
    interpreting,
    token_positions,
)
from .scoring import dot_precision

SCHEDULES = ("tile", "kv_major")
SELECTION_CHECK_ENTRIES = 1 << 24  # a caller's selection is checked this many entries at a time
log = logging.getLogger(__name__)


@triton.jit
def _prefill_attn_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bt_ptr,
    sel_ptr,
    cu_ptr,
    len_ptr,
    o_ptr,
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
    scale_log2,
    G: tl.constexpr,
    G_P: tl.constexpr,
    D: tl.constexpr,
    BLOCK: tl.constexpr,
    BT: tl.constexpr,
    TOPK: tl.constexpr,
    K_P: tl.constexpr,
    DOT_PREC: tl.constexpr,
):
    tile = tl.program_id(0)
    kv = tl.program_id(1)
    seq = tl.program_id(2)
    q0 = tl.load(cu_ptr + seq)
    q_len = tl.load(cu_ptr + seq + 1) - q0
    seq_len = tl.load(len_ptr + seq)
    if tile * BT >= q_len:
        return
    r = tl.arange(0, BT * G_P)
    tok = tile * BT + r // G_P  # rows are (token, query head of this KV group) pairs
    row_ok = (tok < q_len) & (r % G_P < G)
    head = kv * G + r % G_P
    pos = seq_len - q_len + tok  # [R] absolute positions
    row = (q0 + tok).to(tl.int64)
    d = tl.arange(0, D)
    # [R, D]
    q = tl.load(
        q_ptr + row[:, None] * stride_qt + head[:, None] * stride_qh + d[None, :], mask=row_ok[:, None], other=0.0
    )
    kk = tl.arange(0, K_P)
    # [R, K_P] each row's selected block ids
    sel = tl.load(
        sel_ptr + kv.to(tl.int64) * stride_sg + row[:, None] * stride_st + kk[None, :],
        mask=row_ok[:, None] & (kk[None, :] < TOPK),
        other=-1,
    )

    m_i = tl.full([BT * G_P], float("-inf"), tl.float32)
    l_i = tl.zeros([BT * G_P], tl.float32)
    acc = tl.zeros([BT * G_P, D], tl.float32)
    off = tl.arange(0, BLOCK)
    bt_row = bt_ptr + seq.to(tl.int64) * stride_bs
    last_blk = (seq_len - q_len + tl.minimum(tile * BT + BT, q_len) - 1) // BLOCK
    for b in range(0, last_blk + 1):
        hit = tl.max(tl.where(sel == b, 1, 0), axis=1)  # [R] did this row's token select b
        if tl.max(hit) > 0:
            j = b * BLOCK + off  # [BLOCK] absolute key positions
            live = j < seq_len
            page = tl.load(bt_row + b).to(tl.int64)
            # [BLOCK, D]
            k = tl.load(
                k_ptr + page * stride_kp + kv * stride_kh + off[:, None] * stride_kb + d[None, :],
                mask=live[:, None],
                other=0.0,
            )
            # [R, BLOCK]
            s = tl.dot(q, tl.trans(k), input_precision=DOT_PREC) * scale_log2
            valid = (hit[:, None] > 0) & (j[None, :] <= pos[:, None])
            s = tl.where(valid, s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, axis=1))
            m_use = tl.where(m_new == float("-inf"), 0.0, m_new)  # row saw no key yet: keep exp2 finite
            alpha = tl.exp2(m_i - m_use)
            p = tl.exp2(s - m_use[:, None])
            l_i = l_i * alpha + tl.sum(p, axis=1)
            # [BLOCK, D]
            v = tl.load(
                v_ptr + page * stride_vp + kv * stride_vh + off[:, None] * stride_vb + d[None, :],
                mask=live[:, None],
                other=0.0,
            )
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PREC)
            m_i = m_new
    out = acc / tl.where(row_ok, l_i, 1.0)[:, None]
    tl.store(
        o_ptr + row[:, None] * stride_ot + head[:, None] * stride_oh + d[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=row_ok[:, None],
    )


def tokens_per_tile(group_p: int) -> int:
    """Query tokens per program: 64 rows on the GPU (one warpgroup-sized MMA tile), 1024 under
    the CPU interpreter, whose cost is per operation rather than per element."""
    rows = 1024 if interpreting() else 64
    return max(1, rows // group_p)


def launch_sparse_attention(
    q, k_cache, v_cache, block_table, selection, cu_seqlens_q, seq_lens, out, *, softmax_scale, max_q_len
):
    """Fill `out` `[T, H, D]`. Arguments are trusted."""
    n_heads, dim = q.shape[1], q.shape[2]
    n_kv, block = k_cache.shape[1], k_cache.shape[2]
    topk = selection.shape[2]
    group = n_heads // n_kv
    group_p = triton.next_power_of_2(group)
    bt = max(tokens_per_tile(group_p), triton.cdiv(16, group_p))  # tl.dot needs >= 16 rows
    grid = (triton.cdiv(max_q_len, bt), n_kv, seq_lens.numel())
    if grid[0] == 0:
        return out
    _prefill_attn_kernel[grid](
        q,
        k_cache,
        v_cache,
        block_table,
        selection,
        cu_seqlens_q,
        seq_lens,
        out,
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
        out.stride(0),
        out.stride(1),
        softmax_scale * LOG2E,
        G=group,
        G_P=group_p,
        D=dim,
        BLOCK=block,
        BT=bt,
        TOPK=topk,
        K_P=triton.next_power_of_2(topk),
        DOT_PREC=dot_precision(q.dtype),
        num_warps=4 if dim <= 64 else 8,
    )
    return out


def check_attention_inputs(q, k_cache, v_cache, block_size):
    """Validate the query and KV-cache tensors; returns the block size."""
    check_tensor("q", q, rank=3, dtypes=FLOAT_DTYPES, device=q.device)
    for name, cache in (("k_cache", k_cache), ("v_cache", v_cache)):
        check_tensor(name, cache, rank=4, dtypes=(q.dtype,), device=q.device)
    if k_cache.shape != v_cache.shape:
        fail(f"k_cache {tuple(k_cache.shape)} and v_cache {tuple(v_cache.shape)} must have the same shape")
    n_heads, dim = q.shape[1], q.shape[2]
    n_kv = k_cache.shape[1]
    if k_cache.shape[3] != dim:
        fail(
            f"k_cache has head dim {k_cache.shape[3]} but q has {dim}; "
            "the caches are [pages, kv_heads, block, head_dim]"
        )
    check_head_dim("head_dim", dim)
    if n_kv == 0 or n_heads % n_kv:
        fail(f"{n_heads} query heads do not divide into {n_kv} KV heads; GQA needs heads % kv_heads == 0")
    return check_block_size(block_size, k_cache.shape[2], "k_cache")


def choose_schedule(max_blocks: int, topk: int, schedule: str | None = None) -> tuple[str, str]:
    """The prefill attention schedule, chosen in one place: (name, reason)."""
    if schedule is not None:
        if schedule not in SCHEDULES:
            fail(f"schedule={schedule!r}; pass one of {sorted(SCHEDULES)} or None to choose automatically")
        return schedule, "asked for by the caller"
    if max_blocks <= topk:
        return "tile", f"every query sees at most {topk} blocks: MSA is dense causal, tokens share their pages"
    return "kv_major", f"up to {max_blocks} blocks > top-{topk}: tokens select different pages, group by page"


def check_selection_tensor(selection: torch.Tensor, n_kv: int, total_q: int, device) -> None:
    check_tensor("selection", selection, rank=3, dtypes=(torch.int32,), device=device)
    if selection.shape[:2] != (n_kv, total_q):
        fail(f"selection has shape {tuple(selection.shape)}; it must be [kv_heads={n_kv}, tokens={total_q}, k]")


def check_selection_values(selection: torch.Tensor, cu_seqlens_q, seq_lens, block: int) -> None:
    """A caller's selection `[Hkv, T, k]`: every id -1 (unused) or a block the token sees
    (0..L, L = pos // B, so inside the block table), no block twice, at least one block a row.
    Otherwise the schedules would disagree (a future block is NaN on one, ignored on another; a
    repeated block counts twice on one) or read outside the table. Vectorised over chunks of
    tokens (a dense layer's selection is as wide as the context); one host sync."""
    n_kv, total_q, width = selection.shape
    if selection.numel() == 0:
        return
    _, positions = token_positions(cu_seqlens_q, seq_lens, total_q)
    last = (positions // block)[None, :, None]  # [1, T, 1] the local block L of each token
    step = max(1, SELECTION_CHECK_ENTRIES // (n_kv * width))
    starts = range(0, total_q, step)
    faulty = [torch.stack([m.any() for m in _selection_faults(selection, last, t0, step)[:3]]).any() for t0 in starts]
    if not any(torch.stack(faulty).tolist()):
        return
    for t0 in starts:  # the error path: name the first fault
        outside, twice, empty, ids = _selection_faults(selection, last, t0, step)
        if bool(outside.any()):
            g, t, i = (int(x) for x in outside.nonzero()[0])
            v, t = int(selection[g, t0 + t, i]), t0 + t
            p = int(positions[t])
            if v < -1:
                fail(f"selection[{g}, {t}, {i}] = {v}; block ids are -1 (unused) or 0..L, L = the token's own block")
            fail(
                f"selection[{g}, {t}, {i}] = {v} is a future block: token {t} (position {p}) sees blocks "
                f"0..{p // block}; a selection holds only blocks at or before the query's own"
            )
        if bool(twice.any()):
            g, t, i = (int(x) for x in twice.nonzero()[0])
            fail(f"selection[{g}, {t0 + t}] selects block {int(ids[g, t, i + 1])} twice; each block may appear once")
        if bool(empty.any()):
            g, t = (int(x) for x in empty.nonzero()[0])
            fail(f"selection[{g}, {t0 + t}] selects no block; every query attends at least one (MSA: its own block)")


def _selection_faults(selection: torch.Tensor, last: torch.Tensor, t0: int, step: int):
    """Faults of tokens t0 .. t0+step-1: ids outside -1..L `[Hkv, n, k]`, a block repeated
    (between sorted neighbours, `[Hkv, n, k-1]`), rows with no block `[Hkv, n]`; and the sorted ids."""
    sel, lst = selection[:, t0 : t0 + step], last[:, t0 : t0 + step]
    outside = (sel < -1) | (sel > lst)
    ids = sel.sort(dim=-1).values
    twice = (ids[..., 1:] == ids[..., :-1]) & (ids[..., 1:] >= 0)
    return outside, twice, (sel < 0).all(dim=-1), ids


def check_attention_call(q, k_cache, v_cache, block_table, cu_seqlens_q, seq_lens, selection, block_size) -> BatchInfo:
    """Validate every argument of a sparse-attention call (prefill or decode)."""
    block = check_attention_inputs(q, k_cache, v_cache, block_size)
    info = check_batch(
        block_table=block_table,
        cu_seqlens_q=cu_seqlens_q,
        seq_lens=seq_lens,
        total_q=q.shape[0],
        block_size=block,
        num_pages=k_cache.shape[0],
        device=q.device,
    )
    check_selection_tensor(selection, k_cache.shape[1], q.shape[0], q.device)
    check_selection_values(selection, cu_seqlens_q, seq_lens, block)
    return info


def msa_sparse_attention(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    selection: torch.Tensor,
    *,
    softmax_scale: float | None = None,
    block_size: int | None = None,
    schedule: str | None = None,
) -> torch.Tensor:
    """Exact softmax attention of each query over its KV group's selected blocks (prefill).

    q               `[T, H, D]` fp16 / bf16 / fp32, the new tokens of all sequences packed.
    k_cache/v_cache `[P, Hkv, B, D]` same dtype; pages of exactly one block (B = block_size).
    block_table     int32 `[S, max_blocks]`; cu_seqlens_q int32 `[S+1]`; seq_lens int32 `[S]`
                    (cached prefix + new tokens; the new tokens are already in the caches).
    selection       int32 `[Hkv, T, k]` block ids as `msa_topk` returns them, -1 = unused slot
                    (anywhere in the row). Every id must be a block the token sees (0 .. pos // B),
                    none twice, at least one per row: anything else raises ValueError on every
                    schedule, before a kernel runs.
    schedule        None (choose by context length), "tile" (token-major tiles, for contexts of at
                    most k blocks) or "kv_major" (pairs grouped by page, for long contexts).
    Returns `[T, H, D]` in q's dtype. Keys of a selected block past the query are masked.
    """
    info = check_attention_call(q, k_cache, v_cache, block_table, cu_seqlens_q, seq_lens, selection, block_size)
    scale = layout.softmax_scale_or_default(softmax_scale, q.shape[2])
    out = layout.new_buffer(q.shape, q.dtype, q.device)
    launch = prefill_launcher(info.max_blocks, selection.shape[2], schedule)
    return launch(
        q,
        k_cache,
        v_cache,
        block_table,
        selection,
        cu_seqlens_q,
        seq_lens,
        out,
        softmax_scale=scale,
        max_q_len=info.max_q_len,
    )


def prefill_launcher(max_blocks: int, topk: int, schedule: str | None = None):
    """The launcher of the chosen schedule; both take the same arguments."""
    from .kv_major import launch_kv_major_attention

    name, reason = choose_schedule(max_blocks, topk, schedule)
    log.debug("MSA prefill attention: %s schedule (%s)", name, reason)
    return launch_kv_major_attention if name == "kv_major" else launch_sparse_attention
