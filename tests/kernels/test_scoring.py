"""Block scoring with fused max pooling against the fp32 reference."""

import pytest
import torch

from conftest import assert_close
from kernels.msa import msa_block_scores, reference
from msa_cases import make_batch

LENGTHS = [1, 127, 128, 129, 2047, 2048, 2049, 2304, 4500]


def _check_scores(batch):
    out = msa_block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    ref = reference.block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert torch.equal(out.isneginf().cpu(), ref.isneginf().cpu()), "visibility (-inf blocks) differs"
    finite = ref.isfinite()
    assert_close(out[finite], ref[finite], torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n", LENGTHS)
def test_m3_shape_lengths(n, dtype, device):
    _check_scores(make_batch([n], heads=16, kv_heads=4, head_dim=64, index_dim=128, block=128,
                             dtype=dtype, device=device))


@pytest.mark.parametrize("index_dim", [64, 128])
def test_mixed_batch_with_chunked_prefill(index_dim, device):
    batch = make_batch([700, 1, 300, 2049], [700, 1, 44, 129], kv_heads=2, index_dim=index_dim,
                       block=128, dtype=torch.bfloat16, device=device)
    _check_scores(batch)


def test_small_blocks_long_context(device):
    _check_scores(make_batch([333, 517, 16], [333, 200, 16], kv_heads=1, index_dim=64, block=16, device=device))


def _m3_like_batch(device):
    return make_batch([2049, 300], [2049, 44], heads=16, kv_heads=4, head_dim=64, index_dim=128, block=128,
                      dtype=torch.bfloat16, device=device)


def test_warp_specialised_page_loop_changes_no_score(monkeypatch, device):
    """On Hopper the page loop runs warp-specialised (`WARP_SPECIALIZE`): the same bits as the plain loop."""
    from kernels.msa import scoring

    batch = _m3_like_batch(device)
    outs = []
    for ws in (False, True):
        monkeypatch.setattr(scoring, "WARP_SPECIALIZE", ws)
        outs.append(msa_block_scores(batch.iq, batch.index_k_cache, *batch.paging))
    assert torch.equal(outs[0], outs[1])
    _check_scores(batch)


def test_a_compiler_that_refuses_warp_specialisation_gets_the_plain_loop(monkeypatch, caplog, device):
    from kernels.msa import scoring

    def refuse(*args, **kwargs):
        raise RuntimeError("PassManager::run failed")

    monkeypatch.setattr(scoring, "_WS_COMPILES", {})
    monkeypatch.setattr(scoring._block_scores_kernel, "warmup", refuse, raising=False)
    batch = _m3_like_batch(device)
    with caplog.at_level("WARNING", logger="kernels.msa.scoring"):
        _check_scores(batch)
    hopper = batch.iq.is_cuda and torch.cuda.get_device_capability(batch.iq.device)[0] == 9
    assert ("does not warp-specialise" in caplog.text) == hopper
    assert list(scoring._WS_COMPILES.values()) == ([False] if batch.iq.is_cuda else [])  # decided once, off


def test_scale_is_one_over_sqrt_index_dim(device):
    batch = make_batch([5], kv_heads=1, index_dim=64, block=16, device=device)
    out = msa_block_scores(batch.iq, batch.index_k_cache, *batch.paging)
    keys = batch.index_k_cache[batch.block_table[0, 0].long(), :5].float()
    raw = batch.iq[:, 0].float() @ keys.T  # [5, 5]
    expected = raw.tril().masked_fill(torch.ones(5, 5, dtype=torch.bool, device=raw.device).triu(1), -1e30)
    assert torch.allclose(out[0, :, 0], expected.max(-1).values / 8.0, atol=1e-5)
