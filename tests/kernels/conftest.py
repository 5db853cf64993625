"""Kernel-test setup: mend two bugs of the Triton CPU interpreter.

Triton's interpreter (3.6 - 3.9) stores bf16 tensors as raw uint16 bits and hands them to
`np.matmul` as integers, so every bf16 `tl.dot` returns garbage on the CPU. On the GPU the
product of two bf16 values is exact in the fp32 accumulator; we reproduce that by widening the
bits to fp32 first. Its fp8 e4m3 (fp8e4nv) widening decodes the NaN code S.1111.111 as ±480;
the GPU's `cvt` keeps NaN, so we put NaN back where the source held that code. Only the
interpreter is touched, and only for those types.
"""

from __future__ import annotations

import os

import numpy as np

if os.environ.get("TRITON_INTERPRET") == "1":
    import triton.language as tl
    from triton.runtime import interpreter

    _create_dot = interpreter.InterpreterBuilder.create_dot

    def _widen(handle):
        if handle.dtype.scalar == tl.bfloat16 or handle.dtype == tl.bfloat16:
            bits = handle.data.astype(np.uint32) << 16
            return interpreter.TensorHandle(bits.view(np.float32), tl.float32)
        return handle

    def _create_dot_bf16(self, a, b, d, input_precision, max_num_imprecise_acc):
        return _create_dot(self, _widen(a), _widen(b), d, input_precision, max_num_imprecise_acc)

    interpreter.InterpreterBuilder.create_dot = _create_dot_bf16

    _create_fp_to_fp = interpreter.InterpreterBuilder.create_fp_to_fp
    _NAN = {tl.float32: np.float32(np.nan), tl.float16: np.float16(np.nan), tl.bfloat16: np.uint16(0x7FC0)}

    def _create_fp_to_fp_e4m3_nan(self, src, dst_type, rounding_mode):
        out = _create_fp_to_fp(self, src, dst_type, rounding_mode)
        if src.dtype.scalar == tl.float8e4nv and dst_type.scalar in _NAN:
            nan = (src.data & np.uint8(0x7F)) == np.uint8(0x7F)
            out = interpreter.TensorHandle(np.where(nan, _NAN[dst_type.scalar], out.data), out.dtype)
        return out

    interpreter.InterpreterBuilder.create_fp_to_fp = _create_fp_to_fp_e4m3_nan


import pytest  # noqa: E402
import torch  # noqa: E402

from kernels.moe import gemv  # noqa: E402
from kernels.msa import layout  # noqa: E402


@pytest.fixture(autouse=True)
def poisoned_kernel_buffers(monkeypatch, poisoned):
    """Every buffer a kernel writes (outputs and intermediates) starts as NaN or a sentinel."""
    monkeypatch.setattr(layout, "new_buffer", poisoned)
    monkeypatch.setattr(gemv, "new_buffer", poisoned)


def assert_close(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    """Error bound by input precision: fp32 runs exact fp32 products (ieee on the GPU); bf16 and
    fp16 round the softmax weights to 8/11 mantissa bits before the PV product."""
    out, ref = out.float().cpu(), ref.float().cpu()
    assert not out.isnan().any(), "output holds NaN: an element was never written or read poison"
    rel = (out - ref).norm() / ref.norm().clamp_min(1e-12)
    bound = {torch.float32: 2e-5, torch.float16: 5e-3, torch.bfloat16: 2e-2}[dtype]
    assert rel <= bound, f"relative error {float(rel):.3g} > {bound}"
    assert (out - ref).abs().max() <= 50 * bound * ref.abs().max().clamp_min(1.0)
