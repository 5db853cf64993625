"""The Gemma RMSNorm as one Triton kernel: read a row once, write it once.

In PyTorch the norm is seven elementwise and reduction kernels (cast, square, mean, rsqrt, two
products, cast back); a decode step runs about twenty norms (hidden states, per-head q and k,
the index branch), so the step's time goes to launching tiny kernels, not to its bytes. Here a
program owns a tile of whole rows, computes in fp32 exactly as the reference does and stores in
x's dtype. Rows of 128 (per-head norms) go many to a program; a hidden-state row of 6144 is one.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _rounded(x, dt: tl.constexpr):
    """fp32 `x` rounded to `dt` (to nearest, ties to even), returned as fp32. bf16 is rounded with
    integer operations: Triton's CPU interpreter truncates fp32 -> bf16 casts, the GPU does not,
    and the tests compare roundings bit for bit. NaN stays NaN."""
    if dt == tl.bfloat16:
        bits = x.to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
        return tl.where(x == x, bits.to(tl.float32, bitcast=True), x)
    else:
        return x.to(dt).to(tl.float32)


@triton.jit
def _gemma_rms_norm_kernel(
    x_ptr,
    w_ptr,
    out_ptr,
    n_rows,
    n_cols,
    stride_x,
    stride_out,
    eps,
    BLOCK_R: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)  # [BR]
    cols = tl.arange(0, BLOCK_N)  # [BN]
    row_ok, col_ok = rows < n_rows, cols < n_cols
    ok = row_ok[:, None] & col_ok[None, :]
    # [BR, BN]
    x = tl.load(x_ptr + rows[:, None] * stride_x + cols[None, :], mask=ok, other=0.0).to(tl.float32)
    # [BN]
    w = tl.load(w_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)
    inv = 1.0 / tl.sqrt(tl.sum(x * x, axis=1) / n_cols + eps)  # [BR]
    y = _rounded(x * inv[:, None] * (1.0 + w[None, :]), out_ptr.dtype.element_ty)
    tl.store(out_ptr + rows[:, None] * stride_out + cols[None, :], y.to(out_ptr.dtype.element_ty), mask=ok)


def tile(n_cols: int) -> tuple[int, int, int]:
    """(rows a program, columns padded to a power of two, warps) for rows of `n_cols`."""
    block_n = triton.next_power_of_2(n_cols)
    block_r = max(1, min(64, 2048 // block_n))  # about 2K elements a program
    return block_r, block_n, 8 if block_n >= 4096 else 4


def launch_gemma_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """The norm over x's last dimension, in x's dtype. Arguments are trusted: the last dimension
    is contiguous and `weight` has its length. No host sync: a CUDA graph can capture it."""
    n_cols = x.shape[-1]
    rows = x.reshape(-1, n_cols)  # a view when x's rows are contiguous
    out = torch.empty(rows.shape, dtype=x.dtype, device=x.device)
    block_r, block_n, warps = tile(n_cols)
    if rows.shape[0]:
        grid = (triton.cdiv(rows.shape[0], block_r),)
        _gemma_rms_norm_kernel[grid](
            rows, weight, out, rows.shape[0], n_cols, rows.stride(0), out.stride(0), eps,
            BLOCK_R=block_r, BLOCK_N=block_n, num_warps=warps,
        )  # fmt: skip
    return out.view(x.shape)


def gemma_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """`x * rsqrt(mean(x^2) + eps) * (1 + weight)` over the last dimension, computed in fp32,
    returned in x's dtype. x: any shape `[..., N]` (fp32, bf16, fp16) with a contiguous last
    dimension; weight `[N]`. ValueError names a bad argument."""
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"x has shape {tuple(x.shape)}; the norm needs a non-empty last dimension")
    if x.stride(-1) != 1:
        raise ValueError("x's last dimension must be contiguous (stride 1)")
    if weight.shape != (x.shape[-1],):
        raise ValueError(f"weight has shape {tuple(weight.shape)}; expected ({x.shape[-1]},)")
    if weight.device != x.device:
        raise ValueError(f"weight is on {weight.device}, x on {x.device}")
    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"x is {x.dtype}; the kernel takes float32, bfloat16 or float16")
    return launch_gemma_rms_norm(x, weight, eps)
