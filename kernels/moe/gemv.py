"""The MoE expert mix of a few tokens as a grouped GEMV in Triton (README.md in this folder).

With one to sixteen tokens the mix is bound by reading the chosen experts' weights, so each
kernel streams weight rows straight from the stacked `[E, ...]` tensors at the expert id it
loads from `chosen` on the device: no gathered copy, no host sync, capturable in a CUDA graph.
Stage 1 (`_gate_up_kernel`): a program owns one (token, slot) pair and a block of the expert's
I rows, walks H in wide tiles for W1 and W3 together and writes SwiGLU-OAI of the two fp32
accumulators as fp32 `h [T*k, I]`. Stage 2 (`_down_kernel`): a program owns one token and a
block of H rows and sums the token's k slots itself (router weight folded into h), so the
reduction is in a fixed order, atomic-free, and y is written once in x's dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from kernels.msa.layout import FLOAT_DTYPES, check_tensor, fail, interpreting


@triton.jit
def _gate_up_kernel(
    x_ptr,
    chosen_ptr,
    w1_ptr,
    w3_ptr,
    h_ptr,
    n_pairs,
    k_slots,
    hidden,
    inter,
    stride_xt,
    stride_ct,
    stride_ck,
    stride_w1e,
    stride_w1i,
    stride_w3e,
    stride_w3i,
    stride_hp,
    alpha,
    limit,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    # pairs vary fastest, so programs that read the same rows of a shared expert run together
    pid = tl.program_id(0).to(tl.int64)
    pair = pid % n_pairs
    row_block = pid // n_pairs
    tok = pair // k_slots
    expert = tl.load(chosen_ptr + tok * stride_ct + (pair % k_slots) * stride_ck).to(tl.int64)
    rows = row_block * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] rows of I
    row_ok = rows < inter
    cols = tl.arange(0, BLOCK_K)
    w1_rows = w1_ptr + expert * stride_w1e + rows[:, None] * stride_w1i  # [BN, 1]
    w3_rows = w3_ptr + expert * stride_w3e + rows[:, None] * stride_w3i
    x_row = x_ptr + tok * stride_xt
    # per-lane partial sums, reduced once after the loop
    acc_g = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
    acc_u = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
    for k0 in range(0, hidden, BLOCK_K):
        offs = k0 + cols  # [BK]
        k_ok = offs < hidden
        # [BK]
        xk = tl.load(x_row + offs, mask=k_ok, other=0.0).to(tl.float32)
        tile_ok = row_ok[:, None] & k_ok[None, :]
        # [BN, BK]
        w1 = tl.load(w1_rows + offs[None, :], mask=tile_ok, other=0.0).to(tl.float32)
        # [BN, BK]
        w3 = tl.load(w3_rows + offs[None, :], mask=tile_ok, other=0.0).to(tl.float32)
        acc_g += w1 * xk[None, :]
        acc_u += w3 * xk[None, :]
    # NaN stays NaN through the clamps, as in torch.clamp: a broken hidden state must not pass
    # (the enum is written at each call: Triton 3.6 cannot hold it in a local variable)
    gate = tl.minimum(tl.sum(acc_g, axis=1), limit, propagate_nan=tl.PropagateNan.ALL)  # [BN]
    up = tl.maximum(tl.sum(acc_u, axis=1), -limit, propagate_nan=tl.PropagateNan.ALL)
    up = tl.minimum(up, limit, propagate_nan=tl.PropagateNan.ALL)
    h = (up + 1.0) * gate * tl.sigmoid(gate * alpha)
    tl.store(h_ptr + pair * stride_hp + rows, h, mask=row_ok)


@triton.jit
def _down_kernel(
    h_ptr,
    weights_ptr,
    chosen_ptr,
    w2_ptr,
    y_ptr,
    n_tokens,
    k_slots,
    hidden,
    inter,
    stride_hp,
    stride_wt,
    stride_wk,
    stride_ct,
    stride_ck,
    stride_w2e,
    stride_w2h,
    stride_yt,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    tok = pid % n_tokens
    row_block = pid // n_tokens
    rows = row_block * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN] rows of H
    row_ok = rows < hidden
    cols = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_N, BLOCK_K], dtype=tl.float32)
    for slot in range(0, k_slots):
        expert = tl.load(chosen_ptr + tok * stride_ct + slot * stride_ck).to(tl.int64)
        weight = tl.load(weights_ptr + tok * stride_wt + slot * stride_wk).to(tl.float32)
        w2_rows = w2_ptr + expert * stride_w2e + rows[:, None] * stride_w2h  # [BN, 1]
        h_row = h_ptr + (tok * k_slots + slot) * stride_hp
        for k0 in range(0, inter, BLOCK_K):
            offs = k0 + cols  # [BK]
            k_ok = offs < inter
            # [BK]
            hk = tl.load(h_row + offs, mask=k_ok, other=0.0) * weight
            # [BN, BK]
            w2 = tl.load(w2_rows + offs[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0).to(tl.float32)
            acc += w2 * hk[None, :]
    y = tl.sum(acc, axis=1)  # [BN]
    tl.store(y_ptr + tok * stride_yt + rows, y.to(y_ptr.dtype.element_ty), mask=row_ok)


@dataclass(frozen=True)
class Tiles:
    """Tile shapes of the two stages: rows of the output per program, width of a K step, warps."""

    up_rows: int
    up_k: int
    down_rows: int
    down_k: int
    warps: int


# Measured on an H200 (benchmarks/moe_decode.py --sweep, docs/benchmarks.md): 16 rows a program
# and 512-wide steps along the reduced dimension stream the weights at about 4.1 TB/s for one
# token (97 % of the card's copy bandwidth), ahead of 256-wide steps (3.5 TB/s) and of 8 or 32 rows.
GPU_TILES = Tiles(up_rows=16, up_k=512, down_rows=16, down_k=512, warps=4)
# The CPU interpreter pays per operation, not per element: fewer, larger tiles.
INTERPRETER_TILES = Tiles(up_rows=32, up_k=64, down_rows=32, down_k=64, warps=4)


def new_buffer(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """Every buffer a kernel writes is allocated here, so tests can hand out NaN-poisoned memory."""
    return torch.empty(shape, dtype=dtype, device=device)


def launch_expert_mix(x, weights, chosen, w1, w3, w2, *, alpha: float, limit: float, tiles: Tiles | None = None):
    """`y [T, H]` in x's dtype; arguments are trusted (no checks, no host sync: CUDA-graph safe).

    Needs unit stride on the last dimension of x, w1, w3 and w2; `chosen` ids must lie in 0..E-1."""
    tiles = tiles or (INTERPRETER_TILES if interpreting() else GPU_TILES)
    n_tokens, k = chosen.shape
    hidden, inter = w1.shape[2], w1.shape[1]
    out = new_buffer((n_tokens, hidden), x.dtype, x.device)
    if n_tokens == 0:
        return out
    pairs = n_tokens * k
    h = new_buffer((pairs, inter), torch.float32, x.device)
    _gate_up_kernel[(pairs * triton.cdiv(inter, tiles.up_rows),)](
        x,
        chosen,
        w1,
        w3,
        h,
        pairs,
        k,
        hidden,
        inter,
        x.stride(0),
        chosen.stride(0),
        chosen.stride(1),
        w1.stride(0),
        w1.stride(1),
        w3.stride(0),
        w3.stride(1),
        h.stride(0),
        float(alpha),
        float(limit),
        BLOCK_N=tiles.up_rows,
        BLOCK_K=tiles.up_k,
        num_warps=tiles.warps,
    )
    _down_kernel[(n_tokens * triton.cdiv(hidden, tiles.down_rows),)](
        h,
        weights,
        chosen,
        w2,
        out,
        n_tokens,
        k,
        hidden,
        inter,
        h.stride(0),
        weights.stride(0),
        weights.stride(1),
        chosen.stride(0),
        chosen.stride(1),
        w2.stride(0),
        w2.stride(1),
        out.stride(0),
        BLOCK_N=tiles.down_rows,
        BLOCK_K=tiles.down_k,
        num_warps=tiles.warps,
    )
    return out


def moe_expert_mix(
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
    """The routed-expert mix of a few tokens: `y[t] = sum_j weights[t, j] * expert_{chosen[t, j]}(x[t])`.

    x `[T, H]` (fp32, bf16 or fp16); weights `[T, k]` float (router weights, read as fp32);
    chosen `[T, k]` int64 or int32, ids in `0..E-1` (repeats allowed, within and across tokens);
    w1 (gate) and w3 (up) `[E, I, H]`, w2 (down) `[E, H, I]`, one float dtype, unit stride on the
    last dimension; expert(v) = W2 @ swiglu_oai(W1 @ v, W3 @ v) with `alpha` and `limit`.
    Returns `[T, H]` in x's dtype, accumulated in fp32. Raises ValueError naming the bad argument;
    the id check reads the device once (the graph-safe `launch_expert_mix` checks nothing).
    Meant for T up to ~16: every (token, slot) pair streams its expert's rows."""
    check_expert_mix(x, weights, chosen, w1, w3, w2)
    return launch_expert_mix(x, weights, chosen, w1, w3, w2, alpha=alpha, limit=limit)


