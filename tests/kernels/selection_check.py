"""The selection contract (MSA.md §4) as a checker, shared by the kernel tests.

`check_selection` raises AssertionError naming the first broken rule: valid prefix and -1
padding, `min(k, L + 1)` entries, forced blocks in place (the local block L last), and the
ranked blocks being a best set under the reference scores. With `tol == 0` the ranked set
must equal the reference's exactly (ties to the lower id); with `tol > 0` a kernel that
computed scores in another summation order may swap blocks whose scores differ by at most tol.
"""

from __future__ import annotations

import math

import torch

from kernels.msa import reference


def check_selection(
    sel: torch.Tensor,
    scores: torch.Tensor,
    positions: torch.Tensor,
    *,
    topk: int,
    block: int,
    init_blocks: int = 0,
    local_blocks: int = 1,
    tol: float = 0.0,
) -> None:
    sel, scores, positions = sel.cpu().long(), scores.cpu().float(), positions.cpu().long()
    n_heads, total_q, k = sel.shape
    assert k == topk, f"selection has {k} slots, expected {topk}"
    last = (positions // block)[None, :, None]  # [1, T, 1]
    slots = torch.arange(topk)[None, None, :]
    n_valid = torch.clamp(last + 1, max=topk)
    assert torch.equal(sel >= 0, (slots < n_valid).expand_as(sel)), "valid entries must form a prefix, -1 after"
    assert bool(((sel >= 0) | (sel == -1)).all()) and bool((sel <= last).all()), "ids must be -1 or 0..L"
    dense = (last + 1 <= topk).expand_as(sel)
    assert torch.equal(sel[dense], torch.where(slots <= last, slots, -1).expand_as(sel)[dense]), \
        "a row with at most k visible blocks must select 0..L"
    rows = ~dense[..., 0]  # [Hi, T] rows that rank
    if not bool(rows.any()):
        return
    s = sel[rows]  # [n, k]
    l_rows = last.expand(n_heads, total_q, 1)[rows]  # [n, 1]
    assert torch.equal(s[:, :init_blocks], torch.arange(init_blocks).expand(s.shape[0], -1)), "init blocks misplaced"
    local = l_rows - local_blocks + 1 + torch.arange(local_blocks)
    assert torch.equal(s[:, topk - local_blocks:], local), "the local block(s) must close the row, L last"
    ranked = s[:, init_blocks: topk - local_blocks]
    assert bool((ranked >= init_blocks).all()) and bool((ranked <= l_rows - local_blocks).all()), \
        "a ranked block lies outside init..L-local"
    assert bool((ranked.sort(-1).values.diff(dim=-1) != 0).all()), "a block is selected twice"
    row_scores = scores[rows]  # [n, NB]
    ids = torch.arange(row_scores.shape[-1])[None, :]
    rankable = (ids >= init_blocks) & (ids <= l_rows - local_blocks)
    chosen = torch.zeros_like(rankable).scatter_(1, ranked, True)
    if tol == 0.0:
        ref = reference.topk_blocks(scores, positions.to(torch.int32), topk=topk, block_size=block,
                                    init_blocks=init_blocks, local_blocks=local_blocks)
        ref_ranked = ref[rows][:, init_blocks: topk - local_blocks]
        assert torch.equal(ranked.sort(-1).values, ref_ranked.sort(-1).values), \
            "ranked blocks differ from the reference's top set"
        return
    worst_chosen = row_scores.masked_fill(~chosen, math.inf).amin(-1)
    best_left = row_scores.masked_fill(~rankable | chosen, -math.inf).amax(-1)
    gap = best_left - worst_chosen
    assert bool((gap <= tol).all()), f"a better block was left out (score gap {float(gap.max()):.3g} > tol {tol})"
