"""The data layout every MSA kernel shares, and the checks that guard it.

A batch is packed varlen: the new query tokens of all sequences are concatenated along one
token axis T; `cu_seqlens_q` (int32 `[S+1]`) gives each sequence's slice, `seq_lens` (int32
`[S]`) its total length *including* those new tokens, which the caller has already written to
the caches. Query i of sequence s sits at absolute position `seq_lens[s] - q_len[s] + i`, so
chunked prefill and decode are the same case with a cached prefix.

Caches are paged with pages of exactly one MSA block (B tokens, 128 in M3), so a selected block
is one page: `page = block_table[s, b]`.
    k_cache, v_cache   `[P, Hkv, B, D]`  (head-major in a page: one block of one head is a
                                          contiguous B x D tile, the unit the attention loads)
    index_k_cache      `[P, B, Di]`      (one index key per token, shared by all index heads; the
                                          queries' dtype, or float8_e4m3fn: see `index_keys_for_cache`)
    block_table        int32 `[S, max_blocks]`
Selections are int32 `[Hkv, T, k]` (MSA.md §4).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
LOG2E = 1.4426950408889634  # softmax runs in base 2: exp(x) = exp2(x * LOG2E)
INDEX_FP8 = torch.float8_e4m3fn  # the one fp8 kind an index-K cache may have (README: "fp8 index-K cache")
INDEX_FP8_MAX = 448.0  # its largest finite value; e4m3fn has no inf


@dataclass(frozen=True)
class BatchInfo:
    """Host-side facts about a validated batch, needed to size the launch grids."""

    num_seqs: int
    max_q_len: int
    max_blocks: int  # blocks of the longest sequence
    cu_seqlens: tuple[int, ...] = ()  # the host's copies of cu_seqlens_q and seq_lens
    seq_lens: tuple[int, ...] = ()


def token_positions(
    cu_seqlens_q: torch.Tensor, seq_lens: torch.Tensor, total_q: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token sequence id and absolute position, int32 `[T]` each, computed on the device."""
    q_lens = (cu_seqlens_q[1:] - cu_seqlens_q[:-1]).long()
    seq_ids = torch.repeat_interleave(torch.arange(q_lens.numel(), device=q_lens.device), q_lens, output_size=total_q)
    offset = (seq_lens.long() - q_lens - cu_seqlens_q[:-1].long())[seq_ids]
    positions = torch.arange(total_q, device=q_lens.device) + offset
    return seq_ids.to(torch.int32), positions.to(torch.int32)


def softmax_scale_or_default(scale: float | None, head_dim: int) -> float:
    """The caller's softmax scale, or `1 / sqrt(head_dim)` when it passes None."""
    return scale if scale is not None else 1.0 / math.sqrt(head_dim)


