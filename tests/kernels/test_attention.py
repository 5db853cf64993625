"""Prefill block-sparse attention against the fp32 reference, given the same selection."""

import math

import pytest
import torch

from conftest import assert_close
from kernels.msa import msa_prefill, msa_sparse_attention, reference
from kernels.msa.layout import token_positions
from msa_cases import make_batch

LENGTHS = [1, 127, 128, 129, 2047, 2048, 2049, 2304, 3000]


def reference_selection(batch, *, topk, block):
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    scores = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    return reference.topk_blocks(scores, positions, topk=topk, block_size=block)


def _check_attention(batch, *, topk, block, dtype, schedule=None):
    sel = reference_selection(batch, topk=topk, block=block)
    out = msa_sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel, schedule=schedule)
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)
    assert out.dtype == batch.q.dtype and out.shape == batch.q.shape
    assert_close(out, ref, dtype)


SCHEDULES = ["tile", "kv_major"]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("n", LENGTHS)
def test_m3_shape_lengths(n, schedule, device):
    batch = make_batch([n], heads=16, kv_heads=1, head_dim=128, index_dim=128, block=128,
                       dtype=torch.bfloat16, device=device)
    _check_attention(batch, topk=16, block=128, dtype=torch.bfloat16, schedule=schedule)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("head_dim", [64, 128])
@pytest.mark.parametrize("heads,kv_heads", [(16, 1), (8, 2)])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_gqa_head_dims_dtypes_chunked_mixed_batch(schedule, heads, kv_heads, head_dim, dtype, device):
    """Small blocks (16, top-4) give long-context behaviour at a few hundred tokens; the batch
    mixes a full prefill, a chunk after a cached prefix, and a single token."""
    batch = make_batch([300, 517, 40], [300, 100, 1], heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                       index_dim=64, block=16, dtype=dtype, device=device)
    _check_attention(batch, topk=4, block=16, dtype=dtype, schedule=schedule)


@pytest.mark.parametrize("n", [2048, 1000])
def test_few_blocks_is_exactly_dense_causal_attention(n, device):
    """With at most k visible blocks MSA is dense causal attention (MSA.md §4)."""
    batch = make_batch([n], heads=8, kv_heads=2, head_dim=64, index_dim=64, block=128, device=device)
    out, sel = msa_prefill(batch.q, batch.iq, batch.k_cache, batch.v_cache, batch.index_k_cache, *batch.paging)
    last = (torch.arange(n, device=device) // 128).long()
    assert (sel.long().gather(-1, last.expand(2, n)[..., None])[..., 0] == last).all(), "local block not selected"
    keys = reference.gather_pages(batch.k_cache.transpose(1, 2), batch.block_table[0], n)  # [n, Hkv, D]
    values = reference.gather_pages(batch.v_cache.transpose(1, 2), batch.block_table[0], n)
    dense = torch.nn.functional.scaled_dot_product_attention(
        batch.q.transpose(0, 1), keys.transpose(0, 1).repeat_interleave(4, 0),
        values.transpose(0, 1).repeat_interleave(4, 0), is_causal=True, scale=1 / math.sqrt(64),
    ).transpose(0, 1)
    assert_close(out, dense, torch.float32)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_unused_slots_and_poisoned_cache_tails_are_ignored(schedule, device):
    """-1 slots add nothing; NaN in cache slots past the sequence never reaches the output."""
    batch = make_batch([100], heads=4, kv_heads=1, head_dim=64, index_dim=64, block=16, device=device)
    sel = reference_selection(batch, topk=4, block=16)
    sel[..., :2] = torch.where(sel[..., 2:3] >= 0, -1, sel[..., :2])  # drop two ranked picks
    sel = torch.cat([sel[..., 2:], sel[..., :2]], dim=-1).contiguous()
    out = msa_sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel, schedule=schedule)
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)
    assert_close(out, ref, torch.float32)


def test_kv_major_chunks_tokens_to_bound_partials(monkeypatch, device):
    from kernels.msa import kv_major

    batch = make_batch([400, 90], [400, 30], heads=8, kv_heads=2, head_dim=64, index_dim=64, block=16,
                       device=device)
    monkeypatch.setattr(kv_major, "PARTIAL_BYTES", 2 * 4 * 4 * 64 * 4 * 37)  # 37 tokens a chunk
    _check_attention(batch, topk=4, block=16, dtype=torch.float32, schedule="kv_major")


def test_kv_major_query_prefetch_changes_no_arithmetic(monkeypatch, device):
    """Loading the next tile's queries ahead (`PREFETCH`) gives the same bits as loading them in turn;
    pages here hold more pairs than one tile, so the prefetched rows are used."""
    from kernels.msa import kv_major

    batch = make_batch([900, 90], [900, 30], heads=8, kv_heads=2, head_dim=64, index_dim=64, block=16,
                       dtype=torch.bfloat16, device=device)
    sel = reference_selection(batch, topk=4, block=16)
    outs = []
    for prefetch in (False, True):
        monkeypatch.setattr(kv_major, "PREFETCH", prefetch)
        outs.append(msa_sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel,
                                         schedule="kv_major"))
    assert torch.equal(outs[0], outs[1])
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)
    assert_close(outs[1], ref, torch.bfloat16)


def test_schedule_choice_and_override():
    from kernels.msa.attention import choose_schedule

    assert choose_schedule(16, 16)[0] == "tile"
    assert choose_schedule(17, 16)[0] == "kv_major"
    assert choose_schedule(17, 16, "tile")[0] == "tile"
    with pytest.raises(ValueError, match="schedule='fast'"):
        choose_schedule(17, 16, "fast")
