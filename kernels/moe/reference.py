"""Plain PyTorch reference of the MoE expert mix for a few tokens (MSA.md §7).

The Triton grouped GEMV is tested against `expert_mix`: one (token, slot) pair at a time, each
chosen expert's matrices converted whole, SwiGLU-OAI in between, the slots summed with their
router weights. Obviously right rather than fast. `dtype` (fp32 by default) is the arithmetic's
precision; the tests also run it in bf16 to measure the error a low-precision mix makes anyway,
which bounds the error they accept from the kernel.
"""

from __future__ import annotations

import torch


def swiglu_oai(gate: torch.Tensor, up: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    """`(clamp(up, -l, l) + 1) * g * sigmoid(alpha * g)` with `g = clamp(gate, max=l)`."""
    gate = gate.clamp(max=limit)
    up = up.clamp(min=-limit, max=limit)
    return (up + 1.0) * gate * torch.sigmoid(gate * alpha)


def expert_mix(
    x: torch.Tensor,
    weights: torch.Tensor,
    chosen: torch.Tensor,
    w1: torch.Tensor,
    w3: torch.Tensor,
    w2: torch.Tensor,
    *,
    alpha: float,
    limit: float,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """`y[t] = sum_j weights[t, j] * W2[e] @ swiglu_oai(W1[e] @ x[t], W3[e] @ x[t])`, `e = chosen[t, j]`.

    x `[T, H]`, weights `[T, k]`, chosen int `[T, k]`, w1 / w3 `[E, I, H]`, w2 `[E, H, I]`.
    Returns `[T, H]` in `dtype` (fp32 unless asked otherwise)."""
    t_count, k = chosen.shape
    out = torch.zeros(t_count, x.shape[1], dtype=dtype, device=x.device)
    for t in range(t_count):
        xt = x[t].to(dtype)  # [H]
        for j in range(k):
            e = int(chosen[t, j])
            g, u = w1[e].to(dtype) @ xt, w3[e].to(dtype) @ xt  # [I]
            h = swiglu_oai(g, u, alpha, limit)
            out[t] += weights[t, j].to(dtype) * (w2[e].to(dtype) @ h)  # [H]
    return out
