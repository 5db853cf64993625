"""The Gemma RMSNorm kernel against its fp32 reference and the runtime's PyTorch norm.

Row lengths that are no power of two (72, 6000) leave masked columns in every tile; row counts
that leave a last program half full (37 rows of 128 at 16 a program); per-head layouts
`[n, heads, D]`; fp32, bf16 and fp16. Large values check the sum of squares runs in fp32.
"""

import pytest
import torch

from core.model import layers
from kernels.norm import (
    gemma_rms_norm,
    gemma_rms_norm_rope,
    launch_gemma_rms_norm,
    launch_gemma_rms_norm_rope,
    reference,
)

TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float16: 2e-3}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(1, 128), (37, 128), (5, 72), (3, 4, 128), (2, 6000), (0, 128)])
def test_matches_the_reference(shape, dtype, device):
    g = torch.Generator().manual_seed(sum(shape))
    x = (torch.randn(*shape, generator=g) * 40).to(device, dtype)  # squares reach 1e4: fp32 sums
    w = (torch.randn(shape[-1], generator=g) / 4).to(device, dtype)
    out = gemma_rms_norm(x, w, 1e-6)
    assert out.shape == x.shape and out.dtype == dtype
    ref = reference.gemma_rms_norm(x, w, 1e-6)
    torch.testing.assert_close(out.float(), ref, rtol=TOL[dtype], atol=TOL[dtype])
    torch.testing.assert_close(out, layers.gemma_rms_norm(x, w, 1e-6), rtol=TOL[dtype], atol=TOL[dtype])


def test_rows_of_a_strided_view(device):
    """q's per-head rows as F.linear(...).view(n, H, D) gives them, and rows taken with a stride."""
    x = torch.randn(6, 2 * 128, device=device)[:, :128]  # row stride 256, read through the stride
    w = torch.randn(128, device=device)
    torch.testing.assert_close(launch_gemma_rms_norm(x, w, 1e-6), reference.gemma_rms_norm(x, w, 1e-6))


@pytest.mark.parametrize(
    ("x", "w", "match"),
    [
        (torch.zeros(3, 0), torch.zeros(0), "non-empty last dimension"),
        (torch.zeros(4, 3).t(), torch.zeros(4), "contiguous"),
        (torch.zeros(3, 8), torch.zeros(7), "weight has shape"),
        (torch.zeros(3, 8, dtype=torch.int32), torch.zeros(8), "takes float32"),
    ],
)
def test_refuses_bad_arguments(x, w, match):
    with pytest.raises(ValueError, match=match):
        gemma_rms_norm(x, w, 1e-6)


ROPE_CASES = [(1, 64, 128, 64), (5, 4, 128, 64), (3, 1, 128, 64), (7, 2, 72, 32), (4, 3, 64, 64), (0, 4, 128, 64)]


def rope_inputs(n, heads, dim, rot, dtype, device, *, token_stride=None):
    """x `[n, heads, D]` (read through `token_stride` when given), weight, eps, cos and sin."""
    g = torch.Generator().manual_seed(n * 1000 + heads * 10 + dim)
    wide = (torch.randn(n, token_stride or heads * dim, generator=g) * 3).to(device, dtype)
    x = wide[:, : heads * dim].view(n, heads, dim)
    w = (torch.randn(dim, generator=g) / 4).to(device, dtype)
    angles = torch.rand(n, rot // 2, generator=g) * 1000
    emb = torch.cat((angles, angles), dim=-1)
    return x, w, 1e-6, emb.cos().to(device, dtype), emb.sin().to(device, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", ROPE_CASES)
def test_norm_rope_matches_the_reference(case, dtype, device):
    args = rope_inputs(*case, dtype, device)
    out = gemma_rms_norm_rope(*args)
    assert out.shape == args[0].shape and out.dtype == dtype and out.is_contiguous()
    tol = {torch.float32: 1e-5, torch.bfloat16: 3e-2, torch.float16: 3e-3}[dtype]
    torch.testing.assert_close(out.float(), reference.gemma_rms_norm_rope(*args), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", ROPE_CASES[1:4])
def test_norm_rope_rounds_as_the_composed_steps(case, dtype, device):
    """The fused kernel rounds where the norm kernel followed by the runtime's torch rotation
    rounds: the norm's output, each product and the sum, in x's dtype. In bf16, the runtime's
    dtype, the two agree bit for bit (the interpreter, and an H200 on 2026-12-01); a kernel that
    rounded once at the end would differ in about 15 % of the rotated elements. fp16, with three
    more mantissa bits, sees the two kernels' fp32 arithmetic differ in its last places on the
    GPU, so there the bound is a few units of the summands."""
    x, w, eps, cos, sin = rope_inputs(*case, dtype, device, token_stride=2 * case[1] * case[2])
    assert x.stride(0) == 2 * case[1] * case[2]  # rows read through the token stride of a wider projection
    fused = launch_gemma_rms_norm_rope(x, w, eps, cos, sin)
    composed = layers.apply_partial_rope(launch_gemma_rms_norm(x, w, eps), cos, sin)
    if dtype == torch.bfloat16:
        assert torch.equal(fused, composed)
    else:
        unit = 4 * torch.finfo(dtype).eps  # four units at the largest summand's scale
        torch.testing.assert_close(fused, composed, rtol=unit, atol=unit * float(composed.abs().max()))


@pytest.mark.parametrize(
    ("shape", "rot", "match"),
    [((3, 8), 4, "expected \\[tokens, heads, D\\]"), ((3, 2, 8), 3, "rot must be even"), ((3, 2, 8), 10, "<= D")],
)
def test_norm_rope_refuses_bad_arguments(shape, rot, match):
    x = torch.zeros(*shape)
    with pytest.raises(ValueError, match=match):
        gemma_rms_norm_rope(x, torch.zeros(shape[-1]), 1e-6, torch.zeros(3, rot), torch.zeros(3, rot))
