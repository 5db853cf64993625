"""An fp8 (e4m3) index-K cache (README, "fp8 index-K cache"): the selection equals the reference's
on the SAME fp8 values, which the reference upcasts to fp32. Keys are quantized once, when stored
(`index_keys_for_cache`); that is the only approximation, and it is the caller's choice.

"Equal" is what it is for a cache of the queries' dtype (`selection_check.py`): exactly the
reference's rows when the scores are exact in any summation order (small-integer keys and
queries, ties everywhere), else a best set up to near-ties within the tolerance of the bf16 / fp32
tests, because the kernels sum the Di products in another order than torch.
"""

import math

import pytest
import torch

from conftest import assert_close
from kernels.msa import (
    INDEX_FP8,
    index_keys_for_cache,
    launch_candidates,
    launch_topk,
    msa_block_scores,
    msa_decode,
    msa_decode_select,
    msa_prefill,
    msa_select,
    reference,
)
from kernels.msa.layout import token_positions
from msa_cases import make_batch
from selection_check import check_selection

TOL = {torch.float32: 1e-4, torch.bfloat16: 1e-3}  # as test_decode / test_pipeline
OTHER_FP8 = [torch.float8_e5m2, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz]


def fp8_batch(*args, **kwargs):
    """A `make_batch` batch whose index-K cache is stored as e4m3 (its NaN poison stays NaN)."""
    b = make_batch(*args, **kwargs)
    b.index_k_cache = index_keys_for_cache(b.index_k_cache, INDEX_FP8)
    return b


def _positions(b):
    return token_positions(b.cu_seqlens_q, b.seq_lens, b.iq.shape[0])[1]


def _check_against_reference(b, sel, *, topk=16, block=128, tol=0.0, **kwargs):
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)  # fp8 keys upcast to fp32
    check_selection(sel, scores, _positions(b), topk=topk, block=block, tol=tol, **kwargs)


# --- storing keys -------------------------------------------------------------------------------


def test_keys_are_clamped_to_448_never_nan():
    ik = torch.tensor([1000.0, -1000.0, 448.0, 463.0, 1e6, -math.inf, math.inf, 0.3, math.nan])
    stored = index_keys_for_cache(ik, INDEX_FP8)
    assert stored.dtype == INDEX_FP8
    assert stored.float()[:7].tolist() == [448.0, -448.0, 448.0, 448.0, 448.0, -448.0, 448.0]
    assert stored.float()[7] == torch.tensor(0.3).to(INDEX_FP8).float()  # in range: the plain cast
    assert stored.float()[8].isnan(), "a NaN key stays NaN (it ranks as -inf, see below)"
    for dtype in (torch.bfloat16, torch.float32):
        stored = index_keys_for_cache(ik.to(dtype), dtype)
        assert torch.allclose(stored, ik.to(dtype), rtol=0, atol=0, equal_nan=True), "other caches: a plain cast"


def test_a_clamped_key_is_selected_as_the_reference_sees_it(device):
    b = make_batch([700], [3], kv_heads=2, index_dim=64, block=16, device=device)
    page = int(b.block_table[0, 7])
    b.index_k_cache[page, 5] = 1000.0 * b.iq[0, 0].sign()  # out of e4m3 range: a huge score for head 0
    b.index_k_cache = index_keys_for_cache(b.index_k_cache, INDEX_FP8)
    assert b.index_k_cache[page, 5].float().abs().max() == 448.0
    sel = msa_decode_select(b.iq, b.index_k_cache, *b.paging, topk=4)
    assert 7 in sel[0, 0].tolist()
    _check_against_reference(b, sel, topk=4, block=16, tol=TOL[torch.float32])


# --- selection on an fp8 cache equals the reference on the same fp8 values -----------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_block_scores_match_the_reference_on_fp8_keys(dtype, device):
    b = fp8_batch([1, 127, 129, 1000, 2049], [1, 127, 60, 1000, 3], kv_heads=4, index_dim=128, block=128,
                  dtype=dtype, device=device)
    out = msa_block_scores(b.iq, b.index_k_cache, *b.paging)
    ref = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    assert torch.equal(out.isneginf().cpu(), ref.isneginf().cpu()), "visibility (-inf blocks) differs"
    finite = ref.isfinite()
    assert_close(out[finite], ref[finite], torch.float32)  # fp8 -> bf16/fp32 is exact: only the sum order differs


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_prefill_selection_matches_the_reference_on_fp8_keys(dtype, device):
    b = fp8_batch([2304, 1000, 129, 33], [2304, 120, 129, 5], kv_heads=2, index_dim=128, block=128,
                  dtype=dtype, device=device)
    sel = msa_select(b.iq, b.index_k_cache, *b.paging)
    _check_against_reference(b, sel, tol=TOL[dtype])