def new_buffer(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """Every buffer a kernel writes is allocated here, so tests can hand out poisoned memory
    (NaN / a sentinel) and catch any element a kernel forgets to write."""
    return torch.empty(shape, dtype=dtype, device=device)


def interpreting() -> bool:
    """True when Triton runs kernels on the CPU interpreter (`TRITON_INTERPRET=1`)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def fail(message: str) -> None:
    raise ValueError(message)


def check_tensor(
    name: str, t: torch.Tensor, *, rank: int, dtypes: tuple, device: torch.device, anchor: str = "the queries are"
) -> None:
    """ValueError naming `name` unless `t` is a tensor of that rank, one of `dtypes`, on `device`
    (where `anchor` lives) and contiguous in its last dimension."""
    if not isinstance(t, torch.Tensor):
        fail(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() != rank:
        fail(f"{name} must have rank {rank}, got shape {tuple(t.shape)}")
    if t.dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        fail(f"{name} has dtype {str(t.dtype).removeprefix('torch.')}; pass one of: {names}")
    if t.device != device:
        fail(f"{name} is on {t.device} but {anchor} on {device}; move it with .to({str(device)!r})")
    if t.stride(-1) != 1:
        fail(f"{name} must be contiguous in its last dimension; pass {name}.contiguous()")


def check_index_cache_dtype(name: str, dtype: torch.dtype) -> None:
    """ValueError unless `dtype` can hold an index-K cache: fp16 / bf16 / fp32, or float8_e4m3fn.

    Other fp8 kinds are refused by name: e5m2 keeps 2 mantissa bits (a coarser ranking for the
    same bytes), and the fnuz kinds have another exponent bias and NaN code (AMD's formats)."""
    if dtype in FLOAT_DTYPES or dtype == INDEX_FP8:
        return
    kind = str(dtype).removeprefix("torch.")
    if dtype.is_floating_point and dtype.itemsize == 1:
        fail(f"{name} has dtype {kind}; an fp8 index-K cache must be float8_e4m3fn (e4m3, finite, max 448)")
    fail(f"{name} has dtype {kind}; an index-K cache holds float16, bfloat16, float32 or float8_e4m3fn")


def index_keys_for_cache(ik: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Index keys `ik` `[..., Di]` in the index-K cache's `dtype`, as the runtime stores them.

    For float8_e4m3fn they are clamped to ±448 first: e4m3fn has no inf, and an out-of-range
    value casts to NaN or saturates depending on the torch version and device, so the clamp makes
    a key of 1000 store 448 everywhere (never NaN). A NaN key stays NaN. No per-token scale:
    RMS-normalised keys sit far inside the range (README, "fp8 index-K cache")."""
    if dtype == INDEX_FP8:
        ik = ik.clamp(-INDEX_FP8_MAX, INDEX_FP8_MAX)
    return ik.to(dtype)


def check_head_dim(name: str, dim: int) -> None:
    if dim not in (16, 32, 64, 128, 256):
        fail(f"{name} is {dim}; the kernels support head dims 16, 32, 64, 128 and 256")


def check_block_size(block_size: int | None, page_size: int, what: str) -> int:
    if block_size is not None and block_size != page_size:
        fail(
            f"block_size={block_size} differs from the page size {page_size} of {what}; "
            "MSA needs pages of exactly one block: allocate the cache with that page size"
        )
    if page_size < 16 or page_size & (page_size - 1):
        fail(f"the page size of {what} is {page_size}; it must be a power of two >= 16")
    return page_size


def check_batch(
    *,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    total_q: int,
    block_size: int,
    num_pages: int,
    device: torch.device,
    index_queries: torch.Tensor | None = None,
) -> BatchInfo:
    """Validate the varlen/paging metadata; one small device-to-host copy. `index_queries`
    (iq `[T, Hi, Di]`) are checked for NaN/inf in that same copy (`check_finite_index_queries`)."""
    check_tensor("block_table", block_table, rank=2, dtypes=(torch.int32,), device=device)
    check_tensor("cu_seqlens_q", cu_seqlens_q, rank=1, dtypes=(torch.int32,), device=device)
    check_tensor("seq_lens", seq_lens, rank=1, dtypes=(torch.int32,), device=device)
    num_seqs = seq_lens.numel()
    if cu_seqlens_q.numel() != num_seqs + 1:
        fail(f"cu_seqlens_q has {cu_seqlens_q.numel()} entries; it needs len(seq_lens) + 1 = {num_seqs + 1}")
    if block_table.shape[0] != num_seqs:
        fail(f"block_table has {block_table.shape[0]} rows; it needs one per sequence ({num_seqs})")
    cu = cu_seqlens_q.tolist()
    lens = seq_lens.tolist()
    if cu[0] != 0 or cu[-1] != total_q:
        fail(f"cu_seqlens_q must start at 0 and end at the number of query tokens {total_q}; got {cu[0]}..{cu[-1]}")
    q_lens = [b - a for a, b in zip(cu, cu[1:], strict=False)]
    for s, (q_len, seq_len) in enumerate(zip(q_lens, lens, strict=True)):
        if q_len < 0:
            fail(f"cu_seqlens_q decreases at sequence {s}; it must be non-decreasing")
        if seq_len < q_len:
            fail(
                f"sequence {s} has {q_len} new query tokens but seq_lens[{s}] = {seq_len}; "
                "seq_lens counts the cached prefix plus the new tokens"
            )
    blocks = [-(-n // block_size) for n in lens]
    max_blocks = max(blocks, default=0)
    if max_blocks > block_table.shape[1]:
        s = blocks.index(max_blocks)
        fail(
            f"sequence {s} has {lens[s]} tokens = {max_blocks} blocks of {block_size}, but block_table "
            f"has only {block_table.shape[1]} columns; widen the block table or shorten the sequence"
        )
    used = torch.arange(block_table.shape[1], device=device)[None, :] < torch.tensor(blocks, device=device)[:, None]
    bad = used & ((block_table < 0) | (block_table >= num_pages))
    flags = [bad.any()]
    if index_queries is not None:
        flags.append(~torch.isfinite(index_queries).all())
    bad_table, *nonfinite = torch.stack(flags).tolist()
    if bad_table:
        s, b = (int(i) for i in bad.nonzero()[0])
        fail(f"block_table[{s}, {b}] = {int(block_table[s, b])} is not a page of the cache (0..{num_pages - 1})")
    if index_queries is not None and any(nonfinite):
        _fail_non_finite(index_queries)
    return BatchInfo(num_seqs, max(q_lens, default=0), max_blocks, tuple(cu), tuple(lens))


def _fail_non_finite(iq: torch.Tensor) -> None:
    t, h, d = (int(i) for i in (~torch.isfinite(iq)).nonzero()[0])
    fail(
        f"non-finite index scores: iq holds a non-finite value ({float(iq[t, h, d])}) at token {t}, index head {h} "
        f"(dim {d}), so its block scores have no order and the block selection is undefined; the hidden state "
        "or the index projection before the MSA layer produced NaN/inf"
    )


def check_finite_index_queries(iq: torch.Tensor) -> None:
    """ValueError naming the first NaN/inf of the index queries iq `[T, Hi, Di]` (one host sync).

    Every checked selection function makes this check (in `check_batch`'s copy); a runtime
    backend that scores blocks without them (the fp32 reference) calls it to behave the same."""
    if not bool(torch.isfinite(iq).all()):
        _fail_non_finite(iq)
