"""Our M3 forward against transformers' logits, dense-equivalent and where sparsity matters.

The model runs on the test device with the backend chosen for it (Triton kernels on CUDA, the
reference on the CPU); transformers runs on the CPU in fp32 as the reference.
"""

import pytest
import torch

from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.model.cache import PagedCache, Sequence
from core.model.m3 import M3TextModel


def run(model, ids, chunks=None, num_pages=64):
    """Logits for `ids` prefilled in the given chunk sizes on a fresh cache."""
    cache = PagedCache(model.cfg, num_pages=num_pages, dtype=torch.float32, device=model.device)
    seq, ids = Sequence(), ids.to(model.device)
    out, start = [], 0
    for size in chunks or [len(ids)]:
        out.append(model.forward(ids[start:start + size], cache, seq))
        start += size
    return torch.cat(out).cpu()


@pytest.fixture(scope="module")
def both(tiny_model_dir, device):
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    theirs = MiniMaxM3SparseForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32)
    theirs.eval()
    cfg = load_config(tiny_model_dir)
    return M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device), theirs


@pytest.mark.parametrize("n", [1, 40, 64, 200])  # block 16, top-4: up to 64 tokens is dense; 200 is sparse
def test_logits_match_transformers(both, n):
    ours, theirs = both
    ids = torch.randint(3, 256, (n,))
    with torch.no_grad():
        ref = theirs(input_ids=ids[None]).logits[0].float()
    out = run(ours, ids)
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
    err = (run(dense, ids) - ref).abs().max() / ref.abs().max()
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
    cache, seq = PagedCache(ours.cfg, num_pages=16, dtype=torch.float32, device=ours.device), Sequence()
    logits = ours.forward(prompt.to(ours.device), cache, seq)
    tokens = []
    for _ in range(32):  # decode on the cache, one token a step
        tokens.append(int(logits[-1].argmax()))
        logits = ours.forward(torch.tensor([tokens[-1]], device=ours.device), cache, seq)
    assert tokens == ref.tolist()


def test_chunked_prefill_and_a_second_turn_equal_one_shot(both):
    ours, _ = both
    ids = torch.randint(3, 256, (150,))
    one_shot = run(ours, ids)
    torch.testing.assert_close(run(ours, ids, chunks=[50, 37, 63]), one_shot, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(run(ours, ids, chunks=[100, 50]), one_shot, rtol=1e-5, atol=1e-5)  # next turn


def test_cache_allocates_exactly_the_layout(both):
    ours, _ = both
    for dtype in (torch.bfloat16, torch.float32):
        cache = PagedCache(ours.cfg, num_pages=8, dtype=dtype)
        assert cache.bytes_per_token == ours.cfg.cache_bytes_per_token(dtype.itemsize)
    cache = PagedCache(ours.cfg, num_pages=2, device=ours.device)
    with pytest.raises(RuntimeError, match="need 3 pages of 16 tokens; 2 are free"):
        ours.forward(torch.randint(3, 256, (40,), device=ours.device), cache, Sequence())


def test_released_pages_serve_the_next_conversation(both):
    ours, _ = both
    cache = PagedCache(ours.cfg, num_pages=3, dtype=torch.float32, device=ours.device)
    ids = torch.randint(3, 256, (40,), device=ours.device)
    first = Sequence()
    ref = ours.forward(ids, cache, first)  # 40 tokens: all 3 pages of 16
    with pytest.raises(RuntimeError, match="need 1 pages of 16 tokens; 0 are free"):
        ours.forward(ids[:5], cache, Sequence())
    cache.release(first)
    assert first.length == 0 and not first.pages and len(cache.free) == 3
    torch.testing.assert_close(ours.forward(ids, cache, Sequence()), ref)  # stale pages are overwritten


def test_triton_and_reference_backends_agree(tiny_model_dir, device):
    """The Triton path (the interpreter on a CPU) against the reference, prefill and decode steps
    past the dense range, with the second turn on the cache: the same logits."""
    cfg = load_config(tiny_model_dir)
    models = [M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device, attention=name)
              for name in ("reference", "triton")]
    ids = torch.randint(3, 256, (90,))
    ref, out = (run(m, ids, chunks=[70, 17, 1, 1, 1]) for m in models)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_backend_choice_is_logged_and_can_be_forced(caplog, monkeypatch):
    import logging

    from core.model.attention import choose_attention

    monkeypatch.setenv("SPYGLASS_ATTENTION", "triton")  # core/model reads no environment: ignored
    with caplog.at_level(logging.INFO, logger="core.model.attention"):
        assert choose_attention("cpu").name == "reference"
    assert "no CUDA device (cpu): the fp32 reference path" in caplog.text
    with pytest.raises(ValueError, match="'fast' is unknown; choose one of reference, triton"):
        choose_attention("cpu", "fast")
    assert choose_attention("cpu", "reference").name == "reference"
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="needs a CUDA device"):
        choose_attention("cpu", "triton")


def test_decode_graph_is_a_parameter_not_an_environment_variable(tiny_model_dir, device, monkeypatch):
    monkeypatch.setenv("SPYGLASS_DECODE_GRAPH", "0")  # ignored: the engine passes its setting
    cfg = load_config(tiny_model_dir)
    ckpt = Checkpoint(tiny_model_dir, cfg)
    assert M3TextModel(cfg, ckpt, device=device, attention="triton").static_decode
    assert not M3TextModel(cfg, ckpt, device=device, attention="triton", decode_graph=False).static_decode