@pytest.mark.parametrize("new_tokens", [1, 4])
@pytest.mark.parametrize("blocks_per_split", [None, 3])
def test_decode_selection_matches_the_reference_on_fp8_keys(new_tokens, blocks_per_split, device):
    lens = [n for n in (1, 127, 129, 2049, 5000) if n >= new_tokens]
    b = fp8_batch(lens, [new_tokens] * len(lens), kv_heads=4, index_dim=128, block=128, dtype=torch.bfloat16,
                  device=device)
    sel = msa_decode_select(b.iq, b.index_k_cache, *b.paging, blocks_per_split=blocks_per_split)
    _check_against_reference(b, sel, tol=TOL[torch.bfloat16])


@pytest.mark.parametrize("init,local", [(0, 1), (1, 2)])
def test_decode_selection_equals_prefill_selection_on_fp8_keys(init, local, device):
    b = fp8_batch([700, 333, 20], [4, 1, 3], kv_heads=2, index_dim=64, block=16, device=device)
    kwargs = dict(topk=6, init_blocks=init, local_blocks=local)
    decode = msa_decode_select(b.iq, b.index_k_cache, *b.paging, blocks_per_split=5, **kwargs)
    prefill = msa_select(b.iq, b.index_k_cache, *b.paging, **kwargs)
    assert torch.equal(decode.cpu(), prefill.cpu())
    _check_against_reference(b, decode, block=16, tol=TOL[torch.float32], **kwargs)


def _integer_batch(device, q_lens):
    """Keys and queries in {-1, 0, 1}: every score is an integer / 8, exact in any summation order, so
    blocks tie everywhere and the selection must be the reference's exactly (ties to the lower id)."""
    b = make_batch([900, 517, 40], q_lens, kv_heads=2, index_dim=64, block=16, device=device)
    b.iq = torch.randint(-1, 2, b.iq.shape, device=device).float()
    keys = torch.randint(-1, 2, b.index_k_cache.shape, device=device).float()
    b.index_k_cache = index_keys_for_cache(keys.masked_fill(b.index_k_cache.isnan(), math.nan), INDEX_FP8)
    return b


@pytest.mark.parametrize("path", ["prefill", "decode"])
def test_ties_go_to_the_lower_block_exactly_as_in_the_reference(path, device):
    b = _integer_batch(device, [900, 30, 40] if path == "prefill" else [3, 1, 2])
    if path == "prefill":
        sel = msa_select(b.iq, b.index_k_cache, *b.paging, topk=6)
    else:
        sel = msa_decode_select(b.iq, b.index_k_cache, *b.paging, topk=6, blocks_per_split=4)
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    finite = scores[scores.isfinite()]
    assert finite.unique().numel() < finite.numel() / 10, "the case must be full of ties"
    ref = reference.topk_blocks(scores, _positions(b), topk=6, block_size=16)
    assert torch.equal(sel.sort(-1).values.cpu(), ref.sort(-1).values.cpu())
    _check_against_reference(b, sel, topk=6, block=16)  # tol 0: the reference's ranked set exactly


def test_all_zero_fp8_keys_select_0_to_14_then_17(device):
    """MSA.md §4's known case on an fp8 cache: 2304 tokens, blocks of 128, top-16."""
    b = make_batch([2304], [1], kv_heads=1, index_dim=64, block=128, device=device)
    b.iq.zero_()
    b.index_k_cache = index_keys_for_cache(b.index_k_cache.nan_to_num(0.0).zero_(), INDEX_FP8)
    for select in (msa_select, msa_decode_select):
        assert select(b.iq, b.index_k_cache, *b.paging)[0, 0].tolist() == list(range(15)) + [17]


@pytest.mark.parametrize("select", [msa_select, msa_decode_select])
def test_nan_fp8_keys_count_as_minus_inf(select, device):
    b = make_batch([300, 120], [3, 2], kv_heads=2, index_dim=64, block=16, device=device)
    for s, blk in ((0, 2), (0, 5), (1, 1)):
        b.index_k_cache[int(b.block_table[s, blk]), 3] = math.nan  # one key of the block
    b.index_k_cache[int(b.block_table[0, 5])] = math.nan  # every key of block 5 of sequence 0
    b.index_k_cache = index_keys_for_cache(b.index_k_cache, INDEX_FP8)
    sel = select(b.iq, b.index_k_cache, *b.paging, topk=4)
    scores = reference.block_scores(b.iq, b.index_k_cache, *b.paging)
    assert (scores[:, :3, 5] == -math.inf).all(), "a block of NaN keys scores -inf"
    _check_against_reference(b, sel, topk=4, block=16, tol=TOL[torch.float32])


