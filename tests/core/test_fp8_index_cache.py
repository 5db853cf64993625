"""The runtime on an fp8 (e4m3) index-K cache: the model stores its index keys through the cache,
and every selection, prefill chunks and sync-free decode steps alike, is the reference backend's
selection on the same cache (kernels/msa/README.md, "fp8 index-K cache")."""

import pytest
import torch

from core.model.attention import ReferenceAttention, StaticDecodeAttention, TritonAttention
from core.model.cache import PagedCache, Sequence
from core.model.checkpoint import Checkpoint
from core.model.config import load_config
from core.model.decode_graph import StaticDecoder
from core.model.m3 import M3TextModel
from kernels.msa import reference
from tests.kernels.selection_check import check_selection

FP8 = torch.float8_e4m3fn


def record_selections(monkeypatch, backends) -> list:
    """Patch each backend's `select` to also run the reference backend on the same inputs, the
    freshly written cache included; returns the list it fills with (backend, ours, reference, scores)."""
    records = []

    def wrap(cls):
        ours = cls.select

        def select(self, iq, index_k_cache, paging, positions, **kw):
            sel = ours(self, iq, index_k_cache, paging, positions, **kw)
            ref = ReferenceAttention().select(iq, index_k_cache, paging, positions, **kw)
            scores = reference.block_scores(iq, index_k_cache, *paging)
            records.append((cls.name, sel, ref, scores, positions.to(torch.int32)))
            return sel

        return select

    for cls in backends:
        monkeypatch.setattr(cls, "select", wrap(cls))
    return records


@pytest.fixture
def model(tiny_model_dir, device):
    cfg = load_config(tiny_model_dir)
    return M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device, attention="triton")


def test_prefill_and_decode_select_what_the_reference_selects_on_the_fp8_cache(model, monkeypatch):
    cfg = model.cfg
    assert model.static_decode, "decode must go through the sync-free step (StaticDecoder)"
    records = record_selections(monkeypatch, (TritonAttention, StaticDecodeAttention))
    cache = PagedCache(cfg, num_pages=16, dtype=torch.float32, device=model.device, index_dtype=FP8)
    seq = Sequence()
    ids = torch.randint(3, 256, (117,), device=model.device)
    model.forward(ids[:70], cache, seq)  # past the dense range: 4 blocks of 16 at top-4
    model.forward(ids[70:], cache, seq)  # a chunk after a cached prefix
    decoder = StaticDecoder(model, cache)  # the sync-free step, eagerly: the recording reads the
    decoder.use_graph = False  # selections on the host, which a CUDA graph capture cannot do
    for token in (5, 6, 7):
        assert torch.isfinite(decoder.step(token, seq)).all()

    sparse = len(cfg.sparse_layers)
    assert [r[0] for r in records] == ["triton"] * 2 * sparse + ["triton-static"] * 3 * sparse
    for keys in cache.index_k.values():
        used = keys[torch.tensor(seq.pages)].float()
        assert keys.dtype == FP8 and used.isfinite().all() and (used != 0).any(), "the model wrote the fp8 cache"
    for _, sel, ref, scores, positions in records:
        assert (positions // cfg.index_block_size + 1 > cfg.index_topk_blocks).any(), "no row ranks blocks"
        check_selection(sel, scores, positions, topk=cfg.index_topk_blocks, block=cfg.index_block_size, tol=1e-4)
        same = (sel.sort(-1).values == ref.sort(-1).values).all(-1)
        assert same.float().mean() > 0.99, "selection sets differ beyond rounding near-ties"


def test_the_captured_step_on_an_fp8_cache_is_the_eager_step(tiny_model_dir, device):
    """The sync-free step on an fp8 index cache, captured in a CUDA graph and replayed on the GPU
    (eager under the interpreter), gives bit for bit the logits of the same step run eagerly on
    a copy of the cache, over steps that cross a page, and both caches end equal. On the GPU in
    bf16 too (the fp16 scoring branch of the candidates kernel)."""
    for dtype in [torch.float32] + ([torch.bfloat16] if device == "cuda" else []):
        run_captured_and_eager(tiny_model_dir, device, dtype)


def run_captured_and_eager(tiny_model_dir, device, dtype):
    cfg = load_config(tiny_model_dir)
    model = M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device, attention="triton", dtype=dtype)
    cache = PagedCache(cfg, num_pages=16, dtype=dtype, device=model.device, index_dtype=FP8)
    seq = Sequence()
    model.forward(torch.randint(3, 256, (75,), device=model.device), cache, seq)  # sparse: past 64 tokens
    twin = PagedCache(cfg, num_pages=16, dtype=dtype, device=model.device, index_dtype=FP8)
    for mine, theirs in zip([*twin.k, *twin.v, *twin.index_k.values()], [*cache.k, *cache.v, *cache.index_k.values()]):
        mine.copy_(theirs)
    twin.free, twin_seq = list(cache.free), Sequence(list(seq.pages), seq.length, list(seq.ids))
    captured, eager = StaticDecoder(model, cache), StaticDecoder(model, twin)
    assert captured.use_graph == (model.device.type == "cuda")  # fp8 no longer runs eagerly
    eager.use_graph = False
    for token in torch.randint(3, 256, (8,)).tolist():  # positions 75..82: past a page boundary at 80
        out, ref = captured.step(token, seq), eager.step(token, twin_seq)
        assert torch.equal(out, ref), f"step at position {seq.length - 1}: max diff {float((out - ref).abs().max()):.3g}"
    assert captured.graph is not None or model.device.type != "cuda"
    for mine, theirs in zip([*twin.k, *twin.v, *twin.index_k.values()], [*cache.k, *cache.v, *cache.index_k.values()]):
        assert torch.equal(mine.view(torch.uint8), theirs.view(torch.uint8))


