"""The Gemma RMSNorm (MSA.md §7) as one Triton kernel beside its fp32 reference (README.md).

The surface: the checked `gemma_rms_norm`, the unchecked `launch_gemma_rms_norm` that the
runtime calls on CUDA (its inputs are its own tensors), the same pair for the per-head norm
fused with the partial rotary embedding (`rope.py`), and the `reference`.
"""

from . import reference
from .rmsnorm import gemma_rms_norm, launch_gemma_rms_norm
from .rope import gemma_rms_norm_rope, launch_gemma_rms_norm_rope

__all__ = [
    "gemma_rms_norm",
    "gemma_rms_norm_rope",
    "launch_gemma_rms_norm",
    "launch_gemma_rms_norm_rope",
    "reference",
]
