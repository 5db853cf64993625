"""Block-sparse GQA attention for long prefills, scheduled KV-block-major.

Once contexts are long, the tokens of a query tile select nearly disjoint blocks, so a
token-major schedule loads every selected K/V page once per token (1 MB per token and KV head
at M3's shape) and is bound by cache bandwidth. Here the (token, selected block) pairs are
grouped by the page they read (a stable sort on device, no host sync); a program loads one
page of K and V and attends with up to MT tokens x G heads of queries that selected it, so a
page is loaded once per MT tokens. Each pair writes its normalised partial output and base-2
log-sum-exp; a merge kernel combines a token's k partials. The traffic per pair is the query
rows and the partial (4 + 4 + 4 KB at M3's shape) instead of a 64 KB page, so the kernel lives
on dependent loads (pair id, then query rows): it loads the next tile's queries before this
tile's products. Tokens are processed in chunks so the partial buffer stays bounded.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import layout
from .layout import LOG2E, interpreting, token_positions
from .scoring import dot_precision

PARTIAL_BYTES = 2 << 30  # partial outputs held at once; sets the token chunk
GPU_TILE = (64, 16, 4, 1)  # rows per tile, tiles per program (one page load), warps, stages; see docs/benchmarks.md
WARP_SPECIALIZE = False  # Triton's warp specialisation of the tile loop: Triton 3.6's Hopper pass fails on it; A/B knob
PREFETCH = True  # the next tile's query rows (pair ids two tiles ahead) loaded before this tile's math; A/B knob


@triton.jit
def _kv_major_attn_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    sel_ptr,
    pos_ptr,
    seq_ptr,
    len_ptr,
    order_ptr,
    bucket_off_ptr,
    item_bucket_ptr,
    item_start_ptr,
    n_items_ptr,
    part_ptr,
    lse_ptr,
    stride_qt,
    stride_qh,
    stride_kp,
    stride_kh,
    stride_kb,
    stride_vp,
    stride_vh,
    stride_vb,
    n_tokens,
    n_pages,
    scale_log2,
    G: tl.constexpr,
    G_P: tl.constexpr,
    D: tl.constexpr,
    BLOCK: tl.constexpr,
    MT: tl.constexpr,
    NSUB: tl.constexpr,
    TOPK: tl.constexpr,
    DOT_PREC: tl.constexpr,
    STAGES: tl.constexpr,
    PREFETCH: tl.constexpr,
    WS: tl.constexpr,
):
    item = tl.program_id(0)
    if item >= tl.load(n_items_ptr):
        return
    bucket = tl.load(item_bucket_ptr + item)
    start = tl.load(item_start_ptr + item)
    end = tl.minimum(tl.load(bucket_off_ptr + bucket + 1), start + MT * NSUB)
    kv = bucket // n_pages
    page = (bucket % n_pages).to(tl.int64)
    pair0 = tl.load(order_ptr + start).to(tl.int64)  # every pair here reads this page
    tok0 = (pair0 // TOPK) % n_tokens
    seq_len = tl.load(len_ptr + tl.load(seq_ptr + tok0))
    blk = tl.load(sel_ptr + pair0)
    d = tl.arange(0, D)
    off = tl.arange(0, BLOCK)
    j = blk * BLOCK + off  # [BLOCK] absolute key positions
    key_ok = j < seq_len  # slots past the sequence's end may hold garbage
    # [BLOCK, D] loaded once, used by up to MT * NSUB query tokens
    k = tl.load(
        k_ptr + page * stride_kp + kv * stride_kh + off[:, None] * stride_kb + d[None, :],
        mask=key_ok[:, None],
        other=0.0,
    )
    v = tl.load(
        v_ptr + page * stride_vp + kv * stride_vh + off[:, None] * stride_vb + d[None, :],
        mask=key_ok[:, None],
        other=0.0,
    )
    r = tl.arange(0, MT * G_P)
    head = r % G_P
    if PREFETCH:
        # the next tile's query rows are loaded before this tile's products, and its pair ids a
        # tile earlier still, so the dependent loads (pair id, then query rows) overlap the math
        pair, row_ok = _tile_pairs(order_ptr, start, end, r, head, G, G_P)
        pos, q = _tile_queries(q_ptr, pos_ptr, pair, row_ok, kv, head, n_tokens, stride_qt, stride_qh, G, D, TOPK)
        pair_n, ok_n = _tile_pairs(order_ptr, start + MT, end, r, head, G, G_P)
        for sub in tl.range(start, end, MT, num_stages=STAGES, warp_specialize=WS):
            pos_n, q_n = _tile_queries(
                q_ptr, pos_ptr, pair_n, ok_n, kv, head, n_tokens, stride_qt, stride_qh, G, D, TOPK
            )
            pair_nn, ok_nn = _tile_pairs(order_ptr, sub + 2 * MT, end, r, head, G, G_P)
            _attend_tile(q, k, v, j, pair, pos, row_ok, head, part_ptr, lse_ptr, scale_log2, G, D, DOT_PREC)
            pair, row_ok, pos, q = pair_n, ok_n, pos_n, q_n
            pair_n, ok_n = pair_nn, ok_nn
    else:
        for sub in tl.range(start, end, MT, num_stages=STAGES, warp_specialize=WS):
            pair, row_ok = _tile_pairs(order_ptr, sub, end, r, head, G, G_P)
            pos, q = _tile_queries(q_ptr, pos_ptr, pair, row_ok, kv, head, n_tokens, stride_qt, stride_qh, G, D, TOPK)
            _attend_tile(q, k, v, j, pair, pos, row_ok, head, part_ptr, lse_ptr, scale_log2, G, D, DOT_PREC)


@triton.jit
def _tile_pairs(order_ptr, first, end, r, head, G: tl.constexpr, G_P: tl.constexpr):
    """The pair id of each row of the tile starting at `first`; rows are (pair, query head)."""
    idx = first + r // G_P
    row_ok = (idx < end) & (head < G)
    pair = tl.load(order_ptr + idx, mask=row_ok, other=0).to(tl.int64)  # (kv * T + token) * TOPK + slot
    return pair, row_ok


@triton.jit
def _tile_queries(
    q_ptr,
    pos_ptr,
    pair,
    row_ok,
    kv,
    head,
    n_tokens,
    stride_qt,
    stride_qh,
    G: tl.constexpr,
    D: tl.constexpr,
    TOPK: tl.constexpr,
):
    """The absolute position `[R]` and the query row `[R, D]` of each row's pair."""
    tok = (pair // TOPK) % n_tokens
    pos = tl.load(pos_ptr + tok, mask=row_ok, other=0)
    d = tl.arange(0, D)
    # [R, D]
    q = tl.load(
        q_ptr + tok[:, None] * stride_qt + (kv * G + head)[:, None] * stride_qh + d[None, :],
        mask=row_ok[:, None],
        other=0.0,
    )
    return pos, q


@triton.jit
def _attend_tile(
    q,
    k,
    v,
    j,
    pair,
    pos,
    row_ok,
    head,
    part_ptr,
    lse_ptr,
    scale_log2,
    G: tl.constexpr,
    D: tl.constexpr,
    DOT_PREC: tl.constexpr,
):
    """One tile's normalised partial outputs and base-2 log-sum-exps against the page's keys."""
    d = tl.arange(0, D)
    # [R, BLOCK]
    s = tl.dot(q, tl.trans(k), input_precision=DOT_PREC) * scale_log2
    s = tl.where(row_ok[:, None] & (j[None, :] <= pos[:, None]), s, float("-inf"))
    m = tl.where(row_ok, tl.max(s, axis=1), 0.0)  # a selected block always holds a visible key
    p = tl.exp2(s - m[:, None])
    row_sum = tl.where(row_ok, tl.sum(p, axis=1), 1.0)
    o = tl.dot(p.to(v.dtype), v, input_precision=DOT_PREC) / row_sum[:, None]
    out = pair * G + head  # partials are [pairs, G, D]
    tl.store(part_ptr + out[:, None] * D + d[None, :], o.to(part_ptr.dtype.element_ty), mask=row_ok[:, None])
    tl.store(lse_ptr + out, m + tl.log2(row_sum), mask=row_ok)


@triton.jit
def _merge_pairs_kernel(
    part_ptr,
    lse_ptr,
    sel_ptr,
    o_ptr,
    n_tokens,
    stride_ot,
    stride_oh,
    G: tl.constexpr,
    G_P: tl.constexpr,
    D: tl.constexpr,
    TOPK: tl.constexpr,
    K_P: tl.constexpr,
):
    tok = tl.program_id(0).to(tl.int64)
    kv = tl.program_id(1)
    first = (kv * n_tokens + tok) * TOPK  # this (KV head, token)'s first pair; its k pairs are adjacent
    r = tl.arange(0, K_P * G_P)
    slot = r // G_P  # rows are (slot, query head): the token's partials, one contiguous read
    head = r % G_P
    used = (slot < TOPK) & (head < G)
    used = used & (tl.load(sel_ptr + first + slot, mask=used, other=-1) >= 0)
    lse = tl.load(lse_ptr + (first + slot) * G + head, mask=used, other=float("-inf"))  # [R]
    lse = tl.reshape(lse, (K_P, G_P))
    w = tl.exp2(lse - tl.max(lse, axis=0)[None, :])
    w = w / tl.sum(w, axis=0)[None, :]  # [K_P, G_P]
    d = tl.arange(0, D)
    # [R, D]
    part = tl.load(part_ptr + ((first + slot) * G + head)[:, None] * D + d[None, :], mask=used[:, None], other=0.0)
    out = tl.sum(tl.reshape(part.to(tl.float32), (K_P, G_P, D)) * w[:, :, None], axis=0)  # [G_P, D]
    heads = tl.arange(0, G_P)
    tl.store(
        o_ptr + tok * stride_ot + (kv * G + heads)[:, None] * stride_oh + d[None, :],
        out.to(o_ptr.dtype.element_ty),
        mask=heads[:, None] < G,
    )


def tokens_per_item(group_p: int) -> tuple[int, int]:
    """(tokens per tile, tiles per program) of one page: GPU_TILE on the GPU (a page is loaded
    once per program); two 512-row tiles under the CPU interpreter."""
    rows, tiles = (512, 2) if interpreting() else GPU_TILE[:2]
    return max(1, rows // group_p, triton.cdiv(16, group_p)), tiles


def _work_items(keys: torch.Tensor, n_buckets: int, mt: int):
    """Group pair ids by bucket and cut each bucket into items of at most `mt` pairs."""
    order = torch.argsort(keys, stable=True).to(torch.int32)  # pairs of a bucket stay in token order
    # a count by scatter, not torch.bincount: on CUDA bincount reads the largest key back to the host
    # (a sync per chunk, during which the GPU idles)
    counts = torch.zeros(n_buckets + 1, dtype=keys.dtype, device=keys.device)
    counts = counts.index_add_(0, keys, torch.ones_like(keys))[:n_buckets].long()
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
    return (
        order,
        bucket_off.to(torch.int32),
        item_bucket.to(torch.int32),
        item_start.to(torch.int32),
        n_items,
        max_items,
    )


def launch_kv_major_attention(
    q, k_cache, v_cache, block_table, selection, cu_seqlens_q, seq_lens, out, *, softmax_scale, max_q_len
):
    """Fill `out` `[T, H, D]` from `selection` `[Hkv, T, k]`. Arguments are trusted."""
    del max_q_len  # same signature as the token-tile launcher; pairs carry their own positions
    total_q, n_heads, dim = q.shape
    seq_ids, positions = token_positions(cu_seqlens_q, seq_lens, total_q)
    n_pages, n_kv, block = k_cache.shape[0], k_cache.shape[1], k_cache.shape[2]
    topk = selection.shape[2]
    group = n_heads // n_kv
    group_p = triton.next_power_of_2(group)
    mt, n_sub = tokens_per_item(group_p)
    per_token = n_kv * topk * group * dim * q.element_size()
    chunk = max(1, PARTIAL_BYTES // per_token)
    for a in range(0, total_q, chunk):
        b = min(total_q, a + chunk)
        sel = selection[:, a:b].contiguous()  # [Hkv, Tc, k]
        pages = block_table[seq_ids[a:b].long()[None, :, None], sel.clamp_min(0).long()]
        # int32 sort keys where they fit: a radix sort takes half the passes of int64's
        key_type = torch.int32 if n_kv * n_pages < 2**31 - 1 else torch.int64
        kv_of = torch.arange(n_kv, device=q.device, dtype=key_type)[:, None, None]
        keys = torch.where(sel >= 0, kv_of * n_pages + pages.to(key_type), n_kv * n_pages).flatten()
        order, bucket_off, item_bucket, item_start, n_items, max_items = _work_items(keys, n_kv * n_pages, mt * n_sub)
        part = layout.new_buffer((keys.numel(), group, dim), q.dtype, q.device)
        lse = layout.new_buffer((keys.numel(), group), torch.float32, q.device)
        _kv_major_attn_kernel[(max_items,)](
            q[a:b],
            k_cache,
            v_cache,
            sel,
            positions[a:b],
            seq_ids[a:b],
            seq_lens,
            order,
            bucket_off,
            item_bucket,
            item_start,
            n_items,
            part,
            lse,
            q.stride(0),
            q.stride(1),
            k_cache.stride(0),
            k_cache.stride(1),
            k_cache.stride(2),
            v_cache.stride(0),
            v_cache.stride(1),
            v_cache.stride(2),
            b - a,
            n_pages,
            softmax_scale * LOG2E,
            G=group,
            G_P=group_p,
            D=dim,
            BLOCK=block,
            MT=mt,
            NSUB=n_sub,
            TOPK=topk,
            DOT_PREC=dot_precision(q.dtype),
            STAGES=GPU_TILE[3],
            PREFETCH=PREFETCH,
            WS=WARP_SPECIALIZE,
            num_warps=GPU_TILE[2],
        )
        _merge_pairs_kernel[(b - a, n_kv)](
            part,
            lse,
            sel,
            out[a:b],
            b - a,
            out.stride(0),
            out.stride(1),
            G=group,
            G_P=group_p,
            D=dim,
            TOPK=topk,
            K_P=triton.next_power_of_2(topk),
            num_warps=8,
        )
    return out
