"""The Gemma RMSNorm kernel against its fp32 reference and the runtime's PyTorch norm.

Row lengths that are no power of two (72, 6000) leave masked columns in every tile; row counts
that leave a last program half full (37 rows of 128 at 16 a program); per-head layouts
`[n, heads, D]`; fp32, bf16 and fp16. Large values check the sum of squares runs in fp32.
"""

import pytest
import torch

from core.model import layers
from kernels.norm import gemma_rms_norm, launch_gemma_rms_norm, reference

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
