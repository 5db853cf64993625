"""MSA end to end: select the blocks, then attend to them, for prefill and for decode.

Prefill (any number of new tokens per sequence, after any cached prefix):
    `msa_block_scores` -> `msa_topk` -> `msa_sparse_attention` (one split).
Decode (a few new tokens per sequence, long contexts):
    split scoring over the KV blocks with running top lists -> top-k merge ->
    sparse attention split over the selected blocks with a log-sum-exp merge.
Both return exactly what the reference does (`reference.msa_attention`) up to rounding.
"""

from __future__ import annotations

import torch
import triton

from . import layout
from .attention import check_attention_inputs, prefill_launcher
from .candidates import launch_candidates
from .decode import launch_decode_attention
from .layout import (
    FLOAT_DTYPES,
    BatchInfo,
    check_batch,
    check_tensor,
    fail,
    softmax_scale_or_default,
    token_positions,
)
from .scoring import check_index_inputs, launch_block_scores, query_rows_per_tile
from .topk import check_selection_params, launch_topk

MAX_DECODE_TOKENS = 16
# Prefill selection through the candidates kernel (block scores kept on chip, no [Hi, T, NB]
# tensor) instead of block scores + top-k: 41 vs 24 ms at 128K on an H200 (docs/benchmarks.md),
# the per-block insertion costs more than the tensor it saves. Kept for memory-bound uses.
FUSED_PREFILL_TOPK = False