def check_expert_mix(x, weights, chosen, w1, w3, w2) -> None:
    """ValueError, naming the argument, unless `launch_expert_mix` can run these tensors."""
    if not isinstance(x, torch.Tensor):
        fail(f"x must be a torch.Tensor, got {type(x).__name__}")
    check_tensor("x", x, rank=2, dtypes=FLOAT_DTYPES, device=x.device, anchor="x is")
    for name, t, rank, dtypes in (
        ("weights", weights, 2, FLOAT_DTYPES),
        ("chosen", chosen, 2, (torch.int64, torch.int32)),
        ("w1", w1, 3, FLOAT_DTYPES),
        ("w3", w3, 3, FLOAT_DTYPES),
        ("w2", w2, 3, FLOAT_DTYPES),
    ):
        check_tensor(name, t, rank=rank, dtypes=dtypes, device=x.device, anchor="x is")
    n_experts, inter, hidden = w1.shape
    if x.shape[1] != hidden:
        fail(f"x has hidden size {x.shape[1]} but w1 is [E, I, H] = {list(w1.shape)}; they must agree on H")
    if w3.shape != w1.shape:
        fail(f"w3 has shape {list(w3.shape)}; it must match w1's [E, I, H] = {list(w1.shape)}")
    if tuple(w2.shape) != (n_experts, hidden, inter):
        fail(f"w2 has shape {list(w2.shape)}; it must be [E, H, I] = {[n_experts, hidden, inter]}")
    if w3.dtype != w1.dtype or w2.dtype != w1.dtype:
        fail(f"w1, w3, w2 have dtypes {w1.dtype}, {w3.dtype}, {w2.dtype}; pass one dtype for all three")
    if chosen.shape[0] != x.shape[0] or chosen.shape[1] < 1:
        fail(f"chosen has shape {list(chosen.shape)}; it must be [T, k] with T = {x.shape[0]} tokens and k >= 1")
    if weights.shape != chosen.shape:
        fail(f"weights has shape {list(weights.shape)}; it must match chosen's [T, k] = {list(chosen.shape)}")
    bad = (chosen < 0) | (chosen >= n_experts)
    if chosen.numel() and bool(bad.any()):
        t, j = (int(i) for i in bad.nonzero()[0])
        fail(f"chosen[{t}, {j}] = {int(chosen[t, j])} is not an expert id (0..{n_experts - 1})")
