"""Checks that our MSA kernels run where the runtime is installed (the GPU bundle's self-test).

`triton_kernel` runs one MSA kernel (block scoring) against kernels.msa.reference: compiled on a
CUDA device, else under Triton's interpreter. Compiled @jit functions are built from their Python
source (inspect.getsourcelines), which the interpreter quietly does without, so the check also
reads the source of every @jit function in kernels.msa and triton.language as Triton would: a
frozen bundle that carries only bytecode fails here. Triton reads TRITON_INTERPRET as kernels
are defined, so `use_interpreter_without_cuda` must run before anything imports triton or
kernels. The check also says what the machine offers for compiling kernels (Triton builds a
small C helper once per machine: a C compiler, Python.h, libcuda).
"""

from __future__ import annotations

import ctypes
import inspect
import math
import os
import shutil
import sys
import sysconfig
from pathlib import Path


def use_interpreter_without_cuda() -> str:
    """Set TRITON_INTERPRET=1 when no CUDA device is present; return the device the checks use."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("triton was imported before TRITON_INTERPRET could be set; the interpreter cannot run")
    os.environ["TRITON_INTERPRET"] = "1"
    return "cpu"


def triton_kernel() -> str:
    device = use_interpreter_without_cuda()
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
        f"{ours} @jit functions of kernels.msa and {theirs} of triton.language; {compile_needs()}"
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


def compile_needs() -> str:
    """What Triton's one-off C build (its CUDA helper) would find here: Python.h (which the bundle
    must carry: FileNotFoundError otherwise), a C compiler and libcuda (the machine's, reported)."""
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise FileNotFoundError(f"no Python.h in {include}: Triton could not build its CUDA helper on a GPU")
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("clang")
    try:
        ctypes.CDLL("libcuda.so.1")
        libcuda = "libcuda.so.1 found"
    except OSError:
        libcuda = "libcuda.so.1 not found"
    return f"for compiled kernels: Python.h present, C compiler {cc or 'not found'}, {libcuda}"