def msa_select(
    iq: torch.Tensor,
    index_k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    *,
    topk: int = 16,
    init_blocks: int = 0,
    local_blocks: int = 1,
    block_size: int | None = None,
) -> torch.Tensor:
    """Prefill selection: int32 `[Hi, T, topk]` (see `msa_topk` for the row layout).

    Shapes as in `msa_block_scores`. Writes an fp32 `[Hi, T, NB]` block-score buffer on the
    way; chunk very long prefills to bound it. A NaN/inf in iq raises ValueError ("non-finite
    index scores"); a NaN score from the index-K cache ranks as -inf (see README).
    """
    check_selection_params(topk, init_blocks, local_blocks)
    block, info = check_index_inputs(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, block_size)
    n_heads, total_q = iq.shape[1], iq.shape[0]
    _, positions = token_positions(cu_seqlens_q, seq_lens, total_q)
    out = layout.new_buffer((n_heads, total_q, topk), torch.int32, iq.device)
    if FUSED_PREFILL_TOPK:
        cand_s, cand_i = launch_candidates(
            iq,
            index_k_cache,
            block_table,
            cu_seqlens_q,
            seq_lens,
            max_q_len=info.max_q_len,
            max_blocks=info.max_blocks,
            blocks_per_split=max(1, info.max_blocks),
            topk=topk,
            init_blocks=init_blocks,
            local_blocks=local_blocks,
            tokens_per_tile=max(1, query_rows_per_tile() // triton.next_power_of_2(n_heads)),
        )
        return launch_topk(
            cand_s,
            cand_i,
            positions,
            out,
            block_size=block,
            topk=topk,
            init_blocks=init_blocks,
            local_blocks=local_blocks,
        )
    scores = layout.new_buffer((n_heads, total_q, info.max_blocks), torch.float32, iq.device)
    launch_block_scores(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, scores, max_q_len=info.max_q_len)
    return rank_block_scores(scores, positions, out, info, block=block, topk=topk, init=init_blocks, local=local_blocks)


def rank_block_scores(scores, positions, out, info: BatchInfo, *, block: int, topk: int, init: int, local: int):
    """`launch_topk` over a prefill's block scores `[Hi, T, NB]` into `out`, in width buckets."""
    for t0, t1, width in _width_buckets(info, block, scores.shape[1]):
        launch_topk(
            scores[:, t0:t1, :width],
            None,
            positions[t0:t1],
            out[:, t0:t1],
            block_size=block,
            topk=topk,
            init_blocks=init,
            local_blocks=local,
        )
    return out


def _width_buckets(info: BatchInfo, block: int, total_q: int) -> list[tuple[int, int, int]]:
    """Token ranges `[t0, t1)` of a prefill and how many block-score columns their rows need.

    A query at position p sees `p // block + 1` blocks, so in a long prefill early rows rank a few
    columns and late rows many: ranking each range of rows that needs the same power of two of
    columns reads and ranks about 40% fewer of them than one launch over all rows. Past a few
    sequences (or for short ones) one launch over everything."""
    if info.num_seqs > 4 or info.max_blocks <= 64 or len(info.cu_seqlens) != info.num_seqs + 1:
        return [(0, total_q, info.max_blocks)]
    out = []
    for s in range(info.num_seqs):
        q0, q1, seq_len = info.cu_seqlens[s], info.cu_seqlens[s + 1], info.seq_lens[s]
        first = seq_len - (q1 - q0)  # position of token q0
        t = q0
        while t < q1:
            width = max(64, triton.next_power_of_2((first + t - q0) // block + 1))  # few launches
            end = min(q1, q0 + width * block - first)  # the first token that needs more columns
            out.append((t, end, min(width, info.max_blocks)))
            t = end
    return out


def default_blocks_per_split(max_blocks: int, num_seqs: int) -> int:
    """Enough splits to fill a GPU (about 256 programs), but at least 8 blocks a split so the
    merge ranks few candidates (15 per split at M3's top-16)."""
    return max(8, triton.cdiv(max_blocks, max(1, 256 // max(1, num_seqs))))


def msa_decode_select(
    iq: torch.Tensor,
    index_k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    *,
    topk: int = 16,
    init_blocks: int = 0,
    local_blocks: int = 1,
    block_size: int | None = None,
    blocks_per_split: int | None = None,
) -> torch.Tensor:
    """Decode selection for at most 16 new tokens per sequence: int32 `[Hi, T, topk]`.

    Each sequence's blocks are split over programs of `blocks_per_split` blocks (default: enough
    programs to fill a GPU); each keeps its best `topk - init - local` blocks and a merge picks
    the final ones. Same result as `msa_select`, the same ValueError for a NaN/inf in iq.
    """
    check_selection_params(topk, init_blocks, local_blocks)
    block, info = check_index_inputs(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, block_size)
    if info.max_q_len > MAX_DECODE_TOKENS:
        fail(
            f"a sequence has {info.max_q_len} new tokens; decode takes at most {MAX_DECODE_TOKENS} per "
            "sequence: use msa_select / msa_prefill for longer chunks"
        )
    if blocks_per_split is None:
        blocks_per_split = default_blocks_per_split(info.max_blocks, info.num_seqs)
    if blocks_per_split < 1:
        fail(f"blocks_per_split={blocks_per_split}; it must be >= 1")
    cand_s, cand_i = launch_candidates(
        iq,
        index_k_cache,
        block_table,
        cu_seqlens_q,
        seq_lens,
        max_q_len=info.max_q_len,
        max_blocks=info.max_blocks,
        blocks_per_split=blocks_per_split,
        topk=topk,
        init_blocks=init_blocks,
        local_blocks=local_blocks,
    )
    _, positions = token_positions(cu_seqlens_q, seq_lens, iq.shape[0])
    out = layout.new_buffer((iq.shape[1], iq.shape[0], topk), torch.int32, iq.device)
    return launch_topk(
        cand_s, cand_i, positions, out, block_size=block, topk=topk, init_blocks=init_blocks, local_blocks=local_blocks
    )


def _check_layer(q, iq, k_cache, v_cache, index_k_cache, block_table, cu_seqlens_q, seq_lens) -> BatchInfo:
    """Validate a whole layer's call, prefill or decode alike: q and the K/V caches (shapes,
    dtypes, page size = the index-K cache's), iq against q, and the batch against the K/V
    caches' pages. The selection functions check the batch against the index-K cache."""
    check_attention_inputs(q, k_cache, v_cache, index_k_cache.shape[1])
    check_tensor("iq", iq, rank=3, dtypes=FLOAT_DTYPES, device=q.device)
    if iq.shape[0] != q.shape[0]:
        fail(f"q has {q.shape[0]} tokens but iq has {iq.shape[0]}; pass the same packed tokens")
    if iq.shape[1] != k_cache.shape[1]:
        fail(
            f"iq has {iq.shape[1]} index heads but the cache has {k_cache.shape[1]} KV heads; "
            "MSA needs one index head per KV head"
        )
    return check_batch(
        block_table=block_table,
        cu_seqlens_q=cu_seqlens_q,
        seq_lens=seq_lens,
        total_q=q.shape[0],
        block_size=k_cache.shape[2],
        num_pages=k_cache.shape[0],
        device=q.device,
    )


def msa_prefill(
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
    schedule: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One MSA layer's attention for prefill chunks: returns (out `[T, H, D]`, selection).

    q `[T, H, D]` and iq `[T, Hi, Di]` with Hi = Hkv; caches as in `layout.py`, already holding
    the new tokens. With at most `topk` visible blocks a query's output is dense causal attention.
    Raises ValueError for a block table naming a page outside the K/V or index-K caches, and
    for a NaN/inf in iq ("non-finite index scores": the selection would be undefined).
    """
    info = _check_layer(q, iq, k_cache, v_cache, index_k_cache, block_table, cu_seqlens_q, seq_lens)
    selection = msa_select(
        iq,
        index_k_cache,
        block_table,
        cu_seqlens_q,
        seq_lens,
        topk=topk,
        init_blocks=init_blocks,
        local_blocks=local_blocks,
    )
    launch = prefill_launcher(info.max_blocks, topk, schedule)
    out = launch(
        q,
        k_cache,
        v_cache,
        block_table,
        selection,
        cu_seqlens_q,
        seq_lens,
        layout.new_buffer(q.shape, q.dtype, q.device),
        softmax_scale=softmax_scale_or_default(softmax_scale, q.shape[2]),
        max_q_len=info.max_q_len,
    )
    return out, selection


def msa_decode(
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
    blocks_per_split: int | None = None,
    num_splits: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One MSA layer's attention for 1..16 new tokens per sequence: (out, selection).

    Same contract and checks as `msa_prefill` (the block table against the K/V and index-K
    caches' pages, a NaN/inf in iq refused); selection is split over the KV blocks and merged,
    attention is split over `num_splits` groups of selected blocks and merged by log-sum-exp.
    Any topk >= init_blocks + local_blocks works, powers of two or not.
    """
    _check_layer(q, iq, k_cache, v_cache, index_k_cache, block_table, cu_seqlens_q, seq_lens)
    if num_splits < 1:
        fail(f"num_splits={num_splits}; it must be >= 1")
    selection = msa_decode_select(
        iq,
        index_k_cache,
        block_table,
        cu_seqlens_q,
        seq_lens,
        topk=topk,
        init_blocks=init_blocks,
        local_blocks=local_blocks,
        blocks_per_split=blocks_per_split,
    )
    seq_ids, positions = token_positions(cu_seqlens_q, seq_lens, q.shape[0])
    out = launch_decode_attention(
        q,
        k_cache,
        v_cache,
        block_table,
        selection,
        seq_ids,
        positions,
        seq_lens,
        layout.new_buffer(q.shape, q.dtype, q.device),
        softmax_scale=softmax_scale_or_default(softmax_scale, q.shape[2]),
        num_splits=num_splits,
    )
    return out, selection
