"""MiniMax Sparse Attention kernels (MSA.md §2-§6): Triton kernels beside an fp32 reference.

See README.md in this folder for the math, the mask and the data layout. This module is the
whole surface the runtime uses: the checked public functions, `check_shapes` to refuse a model
the kernels cannot run before its first forward, `interpreting` (is Triton on the CPU
interpreter?), `index_keys_for_cache` (how index keys are stored, fp8 e4m3 included),
`check_fp8_device` (can the compiled kernels read an fp8 index-K cache on this device?), and the
unchecked launchers that a sync-free decode step (a CUDA graph) calls directly because the
checks read device values (`launch_cache_write` stores a layer's new K, V and index keys).
"""

from . import reference
from .attention import msa_sparse_attention
from .candidates import launch_candidates
from .decode import decode_splits, launch_decode_attention, msa_decode_attention
from .layout import (
    INDEX_FP8,
    check_block_size,
    check_finite_index_queries,
    check_head_dim,
    check_index_cache_dtype,
    index_keys_for_cache,
    interpreting,
)
from .pipeline import (
    default_blocks_per_split,
    msa_decode,
    msa_decode_select,
    msa_prefill,
    msa_select,
)
from .scoring import check_fp8_device, msa_block_scores
from .store import launch_cache_write
from .topk import check_selection_params, launch_topk, msa_topk


def check_shapes(
    *,
    head_dim: int,
    index_head_dim: int | None,
    block_size: int,
    topk: int,
    init_blocks: int = 0,
    local_blocks: int = 1,
) -> None:
    """Raise ValueError (naming the argument) unless the kernels can run a model of these sizes.

    The checks the launchers make on their tensors, made from the sizes alone so a caller can
    refuse a model before its first forward. `index_head_dim` None: the model has no sparse layers.
    """
    check_head_dim("head_dim", head_dim)
    if index_head_dim is not None:
        check_head_dim("index_head_dim", index_head_dim)
    check_block_size(None, block_size, "the MSA blocks (block_size)")
    check_selection_params(topk, init_blocks, local_blocks)


__all__ = [
    "INDEX_FP8",
    "check_finite_index_queries",
    "check_fp8_device",
    "check_index_cache_dtype",
    "check_shapes",
    "decode_splits",
    "default_blocks_per_split",
    "index_keys_for_cache",
    "interpreting",
    "launch_cache_write",
    "launch_candidates",
    "launch_decode_attention",
    "launch_topk",
    "msa_block_scores",
    "msa_decode",
    "msa_decode_attention",
    "msa_decode_select",
    "msa_prefill",
    "msa_select",
    "msa_sparse_attention",
    "msa_topk",
    "reference",
]
