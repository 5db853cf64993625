"""The MoE routed-expert mix of a few tokens (MSA.md §7) as a Triton grouped GEMV.

See README.md in this folder for the math and the memory traffic. The surface: the checked
`moe_expert_mix`, `check_expert_mix` (its validation alone), the unchecked
`launch_expert_mix` that a sync-free decode step (a CUDA graph) calls, `Tiles` to override
tile shapes, `interpreting` (is Triton on the CPU interpreter?) and the fp32 `reference`.
"""

from . import reference
from .gemv import Tiles, check_expert_mix, interpreting, launch_expert_mix, moe_expert_mix

__all__ = ["Tiles", "check_expert_mix", "interpreting", "launch_expert_mix", "moe_expert_mix", "reference"]
