"""The grouped-GEMV expert mix against the fp32 reference, on awkward shapes.

H = 72 and I = 40 are multiples of no tile, so every row block and K step has a ragged edge;
experts repeat within a token and across tokens; gate and up are large enough that both
SwiGLU-OAI clamps bite. Output and scratch buffers start as NaN (conftest), so a tile the kernel
forgets fails. The accepted error is bounded by what the reference itself loses when it runs in
the weights' precision.
"""

import pytest
import torch

from kernels.moe import Tiles, launch_expert_mix, moe_expert_mix, reference

EXPERTS, HIDDEN, INTER = 5, 72, 40
KW = dict(alpha=1.702, limit=7.0)
FLOOR = {torch.float32: 1e-5, torch.bfloat16: 1e-3}  # the bound when the low-precision reference is exact


def make_case(n_tokens: int, k: int, dtype: torch.dtype, device, *, fused_gate_up: bool = False):
    """(x, weights, chosen, w1, w3, w2) with repeated experts; w1 / w3 as halves of one
    `[E, 2I, H]` tensor (strided expert dimension) when `fused_gate_up`."""
    gate_up = torch.randn(EXPERTS, 2 * INTER, HIDDEN) / 3
    w2 = torch.randn(EXPERTS, HIDDEN, INTER) / 3
    x = torch.randn(n_tokens, HIDDEN) * 2  # W1 @ x has std ~5.7: the clamps at +-7 bite
    chosen = torch.randint(0, EXPERTS, (n_tokens, k))
    if k > 1:
        chosen[0, 1] = chosen[0, 0]  # one token picks an expert twice
    if n_tokens > 1:
        chosen[-1, 0] = chosen[0, 0]  # two tokens share an expert
    weights = torch.rand(n_tokens, k) + 0.1
    gate_up, w2, x = (t.to(device, dtype) for t in (gate_up, w2, x))
    w1, w3 = (
        gate_up.chunk(2, dim=1) if fused_gate_up else (gate_up[:, :INTER].contiguous(), gate_up[:, INTER:].contiguous())
    )
    return x, weights.to(device), chosen.to(device), w1, w3, w2


def assert_within_reference_error(out: torch.Tensor, case, dtype: torch.dtype) -> None:
    """Relative and max-abs error at most twice the reference's own error in `dtype` (or a floor)."""
    ref = reference.expert_mix(*case, **KW)
    low = reference.expert_mix(*case, **KW, dtype=dtype).float()
    out, ref, low = out.float().cpu(), ref.cpu(), low.cpu()
    assert not out.isnan().any(), "output holds NaN: an element was never written or read poison"
    scale = ref.norm().clamp_min(1e-12)
    rel_bound = max(2 * float((low - ref).norm() / scale), FLOOR[dtype])
    rel = float((out - ref).norm() / scale)
    assert rel <= rel_bound, f"relative error {rel:.3g} > {rel_bound:.3g}"
    abs_bound = max(2 * float((low - ref).abs().max()), FLOOR[dtype] * float(ref.abs().max()))
    assert float((out - ref).abs().max()) <= abs_bound


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("n_tokens", [1, 3, 16])
def test_mix_matches_reference(device, n_tokens, k, dtype):
    case = make_case(n_tokens, k, dtype, device)
    out = moe_expert_mix(*case, **KW)
    assert out.shape == (n_tokens, HIDDEN) and out.dtype == dtype
    assert_within_reference_error(out, case, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_small_tiles_cross_every_edge(device, dtype):
    """Several row blocks and K steps in both stages, each ending in a ragged tile."""
    case = make_case(3, 2, dtype, device)
    out = launch_expert_mix(*case, **KW, tiles=Tiles(up_rows=16, up_k=32, down_rows=16, down_k=16, warps=2))
    assert_within_reference_error(out, case, dtype)


def test_strided_expert_dimension(device):
    """w1 and w3 as views into one fused gate-up tensor: expert stride 2*I*H, rows unit-stride."""
    case = make_case(3, 4, torch.bfloat16, device, fused_gate_up=True)
    assert not case[3].is_contiguous()
    assert_within_reference_error(moe_expert_mix(*case, **KW), case, torch.bfloat16)


def test_deterministic(device):
    case = make_case(16, 4, torch.bfloat16, device)
    assert torch.equal(moe_expert_mix(*case, **KW), moe_expert_mix(*case, **KW))


def test_no_tokens(device):
    x, weights, chosen, w1, w3, w2 = make_case(1, 2, torch.float32, device)
    out = moe_expert_mix(x[:0], weights[:0], chosen[:0], w1, w3, w2, **KW)
    assert out.shape == (0, HIDDEN)


def _bad_chosen(value):
    def edit(a):
        a["chosen"] = a["chosen"].clone()
        a["chosen"][1, 0] = value

    return edit


BAD = {
    "x rank": (lambda a: a.update(x=a["x"][None]), r"x must have rank 2"),
    "x hidden": (lambda a: a.update(x=a["x"][:, :-1].contiguous()), r"x has hidden size 71"),
    "x dtype": (lambda a: a.update(x=a["x"].long()), r"x has dtype int64"),
    "w3 shape": (lambda a: a.update(w3=a["w3"][:, :-1]), r"w3 has shape"),
    "w2 transposed": (lambda a: a.update(w2=a["w2"].transpose(1, 2).contiguous()), r"w2 has shape \[5, 40, 72\]"),
    "w2 dtype": (lambda a: a.update(w2=a["w2"].half()), r"pass one dtype for all three"),
    "w1 strided rows": (lambda a: a.update(w1=a["w1"].transpose(1, 2).contiguous().transpose(1, 2)), r"w1 must be"),
    "chosen float": (lambda a: a.update(chosen=a["chosen"].float()), r"chosen has dtype float32"),
    "chosen tokens": (lambda a: a.update(chosen=a["chosen"][:1]), r"chosen has shape \[1, 2\]"),
    "chosen too large": (_bad_chosen(EXPERTS), r"chosen\[1, 0\] = 5 is not an expert id \(0..4\)"),
    "chosen negative": (_bad_chosen(-1), r"chosen\[1, 0\] = -1 is not an expert id"),
    "weights shape": (lambda a: a.update(weights=a["weights"][:, :1]), r"weights has shape \[3, 1\]"),
    "weights not a tensor": (lambda a: a.update(weights=[[1.0, 1.0]] * 3), r"weights must be a torch.Tensor"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_refuses_bad_arguments(device, name):
    edit, message = BAD[name]
    args = dict(zip(("x", "weights", "chosen", "w1", "w3", "w2"), make_case(3, 2, torch.float32, device), strict=True))
    edit(args)
    with pytest.raises(ValueError, match=message):
        moe_expert_mix(**args, **KW)


def test_nan_token_stays_nan(device):
    """A NaN in one token's hidden state reaches its output through the clamps (as torch.clamp
    lets it) and leaves the other tokens alone."""
    x, weights, chosen, w1, w3, w2 = make_case(3, 2, torch.bfloat16, device)
    x = x.clone()
    x[1, 7] = float("nan")
    out = moe_expert_mix(x, weights, chosen, w1, w3, w2, **KW).float().cpu()
    assert out[1].isnan().all()
    assert not out[[0, 2]].isnan().any()
