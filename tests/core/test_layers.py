"""Each M3 building block against the `transformers` module it must reproduce."""

import pytest
import torch

from core.model import layers
from core.model.config import load_config


@pytest.fixture(scope="module")
def hf(tiny_model_dir):
    from transformers import AutoConfig
    from transformers.models.minimax_m3_vl import modeling_minimax_m3_vl as m

    return m, AutoConfig.from_pretrained(tiny_model_dir).text_config


def test_gemma_rms_norm(hf):
    m, cfg = hf
    norm = m.MiniMaxM3VLRMSNorm(64, eps=1e-6)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(5, 64, dtype=torch.bfloat16)
    assert torch.equal(layers.gemma_rms_norm(x, norm.weight, 1e-6), norm(x))


def test_partial_rotary_embedding_rotates_only_rotary_dim(hf):
    m, cfg = hf
    assert cfg.rope_parameters["partial_rotary_factor"] * cfg.head_dim == cfg.rotary_dim
    rope = m.MiniMaxM3VLRotaryEmbedding(cfg)
    positions = torch.tensor([0, 1, 7, 300, 4000])
    q, k = torch.randn(1, 4, 5, 16), torch.randn(1, 2, 5, 16)  # [B, heads, T, D]
    cos, sin = rope(q, positions[None])
    ref_q, ref_k = m.apply_rotary_pos_emb(q, k, cos, sin)
    ours_cos, ours_sin = layers.rope_cos_sin(positions, cfg.rotary_dim, cfg.rope_parameters["rope_theta"], q.dtype)
    assert ours_cos.shape == (5, 8)
    for x, ref in ((q, ref_q), (k, ref_k)):
        ours = layers.apply_partial_rope(x[0].transpose(0, 1), ours_cos, ours_sin).transpose(0, 1)
        torch.testing.assert_close(ours, ref[0], rtol=1e-6, atol=1e-6)
        assert torch.equal(ours[..., 8:], x[0, ..., 8:])  # the pass-through half is untouched


def test_dense_swiglu_oai_mlp(hf):
    m, cfg = hf
    mlp = m.MiniMaxM3VLDenseMLP(cfg)
    for p in mlp.parameters():
        torch.nn.init.normal_(p, std=0.5)  # large enough that the clamps at 7 bite
    x = torch.randn(9, 64) * 3
    ours = layers.gated_mlp(x, mlp.gate_up_proj.weight, mlp.down_proj.weight, alpha=cfg.swiglu_alpha,
                            limit=cfg.swiglu_limit)  # its rows: the gate's, then up's, as ours
    torch.testing.assert_close(ours, mlp(x), rtol=1e-5, atol=1e-5)


def test_moe_block_router_experts_and_shared_expert(hf, tiny_model_dir):
    m, cfg = hf
    ours_cfg = load_config(tiny_model_dir)
    moe = m.MiniMaxM3VLSparseMoeBlock(cfg)
    for p in moe.parameters():
        torch.nn.init.normal_(p, std=0.3)
    moe.gate.e_score_correction_bias.copy_(torch.randn(cfg.num_local_experts))
    x = torch.randn(1, 11, 64)
    w1, w3 = moe.experts.gate_up_proj.chunk(2, dim=1)  # [E, I, H] each
    weights, chosen = layers.route(x[0], moe.gate.weight, moe.gate.e_score_correction_bias,
                                   ours_cfg.experts_per_token)
    kw = dict(alpha=ours_cfg.swiglu_alpha, limit=ours_cfg.swiglu_limit)
    routed = layers.mix_experts(x[0], weights, chosen, w1, w3, moe.experts.down_proj, **kw)
    shared = moe.shared_experts
    ours = routed * ours_cfg.routed_scaling_factor + layers.gated_mlp(x[0], shared.gate_up_proj.weight,
                                                                      shared.down_proj.weight, **kw)
    torch.testing.assert_close(ours, moe(x)[0], rtol=1e-5, atol=1e-5)


