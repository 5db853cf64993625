"""Writing new tokens into the paged caches: K, V and the index key of one layer in one launch.

A decode step appends one token to every layer's caches. Done with tensor indexing that is two
or three scatter kernels a layer (more with the fp8 index cache's clamp and cast), each a launch
that moves a few hundred bytes. Here one program per token writes its K and V rows of every KV
head and its index key (clamped to ±448 and rounded to e4m3 for an fp8 cache, exactly as
`layout.index_keys_for_cache` does), at the page and slot the caller computed on the device, so
a captured decode step can call it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .layout import INDEX_FP8


@triton.jit
def _store_kernel(
    k_ptr,
    v_ptr,
    ik_ptr,
    page_ptr,
    slot_ptr,
    kc_ptr,
    vc_ptr,
    ikc_ptr,
    stride_kt,
    stride_kh,
    stride_vt,
    stride_vh,
    stride_it,
    stride_cp,
    stride_ch,
    stride_cb,
    stride_ip,
    stride_ib,
    HKV: tl.constexpr,
    HKV_P: tl.constexpr,
    D: tl.constexpr,
    DI: tl.constexpr,
    HAS_INDEX: tl.constexpr,
    FP8: tl.constexpr,
):
    t = tl.program_id(0).to(tl.int64)
    page = tl.load(page_ptr + t).to(tl.int64)
    slot = tl.load(slot_ptr + t).to(tl.int64)
    h = tl.arange(0, HKV_P)[:, None]
    d = tl.arange(0, D)[None, :]
    ok = h < HKV
    dst = page * stride_cp + h * stride_ch + slot * stride_cb + d  # [HKV_P, D]
    k = tl.load(k_ptr + t * stride_kt + h * stride_kh + d, mask=ok)
    tl.store(kc_ptr + dst, k.to(kc_ptr.dtype.element_ty), mask=ok)
    v = tl.load(v_ptr + t * stride_vt + h * stride_vh + d, mask=ok)
    tl.store(vc_ptr + dst, v.to(vc_ptr.dtype.element_ty), mask=ok)
    if HAS_INDEX:
        i = tl.arange(0, DI)
        x = tl.load(ik_ptr + t * stride_it + i)
        if FP8:  # the cache is passed as its bytes
            x = _e4m3_bits(x.to(tl.float32))
        tl.store(ikc_ptr + page * stride_ip + slot * stride_ib + i, x)


@triton.jit
def _e4m3_bits(x):
    """The float8_e4m3fn byte of each fp32 `x` clamped to ±448, rounded to nearest even, NaN kept:
    `torch`'s cast after the clamp, in integer and exact fp32 steps (Triton's interpreter
    narrows to fp8 differently from the GPU: NaN, subnormals)."""
    a = tl.abs(x)
    a = tl.where(a > 448.0, 448.0, a)  # a comparison, not a min: NaN stays NaN
    bits = a.to(tl.int32, bitcast=True)
    # normal (|x| >= 2^-6): drop 20 of fp32's 23 mantissa bits, ties to even; rebias 127 -> 7
    normal = ((bits + 0x7FFFF + ((bits >> 20) & 1)) >> 20) - ((127 - 7) << 3)
    # subnormal: the nearest even multiple of 2^-9 (8 of them is the smallest normal, code 8)
    y = tl.where(a == a, a, 0.0) * 512.0  # NaN is coded below
    m = y.to(tl.int32)
    frac = y - m.to(tl.float32)
    m += ((frac > 0.5) | ((frac == 0.5) & ((m & 1) == 1))).to(tl.int32)
    code = tl.where(a >= 0.015625, normal, m)
    code = tl.where(a == a, code, 0x7F)
    sign = (x.to(tl.int32, bitcast=True) >> 24) & 0x80
    return (code | sign).to(tl.uint8)


def launch_cache_write(
    k: torch.Tensor,
    v: torch.Tensor,
    index_k: torch.Tensor | None,
    pages: torch.Tensor,
    slots: torch.Tensor,
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    index_k_cache: torch.Tensor | None,
) -> None:
    """`k_cache[pages[t], :, slots[t]] = k[t]`, the same for v, and `index_k_cache[pages[t],
    slots[t]] = index_keys_for_cache(index_k[t])` for every new token t. Shapes: k, v `[n, Hkv, D]`,
    index_k `[n, Di]` (or None: a layer without an index branch), pages and slots integer `[n]`
    on the device, caches as in layout.py. Arguments are trusted (last dimensions contiguous,
    power-of-two D and Di, k and v in the K/V caches' dtype, index_k in the index cache's dtype
    or any float for an fp8 one, slots inside their pages, no two tokens on one slot); no host sync."""
    n, heads, dim = k.shape
    if n == 0:
        return
    ik, ikc = (index_k, index_k_cache) if index_k is not None and index_k_cache is not None else (k, k_cache)
    has_index = ik is index_k
    fp8 = has_index and ikc.dtype == INDEX_FP8
    if fp8:
        ikc = ikc.view(torch.uint8)
    _store_kernel[(n,)](
        k, v, ik, pages, slots, k_cache, v_cache, ikc,
        k.stride(0), k.stride(1), v.stride(0), v.stride(1), ik.stride(0),
        k_cache.stride(0), k_cache.stride(1), k_cache.stride(2), ikc.stride(0), ikc.stride(1),
        HKV=heads, HKV_P=triton.next_power_of_2(heads), D=dim, DI=ik.shape[-1] if has_index else 1,
        HAS_INDEX=has_index, FP8=fp8,
        num_warps=1 if heads * dim <= 1024 else 4,
    )  # fmt: skip
