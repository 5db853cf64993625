"""The MiniMax-M3 building blocks as plain functions on tensors (MSA.md §7).

Norms, partial rotary embedding, the SwiGLU-OAI activation and the MoE router/expert mix are
free functions over explicit weights, so the model module stays a readable wiring diagram and
each piece is tested against the `transformers` implementation on its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gemma_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """`x * rsqrt(mean(x^2) + eps) * (1 + w)`, computed in fp32, returned in x's dtype.

    On CUDA one Triton kernel (`kernels/norm`): PyTorch's seven small kernels per norm, some
    twenty norms a decode step, cost more launches than bytes."""
    if x.is_cuda and x.stride(-1) == 1:
        from kernels.norm import launch_gemma_rms_norm

        return launch_gemma_rms_norm(x, weight, eps)
    xf = x.float()
    out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (out * (1.0 + weight.float())).to(x.dtype)


def rope_cos_sin(positions: torch.Tensor, rotary_dim: int, theta: float, dtype: torch.dtype):
    """cos and sin `[T, rotary_dim]` of plain RoPE for absolute positions `[T]` (rotate-half layout)."""
    inv_freq = 1.0 / (
        theta ** (torch.arange(0, rotary_dim, 2, dtype=torch.float32, device=positions.device) / rotary_dim)
    )
    return rotary_cos_sin(positions, inv_freq, 1.0, dtype)


def rotary_cos_sin(positions: torch.Tensor, inv_freq: torch.Tensor, attention_factor: float, dtype: torch.dtype):
    """cos and sin `[T, 2 * len(inv_freq)]` for positions `[T]`, times `attention_factor` (YaRN)."""
    freqs = positions.float()[:, None] * inv_freq[None, :]  # [T, rotary_dim / 2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * attention_factor).to(dtype), (emb.sin() * attention_factor).to(dtype)


def apply_partial_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the first `rotary_dim` dims of `x [T, heads, D]`; the rest pass through."""
    rot_dim = cos.shape[-1]
    rot, rest = x[..., :rot_dim], x[..., rot_dim:]
    half = rot_dim // 2
    rotated = torch.cat((-rot[..., half:], rot[..., :half]), dim=-1)
    cos, sin = cos[:, None, :], sin[:, None, :]  # [T, 1, rot_dim]
    return torch.cat((rot * cos + rotated * sin, rest), dim=-1)


