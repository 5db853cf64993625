"""Index-branch block scoring (MSA.md §3) in Triton, max pooling fused.

`S[h, j] = iq[t, h] . ik[j] / sqrt(Di)` is computed a page of keys at a time and pooled to one
max per block inside the kernel, so no token-level score ever reaches global memory.

The index-K cache is the queries' dtype or fp8 e4m3 (half the bytes of bf16; decode selection
at long contexts is bound by reading it): the kernels load what the pointer holds and widen it to
the queries' type before the dot, which is exact, so the type decides at compile time and a
cache of the queries' type compiles to the same code as before.

Two shapes of work:
- prefill: a program owns a tile of query tokens of one sequence with ALL index heads packed
  as the rows of one dot (the index key is shared by the heads), and walks the blocks up to
  the tile's last visible one, writing `Bscore [Hi, T, NB]` (-inf where nothing is visible);
- decode: a few queries per sequence cannot fill a tile, so the blocks of each sequence are
  split across programs; each keeps a running top list of its blocks in registers and writes
  only those candidates (`candidates.py`, which shares this file's pooling), and `topk.py`
  merges them.
"""

from __future__ import annotations

import logging
import math

import torch
import triton
import triton.language as tl

from . import layout
from .layout import (
    FLOAT_DTYPES,
    INDEX_FP8,
    check_batch,
    check_block_size,
    check_head_dim,
    check_index_cache_dtype,
    check_tensor,
    fail,
    interpreting,
)

log = logging.getLogger(__name__)


@triton.jit
def _pool_page_group(
    q,
    pos,
    ik_ptr,
    bt_row_ptr,
    b0,
    last_blk,
    seq_len,
    stride_kp,
    stride_kb,
    sm_scale,
    R: tl.constexpr,
    DI: tl.constexpr,
    BLOCK: tl.constexpr,
    BPI: tl.constexpr,
    DOT_PREC: tl.constexpr,
    CAUSAL: tl.constexpr = True,
    BY_PAGE: tl.constexpr = False,
):
    """Block-max scores of `BPI` consecutive blocks starting at `b0`: `[R, BPI]`, times `sm_scale`
    (a scalar, or `[R, 1]` per row). Without CAUSAL the caller promises every key lies at or
    before every row's position. BY_PAGE: one dot and one row max per page, no reshape of the
    scores (`[R, BPI * BLOCK]` to `[R, BPI, BLOCK]` may move them through shared memory)."""
    if BY_PAGE:
        off = tl.arange(0, BLOCK)
        d = tl.arange(0, DI)
        col = tl.arange(0, BPI)[None, :]
        pooled = tl.full([R, BPI], float("-inf"), tl.float32)
        for i in tl.static_range(BPI):
            blk = b0 + i
            j = blk * BLOCK + off  # [BLOCK]
            live = (blk <= last_blk) & (j < seq_len)
            page = tl.load(bt_row_ptr + blk, mask=blk <= last_blk, other=0).to(tl.int64)
            k = tl.load(
                ik_ptr + page * stride_kp + off[:, None] * stride_kb + d[None, :], mask=live[:, None], other=0.0
            )
            s = tl.dot(q, tl.trans(k.to(q.dtype)), input_precision=DOT_PREC)  # [R, BLOCK]
            if CAUSAL:
                s = tl.where(j[None, :] <= pos[:, None], s, float("-inf"))
            best = _nan_as_minus_inf(tl.max(s, axis=1)[:, None])
            pooled = best if BPI == 1 else tl.where(col == i, best, pooled)
        return pooled * sm_scale
    n = tl.arange(0, BPI * BLOCK)
    blk = b0 + n // BLOCK
    off = n % BLOCK
    j = blk * BLOCK + off  # [N] absolute key positions
    live = (blk <= last_blk) & (j < seq_len)
    page = tl.load(bt_row_ptr + blk, mask=live, other=0).to(tl.int64)
    d = tl.arange(0, DI)
    # [N, DI]
    k = tl.load(
        ik_ptr + page[:, None] * stride_kp + off[:, None] * stride_kb + d[None, :], mask=live[:, None], other=0.0
    )
    # an fp8 (e4m3) cache widens exactly to the queries' type; for a cache of that type this is no op
    k = k.to(q.dtype)
    # [R, N]
    s = tl.dot(q, tl.trans(k), input_precision=DOT_PREC)
    if CAUSAL:
        s = tl.where(j[None, :] <= pos[:, None], s, float("-inf"))
    return _nan_as_minus_inf(tl.max(tl.reshape(s, (R, BPI, BLOCK)), axis=2)) * sm_scale


