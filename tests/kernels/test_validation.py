"""Bad arguments are rejected with a ValueError that names the problem and the fix."""

import pytest
import torch

from kernels.msa import msa_block_scores, msa_decode, msa_prefill, msa_sparse_attention, msa_topk
from msa_cases import make_batch


@pytest.fixture
def batch(device):
    return make_batch([40, 20], [40, 5], heads=8, kv_heads=2, head_dim=64, index_dim=64, block=16, device=device)


def _prefill(b, **overrides):
    args = dict(q=b.q, iq=b.iq, k_cache=b.k_cache, v_cache=b.v_cache, index_k_cache=b.index_k_cache,
                block_table=b.block_table, cu_seqlens_q=b.cu_seqlens_q, seq_lens=b.seq_lens)
    args.update(overrides)
    return msa_prefill(**args, topk=4)


@pytest.mark.parametrize("override,message", [
    (lambda b: {"q": b.q.to(torch.int32)}, "q has dtype int32"),
    (lambda b: {"q": b.q[0]}, "q must have rank 3"),
    (lambda b: {"k_cache": b.k_cache.half()}, "k_cache has dtype float16"),
    (lambda b: {"iq": b.iq.double()}, "iq has dtype float64"),
    (lambda b: {"q": b.q[:, :7].contiguous()}, "do not divide"),
    (lambda b: {"iq": b.iq[:, :1].contiguous()}, "one index head per KV head"),
    (lambda b: {"iq": b.iq[:-1]}, "q has 45 tokens but iq has 44"),
    (lambda b: {"k_cache": b.k_cache[:, :, :8].contiguous(), "v_cache": b.v_cache[:, :, :8].contiguous()},
     "differs from the page size"),
    (lambda b: {"seq_lens": b.seq_lens + 100}, "block_table has only"),
    (lambda b: {"seq_lens": b.seq_lens - torch.tensor([0, 18], dtype=torch.int32, device=b.q.device)},
     "seq_lens counts the cached prefix"),
    (lambda b: {"cu_seqlens_q": b.cu_seqlens_q[:-1]}, r"needs len\(seq_lens\) \+ 1"),
    (lambda b: {"block_table": b.block_table.long()}, "block_table has dtype int64"),
    (lambda b: {"block_table": b.block_table.masked_fill(b.block_table == b.block_table[0, 0], 999)},
     "is not a page of the cache"),
    (lambda b: {"q": b.q[..., :48].contiguous(), "k_cache": b.k_cache[..., :48].contiguous(),
                "v_cache": b.v_cache[..., :48].contiguous()}, "head dims 16, 32, 64, 128 and 256"),
])
def test_prefill_rejects(batch, override, message):
    with pytest.raises(ValueError, match=message):
        _prefill(batch, **override(batch))


def test_scores_reject_block_size_other_than_page(batch):
    with pytest.raises(ValueError, match="block_size=128 differs from the page size 16"):
        msa_block_scores(batch.iq, batch.index_k_cache, *batch.paging, block_size=128)


@pytest.mark.parametrize("kwargs,message", [
    (dict(topk=0), "topk=0"), (dict(local_blocks=0), "local_blocks=0"),
    (dict(init_blocks=3, local_blocks=2), "exceeds topk=4"),
])
def test_topk_rejects_bad_selection_parameters(batch, kwargs, message, device):
    scores = torch.zeros(2, 45, 3, device=device)
    positions = torch.zeros(45, dtype=torch.int32, device=device)
    with pytest.raises(ValueError, match=message):
        msa_topk(scores, positions, block_size=16, **{"topk": 4, **kwargs})


def test_attention_rejects_selection_of_wrong_shape(batch, device):
    sel = torch.zeros(1, 45, 4, dtype=torch.int32, device=device)
    with pytest.raises(ValueError, match=r"it must be \[kv_heads=2, tokens=45, k\]"):
        msa_sparse_attention(batch.q, batch.k_cache, batch.v_cache, *batch.paging, sel)


def test_decode_rejects_long_chunks(batch):
    with pytest.raises(ValueError, match="use msa_select / msa_prefill"):
        msa_decode(batch.q, batch.iq, batch.k_cache, batch.v_cache, batch.index_k_cache, *batch.paging, topk=4)
