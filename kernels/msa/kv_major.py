"""Block-sparse GQA attention for long prefills, scheduled KV-block-major.

Once contexts are long, the tokens of a query tile select nearly disjoint blocks, so a
token-major schedule loads every selected K/V page once per token (1 MB per token and KV head
at M3's shape) and is bound by cache bandwidth. Here the (token, selected block) pairs are
grouped by the page they read (a stable sort on device, no host sync); a program loads one
page of K and V and attends with up to MT tokens x G heads of queries that selected it, so a
page is loaded once per MT tokens. Each pair writes its normalised partial output and base-2
log-sum-exp; a merge kernel combines a token's k partials. The traffic per pair is the query
rows and the partial (4 + 4 + 4 KB at M3's shape) instead of a 64 KB page. Tokens are
processed in chunks so the partial buffer stays bounded.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import layout
from .layout import interpreting, token_positions
from .scoring import dot_precision

_LOG2E = 1.4426950408889634
PARTIAL_BYTES = 2 << 30  # partial outputs held at once; sets the token chunk


@triton.jit
def _kv_major_attn_kernel(
    q_ptr, k_ptr, v_ptr, sel_ptr, pos_ptr, order_ptr, bucket_off_ptr, item_bucket_ptr, item_start_ptr,
    n_items_ptr, part_ptr, lse_ptr,
    stride_qt, stride_qh, stride_kp, stride_kh, stride_kb, stride_vp, stride_vh, stride_vb,
    n_tokens, n_pages, scale_log2,
    G: tl.constexpr, G_P: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr, MT: tl.constexpr,
    TOPK: tl.constexpr, DOT_PREC: tl.constexpr,
):
    item = tl.program_id(0)
    if item >= tl.load(n_items_ptr):
        return
    bucket = tl.load(item_bucket_ptr + item)
    start = tl.load(item_start_ptr + item)
    end = tl.load(bucket_off_ptr + bucket + 1)
    kv = bucket // n_pages
    page = (bucket % n_pages).to(tl.int64)
    r = tl.arange(0, MT * G_P)
    idx = start + r // G_P  # rows are (pair, query head) with the pairs of this page
    head = r % G_P
    row_ok = (idx < end) & (head < G)
    pair = tl.load(order_ptr + idx, mask=row_ok, other=0).to(tl.int64)  # (kv * T + token) * TOPK + slot
    tok = (pair // TOPK) % n_tokens
    blk = tl.load(sel_ptr + pair, mask=row_ok, other=0)
    pos = tl.load(pos_ptr + tok, mask=row_ok, other=0)
    d = tl.arange(0, D)
    off = tl.arange(0, BLOCK)
    # [R, D]
    q = tl.load(q_ptr + tok[:, None] * stride_qt + (kv * G + head)[:, None] * stride_qh + d[None, :],
                mask=row_ok[:, None], other=0.0)
    valid = row_ok[:, None] & ((blk * BLOCK)[:, None] + off[None, :] <= pos[:, None])  # [R, BLOCK]
    key_ok = tl.max(valid.to(tl.int32), axis=0) > 0  # slots past every row's position may hold garbage
    # [BLOCK, D]
    k = tl.load(k_ptr + page * stride_kp + kv * stride_kh + off[:, None] * stride_kb + d[None, :],
                mask=key_ok[:, None], other=0.0)
    # [R, BLOCK]
    s = tl.dot(q, tl.trans(k), input_precision=DOT_PREC) * scale_log2
    s = tl.where(valid, s, float("-inf"))
    m = tl.max(s, axis=1)
    m = tl.where(row_ok, m, 0.0)  # every selected block holds a visible key; padding rows stay finite
    p = tl.exp2(s - m[:, None])
    l = tl.sum(p, axis=1)
    # [BLOCK, D]
    v = tl.load(v_ptr + page * stride_vp + kv * stride_vh + off[:, None] * stride_vb + d[None, :],
                mask=key_ok[:, None], other=0.0)
    o = tl.dot(p.to(v.dtype), v, input_precision=DOT_PREC) / tl.where(row_ok, l, 1.0)[:, None]
    out = pair * G + head  # partials are [pairs, G, D]
    tl.store(part_ptr + out[:, None] * D + d[None, :], o.to(part_ptr.dtype.element_ty), mask=row_ok[:, None])
    tl.store(lse_ptr + out, m + tl.log2(tl.where(row_ok, l, 1.0)), mask=row_ok)


@triton.jit
def _merge_pairs_kernel(
    part_ptr, lse_ptr, sel_ptr, o_ptr, n_tokens, stride_ot, stride_oh,
    G: tl.constexpr, G_P: tl.constexpr, D: tl.constexpr, TOPK: tl.constexpr, TB: tl.constexpr,
):
    kv = tl.program_id(1)
    r = tl.arange(0, TB * G_P)
    tok = (tl.program_id(0) * TB + r // G_P).to(tl.int64)  # rows are (token, query head)
    head = r % G_P
    row_ok = (tok < n_tokens) & (head < G)
    first = (kv * n_tokens + tok) * TOPK  # each row's token's first pair
    d = tl.arange(0, D)
    m = tl.full([TB * G_P], float("-inf"), tl.float32)
    l = tl.zeros([TB * G_P], tl.float32)
    acc = tl.zeros([TB * G_P, D], tl.float32)
    for i in tl.static_range(TOPK):
        used = row_ok & (tl.load(sel_ptr + first + i, mask=row_ok, other=-1) >= 0)
        lse = tl.load(lse_ptr + (first + i) * G + head, mask=used, other=float("-inf"))  # [R]
        m_new = tl.maximum(m, lse)
        m_use = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m - m_use)
        w = tl.exp2(lse - m_use)
        # [R, D]
        o_i = tl.load(part_ptr + ((first + i) * G + head)[:, None] * D + d[None, :], mask=used[:, None], other=0.0)
        acc = acc * alpha[:, None] + w[:, None] * o_i.to(tl.float32)
        l = l * alpha + w
        m = m_new
    out = acc / tl.where(row_ok, l, 1.0)[:, None]
    tl.store(o_ptr + tok[:, None] * stride_ot + (kv * G + head)[:, None] * stride_oh + d[None, :],
             out.to(o_ptr.dtype.element_ty), mask=row_ok[:, None])


def tokens_per_item(group_p: int) -> int:
    """Queries of one page per program: 128 rows on the GPU, 1024 under the CPU interpreter."""
    rows = 1024 if interpreting() else 128
    return max(1, rows // group_p)


def _work_items(keys: torch.Tensor, n_buckets: int, mt: int):
    """Group pair ids by bucket and cut each bucket into items of at most `mt` pairs."""
    order = torch.argsort(keys, stable=True).to(torch.int32)  # pairs of a bucket stay in token order
    counts = torch.bincount(keys, minlength=n_buckets + 1)[:n_buckets]
    bucket_off = torch.zeros(n_buckets + 1, dtype=torch.int64, device=keys.device)
    bucket_off[1:] = counts.cumsum(0)
    items = (counts + mt - 1) // mt
    item_end = items.cumsum(0)
    max_items = keys.numel() // mt + min(keys.numel(), n_buckets) + 1  # bound known on the host
    item_ids = torch.arange(max_items, device=keys.device)
    item_bucket = torch.searchsorted(item_end, item_ids, right=True).clamp_(max=n_buckets - 1)
    first_item = item_end[item_bucket] - items[item_bucket]
    item_start = bucket_off[item_bucket] + (item_ids - first_item) * mt
    n_items = item_end[-1:].to(torch.int32)
    return (order, bucket_off.to(torch.int32), item_bucket.to(torch.int32), item_start.to(torch.int32),
            n_items, max_items)


def launch_kv_major_attention(q, k_cache, v_cache, block_table, selection, cu_seqlens_q, seq_lens, out,
                              *, softmax_scale, max_q_len):
    """Fill `out` `[T, H, D]` from `selection` `[Hkv, T, k]`. Arguments are trusted."""
    del max_q_len  # same signature as the token-tile launcher; pairs carry their own positions
    total_q, n_heads, dim = q.shape
    seq_ids, positions = token_positions(cu_seqlens_q, seq_lens, total_q)
    n_pages, n_kv, block = k_cache.shape[0], k_cache.shape[1], k_cache.shape[2]
    topk = selection.shape[2]
    group = n_heads // n_kv
    group_p = triton.next_power_of_2(group)
    mt = max(tokens_per_item(group_p), triton.cdiv(16, group_p))
    per_token = n_kv * topk * group * dim * q.element_size()
    chunk = max(1, PARTIAL_BYTES // per_token)
    for a in range(0, total_q, chunk):
        b = min(total_q, a + chunk)
        sel = selection[:, a:b].contiguous()  # [Hkv, Tc, k]
        pages = block_table[seq_ids[a:b].long()[None, :, None], sel.clamp_min(0).long()]
        kv_of = torch.arange(n_kv, device=q.device)[:, None, None]
        keys = torch.where(sel >= 0, kv_of * n_pages + pages, n_kv * n_pages).flatten()
        order, bucket_off, item_bucket, item_start, n_items, max_items = _work_items(keys, n_kv * n_pages, mt)
        part = layout.new_buffer((keys.numel(), group, dim), q.dtype, q.device)
        lse = layout.new_buffer((keys.numel(), group), torch.float32, q.device)
        _kv_major_attn_kernel[(max_items,)](
            q[a:b], k_cache, v_cache, sel, positions[a:b], order, bucket_off, item_bucket, item_start,
            n_items, part, lse,
            q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
            v_cache.stride(0), v_cache.stride(1), v_cache.stride(2),
            b - a, n_pages, softmax_scale * _LOG2E,
            G=group, G_P=group_p, D=dim, BLOCK=block, MT=mt, TOPK=topk, DOT_PREC=dot_precision(q.dtype),
            num_warps=8 if mt * group_p >= 128 else 4,
        )
        tb = max(1, (1024 if interpreting() else 64) // group_p)
        _merge_pairs_kernel[(triton.cdiv(b - a, tb), n_kv)](
            part, lse, sel, out[a:b], b - a, out.stride(0), out.stride(1),
            G=group, G_P=group_p, D=dim, TOPK=topk, TB=tb, num_warps=4,
        )
    return out
