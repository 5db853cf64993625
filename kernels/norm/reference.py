"""The fp32 reference of the Gemma RMSNorm (MSA.md §7): `x * rsqrt(mean(x^2) + eps) * (1 + w)`."""

from __future__ import annotations

import torch


def gemma_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Over the last dimension, in fp32; returned in fp32."""
    xf = x.float()
    return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + weight.float())
