"""Top-k selection kernel: exact sets and order against the reference, ties included."""

import pytest
import torch

from kernels.msa import msa_topk, reference
from selection_check import check_selection


def _positions(total_q, n_blocks, block, device):
    return torch.randint(0, n_blocks * block, (total_q,), dtype=torch.int32, device=device)


@pytest.mark.parametrize("topk,init,local", [(16, 0, 1), (4, 0, 1), (6, 1, 2), (1, 0, 1)])
@pytest.mark.parametrize("n_blocks", [5, 40, 300])
def test_matches_reference_exactly_with_ties(topk, init, local, n_blocks, device):
    block = 16
    positions = _positions(256, n_blocks, block, device)
    scores = torch.randint(-3, 4, (2, 256, n_blocks), device=device).float() / 2  # many ties
    scores = scores.masked_fill(torch.arange(n_blocks, device=device) > (positions // block)[None, :, None],
                                float("-inf"))
    sel = msa_topk(scores, positions, block_size=block, topk=topk, init_blocks=init, local_blocks=local)
    ref = reference.topk_blocks(scores, positions, topk=topk, block_size=block, init_blocks=init,
                                local_blocks=local)
    assert torch.equal(sel.cpu(), ref.cpu())
    check_selection(sel, scores, positions, topk=topk, block=block, init_blocks=init, local_blocks=local)


def test_all_zero_scores_2304_tokens(device):
    positions = torch.arange(2304, dtype=torch.int32, device=device)
    scores = torch.zeros(1, 2304, 18, device=device)
    scores = scores.masked_fill(torch.arange(18, device=device) > (positions // 128)[None, :, None], float("-inf"))
    sel = msa_topk(scores, positions, block_size=128, topk=16)
    assert sel[0, 2303].tolist() == list(range(15)) + [17]
    assert sel[0, 2047].tolist() == list(range(16))
    assert sel[0, 0].tolist() == [0] + [-1] * 15


def test_long_rows_of_a_million_tokens(device):
    n_blocks, block = 8192, 128
    positions = torch.tensor([n_blocks * block - 1, 5000, 2047 * 64], dtype=torch.int32, device=device)
    scores = torch.randn(4, 3, n_blocks, device=device)
    sel = msa_topk(scores, positions, block_size=block, topk=16)
    ref = reference.topk_blocks(scores, positions, topk=16, block_size=block)
    assert torch.equal(sel.cpu(), ref.cpu())


def test_all_zero_index_branch_through_the_prefill_kernels(device):
    """MSA.md §4's known case end to end: zero index q and k, 2304 tokens, top-16 of blocks of 128."""
    from kernels.msa import msa_select
    from msa_cases import make_batch

    batch = make_batch([2304], [256], kv_heads=1, index_dim=64, block=128, device=device)
    batch.iq.zero_()
    batch.index_k_cache.nan_to_num_(0.0).zero_()
    sel = msa_select(batch.iq, batch.index_k_cache, *batch.paging)
    assert sel[0, -1].tolist() == list(range(15)) + [17]
    assert sel[0, 0].tolist() == list(range(15)) + [16]  # position 2048: 17 blocks visible, L = 16


def test_negative_zero_ties_with_positive_zero(device):
    scores = torch.tensor([[[0.0, -0.0, 0.0, -0.0, -1.0, 0.0]]], device=device)
    scores[0, 0, 0] = -0.0  # block 0 holds -0.0: still the lowest id among the tied zeros
    positions = torch.tensor([5 * 16], dtype=torch.int32, device=device)
    sel = msa_topk(scores, positions, block_size=16, topk=3)
    assert sel[0, 0].tolist() == [0, 1, 5]
