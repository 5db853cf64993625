"""Our M3 forward against transformers' logits, dense-equivalent and where sparsity matters."""

import pytest
import torch

from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.model.m3 import M3TextModel


@pytest.fixture(scope="module")
def both(tiny_model_dir):
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    theirs = MiniMaxM3SparseForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32)
    theirs.eval()
    cfg = load_config(tiny_model_dir)
    return M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg)), theirs


@pytest.mark.parametrize("n", [1, 40, 64, 200])  # block 16, top-4: up to 64 tokens is dense; 200 is sparse
def test_logits_match_transformers(both, n):
    ours, theirs = both
    ids = torch.randint(3, 256, (n,))
    with torch.no_grad():
        ref = theirs(input_ids=ids[None]).logits[0].float()
    out = ours.forward(ids)
    assert out.shape == ref.shape == (n, 256)
    err = (out - ref).abs().max() / ref.abs().max()
    assert err < 1e-4, f"max error {float(err):.2e} relative to the largest logit"


def test_sparsity_matters_at_200_tokens(both):
    """Control: with every block selected (dense attention) the logits at 200 tokens move away
    from transformers' sparse ones, so the test above really checks the selection."""
    import dataclasses

    ours, theirs = both
    ids = torch.randint(3, 256, (200,))
    with torch.no_grad():
        ref = theirs(input_ids=ids[None]).logits[0].float()
    dense = M3TextModel.__new__(M3TextModel)
    dense.__dict__ = {**ours.__dict__, "cfg": dataclasses.replace(ours.cfg, index_topk_blocks=64)}
    err = (dense.forward(ids) - ref).abs().max() / ref.abs().max()
    assert err > 1e-3


def test_32_greedy_tokens_match_transformers_generate(both):
    ours, theirs = both
    prompt = torch.randint(3, 256, (70,))  # crosses into sparse selection while generating
    config = theirs.generation_config
    config.eos_token_id, config.pad_token_id = None, 0  # no end token: both sides run all 32 steps
    with torch.no_grad():
        ref = theirs.generate(input_ids=prompt[None], generation_config=config, max_new_tokens=32,
                              do_sample=False)[0, 70:]
    assert ref.numel() == 32
    ids = prompt
    for _ in range(32):  # no cache yet: recompute the whole sequence per token
        ids = torch.cat([ids, ours.forward(ids)[-1].argmax()[None]])
    assert ids[70:].tolist() == ref.tolist()