@triton.jit
def _nan_as_minus_inf(pooled):
    """A NaN score (NaN in the index-K cache) counts as -inf. `tl.max` already skips NaN (maxnum
    on the GPU, nanmax under the interpreter), so only a block whose every visible key is NaN
    pools to NaN: mending the pooled maxima costs one select a block instead of one a key."""
    return tl.where(pooled == pooled, pooled, float("-inf"))


@triton.jit
def _fp8_cache_queries(q):
    """The queries for an fp8 (e4m3) key cache, as fp16: e4m3 widens to fp16 in one instruction
    per pair (to bf16 in several), and fp16 holds every bf16 query element from 2^-17 to 2^15
    exactly. A row whose largest |q| passes 2^15 is first divided by a power of two (exact);
    returns (fp16 queries `[R, DI]`, the per-row factor `[R]` that scales its scores back)."""
    big = tl.max(tl.abs(q.to(tl.float32)), axis=1)
    factor = tl.exp2(tl.where(big > 32768.0, tl.ceil(tl.log2(big)) - 15.0, 0.0))
    return (q.to(tl.float32) / factor[:, None]).to(tl.float16), factor


@triton.jit
def _load_query_rows(iq_ptr, q0, tok, head, row_ok, stride_qt, stride_qh, DI: tl.constexpr):
    d = tl.arange(0, DI)
    rows = (q0 + tok).to(tl.int64) * stride_qt + head * stride_qh
    # [R, DI]
    return tl.load(iq_ptr + rows[:, None] + d[None, :], mask=row_ok[:, None], other=0.0)


