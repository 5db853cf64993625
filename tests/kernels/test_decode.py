"""Decode: split block scoring with a top-k merge, and split sparse attention with an LSE merge."""

import pytest
import torch

from conftest import assert_close
from kernels.msa import (
    decode_splits,
    launch_decode_attention,
    msa_decode,
    msa_decode_attention,
    msa_decode_select,
    msa_select,
    reference,
)
from kernels.msa.layout import token_positions
from msa_cases import make_batch
from selection_check import check_selection

SEQS = [1, 127, 128, 129, 2047, 2048, 2049, 2304, 5000]


@pytest.mark.parametrize("new_tokens", [1, 4])
@pytest.mark.parametrize("blocks_per_split", [None, 3])
def test_decode_selection_matches_reference(new_tokens, blocks_per_split, device):
    lens = [n for n in SEQS if n >= new_tokens]
    batch = make_batch(lens, [new_tokens] * len(lens), kv_heads=4, index_dim=128, block=128,
                       dtype=torch.bfloat16, device=device)
    sel = msa_decode_select(batch.iq, batch.index_k_cache, *batch.paging, blocks_per_split=blocks_per_split)
    scores = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    check_selection(sel, scores, positions, topk=16, block=128, tol=1e-3)


@pytest.mark.parametrize("init,local", [(0, 1), (1, 2)])
def test_decode_selection_equals_prefill_selection_on_small_blocks(init, local, device):
    batch = make_batch([700, 333, 20], [4, 1, 3], kv_heads=2, index_dim=64, block=16, device=device)
    kwargs = dict(topk=6, init_blocks=init, local_blocks=local)
    decode = msa_decode_select(batch.iq, batch.index_k_cache, *batch.paging, blocks_per_split=5, **kwargs)
    prefill = msa_select(batch.iq, batch.index_k_cache, *batch.paging, **kwargs)
    assert torch.equal(decode.cpu(), prefill.cpu())
    scores = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    check_selection(decode, scores, positions, topk=6, block=16, init_blocks=init, local_blocks=local)


def test_decode_ties_go_to_the_lower_block_across_splits(device):
    batch = make_batch([2304], [1], kv_heads=1, index_dim=64, block=128, device=device)
    batch.iq.zero_()
    batch.index_k_cache.nan_to_num_(0.0).zero_()
    sel = msa_decode_select(batch.iq, batch.index_k_cache, *batch.paging, blocks_per_split=2)
    assert sel[0, 0].tolist() == list(range(15)) + [17]


@pytest.mark.parametrize("num_splits", [1, 3, 4, 16])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("heads,kv_heads,head_dim", [(16, 1, 128), (8, 2, 64)])
def test_decode_attention_matches_reference(num_splits, dtype, heads, kv_heads, head_dim, device):
    batch = make_batch([2304, 129, 5000, 1], [4, 1, 4, 1], heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                       index_dim=64, block=128, dtype=dtype, device=device)
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    sel = reference.topk_blocks(reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging),
                                positions, topk=16, block_size=128)
    out = msa_decode_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel, num_splits=num_splits)
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)
    assert_close(out, ref, dtype)


@pytest.mark.parametrize("num_splits", [decode_splits(256), 64])
def test_wide_dense_selection_over_many_splits(num_splits, device):
    """A full-attention layer's selection (every visible block, -1 padded to a wide table) split
    over many programs: splits with no valid block and a merge with fewer heads a program."""
    batch = make_batch([5000, 700], [1, 1], heads=16, kv_heads=2, head_dim=64, index_dim=64, block=128,
                       dtype=torch.bfloat16, device=device)
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    ids = torch.arange(256, device=device, dtype=torch.int32)
    sel = torch.where(ids[None, :] <= (positions[:, None] // 128), ids[None, :], -1)[None].expand(2, -1, -1)
    out = msa_decode_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel.contiguous(),
                               num_splits=num_splits)
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel.contiguous())
    assert_close(out, ref, torch.bfloat16)
    # the runtime's graph step promises the valid prefix, so the kernel stops at the visible blocks
    seq_ids, _ = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    fast = torch.full_like(batch.q, float("nan"))
    launch_decode_attention(batch.q, batch.k_cache, batch.v_cache, batch.block_table, sel.contiguous(), seq_ids,
                            positions, batch.seq_lens, fast, softmax_scale=64**-0.5, num_splits=num_splits,
                            visible_prefix=True)
    assert_close(fast, ref, torch.bfloat16)


def test_decode_splits():
    assert [decode_splits(w) for w in (16, 64, 256, 1024, 8192)] == [16, 16, 32, 128, 128]


@pytest.mark.parametrize("new_tokens", [1, 4])
def test_msa_decode_end_to_end(new_tokens, device):
    batch = make_batch([3000, 600, 17], [new_tokens] * 3, heads=16, kv_heads=2, head_dim=64, index_dim=64,
                       block=16, device=device)
    out, sel = msa_decode(batch.q, batch.iq, batch.k_cache, batch.v_cache, batch.index_k_cache, *batch.paging,
                          topk=4, blocks_per_split=7, num_splits=2)
    scores = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    _, positions = token_positions(batch.cu_seqlens_q, batch.seq_lens, batch.q.shape[0])
    check_selection(sel, scores, positions, topk=4, block=16, tol=1e-4)
    ref = reference.sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)
    assert_close(out, ref, torch.float32)