def test_the_reference_backend_runs_on_an_fp8_cache(tiny_model_dir, device):
    cfg = load_config(tiny_model_dir)
    ref = M3TextModel(cfg, Checkpoint(tiny_model_dir, cfg), device=device, attention="reference")
    cache = PagedCache(cfg, num_pages=8, dtype=torch.float32, device=ref.device, index_dtype=FP8)
    seq = Sequence()
    logits = ref.forward(torch.randint(3, 256, (80,), device=ref.device), cache, seq)
    assert torch.isfinite(logits).all() and torch.isfinite(ref.decode(9, cache, seq)).all()


def test_the_cache_stores_clamped_fp8_keys_and_counts_their_bytes(tiny_model_dir):
    cfg = load_config(tiny_model_dir)
    cache = PagedCache(cfg, num_pages=4, dtype=torch.bfloat16, index_dtype=FP8)
    assert cache.bytes_per_token == cfg.cache_bytes_per_token(2, index_dtype_bytes=1)
    assert cache.bytes_per_token < PagedCache(cfg, num_pages=4, dtype=torch.bfloat16).bytes_per_token
    layer = cfg.sparse_layers[0]
    kv = torch.zeros(2, cfg.num_kv_heads, cfg.head_dim)
    ik = torch.full((2, cfg.index_head_dim), 0.5)
    ik[1, 0] = 1000.0  # out of e4m3 range
    cache.write(layer, torch.tensor([3, 3]), torch.tensor([0, 1]), kv, kv, ik)
    stored = cache.index_k[layer][3, :2].float()
    assert stored[0].eq(0.5).all() and stored[1, 0] == 448.0 and not stored.isnan().any()


@pytest.mark.parametrize("kind", [torch.float8_e5m2, torch.float8_e4m3fnuz], ids=str)
def test_the_cache_refuses_other_fp8_kinds(kind, tiny_model_dir):
    cfg = load_config(tiny_model_dir)
    with pytest.raises(ValueError, match="index_dtype has dtype .*; an fp8 index-K cache must be float8_e4m3fn"):
        PagedCache(cfg, num_pages=4, index_dtype=kind)
