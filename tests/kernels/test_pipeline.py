"""The whole MSA contract end to end: kernels against `reference.msa_attention`."""

import pytest
import torch

from conftest import assert_close
from kernels.msa import msa_prefill, reference
from kernels.msa.layout import token_positions
from msa_cases import make_batch
from selection_check import check_selection


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("heads,kv_heads,head_dim", [(16, 1, 128), (8, 2, 64)])
def test_prefill_end_to_end(dtype, heads, kv_heads, head_dim, device):
    batch = make_batch([640, 1000, 33], [640, 120, 33], heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                       index_dim=128, block=16, dtype=dtype, device=device)
    out, sel = msa_prefill(batch.q, batch.iq, batch.k_cache, batch.v_cache, batch.index_k_cache, *batch.paging,
                           topk=4)
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    scores = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    check_selection(sel, scores, positions, topk=4, block=16, tol=1e-3)
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)
    assert_close(out, ref, dtype)


def test_prefill_matches_reference_pipeline_exactly_in_fp32(device):
    batch = make_batch([2304, 129], kv_heads=1, heads=4, head_dim=64, index_dim=64, block=128, device=device)
    out, sel = msa_prefill(batch.q, batch.iq, batch.k_cache, batch.v_cache, batch.index_k_cache, *batch.paging)
    ref_out, ref_sel = reference.msa_attention(batch.q, batch.iq, batch.k_cache, batch.v_cache,
                                               batch.index_k_cache, *batch.paging)
    same = (sel.sort(-1).values == ref_sel.sort(-1).values).all(-1)  # [Hi, T]
    assert same.float().mean() > 0.99, "selection sets differ beyond rounding near-ties"
    rows = same.all(0)
    assert_close(out[rows], ref_out[rows], torch.float32)


@pytest.mark.parametrize("init,local", [(0, 1), (1, 2)])
def test_fused_prefill_selection_equals_block_scores_then_topk(init, local, monkeypatch, device):
    """The on-chip alternative (candidates kernel over query tiles) selects the same blocks."""
    from kernels.msa import msa_select, pipeline

    batch = make_batch([700, 333, 20], [700, 50, 20], kv_heads=2, index_dim=64, block=16, device=device)
    kwargs = dict(topk=6, init_blocks=init, local_blocks=local)
    unfused = msa_select(batch.iq, batch.index_k_cache, *batch.paging, **kwargs)
    monkeypatch.setattr(pipeline, "FUSED_PREFILL_TOPK", True)
    fused = msa_select(batch.iq, batch.index_k_cache, *batch.paging, **kwargs)
    assert torch.equal(fused.cpu(), unfused.cpu())


@pytest.mark.parametrize("seq_lens,q_lens", [([2500], [2500]), ([2600, 1500], [900, 1500]), ([1200] * 5, [1200] * 5)])
def test_long_prefill_ranks_rows_in_width_buckets(seq_lens, q_lens, device):
    """Past 64 blocks `msa_select` ranks each range of rows over only the columns it can see
    (whole prefills, a chunk after a cached prefix, and five sequences in one launch): the
    reference's selection, and the buckets really split the rows."""
    from kernels.msa import msa_select, pipeline
    from kernels.msa.layout import check_batch

    batch = make_batch(seq_lens, q_lens, kv_heads=4, index_dim=32, block=16, device=device)
    info = check_batch(block_table=batch.block_table, cu_seqlens_q=batch.cu_seqlens_q, seq_lens=batch.seq_lens,
                       total_q=sum(q_lens), block_size=16, num_pages=batch.index_k_cache.shape[0],
                       device=batch.iq.device)
    buckets = pipeline._width_buckets(info, 16, sum(q_lens))
    assert len(buckets) > 1 if len(seq_lens) < 5 else buckets == [(0, sum(q_lens), info.max_blocks)]
    assert all(w in (64, 128, info.max_blocks) for _, _, w in buckets)
    sel = msa_select(batch.iq, batch.index_k_cache, *batch.paging, topk=8)
    scores = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    _, positions = token_positions(*batch.paging[1:], sum(q_lens))
    check_selection(sel, scores, positions, topk=8, block=16)
