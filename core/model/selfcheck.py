"""Checks that our MSA kernels run where the runtime is installed (the GPU bundle's self-test).

`triton_kernel` runs one MSA kernel (block scoring) against kernels.msa.reference: compiled on a
CUDA device, else under Triton's interpreter. Compiled @jit functions are built from their Python
source (inspect.getsourcelines), which the interpreter quietly does without, so the check also
reads the source of every @jit function in kernels.msa and triton.language as Triton would: a
frozen bundle that carries only bytecode fails here. Triton reads TRITON_INTERPRET as kernels
are defined, so the caller picks the interpreter (from `cuda_available`) before anything imports
triton or kernels, and reports what the machine offers for compiling kernels: the self-test
does both (app/selftest/msa.py), since this layer reads no environment.
"""

from __future__ import annotations

import inspect
import math
import sys


def cuda_available() -> bool:
    """Whether torch sees a CUDA device (the kernels then run compiled)."""
    import torch

    return torch.cuda.is_available()


def triton_kernel(device: str) -> str:
    """One MSA kernel on `device` ("cuda", or "cpu" on Triton's interpreter) against the reference."""
    import torch

    from kernels.msa import interpreting, msa_block_scores, reference

    if device == "cpu" and not interpreting():
        raise RuntimeError("no CUDA device, yet Triton is not on its interpreter")
    out, ref = _block_scores(device, msa_block_scores), _block_scores(device, reference.block_scores)
    if not torch.equal(out.isneginf(), ref.isneginf()):
        raise AssertionError("the kernel and the reference disagree on which blocks are visible")
    finite = ref.isfinite()
    error = float((out[finite] - ref[finite]).abs().max())
    if not error <= 1e-4:
        raise AssertionError(f"the kernel differs from the reference by {error:.2e}")
    how = "compiled for the CUDA device" if device == "cuda" else "on Triton's interpreter (no CUDA device)"
    ours, theirs = jit_sources("kernels.msa"), jit_sources("triton.language")
    return (
        f"msa_block_scores {how} matches kernels.msa.reference (max |diff| {error:.1e}); source readable for "
        f"{ours} @jit functions of kernels.msa and {theirs} of triton.language"
    )


def jit_sources(package: str) -> int:
    """Read the source of every @jit function in the loaded modules of `package` as Triton's
    JITFunction does; return how many. OSError names the first one without its .py file."""
    from triton.runtime.jit import KernelInterface

    count = 0
    for name, module in list(sys.modules.items()):
        if name != package and not name.startswith(f"{package}."):
            continue
        for fn in list(vars(module).values()):
            if not isinstance(fn, KernelInterface):
                continue
            while isinstance(fn, KernelInterface):  # JITFunction, InterpretedFunction, Autotuner, Heuristics
                fn = fn.fn
            if inspect.isfunction(fn) and fn.__module__ == name:  # defined here, not imported
                try:
                    inspect.getsourcelines(fn)
                except OSError as err:
                    raise OSError(f"no source for @jit {name}.{fn.__name__}: {err}") from err
                count += 1
    return count


def _block_scores(device: str, score):
    """One sequence of 40 tokens in three shuffled pages of 16, the last 5 tokens as queries."""
    import torch

    gen = torch.Generator().manual_seed(0)
    seq_len, queries, block, heads, dim = 40, 5, 16, 2, 64
    iq = torch.randn(queries, heads, dim, generator=gen).to(device)  # [T, Hi, Di]
    index_k = torch.randn(4, block, dim, generator=gen).to(device)  # [P, B, Di]
    block_table = torch.tensor([[2, 0, 3]], dtype=torch.int32, device=device)  # [S, blocks]
    cu_seqlens_q = torch.tensor([0, queries], dtype=torch.int32, device=device)  # [S + 1]
    seq_lens = torch.tensor([seq_len], dtype=torch.int32, device=device)  # [S]
    out = score(iq, index_k, block_table, cu_seqlens_q, seq_lens)  # [Hi, T, NB]
    assert out.shape == (heads, queries, math.ceil(seq_len / block))
    return out.cpu()
