"""The fp32 reference of the Gemma RMSNorm (MSA.md §7): `x * rsqrt(mean(x^2) + eps) * (1 + w)`."""

from __future__ import annotations

import torch


def gemma_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Over the last dimension, in fp32; returned in fp32."""
    xf = x.float()
    return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + weight.float())


def gemma_rms_norm_rope(
    x: torch.Tensor, weight: torch.Tensor, eps: float, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """The norm of each row of `x [T, heads, D]`, then rotate-half RoPE on its first `rot` dims
    with `cos`, `sin` `[T, rot]`; in fp32, returned in fp32."""
    y = gemma_rms_norm(x, weight, eps)
    rot = cos.shape[-1]
    half = rot // 2
    r = y[..., :rot]
    turned = torch.cat((-r[..., half:], r[..., :half]), dim=-1)
    c, s = cos.float()[:, None, :], sin.float()[:, None, :]
    return torch.cat((r * c + turned * s, y[..., rot:]), dim=-1)
