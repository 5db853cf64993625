"""What the public functions guard (issue 17): cache pages in decode, non-finite index scores,
a caller's selection, and every top-k the API accepts on the decode kernels."""

import math

import pytest
import torch

from conftest import assert_close
from kernels.msa import (
    launch_candidates,
    launch_topk,
    msa_block_scores,
    msa_decode,
    msa_decode_attention,
    msa_decode_select,
    msa_prefill,
    msa_select,
    msa_sparse_attention,
    msa_topk,
    reference,
)
from kernels.msa.layout import token_positions
from msa_cases import make_batch
from selection_check import check_selection

SCHEDULES = ["tile", "kv_major"]


def _layer_args(b):
    return (b.q, b.iq, b.k_cache, b.v_cache, b.index_k_cache, *b.paging)


def _positions(b):
    return token_positions(b.cu_seqlens_q, b.seq_lens, b.q.shape[0])[1]


# --- decode checks the K/V caches against the block table, as prefill does ---------------------


@pytest.fixture
def decode_batch(device):
    return make_batch([90, 40], [2, 1], heads=8, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)


@pytest.mark.parametrize("layer", ["prefill", "decode"])
def test_layer_refuses_kv_caches_with_fewer_pages_than_the_table(layer, decode_batch):
    b = decode_batch
    pages = int(b.block_table.max()) + 1
    few = pages // 2
    k, v = b.k_cache[:few].contiguous(), b.v_cache[:few].contiguous()
    run = msa_prefill if layer == "prefill" else msa_decode
    with pytest.raises(ValueError, match=rf"is not a page of the cache \(0\.\.{few - 1}\)"):
        run(b.q, b.iq, k, v, b.index_k_cache, *b.paging, topk=4)


@pytest.mark.parametrize("layer", ["prefill", "decode"])
@pytest.mark.parametrize("override,message", [
    (lambda b: {"v_cache": b.v_cache[..., :32].contiguous()}, "must have the same shape"),
    (lambda b: {"k_cache": b.k_cache.double(), "v_cache": b.v_cache.double()}, "k_cache has dtype float64"),
    (lambda b: {"k_cache": b.k_cache[:, :, :8].contiguous(), "v_cache": b.v_cache[:, :, :8].contiguous()},
     "differs from the page size"),
])
def test_layer_refuses_kv_caches_of_wrong_shape_or_dtype(layer, override, message, decode_batch):
    b = decode_batch
    args = dict(q=b.q, iq=b.iq, k_cache=b.k_cache, v_cache=b.v_cache, index_k_cache=b.index_k_cache,
                block_table=b.block_table, cu_seqlens_q=b.cu_seqlens_q, seq_lens=b.seq_lens)
    args.update(override(b))
    with pytest.raises(ValueError, match=message):
        (msa_prefill if layer == "prefill" else msa_decode)(**args, topk=4)


# --- non-finite index scores --------------------------------------------------------------------


def _nan_iq_batch(device, q_lens):
    b = make_batch([300, 120], q_lens, heads=4, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)
    b.iq[1, 1, 5] = math.nan  # one index-query row of token 1, index head 1
    return b


NONFINITE = "iq holds a non-finite value .* at token 1, index head 1"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("call", ["block_scores", "select", "decode_select"])
def test_selection_refuses_non_finite_index_queries(call, value, device):
    b = _nan_iq_batch(device, [3, 2])
    b.iq[1, 1, 5] = value
    fn = {"block_scores": msa_block_scores, "select": msa_select, "decode_select": msa_decode_select}[call]
    with pytest.raises(ValueError, match=NONFINITE):
        fn(b.iq, b.index_k_cache, *b.paging)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_prefill_refuses_non_finite_index_queries_on_both_schedules(schedule, device):
    b = _nan_iq_batch(device, [300, 20])
    with pytest.raises(ValueError, match=NONFINITE):
        msa_prefill(*_layer_args(b), topk=4, schedule=schedule)


def test_decode_refuses_non_finite_index_queries(device):
    b = _nan_iq_batch(device, [3, 2])
    with pytest.raises(ValueError, match=NONFINITE):
        msa_decode(*_layer_args(b), topk=4)


def test_topk_refuses_nan_block_scores(device):
    scores = torch.zeros(2, 3, 8, device=device)
    scores[1, 2, 4] = math.nan
    positions = torch.tensor([100, 110, 127], dtype=torch.int32, device=device)
    with pytest.raises(ValueError, match=r"block_scores\[1, 2, 4\] is nan"):
        msa_topk(scores, positions, block_size=16, topk=4)


