"""The GPU edition's self-test checks: our MSA runtime and its Triton kernels, inside the bundle.

`msa_reply` streams a reply from the tiny random M3 checkpoint bundled at build time
(packaging/tiny_msa.py) through core.engine.msa, as a chosen model folder would: on a CUDA device
with the Triton kernels, elsewhere on the fp32 reference attention. `triton_kernel` (from
core.model.selfcheck: the app does not reach into kernels itself) runs one MSA kernel against
its reference and reads the @jit sources, which the spec collects as .py files; it also says what
the machine offers for compiling kernels, so a GPU user sees what is missing before a model is
chosen. Both call `use_interpreter_without_cuda` before anything imports triton or kernels.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from core.model import selfcheck
from core.model.selfcheck import jit_sources


def use_interpreter_without_cuda() -> str:
    """Set TRITON_INTERPRET=1 when no CUDA device is present; return the device the checks use."""
    if selfcheck.cuda_available():
        return "cuda"
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("triton was imported before TRITON_INTERPRET could be set; the interpreter cannot run")
    os.environ["TRITON_INTERPRET"] = "1"
    return "cpu"


def triton_kernel() -> str:
    return f"{selfcheck.triton_kernel(use_interpreter_without_cuda())}; {compile_needs()}"


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


def msa_reply(folder: Path | None) -> str:
    from app.selftest.checks import stream_reply
    from core.settings import Settings

    if folder is None or not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no self-test checkpoint at {folder}: the GPU edition carries one")
    use_interpreter_without_cuda()

    def where(engine) -> str:
        return f"{engine.device.type}, {str(engine.dtype).removeprefix('torch.')}, {engine.model.attention.name}"

    deltas, reason, on = stream_reply(Settings(model_dir=str(folder), engine="msa", context_tokens=512), where)
    return f"{deltas} deltas streamed from {folder.name} ({on} attention), finished: {reason}"


__all__ = ["jit_sources", "msa_reply", "triton_kernel", "use_interpreter_without_cuda"]
