"""MiniMax Sparse Attention kernels (MSA.md §2-§6): Triton kernels beside an fp32 reference.

See README.md in this folder for the math, the mask and the data layout.
"""

from .attention import msa_sparse_attention
from .decode import msa_decode_attention
from .pipeline import msa_decode, msa_decode_select, msa_prefill, msa_select
from .scoring import msa_block_scores
from .topk import msa_topk

__all__ = [
    "msa_block_scores",
    "msa_decode",
    "msa_decode_attention",
    "msa_decode_select",
    "msa_prefill",
    "msa_select",
    "msa_sparse_attention",
    "msa_topk",
]
