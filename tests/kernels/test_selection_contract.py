"""The reference's selection rule and the checker itself, on hand-made and random cases.

Includes the negative controls: selections that break §4 (bottom-k, local block dropped,
local block first) must be rejected, or the other tests prove nothing.
"""

import pytest
import torch

from kernels.msa import reference
from selection_check import check_selection


def test_all_zero_case_selects_0_to_14_then_17():
    scores = torch.zeros(1, 1, 18)
    sel = reference.topk_blocks(scores, torch.tensor([2303], dtype=torch.int32), topk=16, block_size=128)
    assert sel[0, 0].tolist() == list(range(15)) + [17]


def test_dense_rows_select_every_visible_block_in_order():
    positions = torch.tensor([0, 127, 128, 2047, 2048], dtype=torch.int32)
    sel = reference.topk_blocks(torch.randn(2, 5, 17), positions, topk=16, block_size=128)
    assert sel[0, 0].tolist() == [0] + [-1] * 15
    assert sel[1, 2].tolist() == [0, 1] + [-1] * 14
    assert sel[0, 3].tolist() == list(range(16))
    assert sel[0, 4, -1].item() == 16 and (sel[0, 4] >= 0).all()


def test_init_and_local_parameters_place_forced_blocks():
    scores = torch.arange(40, dtype=torch.float32).flip(0)[None, None, :]  # block 0 best
    sel = reference.topk_blocks(scores, torch.tensor([39 * 16 + 3], dtype=torch.int32),
                                topk=6, block_size=16, init_blocks=1, local_blocks=2)
    assert sel[0, 0].tolist() == [0, 1, 2, 3, 38, 39]


def _random_case(n_heads=2, total_q=64, n_blocks=40, block=16):
    positions = torch.randint(0, n_blocks * block, (total_q,), dtype=torch.int32)
    scores = torch.randn(n_heads, total_q, n_blocks)
    return scores, positions


def test_reference_selection_passes_the_checker():
    scores, positions = _random_case()
    sel = reference.topk_blocks(scores, positions, topk=4, block_size=16)
    check_selection(sel, scores, positions, topk=4, block=16)


def _sparse_rows(positions, topk, block):
    return positions // block + 1 > topk


@pytest.mark.parametrize("mutation", ["bottom_k", "local_dropped", "local_first"])
def test_negative_controls_are_rejected(mutation):
    scores, positions = _random_case()
    topk, block = 4, 16
    sel = reference.topk_blocks(scores, positions, topk=topk, block_size=block).clone()
    rows = _sparse_rows(positions, topk, block)
    assert rows.sum() > 10
    last = (positions // block).long()
    if mutation == "bottom_k":
        ids = torch.arange(scores.shape[-1])[None, None, :]
        rankable = ids <= (last - 1)[None, :, None]
        worst = scores.masked_fill(~rankable, float("inf")).argsort(-1)[..., : topk - 1]
        sel[:, rows, : topk - 1] = worst[:, rows].to(torch.int32)
    elif mutation == "local_dropped":
        sel[:, rows, -1] = torch.where(sel[:, rows, 0] == 0, 1, 0).to(torch.int32)
    else:
        sel[:, rows] = sel[:, rows].roll(1, dims=-1)
    with pytest.raises(AssertionError):
        check_selection(sel, scores, positions, topk=topk, block=block)
    with pytest.raises(AssertionError):
        check_selection(sel, scores, positions, topk=topk, block=block, tol=1e-3)