@triton.jit
def _block_scores_kernel(
    iq_ptr,
    ik_ptr,
    bt_ptr,
    cu_ptr,
    len_ptr,
    out_ptr,
    stride_qt,
    stride_qh,
    stride_kp,
    stride_kb,
    stride_bs,
    stride_oh,
    stride_ot,
    n_blocks_out,
    sm_scale,
    HI: tl.constexpr,
    HI_P: tl.constexpr,
    DI: tl.constexpr,
    BLOCK: tl.constexpr,
    BQ: tl.constexpr,
    BPI: tl.constexpr,
    DOT_PREC: tl.constexpr,
    BY_PAGE: tl.constexpr,
    WS: tl.constexpr,
):
    tile = tl.num_programs(0) - 1 - tl.program_id(0)  # the longest rows first
    seq = tl.program_id(1)
    q0 = tl.load(cu_ptr + seq)
    q_len = tl.load(cu_ptr + seq + 1) - q0
    seq_len = tl.load(len_ptr + seq)
    if tile * BQ >= q_len:
        return
    r = tl.arange(0, BQ * HI_P)
    tok = tile * BQ + r // HI_P  # rows are (token, index head) pairs
    head = r % HI_P
    row_ok = (tok < q_len) & (head < HI)
    pos = seq_len - q_len + tok  # [R] absolute positions
    q = _load_query_rows(iq_ptr, q0, tok, head, row_ok, stride_qt, stride_qh, DI)
    last_blk = (seq_len - q_len + tl.minimum(tile * BQ + BQ, q_len) - 1) // BLOCK
    c = tl.arange(0, BPI)
    out_row = head.to(tl.int64) * stride_oh + (q0 + tok).to(tl.int64) * stride_ot  # [R]
    bt_row = bt_ptr + seq.to(tl.int64) * stride_bs
    full_end = (seq_len - q_len + tile * BQ) // BLOCK // BPI * BPI  # groups wholly before the tile
    for b0 in tl.range(0, full_end, BPI, warp_specialize=WS):
        pooled = _pool_page_group(
            q,
            pos,
            ik_ptr,
            bt_row,
            b0,
            last_blk,
            seq_len,
            stride_kp,
            stride_kb,
            sm_scale,
            BQ * HI_P,
            DI,
            BLOCK,
            BPI,
            DOT_PREC,
            BY_PAGE=BY_PAGE,
            CAUSAL=False,
        )
        tl.store(out_ptr + out_row[:, None] + (b0 + c)[None, :], pooled, mask=row_ok[:, None])
    for b0 in range(full_end, last_blk + 1, BPI):
        pooled = _pool_page_group(
            q,
            pos,
            ik_ptr,
            bt_row,
            b0,
            last_blk,
            seq_len,
            stride_kp,
            stride_kb,
            sm_scale,
            BQ * HI_P,
            DI,
            BLOCK,
            BPI,
            DOT_PREC,
            BY_PAGE=BY_PAGE,
        )
        ok = row_ok[:, None] & ((b0 + c) < n_blocks_out)[None, :]
        tl.store(out_ptr + out_row[:, None] + (b0 + c)[None, :], pooled, mask=ok)
    hidden = tl.full((BQ * HI_P, BPI), float("-inf"), tl.float32)
    for b0 in range((last_blk // BPI + 1) * BPI, n_blocks_out, BPI):  # blocks past the tile: -inf
        ok = row_ok[:, None] & ((b0 + c) < n_blocks_out)[None, :]
        tl.store(out_ptr + out_row[:, None] + (b0 + c)[None, :], hidden, mask=ok)


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 inputs get exact fp32 products (Triton would use tf32 on the GPU)."""
    return "ieee" if dtype == torch.float32 else "tf32"


def blocks_per_iteration(block_size: int) -> int:
    """Blocks pooled per loop step: SCORING_BLOCKS on the GPU; four under the CPU interpreter,
    where each step costs a fixed overhead and larger steps keep the tests fast."""
    return 4 if interpreting() else SCORING_BLOCKS


# one dot and one max per page in `_pool_page_group` (False: one reshape per group); with 8 warps
# on an H200 408 useful TFLOP/s at 128K against 374 (benchmarks/ab_select.py); A/B knob
POOL_BY_PAGE = True
SCORING_ROWS = 128  # GPU tile: (token, index head) rows and warps; benchmarks/ab_select.py tunes them
SCORING_WARPS = 8
SCORING_BLOCKS = 1  # blocks pooled per loop step on the GPU (their maxima stored together); A/B knob
# Triton's automatic warp specialisation of the page loop on Hopper: 128K 21.5 -> 19.4 ms on an H200
# (benchmarks/ab_prefill.py, round five); A/B knob
WARP_SPECIALIZE = True
SCORING_STAGES = (3, 2)  # software-pipeline depth of the page loop, without and with warp specialisation


def query_rows_per_tile() -> int:
    """(token, index head) rows per prefill program: SCORING_ROWS on the GPU, 1024 under the CPU
    interpreter, whose cost is per operation rather than per element."""
    return 1024 if interpreting() else SCORING_ROWS


def launch_block_scores(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, out, *, max_q_len):
    """Fill `out` `[Hi, T, NB]` with block scores. Arguments are trusted."""
    n_heads, dim = iq.shape[1], iq.shape[2]
    block = index_k_cache.shape[1]
    heads_p = triton.next_power_of_2(n_heads)
    bq = max(1, query_rows_per_tile() // heads_p)
    grid = (triton.cdiv(max_q_len, bq), seq_lens.numel())
    if grid[0] == 0 or out.shape[2] == 0:
        return out
    args = (iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, out, iq.stride(0), iq.stride(1))
    args += (index_k_cache.stride(0), index_k_cache.stride(1), block_table.stride(0), out.stride(0), out.stride(1))
    args += (out.shape[2], 1.0 / math.sqrt(dim))
    meta = dict(
        HI=n_heads,
        HI_P=heads_p,
        DI=dim,
        BLOCK=block,
        BQ=bq,
        BPI=blocks_per_iteration(block),
        DOT_PREC=dot_precision(iq.dtype),
        BY_PAGE=POOL_BY_PAGE,
        num_warps=SCORING_WARPS,
    )
    ws = _warp_specialized(iq.device, args, grid, meta)
    _block_scores_kernel[grid](*args, **meta, WS=ws, num_stages=SCORING_STAGES[ws])
    return out


_WS_COMPILES: dict[tuple, bool] = {}  # per device and kernel: whether this Triton warp-specialises the page loop


def _warp_specialized(device: torch.device, args, grid, meta) -> bool:
    """Warp-specialise the page loop (the key-page loads in warps of their own, overlapping the
    products and the pooling) on Hopper, where it was measured (docs/benchmarks.md, round five),
    if this Triton compiles it: the first launch of each kernel on a device compiles it and falls
    back, with a warning, to the plain loop when the compiler refuses (its Hopper pass rejects
    some loops, e.g. the KV-major pair kernel's)."""
    if not WARP_SPECIALIZE or interpreting() or device.type != "cuda":
        return False
    index = device.index if device.index is not None else torch.cuda.current_device()
    key = (index, args[0].dtype, args[1].dtype, *sorted(meta.items()))  # one compiled kernel per key
    ws = _WS_COMPILES.get(key)
    if ws is None:  # decided once per key: the device query and the compile stay off later launches
        ws = _WS_COMPILES[key] = torch.cuda.get_device_capability(index)[0] == 9 and _ws_compiles(args, grid, meta)
    return ws


def _ws_compiles(args, grid, meta) -> bool:
    try:
        _block_scores_kernel.warmup(*args, grid=grid, **meta, WS=True, num_stages=SCORING_STAGES[True])
        return True
    except (triton.compiler.errors.CompilationError, RuntimeError) as err:  # a pass failure is a RuntimeError
        log.warning(
            "MSA block scoring: Triton %s does not warp-specialise the page loop (%s); the plain loop runs",
            triton.__version__,
            str(err).splitlines()[-1][:200],
        )
        return False


def check_fp8_device(device: torch.device) -> None:
    """Compiled Triton has e4m3 (fp8e4nv) only from compute capability 8.9 (Ada, Hopper) on."""
    if device.type == "cuda" and not interpreting() and torch.cuda.get_device_capability(device) < (8, 9):
        fail(
            f"index_k_cache is float8_e4m3fn but {torch.cuda.get_device_name(device)} (compute capability "
            f"{torch.cuda.get_device_capability(device)}) has no e4m3 support in Triton; use an index-K cache "
            "of the queries' dtype on GPUs older than 8.9"
        )


def check_index_inputs(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, block_size):
    """Validate the index branch's tensors and the batch; returns (block size, BatchInfo)."""
    check_tensor("iq", iq, rank=3, dtypes=FLOAT_DTYPES, device=iq.device)
    if isinstance(index_k_cache, torch.Tensor):
        check_index_cache_dtype("index_k_cache", index_k_cache.dtype)
    check_tensor("index_k_cache", index_k_cache, rank=3, dtypes=(iq.dtype, INDEX_FP8), device=iq.device)
    if index_k_cache.dtype == INDEX_FP8:
        check_fp8_device(iq.device)
    if index_k_cache.shape[2] != iq.shape[2]:
        fail(
            f"index_k_cache has index dim {index_k_cache.shape[2]} but iq has {iq.shape[2]}; "
            "the index-K cache is [pages, block, index_dim]"
        )
    check_head_dim("index_dim", iq.shape[2])
    block = check_block_size(block_size, index_k_cache.shape[1], "index_k_cache")
    info = check_batch(
        block_table=block_table,
        cu_seqlens_q=cu_seqlens_q,
        seq_lens=seq_lens,
        total_q=iq.shape[0],
        block_size=block,
        num_pages=index_k_cache.shape[0],
        device=iq.device,
        index_queries=iq,
    )
    return block, info


def msa_block_scores(
    iq: torch.Tensor,
    index_k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    seq_lens: torch.Tensor,
    *,
    block_size: int | None = None,
) -> torch.Tensor:
    """Max-pooled index scores of every query against every block of its sequence.

    iq             `[T, Hi, Di]` fp16 / bf16 / fp32: normed, rotated index queries, packed varlen.
    index_k_cache  `[P, B, Di]` iq's dtype or float8_e4m3fn (other fp8 kinds: ValueError): one
                   index key per token, pages of one block. An fp8 cache scores exactly as the
                   reference does on the same fp8 values upcast to fp32 (README, "fp8 index-K cache").
    block_table    int32 `[S, max_blocks]`; cu_seqlens_q int32 `[S+1]`; seq_lens int32 `[S]`.
    Returns fp32 `[Hi, T, NB]`, NB = blocks of the longest sequence:
    `max over j in block b, j <= pos(t) of iq[t, h] . ik[j] / sqrt(Di)`, -inf where the block
    holds no key visible to the query. A NaN/inf in iq raises ValueError ("non-finite index
    scores"); a NaN key score (NaN in a visible slot of the index-K cache, which is not read
    on the host) counts as -inf.
    """
    block, info = check_index_inputs(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, block_size)
    out = layout.new_buffer((iq.shape[1], iq.shape[0], info.max_blocks), torch.float32, iq.device)
    return launch_block_scores(iq, index_k_cache, block_table, cu_seqlens_q, seq_lens, out, max_q_len=info.max_q_len)