def _unchecked_selection(b, *, topk, decode):
    """The launchers a CUDA graph calls: no host-side checks, so the kernels meet the NaN."""
    _, positions = token_positions(b.cu_seqlens_q, b.seq_lens, b.iq.shape[0])
    out = torch.empty(b.iq.shape[1], b.iq.shape[0], topk, dtype=torch.int32, device=b.iq.device)
    max_blocks = -(-int(b.seq_lens.max()) // b.index_k_cache.shape[1])
    q_lens = (b.cu_seqlens_q[1:] - b.cu_seqlens_q[:-1]).tolist()
    cand_s, cand_i = launch_candidates(
        b.iq, b.index_k_cache, *b.paging, max_q_len=max(q_lens), max_blocks=max_blocks,
        blocks_per_split=3 if decode else max_blocks, topk=topk, init_blocks=0, local_blocks=1,
        tokens_per_tile=None if decode else 16,
    )
    return launch_topk(cand_s, cand_i, positions, out, block_size=b.index_k_cache.shape[1], topk=topk,
                       init_blocks=0, local_blocks=1)


@pytest.mark.parametrize("path", ["candidates_decode", "candidates_prefill"])
def test_unchecked_launchers_rank_nan_scores_last(path, device):
    """Below the checks (the CUDA-graph decode step), a NaN never yields a block id out of range:
    a NaN score counts as -inf, ties to the lower id, as in the reference."""
    b = _nan_iq_batch(device, [3, 2])
    b.iq[1, 1] = math.nan  # a whole row: every score of that (token, head) is NaN
    sel = _unchecked_selection(b, topk=4, decode=path == "candidates_decode")
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    check_selection(sel, scores, _positions(b), topk=4, block=16)
    ref = reference.topk_blocks(scores, _positions(b), topk=4, block_size=16)
    assert sel[1, 1].tolist() == ref[1, 1].tolist() == [0, 1, 2, 18]


def _nan_index_key_batch(device, q_lens):
    """NaN in a visible slot of the index-K cache (the checks do not read the whole cache)."""
    b = make_batch([300, 120], q_lens, heads=4, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)
    for s, blk in ((0, 2), (0, 5), (1, 1)):
        page = int(b.block_table[s, blk])
        b.index_k_cache[page, 3] = math.nan  # one key of the block
        if s == 0 and blk == 5:
            b.index_k_cache[page] = math.nan  # every key of the block
    return b


@pytest.mark.parametrize("select", ["select", "decode_select"])
def test_nan_index_keys_count_as_minus_inf_on_every_path(select, device):
    b = _nan_index_key_batch(device, [3, 2])
    fn = msa_select if select == "select" else msa_decode_select
    sel = fn(b.iq, b.index_k_cache, *b.paging, topk=4)
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    assert not scores.isnan().any(), "the reference must count a NaN key score as -inf"
    assert (scores[:, :3, 5] == -math.inf).all(), "a block of NaN keys scores -inf"
    ref = reference.topk_blocks(scores, _positions(b), topk=4, block_size=16)
    check_selection(sel, scores, _positions(b), topk=4, block=16)
    assert torch.equal(sel.sort(-1).values.cpu(), ref.sort(-1).values.cpu())


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_prefill_with_nan_index_keys_agrees_on_both_schedules(schedule, device):
    b = _nan_index_key_batch(device, [300, 20])
    out, sel = msa_prefill(*_layer_args(b), topk=4, schedule=schedule)
    ref = reference.sparse_attention(b.q, b.k_cache, b.v_cache, *b.paging, sel)
    assert_close(out, ref, torch.float32)


def test_reference_ranks_nan_block_scores_last(device):
    scores = torch.tensor([[[1.0, math.nan, 3.0, math.nan, -math.inf, 0.5, 0.0, 0.0]]], device=device)
    positions = torch.tensor([8 * 16], dtype=torch.int32, device=device)
    scores = torch.nn.functional.pad(scores, (0, 1), value=0.0)  # block 8: the local block
    sel = reference.topk_blocks(scores, positions, topk=8, block_size=16)
    assert sel[0, 0].tolist() == [2, 0, 5, 6, 7, 1, 3, 8]  # NaN and -inf after every finite score, lower id first
    sel = msa_topk(scores.masked_fill(scores.isnan(), -math.inf), positions, block_size=16, topk=8)
    assert sel[0, 0].tolist() == [2, 0, 5, 6, 7, 1, 3, 8]


# --- a caller's selection -----------------------------------------------------------------------


@pytest.fixture
def attn_batch(device):
    return make_batch([100, 40], [100, 8], heads=4, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)


def _reference_selection(b, topk=4):
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    return reference.topk_blocks(scores, _positions(b), topk=topk, block_size=16)


def _attend(b, sel, schedule):
    if schedule == "decode":
        return msa_decode_attention(b.q, b.k_cache, b.v_cache, *b.paging, sel, num_splits=2)
    return msa_sparse_attention(b.q, b.k_cache, b.v_cache, *b.paging, sel, schedule=schedule)


def _future(b, sel):
    sel[1, 0, 1] = 3  # token 0 sits in block 0 of 7: block 3 lies in its future
    return sel, r"selection\[1, 0, 1\] = 3 is a future block: token 0 \(position 0\) sees blocks 0\.\.0"


def _past_table(b, sel):
    sel[0, 101, 0] = 1 << 30  # sequence 1: 3 blocks, table width 8
    return sel, r"selection\[0, 101, 0\] = 1073741824 is a future block"


def _negative(b, sel):
    sel[0, 50, 2] = -7
    return sel, r"selection\[0, 50, 2\] = -7; block ids are -1 \(unused\) or 0"


def _twice(b, sel):
    sel[1, 60, 0] = sel[1, 60, 3]
    return sel, r"selection\[1, 60\] selects block 3 twice"


def _empty(b, sel):
    sel[0, 104] = -1
    return sel, r"selection\[0, 104\] selects no block"


@pytest.mark.parametrize("schedule", SCHEDULES + ["decode"])
@pytest.mark.parametrize("corrupt", [_future, _past_table, _negative, _twice, _empty])
def test_attention_refuses_a_bad_selection_on_every_schedule(corrupt, schedule, attn_batch):
    sel, message = corrupt(attn_batch, _reference_selection(attn_batch).clone())
    with pytest.raises(ValueError, match=message):
        _attend(attn_batch, sel.contiguous(), schedule)


@pytest.mark.parametrize("corrupt", [_future, _past_table, _negative, _twice, _empty])
def test_selection_check_in_token_chunks_names_the_same_fault(corrupt, attn_batch, monkeypatch):
    """A wide selection (a dense layer's) is checked a few tokens at a time: same error."""
    from kernels.msa import attention

    monkeypatch.setattr(attention, "SELECTION_CHECK_ENTRIES", 2 * 4 * 7)  # 7 tokens a chunk
    sel, message = corrupt(attn_batch, _reference_selection(attn_batch).clone())
    with pytest.raises(ValueError, match=message):
        _attend(attn_batch, sel.contiguous(), "tile")


@pytest.mark.parametrize("schedule", SCHEDULES + ["decode"])
def test_attention_accepts_unused_slots_anywhere(schedule, attn_batch):
    sel = _reference_selection(attn_batch)
    sel[..., 0] = torch.where(sel[..., 1] >= 0, -1, sel[..., 0])  # drop a pick, keep a block in every row
    sel = sel.contiguous()
    out = _attend(attn_batch, sel, schedule)
    ref = reference.sparse_attention(attn_batch.q, attn_batch.k_cache, attn_batch.v_cache, *attn_batch.paging, sel)
    assert_close(out, ref, torch.float32)


# --- every top-k the API accepts runs on the decode kernels ---------------------------------


@pytest.mark.parametrize("topk", [1, 2, 3, 5, 6, 16])
def test_msa_decode_any_topk(topk, device):
    b = make_batch([700, 90, 5], [2, 1, 1], heads=4, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)
    out, sel = msa_decode(*_layer_args(b), topk=topk, num_splits=2)
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    check_selection(sel, scores, _positions(b), topk=topk, block=16, tol=1e-4)
    ref = reference.sparse_attention(b.q, b.k_cache, b.v_cache, *b.paging, sel)
    assert_close(out, ref, torch.float32)


@pytest.mark.parametrize("topk", [3, 5])
@pytest.mark.parametrize("num_splits", [1, 2, 3])
def test_decode_attention_any_topk_and_split(topk, num_splits, attn_batch):
    sel = _reference_selection(attn_batch, topk=topk)
    out = msa_decode_attention(attn_batch.q, attn_batch.k_cache, attn_batch.v_cache, *attn_batch.paging, sel,
                               num_splits=num_splits)
    ref = reference.sparse_attention(attn_batch.q, attn_batch.k_cache, attn_batch.v_cache, *attn_batch.paging, sel)
    assert_close(out, ref, torch.float32)


@pytest.mark.parametrize("topk", [1, 3, 5])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_msa_prefill_any_topk(topk, schedule, device):
    b = make_batch([200, 90], [200, 30], heads=4, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)
    out, sel = msa_prefill(*_layer_args(b), topk=topk, schedule=schedule)
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    check_selection(sel, scores, _positions(b), topk=topk, block=16, tol=1e-4)
    ref = reference.sparse_attention(b.q, b.k_cache, b.v_cache, *b.paging, sel)
    assert_close(out, ref, torch.float32)