def test_static_decode_step_equals_the_forward(tiny_model_dir, device):
    """The sync-free decode step (a CUDA graph on the GPU, eager under the interpreter here) gives
    the forward's logits, across a page boundary, for dense and sparse layers, and on a second
    sequence sharing the cache."""
    cfg = load_config(tiny_model_dir)
    model = M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device, attention="triton")
    assert model.static_decode
    ids = torch.randint(3, 256, (70,), device=model.device)
    steps = torch.randint(3, 256, (6,)).tolist()  # positions 70..75; block 16: sparse past 64 tokens
    for first in (30, 62):  # 62: the steps cross into a new page at 64
        ref_cache = PagedCache(cfg, num_pages=16, dtype=torch.float32, device=model.device)
        ref_seq = Sequence()
        model.forward(ids[:first], ref_cache, ref_seq)
        cache = PagedCache(cfg, num_pages=16, dtype=torch.float32, device=model.device)
        other, seq = Sequence(), Sequence()
        model.forward(ids[:5], cache, other)  # another sequence owns the first page
        model.forward(ids[:first], cache, seq)
        for token in steps:
            ref = model.forward(torch.tensor([token], device=model.device), ref_cache, ref_seq)[-1]
            out = model.decode(token, cache, seq)
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
        assert seq.ids == ref_seq.ids and seq.length == first + len(steps)


def save_variant(folder, drop=(), **text_changes):
    """The tiny checkpoint with some text-config fields changed, written by transformers."""
    from transformers import MiniMaxM3VLConfig
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    from tests.core.conftest import TINY_TEXT, TINY_VISION

    torch.manual_seed(0)
    text = {k: v for k, v in TINY_TEXT.items() if k not in drop}
    cfg = MiniMaxM3VLConfig(text_config={**text, **text_changes}, vision_config=TINY_VISION, projector_hidden_size=64)
    model = MiniMaxM3SparseForConditionalGeneration(cfg).eval()
    model.save_pretrained(folder)
    return model


VARIANTS = {
    "linear rope": {"rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1e4,
                                        "partial_rotary_factor": 0.5}},
    "yarn rope": {"rope_parameters": {"rope_type": "yarn", "factor": 8.0, "rope_theta": 1e4,
                                      "original_max_position_embeddings": 64, "partial_rotary_factor": 0.5}},
    "rotary_dim only": {"drop": ("rope_parameters",), "rotary_dim": 8, "rope_theta": 1e4},  # transformers: all 16
}


@pytest.mark.parametrize("changes", VARIANTS.values(), ids=VARIANTS.keys())
def test_rope_variants_match_transformers(tmp_path, device, changes):
    """Scaled RoPE and a config with rotary_dim but no partial_rotary_factor: 100 tokens (past
    the dense range) give transformers' logits."""
    theirs = save_variant(tmp_path, **changes)
    cfg = load_config(tmp_path)
    ours = M3TextModel(cfg, Checkpoint(tmp_path, cfg), device=device)
    ids = torch.randint(3, 256, (100,))
    with torch.no_grad():
        ref = theirs(input_ids=ids[None]).logits[0].float()
    err = (run(ours, ids) - ref).abs().max() / ref.abs().max()
    assert err < 1e-4, f"max error {float(err):.2e} relative to the largest logit"


@pytest.mark.parametrize("shared", [32, 48])  # 32: as wide as a routed expert (read into the stacks); 48: apart
def test_shared_expert_in_or_beside_the_stacks(tmp_path, device, shared):
    """The shared expert rides in the expert stacks' last slot when it is as wide as a routed one
    (a decode step mixes it in the same grouped GEMV) and stays apart otherwise: transformers'
    logits either way, and the sync-free decode steps give the forward's logits."""
    theirs = save_variant(tmp_path, shared_intermediate_size=shared)
    cfg = load_config(tmp_path)
    ours = M3TextModel(cfg, Checkpoint(tmp_path, cfg), device=device, attention="triton")
    moe = next(w.mlp for w in ours.layers if "router" in w.mlp)
    assert moe["w1"].shape[0] == cfg.num_experts + (shared == cfg.moe_intermediate_size)
    ids = torch.randint(3, 256, (90,))
    with torch.no_grad():
        ref = theirs(input_ids=ids[None]).logits[0].float()
    err = (run(ours, ids) - ref).abs().max() / ref.abs().max()
    assert err < 1e-4, f"max error {float(err):.2e} relative to the largest logit"
    caches = [PagedCache(cfg, num_pages=16, dtype=torch.float32, device=ours.device) for _ in range(2)]
    seqs = [Sequence(), Sequence()]
    for c, s in zip(caches, seqs):
        ours.forward(ids[:80].to(ours.device), c, s)
    for token in ids[80:].tolist():
        want = ours.forward(torch.tensor([token], device=ours.device), caches[0], seqs[0])[-1]
        torch.testing.assert_close(ours.decode(token, caches[1], seqs[1]), want, rtol=1e-4, atol=1e-4)