def test_router_chooses_by_biased_scores_but_weighs_unbiased(hf):
    router = torch.eye(4, 8)  # expert e scores hidden dim e
    x = torch.tensor([[4.0, 3.0, -1.0, -2.0, 0, 0, 0, 0]])
    bias = torch.tensor([0.0, 0.0, 5.0, 0.0])  # pushes expert 2 into the top-2 despite its low score
    weights, chosen = layers.route(x, router, bias, 2)
    assert set(chosen[0].tolist()) == {0, 2}
    s = torch.sigmoid(torch.tensor([4.0, -1.0]))
    expected = {0: float(s[0] / s.sum()), 2: float(s[1] / s.sum())}
    for w, e in zip(weights[0].tolist(), chosen[0].tolist()):
        assert w == pytest.approx(expected[e], rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_expert_mix_matches_each_token_done_alone(device, dtype):
    """The sorted (and, on a CUDA GPU in bf16, grouped) expert mix against a plain per-token sum,
    with some experts chosen by no token."""
    E, H, I, T, K = 8, 64, 32, 37, 2
    g = torch.Generator().manual_seed(0)
    w1, w3 = (torch.randn(E, I, H, generator=g) / 8 for _ in range(2))
    w2 = torch.randn(E, H, I, generator=g) / 6
    x = torch.randn(T, H, generator=g)
    chosen = torch.randint(0, E - 2, (T, K), generator=g)  # experts 6 and 7 idle
    chosen[:, 1] = (chosen[:, 0] + 1) % (E - 2)
    weights = torch.rand(T, K, generator=g)
    kw = dict(alpha=1.702, limit=7.0)
    ref = torch.stack([sum(weights[t, j] * layers.gated_mlp(x[t:t + 1], torch.cat([w1[e], w3[e]]), w2[e], **kw)[0]
                           for j, e in enumerate(chosen[t].tolist())) for t in range(T)])
    args = [a.to(device, dtype) for a in (x, weights, chosen, w1, w3, w2)]
    args[2] = chosen.to(device)
    out = layers.mix_experts(*args, **kw).float().cpu()
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-5
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    gathered = layers.mix_gathered_experts(*args, **kw).float().cpu()
    torch.testing.assert_close(gathered, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("by_kernel", [True, False], ids=["kernel", "gather"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gathered_mix_equals_sorted_mix(device, monkeypatch, dtype, by_kernel):
    """The decode graph's mix equals `mix_experts`, both through the grouped-GEMV kernel (the
    Triton interpreter on the CPU) and through the gather fallback; experts repeat across tokens."""
    import kernels.moe

    if by_kernel and device == "cpu" and not kernels.moe.interpreting():
        pytest.skip("the kernel path on the CPU needs TRITON_INTERPRET=1")
    calls = []

    def spy(*args, **kw):
        calls.append(args[0].shape)
        return launch(*args, **kw)

    launch = kernels.moe.launch_expert_mix
    monkeypatch.setattr(kernels.moe, "launch_expert_mix", spy)
    monkeypatch.setattr(layers, "experts_by_kernel", lambda x: by_kernel)
    E, H, I, K = 6, 72, 40, 4
    w1, w3 = (torch.randn(E, I, H) / 3 for _ in range(2))
    w2 = torch.randn(E, H, I) / 3
    kw = dict(alpha=1.702, limit=7.0)
    for t in (1, 5):
        x = torch.randn(t, H) * 2
        weights, chosen = layers.route(x, torch.randn(E, H), torch.zeros(E), K)
        args = [a.to(device, dtype) for a in (x, weights, chosen, w1, w3, w2)]
        args[1:3] = weights.to(device), chosen.to(device)
        ours = layers.mix_gathered_experts(*args, **kw).float().cpu()
        expected = layers.mix_experts(*args, **kw).float().cpu()
        tol = 2e-2 if dtype == torch.bfloat16 else 1e-5
        torch.testing.assert_close(ours, expected, rtol=tol, atol=tol * float(expected.abs().max()))
    assert len(calls) == (2 if by_kernel else 0)


def test_gathered_mix_uses_the_kernel_on_cuda_or_the_interpreter(device):
    from kernels.moe import interpreting

    assert layers.experts_by_kernel(torch.zeros(1, device=device)) == (device == "cuda" or interpreting())