def test_unchecked_decode_launchers_read_an_fp8_cache(device):
    """The CUDA-graph decode step calls the launchers without the checks: same selection."""
    b = fp8_batch([3000], [1], kv_heads=2, index_dim=64, block=16, dtype=torch.bfloat16, device=device)
    kwargs = dict(topk=6, init_blocks=0, local_blocks=1)
    cand_s, cand_i = launch_candidates(b.iq, b.index_k_cache, *b.paging, max_q_len=1, max_blocks=188,
                                       blocks_per_split=24, **kwargs)
    out = torch.empty(2, 1, 6, dtype=torch.int32, device=device)
    sel = launch_topk(cand_s, cand_i, _positions(b), out, block_size=16, **kwargs)
    assert torch.equal(sel.cpu(), msa_decode_select(b.iq, b.index_k_cache, *b.paging, **kwargs).cpu())
    _check_against_reference(b, sel, topk=6, block=16, tol=TOL[torch.bfloat16])


@pytest.mark.parametrize("layer", ["prefill", "decode"])
def test_whole_layer_with_an_fp8_index_cache(layer, device):
    """K/V stay bf16; only the index keys are fp8. The attention is exact over the selection."""
    q_lens = [300, 40] if layer == "prefill" else [2, 1]
    b = fp8_batch([1000, 333], q_lens, heads=8, kv_heads=2, head_dim=64, index_dim=64, block=16,
                  dtype=torch.bfloat16, device=device)
    run = msa_prefill if layer == "prefill" else msa_decode
    out, sel = run(b.q, b.iq, b.k_cache, b.v_cache, b.index_k_cache, *b.paging, topk=4)
    _check_against_reference(b, sel, topk=4, block=16, tol=TOL[torch.bfloat16])
    ref = reference.sparse_attention(b.q, b.k_cache, b.v_cache, *b.paging, sel)
    assert_close(out, ref, torch.bfloat16)


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", OTHER_FP8, ids=str)
@pytest.mark.parametrize("fn", [msa_block_scores, msa_select, msa_decode_select], ids=lambda f: f.__name__)
def test_other_fp8_kinds_are_refused_by_name(kind, fn, device):
    b = make_batch([100], [1], kv_heads=1, index_dim=64, block=16, device=device)
    cache = b.index_k_cache.nan_to_num(0.0).to(kind)
    message = rf"index_k_cache has dtype {str(kind)[6:]}; an fp8 index-K cache must be float8_e4m3fn"
    with pytest.raises(ValueError, match=message):
        fn(b.iq, cache, *b.paging)


def test_fp8_queries_are_refused(device):
    b = fp8_batch([100], [1], kv_heads=1, index_dim=64, block=16, device=device)
    with pytest.raises(ValueError, match="iq has dtype float8_e4m3fn; pass one of"):
        msa_decode_select(b.iq.to(INDEX_FP8), b.index_k_cache, *b.paging)


def test_a_cache_of_another_float_dtype_is_still_refused(device):
    b = make_batch([100], [1], kv_heads=1, index_dim=64, block=16, dtype=torch.bfloat16, device=device)
    with pytest.raises(ValueError, match="index_k_cache has dtype float16; pass one of: bfloat16, float8_e4m3fn"):
        msa_select(b.iq, b.index_k_cache.half(), *b.paging)


@pytest.mark.parametrize(("dtype", "scale"), [(torch.bfloat16, 2.0**30), (torch.float16, 1.5 * 2**15)])
def test_decode_selection_with_queries_beyond_fp16(dtype, scale, device):
    """bf16/fp16 queries meet an fp8 cache in fp16 (`candidates.FP8_AS_F16`); a row whose largest
    |q| passes 2^15 is first scaled by a power of two, so queries of 2^30 (bf16) or 1.5 * 2^15
    (fp16) still select the reference's blocks exactly instead of overflowing to inf. Integer keys
    and queries keep every score exact, so ties must go to the lower block id as in the reference."""
    b = _integer_batch(device, [3, 1, 2])
    b.iq = (b.iq * scale).to(dtype)
    b.iq[0, 1] = b.iq[0, 1] / scale  # an ordinary row beside the huge ones
    sel = msa_decode_select(b.iq, b.index_k_cache, *b.paging, topk=6, blocks_per_split=7)
    _check_against_reference(b, sel, topk=6, block=16)