def gemma_rms_norm_rope(
    x: torch.Tensor, weight: torch.Tensor, eps: float, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """The per-head norm of `x [T, heads, D]`, then the partial rotary embedding: on CUDA one
    Triton kernel (`kernels/norm`) with the same roundings as the two steps composed here."""
    if x.is_cuda and x.stride(-1) == 1:
        from kernels.norm import launch_gemma_rms_norm_rope

        return launch_gemma_rms_norm_rope(x, weight, eps, cos, sin)
    return apply_partial_rope(gemma_rms_norm(x, weight, eps), cos, sin)


def swiglu_oai(gate: torch.Tensor, up: torch.Tensor, alpha: float, limit: float) -> torch.Tensor:
    """`(clamp(up, -l, l) + 1) * g * sigmoid(alpha * g)` with `g = clamp(gate, max=l)`."""
    gate = gate.clamp(max=limit)
    up = up.clamp(min=-limit, max=limit)
    return (up + 1.0) * gate * torch.sigmoid(gate * alpha)


def gated_mlp(
    x: torch.Tensor, w_gate_up: torch.Tensor, w_down: torch.Tensor, *, alpha: float, limit: float
) -> torch.Tensor:
    """Dense SwiGLU-OAI feed-forward (also the shared expert): `w_gate_up` `[2I, H]` (the gate's
    rows, then the up projection's: one GEMM), `w_down` `[H, I]`."""
    gate, up = F.linear(x, w_gate_up).chunk(2, dim=-1)
    return F.linear(swiglu_oai(gate, up, alpha, limit), w_down)


def expert_mlp(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor, *, alpha: float, limit: float
) -> torch.Tensor:
    """`gated_mlp` with the gate and up projections apart (one expert's slices of the stacks)."""
    return F.linear(swiglu_oai(F.linear(x, w_gate), F.linear(x, w_up), alpha, limit), w_down)


def route(x: torch.Tensor, router: torch.Tensor, bias: torch.Tensor, top_k: int):
    """Sigmoid router: choose by `sigmoid + bias`, weigh by the unbiased sigmoids, renormalised.

    Returns (weights fp32 `[T, k]`, expert ids `[T, k]`); `routed_scaling_factor` is applied by
    the caller after the experts are mixed."""
    scores = torch.sigmoid(F.linear(x.to(router.dtype), router).float())  # [T, E]
    chosen = torch.topk(scores + bias.float(), top_k, dim=-1, sorted=False).indices
    weights = scores.gather(1, chosen)
    return weights / weights.sum(-1, keepdim=True), chosen


def mix_experts(
    x: torch.Tensor,
    weights: torch.Tensor,
    chosen: torch.Tensor,
    w1: torch.Tensor,
    w3: torch.Tensor,
    w2: torch.Tensor,
    *,
    alpha: float,
    limit: float,
) -> torch.Tensor:
    """Weighted sum of each token's chosen experts; `w1`/`w3` `[E, I, H]` (gate/up), `w2` `[E, H, I]`.

    The (token, expert) pairs are sorted by expert so each expert sees one contiguous run of rows:
    one grouped matrix product per weight on a CUDA GPU in bf16 (no host sync), else one product
    per expert with a single sync for the run lengths."""
    t, k = chosen.shape
    order = torch.argsort(chosen.reshape(-1), stable=True)  # [T*k] pairs grouped by expert
    flat = chosen.reshape(-1)  # a count by scatter: bincount syncs with the host on CUDA
    counts = torch.zeros(w1.shape[0], dtype=torch.int64, device=flat.device).index_add_(0, flat, torch.ones_like(flat))
    token = order // k
    rows = x[token]  # [T*k, H]
    if _grouped_mm_ok(x):
        offs = counts.cumsum(0).to(torch.int32)
        g = torch._grouped_mm(rows, w1.transpose(1, 2), offs=offs)  # [T*k, I]
        u = torch._grouped_mm(rows, w3.transpose(1, 2), offs=offs)
        y = torch._grouped_mm(swiglu_oai(g, u, alpha, limit), w2.transpose(1, 2), offs=offs)  # [T*k, H]
    else:
        y, start = torch.empty_like(rows), 0
        for e, c in enumerate(counts.tolist()):
            if c:
                y[start : start + c] = expert_mlp(
                    rows[start : start + c], w1[e], w3[e], w2[e], alpha=alpha, limit=limit
                )
                start += c
    scaled = y * weights.reshape(-1)[order, None].to(y.dtype)
    return torch.zeros_like(x).index_add_(0, token, scaled.to(x.dtype))


def _grouped_mm_ok(x: torch.Tensor) -> bool:
    return (
        x.is_cuda
        and x.dtype == torch.bfloat16
        and hasattr(torch, "_grouped_mm")
        and torch.cuda.get_device_capability(x.device) >= (9, 0)
    )


def mix_gathered_experts(
    x: torch.Tensor,
    weights: torch.Tensor,
    chosen: torch.Tensor,
    w1: torch.Tensor,
    w3: torch.Tensor,
    w2: torch.Tensor,
    *,
    alpha: float,
    limit: float,
) -> torch.Tensor:
    """`mix_experts` for a few tokens without a host sync, so a CUDA graph can capture it.

    On CUDA (and under the Triton interpreter) the grouped-GEMV kernel reads each chosen expert's
    rows in place by id (`kernels/moe`); elsewhere `mix_by_gathering`."""
    if experts_by_kernel(x):
        from kernels.moe import launch_expert_mix

        return launch_expert_mix(x, weights, chosen, w1, w3, w2, alpha=alpha, limit=limit)
    return mix_by_gathering(x, weights, chosen, w1, w3, w2, alpha=alpha, limit=limit)


def mix_by_gathering(
    x: torch.Tensor,
    weights: torch.Tensor,
    chosen: torch.Tensor,
    w1: torch.Tensor,
    w3: torch.Tensor,
    w2: torch.Tensor,
    *,
    alpha: float,
    limit: float,
) -> torch.Tensor:
    """`mix_gathered_experts` off the kernel: copies the chosen experts' weights (`[T*k, I, H]`) and
    applies them as batched products; no host sync. The CPU fallback and the benchmark's baseline."""
    t, k = chosen.shape
    e = chosen.reshape(-1)  # [T*k]
    xs = x.repeat_interleave(k, dim=0)[:, :, None]  # [T*k, H, 1]
    g, u = torch.bmm(w1[e], xs)[..., 0], torch.bmm(w3[e], xs)[..., 0]  # [T*k, I]
    y = torch.bmm(w2[e], swiglu_oai(g, u, alpha, limit)[:, :, None])[..., 0]  # [T*k, H]
    return (y.view(t, k, -1) * weights[:, :, None].to(y.dtype)).sum(1).to(x.dtype)


def experts_by_kernel(x: torch.Tensor) -> bool:
    """Whether `mix_gathered_experts` runs the Triton kernel: on CUDA, or on the CPU when the tests
    set TRITON_INTERPRET=1 (kernels.moe.interpreting); the gather fallback otherwise. Tests
    monkeypatch this to pick a path."""
    if x.is_cuda:
        return True
    from kernels.moe import interpreting

    return interpreting()
