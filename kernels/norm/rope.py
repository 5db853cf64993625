"""The per-head Gemma RMSNorm and the partial rotary embedding after it, as one Triton kernel.

M3 normalises q, k and the index branch's q and k per head, then rotates their first
`rotary_dim` dims (rotate-half, MSA.md §2 and §7). In PyTorch the rotation is five kernels
(slice copies, a negation, two products, a sum and two concatenations) per tensor, ten tensors
a decode step. Here the norm's program also rotates: it loads each row a second time at the
partner columns (c ± rotary_dim / 2), so no data moves between lanes. The arithmetic rounds
where PyTorch's does (the norm's output, each product and the sum in x's dtype, computed in
fp32), so the result equals `rope(gemma_rms_norm(x))` as the runtime composes it in torch.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .rmsnorm import _rounded, tile


@triton.jit
def _norm_rope_kernel(
    x_ptr,
    w_ptr,
    cos_ptr,
    sin_ptr,
    out_ptr,
    n_rows,
    heads,
    stride_xt,
    stride_xh,
    stride_cos,
    stride_sin,
    eps,
    D: tl.constexpr,
    ROT: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)  # [BR] (token, head) rows
    tok, head = rows // heads, rows % heads
    cols = tl.arange(0, BLOCK_N)  # [BN]
    half = ROT // 2
    partner = tl.where(cols < half, cols + half, tl.where(cols < ROT, cols - half, cols))
    row_ok, col_ok = rows < n_rows, cols < D
    ok = row_ok[:, None] & col_ok[None, :]
    base = x_ptr + tok[:, None] * stride_xt + head[:, None] * stride_xh
    # [BR, BN] the row, and the same row read at the partner columns
    x = tl.load(base + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    xp = tl.load(base + partner[None, :], mask=ok, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)  # [BN]
    wp = tl.load(w_ptr + partner, mask=col_ok, other=0.0).to(tl.float32)
    inv = 1.0 / tl.sqrt(tl.sum(x * x, axis=1) / D + eps)  # [BR]
    dt = out_ptr.dtype.element_ty
    y = _rounded(x * inv[:, None] * (1.0 + w[None, :]), dt)  # the norm's output, as the norm kernel stores it
    yp = _rounded(xp * inv[:, None] * (1.0 + wp[None, :]), dt)
    rot = ok & (cols < ROT)[None, :]
    # [BR, BN] cos and sin of each row's token
    cos = tl.load(cos_ptr + tok[:, None] * stride_cos + cols[None, :], mask=rot, other=1.0).to(tl.float32)
    sin = tl.load(sin_ptr + tok[:, None] * stride_sin + cols[None, :], mask=rot, other=0.0).to(tl.float32)
    rotated = tl.where((cols < half)[None, :], -yp, yp)
    turned = _rounded(_rounded(y * cos, dt) + _rounded(rotated * sin, dt), dt)
    out = tl.where(rot, turned, y)
    tl.store(out_ptr + rows[:, None] * D + cols[None, :], out.to(dt), mask=ok)


def launch_gemma_rms_norm_rope(
    x: torch.Tensor, weight: torch.Tensor, eps: float, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """Norm each head row of `x [T, heads, D]`, then rotate its first `cos.shape[-1]` dims by the
    token's `cos`, `sin` `[T, rot]` (x's dtype). Returns a new contiguous tensor in x's dtype.
    Arguments are trusted (the last dimensions contiguous); no host sync."""
    n, heads, dim = x.shape
    out = torch.empty((n, heads, dim), dtype=x.dtype, device=x.device)
    block_r, block_n, warps = tile(dim)
    if n * heads:
        _norm_rope_kernel[(triton.cdiv(n * heads, block_r),)](
            x, weight, cos, sin, out, n * heads, heads, x.stride(0), x.stride(1), cos.stride(0), sin.stride(0), eps,
            D=dim, ROT=cos.shape[-1], BLOCK_R=block_r, BLOCK_N=block_n, num_warps=warps,
        )  # fmt: skip
    return out


def gemma_rms_norm_rope(
    x: torch.Tensor, weight: torch.Tensor, eps: float, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """The checked `launch_gemma_rms_norm_rope`: x `[T, heads, D]` (fp32, bf16, fp16) with a
    contiguous last dimension, weight `[D]`, cos and sin `[T, rot]` in x's dtype with `rot` even
    and at most D. ValueError names a bad argument."""
    if x.dim() != 3 or x.shape[-1] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected [tokens, heads, D] with D > 0")
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"x is {x.dtype}; the kernel takes float32, bfloat16 or float16")
    if x.stride(-1) != 1:
        raise ValueError("x's last dimension must be contiguous (stride 1)")
    if weight.shape != (x.shape[-1],) or weight.device != x.device:
        raise ValueError(f"weight has shape {tuple(weight.shape)} on {weight.device}; expected ({x.shape[-1]},)")
    for name, t in (("cos", cos), ("sin", sin)):
        if t.dim() != 2 or t.shape[0] != x.shape[0] or t.dtype != x.dtype or t.stride(-1) != 1:
            raise ValueError(f"{name} must be [{x.shape[0]}, rot] in {x.dtype} with a contiguous last dimension")
    rot = cos.shape[-1]
    if sin.shape != cos.shape or rot % 2 or not 0 < rot <= x.shape[-1]:
        raise ValueError(f"cos and sin have shapes {tuple(cos.shape)}, {tuple(sin.shape)}; rot must be even, <= D")
    return launch_gemma_rms_norm_rope(x, weight, eps, cos, sin)
